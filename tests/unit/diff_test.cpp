#include "driftwatch/diff.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "driftwatch/fix_script.hpp"

namespace doctest {
template <>
struct StringMaker<std::optional<std::string>> {
  static String convert(const std::optional<std::string>& value) {
    return value ? String(("\"" + *value + "\"").c_str()) : String("nullopt");
  }
};
}  // namespace doctest

namespace driftwatch {
namespace {

using Attrs = std::map<std::string, std::string>;

SchemaObject make(ObjectType type, const std::string& name, Attrs attrs = {}, Attrs info = {}) {
  return SchemaObject{type, name, std::move(attrs), std::move(info)};
}

SchemaObject column(const std::string& table, const std::string& name, Attrs attrs,
                    const std::string& position = "1") {
  return make(
      ObjectType::kColumn, table + "." + name, std::move(attrs),
      {{"parent", table}, {"schema", "public"}, {"local_name", name}, {"position", position}});
}

SchemaObject child(ObjectType type, const std::string& table, const std::string& name,
                   Attrs attrs) {
  return make(type, table + "." + name, std::move(attrs),
              {{"parent", table}, {"schema", "public"}, {"local_name", name}});
}

SchemaObject index(const std::string& name, const std::string& table, Attrs attrs) {
  return make(ObjectType::kIndex, "public." + name, std::move(attrs),
              {{"parent", table}, {"schema", "public"}, {"local_name", name}});
}

// A small but complete schema: one object of every type.
SchemaSnapshot base_schema() {
  SchemaSnapshot s;
  s.schemas = {"public"};
  s.objects = {
      make(ObjectType::kSchema, "public"),
      make(ObjectType::kTable, "public.eval",
           {{"kind", "table"}, {"row_security", "on"}, {"force_row_security", "off"}},
           {{"schema", "public"}, {"local_name", "eval"}}),
      column("public.eval", "id",
             {{"type", "bigint"}, {"nullable", "false"}, {"identity", "by default"}}, "1"),
      column("public.eval", "name", {{"type", "character varying(32)"}, {"nullable", "false"}},
             "2"),
      column("public.eval", "status", {{"type", "public.eval_status"}, {"nullable", "true"}}, "3"),
      column("public.eval", "created_at",
             {{"type", "timestamp with time zone"}, {"nullable", "false"}, {"default", "now()"}},
             "4"),
      child(ObjectType::kConstraint, "public.eval", "eval_pkey",
            {{"type", "primary_key"},
             {"definition", "PRIMARY KEY (id)"},
             {"deferrable", "not deferrable"},
             {"validated", "true"}}),
      index("eval__created_at_idx", "public.eval",
            {{"definition",
              "CREATE INDEX eval__created_at_idx ON public.eval USING btree (created_at)"},
             {"unique", "false"},
             {"primary", "false"}}),
      make(ObjectType::kEnum, "public.eval_status", {{"labels", R"(["pending","running","done"])"}},
           {{"schema", "public"}, {"local_name", "eval_status"}}),
      make(ObjectType::kView, "public.recent",
           {{"definition", " SELECT eval.id\n   FROM public.eval\n  WHERE (eval.id > 10);"}},
           {{"schema", "public"}, {"local_name", "recent"}}),
      make(ObjectType::kFunction, "public.score(text, integer)",
           {{"kind", "function"},
            {"result", "integer"},
            {"language", "sql"},
            {"body", "SELECT $2"},
            {"volatility", "immutable"},
            {"security_definer", "false"},
            {"strict", "false"}},
           {{"schema", "public"},
            {"local_name", "score(text, integer)"},
            {"create_sql",
             "CREATE OR REPLACE FUNCTION public.score(text, integer)\n RETURNS integer\n "
             "LANGUAGE sql\n IMMUTABLE\nAS $function$SELECT $2$function$\n"}}),
      child(ObjectType::kTrigger, "public.eval", "eval_touch",
            {{"definition",
              "CREATE TRIGGER eval_touch BEFORE UPDATE ON public.eval FOR EACH ROW EXECUTE "
              "FUNCTION public.touch()"},
             {"enabled", "origin"}}),
      make(ObjectType::kSequence, "public.ticket_seq",
           {{"data_type", "bigint"},
            {"start", "1"},
            {"increment", "1"},
            {"min", "1"},
            {"max", "9223372036854775807"},
            {"cache", "1"},
            {"cycle", "false"}},
           {{"schema", "public"}, {"local_name", "ticket_seq"}}),
      make(ObjectType::kExtension, "pg_trgm", {{"version", "1.6"}, {"schema", "public"}}),
      child(ObjectType::kPolicy, "public.eval", "eval_read",
            {{"command", "select"},
             {"permissive", "permissive"},
             {"roles", R"(["reader","analyst"])"},
             {"using", "(status = 'done'::public.eval_status)"}}),
      make(ObjectType::kPrivilege, "public.eval:reader:SELECT", {{"grantable", "false"}}),
  };
  s.normalize_order();
  return s;
}

SchemaObject* find_mut(SchemaSnapshot& s, ObjectType type, const std::string& name) {
  for (auto& o : s.objects) {
    if (o.type == type && o.name == name) return &o;
  }
  FAIL("no such object " << name);
  return nullptr;
}

void remove(SchemaSnapshot& s, ObjectType type, const std::string& name) {
  auto before = s.objects.size();
  s.objects.erase(
      std::remove_if(s.objects.begin(), s.objects.end(),
                     [&](const SchemaObject& o) { return o.type == type && o.name == name; }),
      s.objects.end());
  REQUIRE(s.objects.size() == before - 1);
}

void add(SchemaSnapshot& s, SchemaObject o) {
  s.objects.push_back(std::move(o));
  s.normalize_order();
}

DiffOptions all_on() {
  DiffOptions o;
  o.compare_privileges = true;
  o.compare_comments = true;
  return o;
}

// Diffs and requires exactly one finding.
Finding only_finding(const SchemaSnapshot& expected, const SchemaSnapshot& actual,
                     const DiffOptions& options = all_on()) {
  auto findings = diff_schemas(expected, actual, options);
  REQUIRE_MESSAGE(findings.size() == 1, "got " << findings.size() << " findings");
  return findings.front();
}

}  // namespace

TEST_CASE("identical and reordered snapshots have no findings") {
  SchemaSnapshot expected = base_schema();
  SchemaSnapshot actual = base_schema();
  CHECK(diff_schemas(expected, actual, all_on()).empty());
  std::mt19937 rng(42);
  std::shuffle(actual.objects.begin(), actual.objects.end(), rng);
  REQUIRE_FALSE(std::is_sorted(actual.objects.begin(), actual.objects.end()));
  CHECK(diff_schemas(expected, actual, all_on()).empty());
  std::shuffle(expected.objects.begin(), expected.objects.end(), rng);
  CHECK(diff_schemas(expected, actual, all_on()).empty());
}

TEST_CASE("missing table folds its children into one CREATE TABLE finding") {
  SchemaSnapshot expected = base_schema();
  SchemaSnapshot actual = base_schema();
  actual.objects.erase(std::remove_if(actual.objects.begin(), actual.objects.end(),
                                      [](const SchemaObject& o) {
                                        return o.name.rfind("public.eval.", 0) == 0 ||
                                               o.name == "public.eval" ||
                                               o.name == "public.eval__created_at_idx" ||
                                               o.name == "public.eval:reader:SELECT";
                                      }),
                       actual.objects.end());
  Finding f = only_finding(expected, actual);
  CHECK(f.kind == "missing");
  CHECK(f.object_type == ObjectType::kTable);
  CHECK(f.object == "public.eval");
  CHECK(f.severity == Severity::kCritical);
  CHECK(f.risk == "undefined_table");
  CHECK(f.attribute.empty());
  CHECK(f.expected == std::optional<std::string>("table"));
  CHECK_FALSE(f.actual.has_value());
  CHECK(f.message.find("4 columns, 1 index, 1 constraint, 1 trigger and 1 policy") !=
        std::string::npos);
  REQUIRE(f.fix_sql.has_value());
  CHECK(*f.fix_sql ==
        "CREATE TABLE IF NOT EXISTS public.eval (\n"
        "    id bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n"
        "    name character varying(32) NOT NULL,\n"
        "    status public.eval_status,\n"
        "    created_at timestamp with time zone DEFAULT now() NOT NULL\n"
        ");\n"
        "ALTER TABLE public.eval ADD CONSTRAINT eval_pkey PRIMARY KEY (id);\n"
        "CREATE INDEX IF NOT EXISTS eval__created_at_idx ON public.eval USING btree "
        "(created_at);\n"
        "CREATE TRIGGER eval_touch BEFORE UPDATE ON public.eval FOR EACH ROW EXECUTE FUNCTION "
        "public.touch();\n"
        "ALTER TABLE public.eval ENABLE ROW LEVEL SECURITY;\n"
        "CREATE POLICY eval_read ON public.eval AS PERMISSIVE FOR SELECT TO reader, analyst "
        "USING ((status = 'done'::public.eval_status));\n"
        "GRANT SELECT ON TABLE public.eval TO reader;");
}

TEST_CASE("missing table in a new schema: schema finding plus the table once") {
  SchemaSnapshot expected = base_schema();
  add(expected, make(ObjectType::kSchema, "middleman"));
  add(expected, make(ObjectType::kTable, "middleman.job", {{"kind", "table"}},
                     {{"schema", "middleman"}, {"local_name", "job"}}));
  add(expected,
      make(ObjectType::kColumn, "middleman.job.user", {{"type", "text"}},
           {{"schema", "middleman"}, {"parent", "middleman.job"}, {"local_name", "user"}}));
  auto findings = diff_schemas(expected, base_schema(), all_on());
  REQUIRE(findings.size() == 2);
  CHECK(findings[0].object_type == ObjectType::kSchema);
  CHECK(findings[0].fix_sql ==
        std::optional<std::string>("CREATE SCHEMA IF NOT EXISTS middleman;"));
  CHECK(findings[1].object == "middleman.job");
  // `user` is a reserved word: quoted.
  CHECK(findings[1].fix_sql ==
        std::optional<std::string>(
            "CREATE TABLE IF NOT EXISTS middleman.job (\n    \"user\" text\n);"));
}

TEST_CASE("extra table is info with a destructive drop, children folded") {
  SchemaSnapshot actual = base_schema();
  add(actual, make(ObjectType::kTable, "public.Tmp", {{"kind", "table"}},
                   {{"schema", "public"}, {"local_name", "Tmp"}}));
  add(actual, column("public.Tmp", "x", {{"type", "integer"}, {"nullable", "false"}}));
  add(actual, index("tmp_x", "public.Tmp",
                    {{"definition", "CREATE UNIQUE INDEX tmp_x ON public.\"Tmp\" USING btree (x)"},
                     {"unique", "true"}}));
  Finding f = only_finding(base_schema(), actual);
  CHECK(f.kind == "extra");
  CHECK(f.object == "public.Tmp");
  CHECK(f.severity == Severity::kInfo);
  CHECK(f.risk == "none");
  CHECK(f.actual == std::optional<std::string>("table"));
  CHECK(f.fix_sql == std::optional<std::string>(
                         "-- destructive: drops the table and its rows\nDROP TABLE IF EXISTS "
                         "public.\"Tmp\";"));
}

TEST_CASE("columns: missing, extra and changed") {
  SchemaSnapshot expected = base_schema();

  SUBCASE("missing nullable column with default") {
    add(expected, column("public.eval", "note", {{"type", "text"}, {"default", "'n/a'::text"}}));
    Finding f = only_finding(expected, base_schema());
    CHECK(f.kind == "missing");
    CHECK(f.object == "public.eval.note");
    CHECK(f.severity == Severity::kCritical);
    CHECK(f.risk == "undefined_column");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "ALTER TABLE public.eval ADD COLUMN IF NOT EXISTS note text DEFAULT "
                           "'n/a'::text;"));
  }
  SUBCASE("missing NOT NULL column without default: fix-forward recipe") {
    add(expected, column("public.eval", "order", {{"type", "integer"}, {"nullable", "false"}}));
    Finding f = only_finding(expected, base_schema());
    CHECK(f.fix_sql == std::optional<std::string>(
                           "ALTER TABLE public.eval ADD COLUMN IF NOT EXISTS \"order\" integer;\n"
                           "-- backfill public.eval.order here\n"
                           "ALTER TABLE public.eval ALTER COLUMN \"order\" SET NOT NULL;"));
  }
  SUBCASE("extra NOT NULL column without default breaks inserts") {
    SchemaSnapshot actual = base_schema();
    add(actual, column("public.eval", "owner", {{"type", "text"}, {"nullable", "false"}}));
    Finding f = only_finding(expected, actual);
    CHECK(f.kind == "extra");
    CHECK(f.severity == Severity::kCritical);
    CHECK(f.risk == "not_null_violation");
    CHECK(f.actual == std::optional<std::string>("text NOT NULL"));
    CHECK(f.fix_sql ==
          std::optional<std::string>("ALTER TABLE public.eval ALTER COLUMN owner DROP NOT NULL;"));
  }
  SUBCASE("extra NOT NULL column with a default, identity or generation is harmless") {
    for (Attrs source : {Attrs{{"default", "0"}}, Attrs{{"identity", "always"}},
                         Attrs{{"generated", "(id * 2)"}}}) {
      SchemaSnapshot actual = base_schema();
      Attrs attrs = {{"type", "bigint"}, {"nullable", "false"}};
      attrs.insert(source.begin(), source.end());
      add(actual, column("public.eval", "extra", attrs));
      Finding f = only_finding(expected, actual);
      CHECK(f.severity == Severity::kInfo);
      CHECK(f.risk == "none");
    }
  }
  SUBCASE("extra nullable column: info, destructive drop") {
    SchemaSnapshot actual = base_schema();
    add(actual, column("public.eval", "Legacy", {{"type", "text"}, {"nullable", "true"}}));
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kInfo);
    CHECK(f.risk == "none");
    CHECK(f.fix_sql ==
          std::optional<std::string>("-- destructive: drops the column and its data\n"
                                     "ALTER TABLE public.eval DROP COLUMN IF EXISTS \"Legacy\";"));
  }
  SUBCASE("narrowed type is critical") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kColumn, "public.eval.name")->attrs["type"] =
        "character varying(16)";
    Finding f = only_finding(expected, actual);
    CHECK(f.kind == "changed");
    CHECK(f.attribute == "type");
    CHECK(f.severity == Severity::kCritical);
    CHECK(f.risk == "type_mismatch");
    CHECK(f.expected == std::optional<std::string>("character varying(32)"));
    CHECK(f.actual == std::optional<std::string>("character varying(16)"));
    CHECK(f.message ==
          "Column public.eval.name has type character varying(16) in the database, but the "
          "migrations expect character varying(32); the database type is narrower, so values the "
          "application writes may not fit.");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "ALTER TABLE public.eval ALTER COLUMN name TYPE character varying(32) "
                           "USING name::character varying(32);"));
  }
  SUBCASE("widened type is a warning") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kColumn, "public.eval.name")->attrs["type"] = "text";
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.risk == "type_mismatch");
  }
  SUBCASE("expected nullable, NOT NULL in the database") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kColumn, "public.eval.status")->attrs["nullable"] = "false";
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "nullable");
    CHECK(f.severity == Severity::kCritical);
    CHECK(f.risk == "not_null_violation");
    CHECK(f.fix_sql ==
          std::optional<std::string>("ALTER TABLE public.eval ALTER COLUMN status DROP NOT NULL;"));
  }
  SUBCASE("expected NOT NULL, nullable in the database") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kColumn, "public.eval.name")->attrs["nullable"] = "true";
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.risk == "none");
    CHECK(f.fix_sql ==
          std::optional<std::string>("ALTER TABLE public.eval ALTER COLUMN name SET NOT NULL;"));
  }
  SUBCASE("changed default is a warning") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kColumn, "public.eval.created_at")->attrs["default"] =
        "clock_timestamp()";
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "default");
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.risk == "none");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "ALTER TABLE public.eval ALTER COLUMN created_at SET DEFAULT now();"));
  }
  SUBCASE("default removed from a NOT NULL column breaks inserts relying on it") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kColumn, "public.eval.created_at")->attrs.erase("default");
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kCritical);
    CHECK(f.risk == "not_null_violation");
    CHECK_FALSE(f.actual.has_value());
  }
  SUBCASE("unexpected default: fix drops it") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kColumn, "public.eval.name")->attrs["default"] = "''::text";
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.fix_sql ==
          std::optional<std::string>("ALTER TABLE public.eval ALTER COLUMN name DROP DEFAULT;"));
  }
  SUBCASE("identity changed") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kColumn, "public.eval.id")->attrs["identity"] = "always";
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "identity");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "ALTER TABLE public.eval ALTER COLUMN id SET GENERATED BY DEFAULT;"));
  }
  SUBCASE("several attributes: one finding each, most severe first") {
    SchemaSnapshot actual = base_schema();
    auto& attrs = find_mut(actual, ObjectType::kColumn, "public.eval.status")->attrs;
    attrs["nullable"] = "false";
    attrs["default"] = "'pending'::public.eval_status";
    auto findings = diff_schemas(expected, actual, all_on());
    REQUIRE(findings.size() == 2);
    CHECK(findings[0].attribute == "nullable");
    CHECK(findings[1].attribute == "default");
  }
}

TEST_CASE("table attributes: row level security") {
  SchemaSnapshot actual = base_schema();
  find_mut(actual, ObjectType::kTable, "public.eval")->attrs["row_security"] = "off";
  Finding f = only_finding(base_schema(), actual);
  CHECK(f.attribute == "row_security");
  CHECK(f.severity == Severity::kWarning);
  CHECK(f.fix_sql ==
        std::optional<std::string>("ALTER TABLE public.eval ENABLE ROW LEVEL SECURITY;"));
  find_mut(actual, ObjectType::kTable, "public.eval")->attrs["row_security"] = "on";
  find_mut(actual, ObjectType::kTable, "public.eval")->attrs["force_row_security"] = "on";
  f = only_finding(base_schema(), actual);
  CHECK(f.fix_sql ==
        std::optional<std::string>("ALTER TABLE public.eval NO FORCE ROW LEVEL SECURITY;"));
}

TEST_CASE("indexes") {
  SchemaSnapshot expected = base_schema();
  auto unique_index =
      index("eval_name_key", "public.eval",
            {{"definition", "CREATE UNIQUE INDEX eval_name_key ON public.eval USING btree (name)"},
             {"unique", "true"},
             {"primary", "false"}});
  SUBCASE("missing unique index: unique_violation warning") {
    add(expected, unique_index);
    Finding f = only_finding(expected, base_schema());
    CHECK(f.kind == "missing");
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.risk == "unique_violation");
    // CONCURRENTLY: the application's writes go on while the index builds.
    CHECK(f.fix_sql == std::optional<std::string>(
                           "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS eval_name_key ON "
                           "public.eval USING btree (name);"));
  }
  SUBCASE("only the storage parameters differ: ALTER INDEX SET / RESET, no rebuild") {
    const std::string head = "CREATE UNIQUE INDEX eval_name_key ON public.eval USING btree (name)";
    const std::string tail = " WHERE ((name)::text <> ' WITH (x'::text)";
    add(expected, unique_index);
    find_mut(expected, ObjectType::kIndex, "public.eval_name_key")->attrs["definition"] =
        head + " WITH (fillfactor='80', deduplicate_items=off)" + tail;
    SchemaSnapshot actual = base_schema();
    add(actual, unique_index);
    find_mut(actual, ObjectType::kIndex, "public.eval_name_key")->attrs["definition"] =
        head + " WITH (fillfactor='60', \"x,y\"='a,b')" + tail;
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "definition");
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.risk == "none");  // uniqueness is the same
    CHECK(f.fix_sql ==
          std::optional<std::string>("ALTER INDEX public.eval_name_key RESET (\"x,y\");\n"
                                     "ALTER INDEX public.eval_name_key SET (fillfactor='80', "
                                     "deduplicate_items=off);"));
    // No WITH on the expected side: RESET only.
    find_mut(expected, ObjectType::kIndex, "public.eval_name_key")->attrs["definition"] =
        head + tail;
    f = only_finding(expected, actual);
    CHECK(f.fix_sql == std::optional<std::string>(
                           "ALTER INDEX public.eval_name_key RESET (fillfactor, \"x,y\");"));
    // Anything else differs too: rebuilt (and unique_violation).
    find_mut(expected, ObjectType::kIndex, "public.eval_name_key")->attrs["definition"] = head;
    f = only_finding(expected, actual);
    CHECK(f.risk == "unique_violation");
    CHECK(f.fix_sql->rfind("DROP INDEX CONCURRENTLY IF EXISTS public.eval_name_key;\n", 0) == 0);
  }
  SUBCASE("missing plain index") {
    SchemaSnapshot actual = base_schema();
    remove(actual, ObjectType::kIndex, "public.eval__created_at_idx");
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.risk == "none");
  }
  SUBCASE("extra unique index: inserts may fail") {
    SchemaSnapshot actual = base_schema();
    add(actual, unique_index);
    Finding f = only_finding(expected, actual);
    CHECK(f.kind == "extra");
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.risk == "unique_violation");
    CHECK(f.fix_sql ==
          std::optional<std::string>("DROP INDEX CONCURRENTLY IF EXISTS public.eval_name_key;"));
  }
  SUBCASE("extra plain index is info") {
    SchemaSnapshot actual = base_schema();
    add(actual,
        index("eval_name_idx", "public.eval",
              {{"definition", "CREATE INDEX eval_name_idx ON public.eval USING btree (name)"},
               {"unique", "false"}}));
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kInfo);
    CHECK(f.risk == "none");
  }
  SUBCASE("index made unique: one finding on the definition") {
    SchemaSnapshot actual = base_schema();
    auto* idx = find_mut(actual, ObjectType::kIndex, "public.eval__created_at_idx");
    idx->attrs["definition"] =
        "CREATE UNIQUE INDEX eval__created_at_idx ON public.eval USING btree (created_at)";
    idx->attrs["unique"] = "true";
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "definition");
    CHECK(f.risk == "unique_violation");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "DROP INDEX CONCURRENTLY IF EXISTS public.eval__created_at_idx;\n"
                           "CREATE INDEX CONCURRENTLY IF NOT EXISTS eval__created_at_idx ON "
                           "public.eval USING btree (created_at);"));
  }
}

TEST_CASE("constraints") {
  SchemaSnapshot expected = base_schema();
  auto fk = child(ObjectType::kConstraint, "public.eval", "eval_parent_fkey",
                  {{"type", "foreign_key"},
                   {"definition", "FOREIGN KEY (parent_id) REFERENCES public.eval(id)"},
                   {"on_delete", "cascade"},
                   {"on_update", "no action"},
                   {"deferrable", "deferrable initially deferred"},
                   {"validated", "true"}});
  SUBCASE("missing primary key: unique_violation") {
    SchemaSnapshot actual = base_schema();
    remove(actual, ObjectType::kConstraint, "public.eval.eval_pkey");
    Finding f = only_finding(expected, actual);
    CHECK(f.kind == "missing");
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.risk == "unique_violation");
    CHECK(f.message.find("ON CONFLICT") != std::string::npos);
    CHECK(f.fix_sql == std::optional<std::string>(
                           "ALTER TABLE public.eval ADD CONSTRAINT eval_pkey PRIMARY KEY (id);"));
  }
  SUBCASE("missing foreign key: full clause rebuilt") {
    add(expected, fk);
    Finding f = only_finding(expected, base_schema());
    CHECK(f.risk == "none");
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.fix_sql == std::optional<std::string>(
                           "ALTER TABLE public.eval ADD CONSTRAINT eval_parent_fkey FOREIGN KEY "
                           "(parent_id) REFERENCES public.eval(id) ON DELETE CASCADE DEFERRABLE "
                           "INITIALLY DEFERRED NOT VALID;\n"
                           "ALTER TABLE public.eval VALIDATE CONSTRAINT eval_parent_fkey;"));
  }
  SUBCASE("changed on_delete: drop and add in one statement") {
    add(expected, fk);
    SchemaSnapshot actual = base_schema();
    fk.attrs["on_delete"] = "no action";
    add(actual, fk);
    Finding f = only_finding(expected, actual);
    CHECK(f.kind == "changed");
    CHECK(f.attribute == "on_delete");
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.risk == "none");
    CHECK(f.expected == std::optional<std::string>("cascade"));
    CHECK(f.fix_sql ==
          std::optional<std::string>(
              "ALTER TABLE public.eval DROP CONSTRAINT IF EXISTS eval_parent_fkey, "
              "ADD CONSTRAINT eval_parent_fkey FOREIGN KEY (parent_id) REFERENCES "
              "public.eval(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED NOT "
              "VALID;\nALTER TABLE public.eval VALIDATE CONSTRAINT eval_parent_fkey;"));
  }
  SUBCASE("extra unique constraint and extra NOT NULL check") {
    SchemaSnapshot actual = base_schema();
    add(actual, child(ObjectType::kConstraint, "public.eval", "eval_name_key",
                      {{"type", "unique"}, {"definition", "UNIQUE (name)"}}));
    add(actual, child(ObjectType::kConstraint, "public.eval", "status_nn",
                      {{"type", "check"}, {"definition", "CHECK ((status IS NOT NULL))"}}));
    auto findings = diff_schemas(expected, actual, all_on());
    REQUIRE(findings.size() == 2);
    CHECK(findings[0].object == "public.eval.eval_name_key");
    CHECK(findings[0].risk == "unique_violation");
    CHECK(findings[0].severity == Severity::kWarning);
    CHECK(findings[0].fix_sql ==
          std::optional<std::string>(
              "ALTER TABLE public.eval DROP CONSTRAINT IF EXISTS eval_name_key;"));
    CHECK(findings[1].object == "public.eval.status_nn");
    CHECK(findings[1].risk == "not_null_violation");
    CHECK(findings[1].severity == Severity::kWarning);
  }
  SUBCASE("not validated in the database") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kConstraint, "public.eval.eval_pkey")->attrs["validated"] =
        "false";
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kInfo);
    CHECK(f.fix_sql ==
          std::optional<std::string>("ALTER TABLE public.eval VALIDATE CONSTRAINT eval_pkey;"));
  }
}

TEST_CASE("enums") {
  SchemaSnapshot expected = base_schema();
  SUBCASE("missing labels are added next to their neighbours") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kEnum, "public.eval_status")->attrs["labels"] = R"(["running"])";
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "labels");
    CHECK(f.severity == Severity::kCritical);
    CHECK(f.risk == "undefined_object");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "ALTER TYPE public.eval_status ADD VALUE IF NOT EXISTS 'pending' "
                           "BEFORE 'running';\n"
                           "ALTER TYPE public.eval_status ADD VALUE IF NOT EXISTS 'done' AFTER "
                           "'running';"));
  }
  SUBCASE("extra label is info, no safe SQL") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kEnum, "public.eval_status")->attrs["labels"] =
        R"(["pending", "running", "done", "it's late"])";
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kInfo);
    CHECK_FALSE(f.fix_sql.has_value());
  }
  SUBCASE("reordered labels are a warning") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kEnum, "public.eval_status")->attrs["labels"] =
        R"(["done","running","pending"])";
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kWarning);
  }
  SUBCASE("missing enum") {
    SchemaSnapshot actual = base_schema();
    remove(actual, ObjectType::kEnum, "public.eval_status");
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kCritical);
    CHECK(f.risk == "undefined_object");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "CREATE TYPE public.eval_status AS ENUM ('pending', 'running', "
                           "'done');"));
  }
}

TEST_CASE("views, materialized views, functions") {
  SchemaSnapshot expected = base_schema();
  SUBCASE("missing view") {
    SchemaSnapshot actual = base_schema();
    remove(actual, ObjectType::kView, "public.recent");
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kCritical);
    CHECK(f.risk == "undefined_object");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "CREATE OR REPLACE VIEW public.recent AS\nSELECT eval.id\n   FROM "
                           "public.eval\n  WHERE (eval.id > 10);"));
  }
  SUBCASE("changed view") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kView, "public.recent")->attrs["definition"] =
        " SELECT eval.id FROM public.eval;";
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "definition");
    CHECK(f.severity == Severity::kWarning);
    REQUIRE(f.fix_sql.has_value());
    CHECK(f.fix_sql->rfind("CREATE OR REPLACE VIEW public.recent AS\n", 0) == 0);
  }
  SUBCASE("materialized view: missing, extra, changed") {
    auto mv = make(ObjectType::kMaterializedView, "public.stats",
                   {{"definition", " SELECT count(*) AS n\n   FROM public.eval;"}},
                   {{"schema", "public"}, {"local_name", "stats"}});
    add(expected, mv);
    Finding missing = only_finding(expected, base_schema());
    CHECK(missing.fix_sql == std::optional<std::string>(
                                 "CREATE MATERIALIZED VIEW IF NOT EXISTS public.stats AS\nSELECT "
                                 "count(*) AS n\n   FROM public.eval;"));
    Finding extra = only_finding(base_schema(), expected);
    CHECK(extra.severity == Severity::kInfo);
    CHECK(extra.fix_sql ==
          std::optional<std::string>("-- destructive: drops the materialized view and its rows\n"
                                     "DROP MATERIALIZED VIEW IF EXISTS public.stats;"));
    SchemaSnapshot actual = expected;
    find_mut(actual, ObjectType::kMaterializedView, "public.stats")->attrs["definition"] =
        " SELECT 1 AS n;";
    Finding changed = only_finding(expected, actual);
    CHECK(changed.fix_sql ==
          std::optional<std::string>("-- destructive: drops the materialized view and rebuilds "
                                     "its rows\nDROP MATERIALIZED VIEW IF EXISTS public.stats;\n"
                                     "CREATE MATERIALIZED VIEW public.stats AS\nSELECT count(*) "
                                     "AS n\n   FROM public.eval;"));
  }
  SUBCASE("missing function uses its CREATE OR REPLACE") {
    SchemaSnapshot actual = base_schema();
    remove(actual, ObjectType::kFunction, "public.score(text, integer)");
    Finding f = only_finding(expected, actual);
    CHECK(f.object == "public.score(text, integer)");
    CHECK(f.severity == Severity::kCritical);
    CHECK(f.risk == "undefined_object");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "CREATE OR REPLACE FUNCTION public.score(text, integer)\n RETURNS "
                           "integer\n LANGUAGE sql\n IMMUTABLE\nAS $function$SELECT "
                           "$2$function$;"));
  }
  SUBCASE("extra function") {
    SchemaSnapshot actual = base_schema();
    add(actual, make(ObjectType::kFunction, "public.Old(integer)", {{"kind", "procedure"}},
                     {{"schema", "public"}, {"local_name", "Old(integer)"}}));
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kInfo);
    // ROUTINE: valid for a function, procedure or aggregate alike.
    CHECK(f.fix_sql ==
          std::optional<std::string>("-- destructive: fails while other objects depend on it\n"
                                     "DROP ROUTINE IF EXISTS public.\"Old\"(integer);"));
  }
  SUBCASE("changed result type needs a drop first") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kFunction, "public.score(text, integer)")->attrs["result"] =
        "bigint";
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "result");
    CHECK(f.severity == Severity::kWarning);
    REQUIRE(f.fix_sql.has_value());
    CHECK(f.fix_sql->rfind("-- destructive: drops the routine (its grants; fails while others "
                           "depend on it)\nDROP ROUTINE IF EXISTS public.score(text, integer);\n"
                           "CREATE OR REPLACE FUNCTION",
                           0) == 0);
  }
  SUBCASE("changed volatility: ALTER ROUTINE only") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kFunction, "public.score(text, integer)")->attrs["volatility"] =
        "volatile";
    Finding f = only_finding(expected, actual);
    CHECK(f.fix_sql ==
          std::optional<std::string>("ALTER ROUTINE public.score(text, integer) IMMUTABLE;"));
  }
  SUBCASE("changed body: CREATE OR REPLACE only") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kFunction, "public.score(text, integer)")->attrs["body"] =
        "SELECT $1";
    Finding f = only_finding(expected, actual);
    REQUIRE(f.fix_sql.has_value());
    CHECK(f.fix_sql->rfind("CREATE OR REPLACE FUNCTION", 0) == 0);
  }
}

TEST_CASE("triggers, sequences, extensions") {
  SchemaSnapshot expected = base_schema();
  SUBCASE("missing trigger: created, nothing dropped") {
    SchemaSnapshot actual = base_schema();
    remove(actual, ObjectType::kTrigger, "public.eval.eval_touch");
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kWarning);
    // Server version unknown: the form every version accepts.
    CHECK(f.fix_sql == std::optional<std::string>(
                           "CREATE TRIGGER eval_touch BEFORE UPDATE ON public.eval FOR EACH ROW "
                           "EXECUTE FUNCTION public.touch();"));
    actual.server_version = "15.6";
    f = only_finding(expected, actual);
    CHECK(f.fix_sql == std::optional<std::string>(
                           "CREATE OR REPLACE TRIGGER eval_touch BEFORE UPDATE ON public.eval FOR "
                           "EACH ROW EXECUTE FUNCTION public.touch();"));
    for (const FixStatement& s : order_fix_statements({f})) CHECK_FALSE(s.destructive);
  }
  SUBCASE("changed trigger: CREATE OR REPLACE on 14+, drop and create before") {
    SchemaSnapshot actual = base_schema();
    SchemaObject* trigger = find_mut(actual, ObjectType::kTrigger, "public.eval.eval_touch");
    trigger->attrs["definition"] =
        "CREATE TRIGGER eval_touch AFTER UPDATE ON public.eval FOR EACH ROW EXECUTE FUNCTION "
        "public.touch()";
    actual.server_version = "14.1";
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "definition");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "CREATE OR REPLACE TRIGGER eval_touch BEFORE UPDATE ON public.eval FOR "
                           "EACH ROW EXECUTE FUNCTION public.touch();"));
    for (const FixStatement& s : order_fix_statements({f})) CHECK_FALSE(s.destructive);
    // The same fix for a database on PostgreSQL 13 drops first, and is marked destructive.
    DiffOptions on_13 = all_on();
    on_13.fix_server_major = 13;
    f = only_finding(expected, actual, on_13);
    CHECK(f.fix_sql == std::optional<std::string>(
                           "DROP TRIGGER IF EXISTS eval_touch ON public.eval;\nCREATE TRIGGER "
                           "eval_touch BEFORE UPDATE ON public.eval FOR EACH ROW EXECUTE FUNCTION "
                           "public.touch();"));
    CHECK(order_fix_statements({f}).front().destructive);
    // A constraint trigger cannot be replaced (PostgreSQL: "CREATE OR REPLACE CONSTRAINT
    // TRIGGER is not supported"), nor a plain trigger replace one.
    trigger->attrs["definition"] =
        "CREATE CONSTRAINT TRIGGER eval_touch AFTER UPDATE ON public.eval NOT DEFERRABLE "
        "INITIALLY IMMEDIATE FOR EACH ROW EXECUTE FUNCTION public.touch()";
    f = only_finding(expected, actual);
    CHECK(f.fix_sql->rfind("DROP TRIGGER IF EXISTS eval_touch ON public.eval;\nCREATE TRIGGER ",
                           0) == 0);
  }
  SUBCASE("disabled trigger") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kTrigger, "public.eval.eval_touch")->attrs["enabled"] = "disabled";
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "enabled");
    CHECK(f.fix_sql ==
          std::optional<std::string>("ALTER TABLE public.eval ENABLE TRIGGER eval_touch;"));
  }
  SUBCASE("missing sequence") {
    SchemaSnapshot actual = base_schema();
    remove(actual, ObjectType::kSequence, "public.ticket_seq");
    Finding f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kCritical);
    CHECK(f.risk == "undefined_object");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "CREATE SEQUENCE IF NOT EXISTS public.ticket_seq AS bigint INCREMENT "
                           "BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1 NO "
                           "CYCLE;"));
  }
  SUBCASE("sequence narrowed to integer") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kSequence, "public.ticket_seq")->attrs["data_type"] = "integer";
    Finding f = only_finding(expected, actual);
    CHECK(f.risk == "type_mismatch");
    CHECK(f.fix_sql == std::optional<std::string>("ALTER SEQUENCE public.ticket_seq AS bigint;"));
  }
  SUBCASE("extension version and missing extension") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kExtension, "pg_trgm")->attrs["version"] = "1.5";
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "version");
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.fix_sql == std::optional<std::string>("ALTER EXTENSION pg_trgm UPDATE TO '1.6';"));
    remove(actual, ObjectType::kExtension, "pg_trgm");
    f = only_finding(expected, actual);
    CHECK(f.severity == Severity::kCritical);
    CHECK(f.fix_sql == std::optional<std::string>(
                           "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public VERSION "
                           "'1.6';"));
  }
}

TEST_CASE("policies and privileges") {
  SchemaSnapshot expected = base_schema();
  SUBCASE("changed policy command: drop and create, marked destructive") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kPolicy, "public.eval.eval_read")->attrs["command"] = "all";
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "command");
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.fix_sql == std::optional<std::string>(
                           "-- destructive: drops and recreates the policy\n"
                           "DROP POLICY IF EXISTS eval_read ON public.eval;\nCREATE POLICY "
                           "eval_read ON public.eval AS PERMISSIVE FOR SELECT TO reader, analyst "
                           "USING ((status = 'done'::public.eval_status));"));
  }
  SUBCASE("changed policy roles or expression: ALTER POLICY") {
    SchemaSnapshot actual = base_schema();
    auto* policy = find_mut(actual, ObjectType::kPolicy, "public.eval.eval_read");
    policy->attrs["roles"] = R"(["reader"])";
    policy->attrs["using"] = "true";
    auto findings = diff_schemas(expected, actual, all_on());
    REQUIRE(findings.size() == 2);
    CHECK(findings[0].attribute == "roles");
    CHECK(findings[0].fix_sql ==
          std::optional<std::string>("ALTER POLICY eval_read ON public.eval TO reader, analyst;"));
    CHECK(findings[1].attribute == "using");
    CHECK(findings[1].fix_sql ==
          std::optional<std::string>("ALTER POLICY eval_read ON public.eval USING ((status = "
                                     "'done'::public.eval_status));"));
  }
  SUBCASE("missing privilege: GRANT") {
    SchemaSnapshot actual = base_schema();
    remove(actual, ObjectType::kPrivilege, "public.eval:reader:SELECT");
    Finding f = only_finding(expected, actual);
    CHECK(f.object_type == ObjectType::kPrivilege);
    CHECK(f.fix_sql == std::optional<std::string>("GRANT SELECT ON TABLE public.eval TO reader;"));
  }
  SUBCASE("extra privileges: REVOKE, info") {
    SchemaSnapshot actual = base_schema();
    add(actual, make(ObjectType::kPrivilege, "public:PUBLIC:CREATE", {{"grantable", "false"}}));
    add(actual,
        make(ObjectType::kPrivilege, "public.ticket_seq:App User:USAGE", {{"grantable", "false"}}));
    auto findings = diff_schemas(expected, actual, all_on());
    REQUIRE(findings.size() == 2);
    // '.' sorts before ':'.
    CHECK(findings[0].object == "public.ticket_seq:App User:USAGE");
    CHECK(findings[0].severity == Severity::kInfo);
    CHECK(findings[1].fix_sql ==
          std::optional<std::string>("REVOKE CREATE ON SCHEMA public FROM PUBLIC;"));
    CHECK(findings[0].fix_sql ==
          std::optional<std::string>("REVOKE USAGE ON SEQUENCE public.ticket_seq FROM \"App "
                                     "User\";"));
  }
  SUBCASE("privileges are skipped unless compared") {
    SchemaSnapshot actual = base_schema();
    remove(actual, ObjectType::kPrivilege, "public.eval:reader:SELECT");
    CHECK(diff_schemas(expected, actual, DiffOptions{}).empty());
  }
}

TEST_CASE("comments are compared only when asked") {
  SchemaSnapshot expected = base_schema();
  find_mut(expected, ObjectType::kColumn, "public.eval.name")->attrs["comment"] = "the name's";
  SchemaSnapshot actual = base_schema();
  CHECK(diff_schemas(expected, actual, DiffOptions{}).empty());
  Finding f = only_finding(expected, actual);
  CHECK(f.attribute == "comment");
  CHECK(f.severity == Severity::kInfo);
  CHECK(f.fix_sql ==
        std::optional<std::string>("COMMENT ON COLUMN public.eval.name IS 'the name''s';"));
  f = only_finding(actual, expected);
  CHECK(f.fix_sql == std::optional<std::string>("COMMENT ON COLUMN public.eval.name IS NULL;"));
}

TEST_CASE("ignore rules drop matching findings") {
  SchemaSnapshot expected = base_schema();
  SchemaSnapshot actual = base_schema();
  add(actual, make(ObjectType::kTable, "public.tmp_load", {{"kind", "table"}},
                   {{"schema", "public"}, {"local_name", "tmp_load"}}));
  remove(actual, ObjectType::kIndex, "public.eval__created_at_idx");
  DiffOptions options;
  REQUIRE(diff_schemas(expected, actual, options).size() == 2);
  options.ignore.rules.push_back(IgnoreRule{"public.tmp_*", "", ""});
  auto findings = diff_schemas(expected, actual, options);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].object == "public.eval__created_at_idx");
  options.ignore.rules.push_back(IgnoreRule{"", "index", "missing"});
  CHECK(diff_schemas(expected, actual, options).empty());
}

TEST_CASE("normalisation removes representation noise only") {
  SchemaSnapshot expected = base_schema();
  SchemaSnapshot actual = base_schema();
  // Whitespace and trailing semicolon in a view, `public.` qualifiers, role order, JSON spacing.
  find_mut(actual, ObjectType::kView, "public.recent")->attrs["definition"] =
      "SELECT eval.id FROM eval WHERE (eval.id > 10)";
  find_mut(actual, ObjectType::kPolicy, "public.eval.eval_read")->attrs["roles"] =
      R"([ "analyst", "reader" ])";
  find_mut(actual, ObjectType::kPolicy, "public.eval.eval_read")->attrs["using"] =
      "(status = 'done'::eval_status)";
  find_mut(actual, ObjectType::kColumn, "public.eval.status")->attrs["type"] = "eval_status";
  find_mut(actual, ObjectType::kEnum, "public.eval_status")->attrs["labels"] =
      R"(["pending", "running", "done"])";
  find_mut(actual, ObjectType::kFunction, "public.score(text, integer)")->attrs["body"] =
      "SELECT   $2\n";
  CHECK(diff_schemas(expected, actual, all_on()).empty());

  SUBCASE("whitespace inside a literal is data") {
    find_mut(actual, ObjectType::kPolicy, "public.eval.eval_read")->attrs["using"] =
        "(status = 'done '::eval_status)";
    CHECK(diff_schemas(expected, actual, all_on()).size() == 1);
  }
  SUBCASE("other schema qualifiers are kept") {
    find_mut(actual, ObjectType::kColumn, "public.eval.status")->attrs["type"] =
        "middleman.eval_status";
    CHECK(diff_schemas(expected, actual, all_on()).size() == 1);
  }
  SUBCASE("a different table name is still drift") {
    find_mut(actual, ObjectType::kView, "public.recent")->attrs["definition"] =
        "SELECT eval.id FROM evals WHERE (eval.id > 10)";
    CHECK(diff_schemas(expected, actual, all_on()).size() == 1);
  }
  CHECK(normalize_attr(ObjectType::kView, "definition", "  SELECT  'a  b'  ;\n") ==
        "SELECT 'a  b'");
  CHECK(normalize_attr(ObjectType::kColumn, "default", "nextval('public.s'::regclass)") ==
        "nextval('public.s'::regclass)");
  CHECK(normalize_attr(ObjectType::kColumn, "default", "mypublic.f()") == "mypublic.f()");
  CHECK(normalize_attr(ObjectType::kEnum, "labels", R"(["b", "a"])") == R"(["b","a"])");
}

TEST_CASE("findings are sorted by severity, object type, object, attribute") {
  SchemaSnapshot expected = base_schema();
  SchemaSnapshot actual = base_schema();
  add(actual, column("public.eval", "zz", {{"type", "text"}}));                          // info
  remove(actual, ObjectType::kIndex, "public.eval__created_at_idx");                     // warning
  remove(actual, ObjectType::kView, "public.recent");                                    // critical
  find_mut(actual, ObjectType::kColumn, "public.eval.name")->attrs["type"] = "integer";  // crit
  add(actual, column("public.eval", "aa", {{"type", "text"}}));                          // info
  auto findings = diff_schemas(expected, actual, all_on());
  REQUIRE(findings.size() == 5);
  CHECK(findings[0].object == "public.eval.name");
  CHECK(findings[1].object == "public.recent");
  CHECK(findings[2].object == "public.eval__created_at_idx");
  CHECK(findings[3].object == "public.eval.aa");
  CHECK(findings[4].object == "public.eval.zz");
}

TEST_CASE("type narrowing") {
  struct Case {
    const char* expected;
    const char* actual;
    bool narrows;
  };
  const Case cases[] = {
      {"bigint", "integer", true},
      {"integer", "bigint", false},
      {"integer", "smallint", true},
      {"character varying(32)", "character varying(16)", true},
      {"character varying(16)", "character varying(32)", false},
      {"text", "character varying(255)", true},
      {"character varying(64)", "text", false},
      {"numeric(12,2)", "numeric(10,2)", true},
      {"numeric(10,2)", "numeric(10,4)", true},
      {"numeric(10,2)", "numeric(14,4)", false},
      {"numeric", "numeric(10,2)", true},
      {"integer", "numeric(12,0)", false},
      {"numeric(10,2)", "integer", true},
      {"timestamp with time zone", "timestamp without time zone", true},
      {"timestamp without time zone", "timestamp with time zone", true},
      {"timestamp(6) with time zone", "timestamp(0) with time zone", true},
      {"date", "timestamp without time zone", false},
      {"double precision", "real", true},
      {"real", "double precision", false},
      {"text", "integer", true},
      {"uuid", "text", false},
      {"integer[]", "integer", true},
      {"integer[]", "bigint[]", false},
      {"jsonb", "json", false},
      {"public.eval_status", "eval_status", false},
  };
  for (const Case& c : cases) {
    INFO(c.expected << " -> " << c.actual);
    CHECK(type_narrows(c.expected, c.actual) == c.narrows);
  }
}

TEST_CASE("identifier and literal quoting") {
  CHECK(quote_ident("eval") == "eval");
  CHECK(quote_ident("_x$1") == "_x$1");
  CHECK(quote_ident("Eval") == "\"Eval\"");
  CHECK(quote_ident("1st") == "\"1st\"");
  CHECK(quote_ident("user") == "\"user\"");
  CHECK(quote_ident("order") == "\"order\"");
  CHECK(quote_ident("a\"b") == "\"a\"\"b\"");
  CHECK(quote_ident("with space") == "\"with space\"");
  CHECK(quote_literal("it's") == "'it''s'");
}

TEST_CASE("model 2 attributes and kinds") {
  SUBCASE("a PostgreSQL 18 virtual generated NOT NULL column is no not_null_violation") {
    SchemaSnapshot actual = base_schema();
    add(actual, column("public.eval", "name_upper",
                       {{"type", "text"},
                        {"nullable", "false"},
                        {"generated", "upper((name)::text)"},
                        {"generated_kind", "virtual"}},
                       "5"));
    Finding extra = only_finding(base_schema(), actual);
    CHECK(extra.kind == "extra");
    CHECK(extra.severity == Severity::kInfo);
    CHECK(extra.risk == "none");
    Finding missing = only_finding(actual, base_schema());
    CHECK(missing.fix_sql == std::optional<std::string>(
                                 "ALTER TABLE public.eval ADD COLUMN IF NOT EXISTS name_upper text "
                                 "GENERATED ALWAYS AS (upper((name)::text)) VIRTUAL NOT NULL;"));
    // Stored and virtual are different columns.
    SchemaSnapshot stored = actual;
    find_mut(stored, ObjectType::kColumn, "public.eval.name_upper")->attrs.erase("generated_kind");
    Finding changed = only_finding(stored, actual);
    CHECK(changed.attribute == "generated_kind");
  }
  SUBCASE("a dropped generation expression: drop and re-add the column, rebuild its indexes") {
    SchemaSnapshot expected = base_schema();
    find_mut(expected, ObjectType::kColumn, "public.eval.created_at")->attrs = {
        {"type", "timestamp with time zone"}, {"nullable", "false"}, {"generated", "now_ts(id)"}};
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kColumn, "public.eval.created_at")->attrs.erase("default");
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "generated");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "-- destructive: drops and re-adds the column as generated: values "
                           "written since the expression was dropped are replaced by computed "
                           "ones; fails while views or foreign keys use it\n"
                           "ALTER TABLE public.eval DROP COLUMN created_at,\n"
                           "  ADD COLUMN created_at timestamp with time zone GENERATED ALWAYS AS "
                           "(now_ts(id)) STORED NOT NULL;\n"
                           "CREATE INDEX IF NOT EXISTS eval__created_at_idx ON public.eval USING "
                           "btree (created_at);"));
  }
  SUBCASE("type and default changed: the type fix drops the default, changes type, sets it") {
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kColumn, "public.eval.created_at")->attrs = {
        {"type", "text"}, {"nullable", "false"}, {"default", "'never'::text"}};
    std::vector<Finding> findings = diff_schemas(base_schema(), actual, all_on());
    REQUIRE(findings.size() == 2);
    const Finding& type = findings[0].attribute == "type" ? findings[0] : findings[1];
    CHECK(type.fix_sql == std::optional<std::string>(
                              "ALTER TABLE public.eval ALTER COLUMN created_at DROP DEFAULT,\n"
                              "  ALTER COLUMN created_at TYPE timestamp with time zone USING "
                              "created_at::timestamp with time zone,\n"
                              "  ALTER COLUMN created_at SET DEFAULT now();"));
  }
  SUBCASE("a renamed enum type: every finding it causes is fixed by renaming it back") {
    SchemaSnapshot actual = base_schema();
    SchemaObject* type = find_mut(actual, ObjectType::kEnum, "public.eval_status");
    type->name = "public.eval_state";
    type->info["local_name"] = "eval_state";
    find_mut(actual, ObjectType::kColumn, "public.eval.status")->attrs["type"] =
        "public.eval_state";
    std::vector<Finding> findings = diff_schemas(base_schema(), actual, all_on());
    REQUIRE(findings.size() == 3);  // missing and extra enum, changed column type
    for (const Finding& f : findings) {
      CHECK(f.fix_sql ==
            std::optional<std::string>("ALTER TYPE public.eval_state RENAME TO eval_status;"));
    }
    // Only whole schema-qualified references to the type are its consequences: not the word in
    // a string literal, an unqualified column name, or a type of that name in another schema.
    SchemaSnapshot expected = base_schema();
    add(expected, column("public.eval", "kind",
                         {{"type", "text"},
                          {"nullable", "true"},
                          {"default", "'eval_status'::text"},
                          {"generated", "(eval_status || 'x'::text)"}},
                         "5"));
    add(expected, column("public.eval", "other_status",
                         {{"type", "other.eval_status"}, {"nullable", "true"}}, "6"));
    add(actual, column("public.eval", "kind",
                       {{"type", "text"},
                        {"nullable", "true"},
                        {"default", "'eval_state'::text"},
                        {"generated", "(eval_state || 'x'::text)"}},
                       "5"));
    add(actual, column("public.eval", "other_status",
                       {{"type", "other.eval_state"}, {"nullable", "true"}}, "6"));
    findings = diff_schemas(expected, actual, all_on());
    REQUIRE(findings.size() == 6);
    for (const Finding& f : findings) {
      CAPTURE(f.object);
      CAPTURE(f.attribute);
      const bool rename = f.object_type == ObjectType::kEnum || f.object == "public.eval.status";
      CHECK((f.fix_sql == std::optional<std::string>(
                              "ALTER TYPE public.eval_state RENAME TO eval_status;")) == rename);
    }
    // Different labels: not a rename.
    type = find_mut(actual, ObjectType::kEnum, "public.eval_state");  // add() moved it
    type->attrs["labels"] = R"(["pending"])";
    for (const Finding& f : diff_schemas(base_schema(), actual, all_on())) {
      CHECK(f.fix_sql !=
            std::optional<std::string>("ALTER TYPE public.eval_state RENAME TO eval_status;"));
    }
  }
  SUBCASE("an older snapshot file (model 1) does not report what it could not record") {
    SchemaSnapshot expected = base_schema();
    expected.model = 1;
    SchemaSnapshot actual = base_schema();
    find_mut(actual, ObjectType::kTable, "public.eval")->attrs["persistence"] = "unlogged";
    add(actual, make(ObjectType::kDomain, "public.positive", {{"type", "integer"}},
                     {{"schema", "public"}, {"local_name", "positive"}}));
    CHECK(diff_schemas(expected, actual, all_on()).empty());
    expected.model = kSchemaModel;
    auto findings = diff_schemas(expected, actual, all_on());
    REQUIRE(findings.size() == 2);
    CHECK(findings[0].attribute == "persistence");
    CHECK(findings[0].severity == Severity::kCritical);
    CHECK(findings[1].object_type == ObjectType::kDomain);
  }
  SUBCASE("a different PostgreSQL major version is one info finding") {
    SchemaSnapshot expected = base_schema();
    SchemaSnapshot actual = base_schema();
    expected.server_version = "15.6";
    actual.server_version = "15.10";
    CHECK(diff_schemas(expected, actual, all_on()).empty());
    actual.server_version = "16.2 (Debian 16.2-1)";
    Finding f = only_finding(expected, actual);
    CHECK(f.object_type == ObjectType::kServer);
    CHECK(f.object == "postgresql");
    CHECK(f.attribute == "major_version");
    CHECK(f.expected == std::optional<std::string>("15"));
    CHECK(f.actual == std::optional<std::string>("16"));
    CHECK(f.severity == Severity::kInfo);
    CHECK_FALSE(f.fix_sql.has_value());
    expected.server_version = "9.6.24";
    actual.server_version = "9.5.1";
    CHECK(only_finding(expected, actual).expected == std::optional<std::string>("9.6"));
  }
  SUBCASE("SECURITY DEFINER with a changed or missing search_path is critical") {
    SchemaSnapshot expected = base_schema();
    auto* f = find_mut(expected, ObjectType::kFunction, "public.score(text, integer)");
    f->attrs["config"] = R"(["search_path=public, pg_temp"])";
    SchemaSnapshot actual = base_schema();
    Finding plain = only_finding(expected, actual);
    CHECK(plain.attribute == "config");
    CHECK(plain.severity == Severity::kWarning);
    CHECK(plain.risk == "none");
    f->attrs["security_definer"] = "true";
    find_mut(actual, ObjectType::kFunction, "public.score(text, integer)")
        ->attrs["security_definer"] = "true";
    Finding definer = only_finding(expected, actual);
    CHECK(definer.severity == Severity::kCritical);
    CHECK(definer.risk == "security_definer_search_path");
    CHECK(definer.fix_sql ==
          std::optional<std::string>("ALTER ROUTINE public.score(text, integer) SET search_path "
                                     "TO 'public', 'pg_temp';"));
  }
  SUBCASE("an invalid unique index is critical unique_violation, rebuilt concurrently") {
    SchemaSnapshot actual = base_schema();
    auto unique = index(
        "eval_name_key", "public.eval",
        {{"definition", "CREATE UNIQUE INDEX eval_name_key ON public.eval USING btree (name)"},
         {"unique", "true"}});
    SchemaSnapshot expected = base_schema();
    add(expected, unique);
    unique.attrs["valid"] = "false";
    add(actual, unique);
    Finding f = only_finding(expected, actual);
    CHECK(f.attribute == "valid");
    CHECK(f.severity == Severity::kCritical);
    CHECK(f.risk == "unique_violation");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "DROP INDEX CONCURRENTLY IF EXISTS public.eval_name_key;\n"
                           "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS eval_name_key ON "
                           "public.eval USING btree (name);"));
  }
  SUBCASE("table attributes of model 2: fixes") {
    SchemaSnapshot expected = base_schema();
    auto* table = find_mut(expected, ObjectType::kTable, "public.eval");
    table->attrs["replica_identity"] = "index eval_Name_key";
    table->attrs["reloptions"] = R"(["fillfactor=70"])";
    table->attrs["inherits"] = R"(["public.base"])";
    auto findings = diff_schemas(expected, base_schema(), all_on());
    REQUIRE(findings.size() == 3);
    CHECK(findings[0].attribute == "inherits");
    CHECK(findings[0].fix_sql ==
          std::optional<std::string>("ALTER TABLE public.eval INHERIT public.base;"));
    CHECK(findings[1].attribute == "reloptions");
    CHECK(findings[1].fix_sql ==
          std::optional<std::string>("ALTER TABLE public.eval SET (fillfactor=70);"));
    CHECK(findings[2].attribute == "replica_identity");
    CHECK(findings[2].fix_sql ==
          std::optional<std::string>("ALTER TABLE public.eval REPLICA IDENTITY USING INDEX "
                                     "\"eval_Name_key\";"));
    // Storage parameters are a set: their order is no drift.
    SchemaSnapshot reordered = expected;
    find_mut(expected, ObjectType::kTable, "public.eval")->attrs["reloptions"] =
        R"(["fillfactor=70","autovacuum_enabled=false"])";
    find_mut(reordered, ObjectType::kTable, "public.eval")->attrs["reloptions"] =
        R"(["autovacuum_enabled=false", "fillfactor=70"])";
    CHECK(diff_schemas(expected, reordered, all_on()).empty());
  }
  SUBCASE("a missing partition is a warning; its parent is quoted in the fix") {
    SchemaSnapshot expected = base_schema();
    add(expected,
        make(ObjectType::kTable, "public.log_2025",
             {{"kind", "table"},
              {"partition_of", "public.Log FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"}},
             {{"schema", "public"},
              {"local_name", "log_2025"},
              {"partition_parent_schema", "public"},
              {"partition_parent_name", "Log"},
              {"partition_bound", "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"}}));
    Finding f = only_finding(expected, base_schema());
    CHECK(f.severity == Severity::kWarning);
    CHECK(f.risk == "none");
    CHECK(f.fix_sql == std::optional<std::string>(
                           "CREATE TABLE IF NOT EXISTS public.log_2025 PARTITION OF public.\"Log\" "
                           "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"));
  }
}

}  // namespace driftwatch

namespace driftwatch {
namespace {

SchemaObject table(const std::string& local, Attrs attrs, Attrs info = {}) {
  attrs.emplace("row_security", "off");
  attrs.emplace("force_row_security", "off");
  info.emplace("schema", "public");
  info.emplace("local_name", local);
  return make(ObjectType::kTable, "public." + local, std::move(attrs), std::move(info));
}

}  // namespace

TEST_CASE("a changed partition key: the table is rebuilt with its partitions (destructive)") {
  const std::string bound = "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')";
  SchemaSnapshot expected;
  expected.schemas = {"public"};
  expected.objects = {
      make(ObjectType::kSchema, "public"),
      table("log", {{"kind", "partitioned_table"}, {"partition_key", "RANGE (at)"}}),
      column("public.log", "at", {{"type", "date"}, {"nullable", "false"}}),
      index("log_at_idx", "public.log",
            {{"definition", "CREATE INDEX log_at_idx ON ONLY public.log USING btree (at)"},
             {"unique", "false"},
             {"primary", "false"}}),
      // Sorts before its parent: its CREATE must still run after the parent's.
      table("a_log_2024", {{"kind", "table"}, {"partition_of", "public.log " + bound}},
            {{"partition_parent_schema", "public"},
             {"partition_parent_name", "log"},
             {"partition_bound", bound}}),
      column("public.a_log_2024", "at", {{"type", "date"}, {"nullable", "false"}}),
      make(ObjectType::kIndex, "public.a_log_2024_at_idx",
           {{"definition", "CREATE INDEX a_log_2024_at_idx ON public.a_log_2024 USING btree (at)"},
            {"unique", "false"},
            {"primary", "false"}},
           {{"parent", "public.a_log_2024"},
            {"schema", "public"},
            {"local_name", "a_log_2024_at_idx"},
            {"inherited", "true"}}),
  };
  expected.normalize_order();
  SchemaSnapshot actual = expected;
  remove(actual, ObjectType::kTable, "public.a_log_2024");
  remove(actual, ObjectType::kColumn, "public.a_log_2024.at");
  remove(actual, ObjectType::kIndex, "public.a_log_2024_at_idx");
  find_mut(actual, ObjectType::kTable, "public.log")->attrs["partition_key"] = "LIST (at)";
  std::vector<Finding> findings = diff_schemas(expected, actual);
  REQUIRE(findings.size() == 2);
  CHECK(findings[0].object == "public.a_log_2024");
  const Finding& key = findings[1];
  CHECK(key.attribute == "partition_key");
  const std::string partition_sql =
      "CREATE TABLE IF NOT EXISTS public.a_log_2024 PARTITION OF public.log " + bound + ";";
  CHECK(key.fix_sql ==
        std::optional<std::string>(
            "-- destructive: a partition key cannot be altered: drops the partitioned table "
            "with its partitions and their rows and creates them with the expected key (fails "
            "while views or foreign keys use it). To keep the rows, first ALTER TABLE "
            "public.log RENAME TO a new name (and its partitions), run this, then INSERT INTO "
            "public.log SELECT * FROM the renamed table and drop it\n"
            "DROP TABLE IF EXISTS public.log;\n"
            "CREATE TABLE IF NOT EXISTS public.log (\n    at date NOT NULL\n) PARTITION BY "
            "RANGE (at);\n"
            // Not ON ONLY: valid, built on the partitions too.
            "CREATE INDEX IF NOT EXISTS log_at_idx ON public.log USING btree (at);\n" +
            partition_sql));
  // The script: the drop first, the parent before the partition (run once for both findings).
  std::vector<std::string> commands;
  for (const FixStatement& s : order_fix_statements(findings)) commands.push_back(s.command);
  REQUIRE(commands.size() == 4);
  CHECK(commands[0] == "DROP TABLE IF EXISTS public.log;");
  CHECK(commands[1].rfind("CREATE TABLE IF NOT EXISTS public.log (", 0) == 0);
  CHECK(commands[2] == partition_sql);
  CHECK(commands[3].rfind("CREATE INDEX IF NOT EXISTS log_at_idx", 0) == 0);
}

}  // namespace driftwatch
