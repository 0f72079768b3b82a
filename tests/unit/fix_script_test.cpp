#include "driftwatch/fix_script.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace driftwatch {
namespace {

using Strings = std::vector<std::string>;

Finding finding(const std::string& kind, ObjectType type, const std::string& object,
                std::optional<std::string> fix, const std::string& attribute = "") {
  Finding f;
  f.kind = kind;
  f.object_type = type;
  f.object = object;
  f.attribute = attribute;
  f.fix_sql = std::move(fix);
  return f;
}

// The statements' commands in script order.
Strings commands(const std::vector<Finding>& findings) {
  Strings out;
  for (const auto& s : order_fix_statements(findings)) out.push_back(s.command);
  return out;
}

size_t position(const std::string& text, const std::string& part) {
  size_t pos = text.find(part);
  REQUIRE_MESSAGE(pos != std::string::npos, "'" << part << "' not in:\n" << text);
  return pos;
}

}  // namespace

TEST_CASE("split_sql_statements: quotes, dollar quotes, comments and routine bodies") {
  CHECK(split_sql_statements("") == Strings{});
  CHECK(split_sql_statements("  ;; \n") == Strings{});
  CHECK(split_sql_statements("SELECT 1; SELECT 2") == Strings{"SELECT 1;", "SELECT 2;"});
  CHECK(split_sql_statements("SELECT ';'; SELECT 'it''s;'") ==
        Strings{"SELECT ';';", "SELECT 'it''s;';"});
  CHECK(split_sql_statements(R"(SELECT E'a\';b'; SELECT 2)") ==
        Strings{R"(SELECT E'a\';b';)", "SELECT 2;"});
  CHECK(split_sql_statements(R"(SELECT 'a\'; SELECT 2)") ==
        Strings{R"(SELECT 'a\';)", "SELECT 2;"});  // no E: a backslash is a character
  CHECK(split_sql_statements("ALTER TABLE \"a;b\" ADD x int; SELECT 1") ==
        Strings{"ALTER TABLE \"a;b\" ADD x int;", "SELECT 1;"});
  CHECK(split_sql_statements("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;"
                             "DO $x$ BEGIN PERFORM 1; END $x$") ==
        Strings{"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;",
                "DO $x$ BEGIN PERFORM 1; END $x$;"});
  // $1 is a parameter, not a dollar quote.
  CHECK(split_sql_statements("SELECT $1; SELECT 2") == Strings{"SELECT $1;", "SELECT 2;"});
  CHECK(split_sql_statements("-- a; comment\nSELECT 1; /* x; /* nested; */ y; */ SELECT 2;") ==
        Strings{"-- a; comment\nSELECT 1;", "/* x; /* nested; */ y; */ SELECT 2;"});
  // SQL-standard bodies: the semicolons inside BEGIN ATOMIC ... END (and CASE ... END) stay.
  const std::string atomic =
      "CREATE OR REPLACE FUNCTION public.f(a integer) RETURNS integer LANGUAGE sql\n"
      "BEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END;\n  SELECT 2;\nEND;";
  CHECK(split_sql_statements(atomic + "\nSELECT 3;") == Strings{atomic, "SELECT 3;"});
  // A trailing comment stays with the statement before it; a missing ';' is added.
  CHECK(split_sql_statements("SELECT 1 -- done") == Strings{"SELECT 1;\n-- done"});
  CHECK(split_sql_statements("SELECT 1;\n-- done\n") == Strings{"SELECT 1;\n-- done"});
}

TEST_CASE("classify_statement: rank, removal, destructive, outside a transaction") {
  auto c = [](const std::string& sql) { return classify_statement(sql, FixRank::kTable); };
  CHECK(c("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);").rank == FixRank::kIndex);
  CHECK_FALSE(c("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);").transactional);
  CHECK_FALSE(c("DROP INDEX CONCURRENTLY IF EXISTS public.i;").transactional);
  CHECK(c("DROP INDEX CONCURRENTLY IF EXISTS public.i;").removal);
  CHECK(c("CREATE INDEX IF NOT EXISTS i ON t (a);").transactional);
  CHECK_FALSE(c("ALTER TYPE public.s ADD VALUE IF NOT EXISTS 'x' AFTER 'y';").transactional);
  CHECK(c("ALTER TYPE public.s ADD VALUE IF NOT EXISTS 'x';").rank == FixRank::kType);
  CHECK_FALSE(c("VACUUM ANALYZE public.t;").transactional);
  CHECK(c("ALTER TYPE public.s RENAME VALUE 'a' TO 'b';").transactional);

  FixStatement drop_col = c("ALTER TABLE public.t DROP COLUMN IF EXISTS x;");
  CHECK(drop_col.removal);
  CHECK(drop_col.destructive);
  CHECK(drop_col.rank == FixRank::kColumn);
  FixStatement drop_not_null = c("ALTER TABLE public.t ALTER COLUMN x DROP NOT NULL;");
  CHECK_FALSE(drop_not_null.removal);
  CHECK_FALSE(drop_not_null.destructive);
  CHECK(drop_not_null.rank == FixRank::kColumn);
  // One ALTER TABLE that replaces a constraint is not a removal.
  FixStatement replace =
      c("ALTER TABLE t DROP CONSTRAINT IF EXISTS k, ADD CONSTRAINT k CHECK (a > 0);");
  CHECK_FALSE(replace.removal);
  CHECK(replace.rank == FixRank::kConstraint);
  CHECK(c("ALTER TABLE t DROP CONSTRAINT IF EXISTS k;").removal);
  CHECK(c("ALTER TABLE t ADD CONSTRAINT k CHECK (a > 0) NOT VALID;").rank == FixRank::kConstraint);
  CHECK(c("ALTER TABLE t VALIDATE CONSTRAINT k;").rank == FixRank::kConstraint);
  CHECK(c("ALTER TABLE t ENABLE TRIGGER x;").rank == FixRank::kTrigger);
  CHECK(c("ALTER TABLE t ALTER CONSTRAINT k DEFERRABLE;").rank == FixRank::kConstraint);
  CHECK(c("ALTER TABLE p ATTACH PARTITION p1 FOR VALUES IN (1);").rank == FixRank::kTable);
  CHECK(c("ALTER TABLE p DETACH PARTITION p1;").removal);
  CHECK_FALSE(c("ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY;").transactional);
  CHECK(c("ALTER TABLE t SET UNLOGGED;").rank == FixRank::kTable);
  CHECK_FALSE(c("ALTER TABLE t SET UNLOGGED;").destructive);
  CHECK(c("ALTER DOMAIN public.d SET NOT NULL;").rank == FixRank::kDomain);
  CHECK(c("CREATE TYPE public.p AS (x integer);").rank == FixRank::kCompositeType);
  CHECK(c("CREATE TYPE public.r AS RANGE (SUBTYPE = integer);").rank == FixRank::kType);
  CHECK(c("ALTER TYPE public.p ADD ATTRIBUTE y text;").rank == FixRank::kCompositeType);
  CHECK(c("ALTER TYPE public.p DROP ATTRIBUTE IF EXISTS y;").destructive);
  CHECK_FALSE(c("ALTER TYPE public.p DROP ATTRIBUTE IF EXISTS y;").removal);
  CHECK(classify_statement("DROP TYPE IF EXISTS public.p;", FixRank::kCompositeType).rank ==
        FixRank::kCompositeType);
  CHECK(c("DROP TYPE IF EXISTS public.e;").rank == FixRank::kType);
  CHECK(c("DROP DOMAIN IF EXISTS public.d;").rank == FixRank::kDomain);
  CHECK(rank_of(ObjectType::kDomain) == FixRank::kDomain);
  CHECK(rank_of(ObjectType::kType) == FixRank::kCompositeType);
  CHECK(c("ALTER TABLE t ENABLE ROW LEVEL SECURITY;").rank == FixRank::kTable);
  CHECK(c("ALTER SEQUENCE s OWNED BY t.id;").rank == FixRank::kColumn);
  CHECK(c("ALTER SEQUENCE s INCREMENT BY 1;").rank == FixRank::kSequence);
  CHECK(c("DROP MATERIALIZED VIEW IF EXISTS public.m;").destructive);
  CHECK(c("DROP MATERIALIZED VIEW IF EXISTS public.m;").rank == FixRank::kView);
  CHECK(c("DROP POLICY IF EXISTS p ON t;").destructive);
  CHECK(c("DROP ROUTINE IF EXISTS public.f(integer);").rank == FixRank::kFunction);
  CHECK(c("REVOKE SELECT ON TABLE t FROM r;").removal);
  CHECK_FALSE(c("REVOKE SELECT ON TABLE t FROM r;").destructive);
  CHECK(c("GRANT EXECUTE ON ROUTINE public.f() TO r;").rank == FixRank::kPrivilege);
  CHECK(c("COMMENT ON TABLE t IS 'DROP TABLE x';").rank == FixRank::kComment);
  CHECK_FALSE(c("COMMENT ON TABLE t IS 'DROP TABLE x';").destructive);
  // A quoted identifier is never a keyword.
  CHECK_FALSE(c("ALTER TABLE \"drop\" ALTER COLUMN \" drop column \" SET NOT NULL;").destructive);
  // The fix's own marker and reason win.
  FixStatement marked = c("-- destructive: drops the table and its rows\nDROP TABLE IF EXISTS t;");
  CHECK(marked.destructive);
  CHECK(marked.destructive_reason == "drops the table and its rows");
  CHECK(marked.command == "DROP TABLE IF EXISTS t;");
  // Unknown text: the finding's object type decides.
  CHECK(classify_statement("DO $$ BEGIN NULL; END $$;", FixRank::kPolicy).rank == FixRank::kPolicy);
}

TEST_CASE("order_fix_statements: dependency order, drops reversed, a fix's statements in order") {
  std::vector<Finding> findings = {
      // Sorted as check sorts (severity first): dependents before what they need.
      finding("missing", ObjectType::kColumn, "public.orders.kind",
              "ALTER TABLE public.orders ADD COLUMN IF NOT EXISTS kind public.order_kind;"),
      finding("missing", ObjectType::kTable, "public.invoice",
              "CREATE SEQUENCE IF NOT EXISTS public.invoice_id_seq;\n"
              "CREATE TABLE IF NOT EXISTS public.invoice (id integer);\n"
              "ALTER TABLE public.invoice ADD CONSTRAINT invoice_order_fkey FOREIGN KEY (id) "
              "REFERENCES public.orders (id);"),
      finding("missing", ObjectType::kEnum, "public.order_kind",
              "CREATE TYPE public.order_kind AS ENUM ('a', 'b');"),
      finding("missing", ObjectType::kSchema, "audit", "CREATE SCHEMA IF NOT EXISTS audit;"),
      finding("extra", ObjectType::kView, "public.v", "DROP VIEW IF EXISTS public.v;"),
      finding("extra", ObjectType::kTable, "public.old",
              "-- destructive: drops the table and its rows\nDROP TABLE IF EXISTS public.old;"),
      finding("missing", ObjectType::kIndex, "public.orders_kind_idx",
              "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_kind_idx ON public.orders (kind);"),
      finding("changed", ObjectType::kIndex, "public.orders_note_idx",
              "DROP INDEX IF EXISTS public.orders_note_idx;\n"
              "CREATE INDEX IF NOT EXISTS orders_note_idx ON public.orders (note);",
              "definition"),
      finding("missing", ObjectType::kPolicy, "public.orders.p",
              "CREATE POLICY p ON public.orders USING (true);"),
      finding("extra", ObjectType::kPrivilege, "public.orders:r:SELECT",
              "REVOKE SELECT ON TABLE public.orders FROM r;"),
      finding("missing", ObjectType::kView, "public.w",
              "CREATE OR REPLACE VIEW public.w AS SELECT 1;"),
      finding("changed", ObjectType::kFunction, "public.f()", std::nullopt, "body"),
  };
  CHECK(commands(findings) ==
        Strings{
            "REVOKE SELECT ON TABLE public.orders FROM r;",
            "DROP INDEX IF EXISTS public.orders_note_idx;", "DROP VIEW IF EXISTS public.v;",
            "CREATE SCHEMA IF NOT EXISTS audit;",
            "CREATE TYPE public.order_kind AS ENUM ('a', 'b');",
            "CREATE SEQUENCE IF NOT EXISTS public.invoice_id_seq;",
            "CREATE TABLE IF NOT EXISTS public.invoice (id integer);",
            "ALTER TABLE public.orders ADD COLUMN IF NOT EXISTS kind public.order_kind;",
            "ALTER TABLE public.invoice ADD CONSTRAINT invoice_order_fkey FOREIGN KEY (id) "
            "REFERENCES public.orders (id);",
            "CREATE OR REPLACE VIEW public.w AS SELECT 1;",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_kind_idx ON public.orders (kind);",
            "CREATE INDEX IF NOT EXISTS orders_note_idx ON public.orders (note);",
            "CREATE POLICY p ON public.orders USING (true);",
            "DROP TABLE IF EXISTS public.old;",  // what others may use goes last
        });
}

TEST_CASE("order_fix_statements: a dropped and recreated type is dropped first") {
  std::vector<Finding> findings = {
      finding("extra", ObjectType::kEnum, "public.old_kind",
              "DROP TYPE IF EXISTS public.old_kind;"),
      finding("changed", ObjectType::kColumn, "public.t.kind",
              "ALTER TABLE public.t ALTER COLUMN kind TYPE text;", "type"),
      finding("changed", ObjectType::kEnum, "public.e",
              "DROP TYPE IF EXISTS public.e;\nCREATE TYPE public.e AS ENUM ('b', 'a');", "labels"),
  };
  CHECK(commands(findings) == Strings{
                                  "DROP TYPE IF EXISTS public.e;",
                                  "CREATE TYPE public.e AS ENUM ('b', 'a');",
                                  "ALTER TABLE public.t ALTER COLUMN kind TYPE text;",
                                  "DROP TYPE IF EXISTS public.old_kind;",
                              });
}

TEST_CASE("order_fix_statements: enums, domains, composite types before tables; dropped after") {
  // Sorted as check sorts (by object type): table < enum < domain < type.
  std::vector<Finding> findings = {
      finding("missing", ObjectType::kTable, "public.parcel",
              "CREATE TABLE IF NOT EXISTS public.parcel (w public.weight, a public.address);"),
      finding("extra", ObjectType::kTable, "public.old",
              "-- destructive: drops the table and its rows\nDROP TABLE IF EXISTS public.old;"),
      finding("missing", ObjectType::kEnum, "public.unit",
              "CREATE TYPE public.unit AS ENUM ('kg', 'lb');"),
      finding("extra", ObjectType::kEnum, "public.old_unit",
              "-- destructive: fails while columns use the type\n"
              "DROP TYPE IF EXISTS public.old_unit;"),
      finding("missing", ObjectType::kDomain, "public.weight",
              "CREATE DOMAIN public.weight AS numeric CONSTRAINT w CHECK (VALUE > 0);"),
      finding("extra", ObjectType::kDomain, "public.old_weight",
              "-- destructive: fails while columns use the domain\n"
              "DROP DOMAIN IF EXISTS public.old_weight;"),
      finding("missing", ObjectType::kType, "public.address",
              "CREATE TYPE public.address AS (street text, w public.weight, u public.unit);"),
      finding("extra", ObjectType::kType, "public.old_address",
              "-- destructive: fails while columns or functions use the type\n"
              "DROP TYPE IF EXISTS public.old_address;"),
  };
  CHECK(commands(findings) ==
        Strings{
            "CREATE TYPE public.unit AS ENUM ('kg', 'lb');",
            "CREATE DOMAIN public.weight AS numeric CONSTRAINT w CHECK (VALUE > 0);",
            "CREATE TYPE public.address AS (street text, w public.weight, u public.unit);",
            "CREATE TABLE IF NOT EXISTS public.parcel (w public.weight, a public.address);",
            // Removals last, tables first (they use the types), composite types before the
            // domains and enums they may use.
            "DROP TABLE IF EXISTS public.old;",
            "DROP TYPE IF EXISTS public.old_address;",
            "DROP DOMAIN IF EXISTS public.old_weight;",
            "DROP TYPE IF EXISTS public.old_unit;",
        });
  const std::string script = render_fix_script("t", findings);
  // The fixes' own markers are kept, once, with their reasons.
  CHECK(script.find("-- destructive: fails while columns use the domain\n"
                    "DROP DOMAIN IF EXISTS public.old_weight;") != std::string::npos);
  CHECK(script.find("-- destructive: drops the domain") == std::string::npos);
}

TEST_CASE(
    "order_fix_statements: a column's type change before its default; shared statements once") {
  std::vector<Finding> findings = {
      finding("changed", ObjectType::kColumn, "public.t.c",
              "ALTER TABLE public.t ALTER COLUMN c SET DEFAULT now();", "default"),
      finding("changed", ObjectType::kColumn, "public.t.c",
              "ALTER TABLE public.t ALTER COLUMN c DROP DEFAULT,\n"
              "  ALTER COLUMN c TYPE timestamptz USING c::timestamptz,\n"
              "  ALTER COLUMN c SET DEFAULT now();",
              "type"),
      finding("changed", ObjectType::kIndex, "public.i",
              "DROP INDEX CONCURRENTLY IF EXISTS public.i;\n"
              "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON public.t (c);",
              "definition"),
      finding("changed", ObjectType::kIndex, "public.i",
              "DROP INDEX CONCURRENTLY IF EXISTS public.i;\n"
              "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON public.t (c);",
              "valid"),
  };
  const std::vector<FixStatement> ordered = order_fix_statements(findings);
  Strings got;
  for (const auto& s : ordered) got.push_back(s.command);
  CHECK(got == Strings{
                   "DROP INDEX CONCURRENTLY IF EXISTS public.i;",
                   "ALTER TABLE public.t ALTER COLUMN c DROP DEFAULT, ALTER COLUMN c TYPE "
                   "timestamptz USING c::timestamptz, ALTER COLUMN c SET DEFAULT now();",
                   "ALTER TABLE public.t ALTER COLUMN c SET DEFAULT now();",
                   "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON public.t (c);",
               });
  REQUIRE(ordered.size() == 4);
  CHECK(ordered[0].also == std::vector<int>{3});
  CHECK(ordered[3].also == std::vector<int>{3});
}

TEST_CASE("order_fix_statements: adjacent drops of one kind become one statement") {
  // supplier_feed has a foreign key to supplier: separate DROPs fail in either order.
  std::vector<Finding> findings = {
      finding("extra", ObjectType::kTable, "middleman.supplier",
              "-- destructive: drops the table and its rows\n"
              "DROP TABLE IF EXISTS middleman.supplier;"),
      finding("extra", ObjectType::kTable, "middleman.supplier_feed",
              "-- destructive: drops the table and its rows\n"
              "DROP TABLE IF EXISTS middleman.supplier_feed;"),
      finding("extra", ObjectType::kTrigger, "public.t.a", "DROP TRIGGER IF EXISTS a ON public.t;"),
      finding("extra", ObjectType::kTrigger, "public.t.b", "DROP TRIGGER IF EXISTS b ON public.t;"),
      finding("extra", ObjectType::kTable, "public.x", "DROP TABLE IF EXISTS public.x CASCADE;"),
  };
  const std::vector<FixStatement> statements = order_fix_statements(findings);
  CHECK(commands(findings) ==
        Strings{"DROP TRIGGER IF EXISTS a ON public.t;", "DROP TRIGGER IF EXISTS b ON public.t;",
                "DROP TABLE IF EXISTS middleman.supplier, middleman.supplier_feed;",
                "DROP TABLE IF EXISTS public.x CASCADE;"});
  REQUIRE(statements.size() == 4);
  CHECK(statements[2].finding == 0);
  CHECK(statements[2].also == std::vector<int>{1});
  const std::string script = render_fix_script("t", findings);
  CHECK(script.find("-- fixes extra table middleman.supplier\n-- fixes extra table "
                    "middleman.supplier_feed\n-- destructive: drops the table and its rows\n"
                    "-- destructive: drops the table and its rows\nDROP TABLE IF EXISTS "
                    "middleman.supplier, middleman.supplier_feed;\n") != std::string::npos);
  CHECK(script.find("5 finding(s), 5 with fix SQL; 4 statement(s)") != std::string::npos);
}

TEST_CASE("render_fix_script: transactions, destructive marks, findings without SQL") {
  std::vector<Finding> findings = {
      finding("extra", ObjectType::kColumn, "public.t.x",
              "ALTER TABLE public.t DROP COLUMN IF EXISTS x;"),
      finding("missing", ObjectType::kColumn, "public.t.y",
              "ALTER TABLE public.t ADD COLUMN IF NOT EXISTS y integer;\n-- backfill public.t.y "
              "here\nALTER TABLE public.t ALTER COLUMN y SET NOT NULL;"),
      finding("missing", ObjectType::kIndex, "public.t_y_idx",
              "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_y_idx ON public.t (y);"),
      finding("changed", ObjectType::kEnum, "public.e",
              "ALTER TYPE public.e ADD VALUE IF NOT EXISTS 'c' AFTER 'b';", "labels"),
      finding("missing", ObjectType::kView, "public.v",
              "CREATE OR REPLACE VIEW public.v AS SELECT y FROM public.t;"),
      finding("changed", ObjectType::kFunction, "public.f()", std::nullopt, "body"),
  };
  const std::string script = render_fix_script("prod", findings);
  INFO(script);
  CHECK(script.rfind("-- driftwatch fix script for target prod\n", 0) == 0);
  CHECK(script.find("6 finding(s), 5 with fix SQL; 6 statement(s), 1 destructive, 2 outside a "
                    "transaction.") != std::string::npos);
  CHECK(script.find("--   changed function public.f() [body]\n") != std::string::npos);
  // The removal in its own transaction, then the label outside any transaction, the column and
  // the view in a transaction, then the index on its own (indexes follow views).
  const size_t begin1 = position(script, "BEGIN;");
  const size_t drop = position(script,
                               "-- destructive: drops the column and its data\n"
                               "ALTER TABLE public.t DROP COLUMN IF EXISTS x;");
  const size_t add_value = position(script, "ALTER TYPE public.e ADD VALUE");
  const size_t backfill = position(script, "-- backfill public.t.y here\n");
  const size_t view = position(script, "CREATE OR REPLACE VIEW public.v");
  const size_t index = position(script,
                                "-- outside a transaction: CONCURRENTLY cannot run inside "
                                "a transaction block\n-- fixes missing index "
                                "public.t_y_idx\nCREATE INDEX CONCURRENTLY");
  CHECK(begin1 < drop);
  CHECK(drop < add_value);
  CHECK(add_value < backfill);
  CHECK(backfill < view);
  CHECK(view < index);
  // Every BEGIN has its COMMIT before the next statement outside a transaction.
  CHECK(script.substr(begin1, add_value - begin1).find("COMMIT;") != std::string::npos);
  CHECK(script.substr(view, index - view).find("COMMIT;") != std::string::npos);
  const std::string last = "\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_y_idx ON public.t (y);\n";
  CHECK(script.substr(script.size() - last.size()) == last);  // no BEGIN/COMMIT around it
  CHECK(render_fix_script("dev", {}) ==
        "-- driftwatch fix script for target dev\n-- No drift: nothing to fix.\n");
}

TEST_CASE("idempotent_statement: every statement can run twice") {
  CHECK(idempotent_statement(
            classify_statement("ALTER TYPE public.a RENAME TO b;", FixRank::kType)) ==
        "DO $dw$ BEGIN\n  ALTER TYPE public.a RENAME TO b;\nEXCEPTION WHEN undefined_object OR "
        "duplicate_object THEN NULL;\nEND $dw$;");
  auto idem = [](const std::string& sql) {
    return idempotent_statement(classify_statement(sql, FixRank::kTable));
  };
  CHECK(idem("ALTER TABLE public.t ADD COLUMN y integer;") ==
        "ALTER TABLE public.t ADD COLUMN IF NOT EXISTS y integer;");
  CHECK(idem("ALTER TABLE public.t ADD COLUMN IF NOT EXISTS y integer;") ==
        "ALTER TABLE public.t ADD COLUMN IF NOT EXISTS y integer;");
  CHECK(idem("ALTER TABLE public.t DROP COLUMN x") ==
        "ALTER TABLE public.t DROP COLUMN IF EXISTS x;");
  CHECK(idem("ALTER TABLE public.t ALTER COLUMN x SET NOT NULL;") ==
        "ALTER TABLE public.t ALTER COLUMN x SET NOT NULL;");
  CHECK(idem("CREATE INDEX i ON t (a);") == "CREATE INDEX IF NOT EXISTS i ON t (a);");
  CHECK(idem("CREATE UNIQUE INDEX CONCURRENTLY i ON t (a);") ==
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);");
  CHECK(idem("DROP INDEX CONCURRENTLY public.i;") == "DROP INDEX CONCURRENTLY IF EXISTS public.i;");
  CHECK(idem("-- destructive: x\nDROP TABLE public.t;") == "DROP TABLE IF EXISTS public.t;");
  CHECK(idem("DROP MATERIALIZED VIEW public.m;") == "DROP MATERIALIZED VIEW IF EXISTS public.m;");
  CHECK(idem("CREATE VIEW public.v AS SELECT 1;") ==
        "CREATE OR REPLACE VIEW public.v AS SELECT 1;");
  CHECK(idem("CREATE TABLE public.t (a int);") == "CREATE TABLE IF NOT EXISTS public.t (a int);");
  CHECK(idem("ALTER TYPE public.e ADD VALUE 'c' AFTER 'b';") ==
        "ALTER TYPE public.e ADD VALUE IF NOT EXISTS 'c' AFTER 'b';");
  CHECK(idem("CREATE TYPE public.e AS ENUM ('a');") ==
        "DO $dw$ BEGIN\n  CREATE TYPE public.e AS ENUM ('a');\nEXCEPTION WHEN duplicate_object OR "
        "duplicate_table THEN NULL;\nEND $dw$;");
  CHECK(idem("ALTER TABLE t ADD CONSTRAINT k CHECK ($dw$x$dw$ <> '');") ==
        "DO $dw1$ BEGIN\n  ALTER TABLE t ADD CONSTRAINT k CHECK ($dw$x$dw$ <> '');\nEXCEPTION WHEN "
        "duplicate_object OR duplicate_table THEN NULL;\nEND $dw1$;");
  // Replacing a constraint in one ALTER TABLE is idempotent already.
  CHECK(idem("ALTER TABLE t DROP CONSTRAINT k, ADD CONSTRAINT k CHECK (a > 0);") ==
        "ALTER TABLE t DROP CONSTRAINT IF EXISTS k, ADD CONSTRAINT k CHECK (a > 0);");
  CHECK(idem("GRANT SELECT ON TABLE t TO r;") == "GRANT SELECT ON TABLE t TO r;");
  CHECK(idem("ALTER DOMAIN d ADD CONSTRAINT k CHECK (VALUE > 0);") ==
        "DO $dw$ BEGIN\n  ALTER DOMAIN d ADD CONSTRAINT k CHECK (VALUE > 0);\nEXCEPTION WHEN "
        "duplicate_object OR duplicate_table THEN NULL;\nEND $dw$;");
  CHECK(idem("ALTER DOMAIN d SET NOT NULL;") == "ALTER DOMAIN d SET NOT NULL;");
}

TEST_CASE("render_fix_forward_migration: adopt, revert, autocommit block, downgrade") {
  FixForwardMigration m;
  m.revision = "a1b2c3d4e5f6";
  m.down_revision = "0011_invoices";
  m.target = "prod";
  m.create_date = "2026-12-04 19:00:00";
  FixForwardItem extra_column;  // adopted: the code now expects the column
  extra_column.finding =
      finding("extra", ObjectType::kColumn, "public.orders.reviewed_by",
              "ALTER TABLE public.orders ALTER COLUMN reviewed_by DROP NOT NULL;");
  extra_column.adopt_sql =
      "ALTER TABLE public.orders ADD COLUMN IF NOT EXISTS reviewed_by text;\n-- backfill "
      "public.orders.reviewed_by here\nALTER TABLE public.orders ALTER COLUMN reviewed_by SET NOT "
      "NULL;";
  FixForwardItem dropped_index;  // reverted: the index comes back
  dropped_index.revert = true;
  dropped_index.finding =
      finding("missing", ObjectType::kIndex, "public.orders_idx",
              "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_idx ON public.orders (note);");
  dropped_index.adopt_sql = "DROP INDEX IF EXISTS public.orders_idx;";
  FixForwardItem default_changed;  // adopted; its SQL has a colon that is not a bind parameter
  default_changed.finding =
      finding("changed", ObjectType::kColumn, "public.orders.created_at",
              "ALTER TABLE public.orders ALTER COLUMN created_at SET DEFAULT now();", "default");
  default_changed.adopt_sql =
      "ALTER TABLE public.orders ALTER COLUMN created_at SET DEFAULT "
      "'2020-01-01 00:00'::timestamptz + ':x'::interval;";
  m.items = {extra_column, dropped_index, default_changed};
  const std::string py = render_fix_forward_migration(m);
  INFO(py);
  CHECK(py.find("revision = \"a1b2c3d4e5f6\"\ndown_revision = \"0011_invoices\"\n") !=
        std::string::npos);
  CHECK(py.find("Revision ID: a1b2c3d4e5f6\nRevises: 0011_invoices\n") != std::string::npos);
  CHECK(py.find("  adopt  extra column public.orders.reviewed_by\n") != std::string::npos);
  CHECK(py.find("  revert missing index public.orders_idx\n") != std::string::npos);
  const size_t up = position(py, "def upgrade() -> None:\n");
  const size_t add = position(py,
                              "    op.execute(\"\"\"ALTER TABLE public.orders ADD COLUMN IF NOT "
                              "EXISTS reviewed_by text;\"\"\")\n");
  const size_t todo = position(py, "    # TODO backfill public.orders.reviewed_by here");
  const size_t set_not_null = position(py, "ALTER COLUMN reviewed_by SET NOT NULL;");
  const size_t autocommit = position(py,
                                     "    with op.get_context().autocommit_block():\n        # "
                                     "missing index public.orders_idx\n        op.execute("
                                     "\"\"\"CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_idx");
  CHECK(py.find("'2020-01-01 00:00'::timestamptz + '\\\\:x'::interval") != std::string::npos);
  const size_t down = position(py, "def downgrade() -> None:\n");
  const size_t drop_not_null = position(py, "ALTER COLUMN reviewed_by DROP NOT NULL;");
  CHECK(up < add);
  CHECK(add < todo);
  CHECK(todo < set_not_null);
  CHECK(set_not_null < autocommit);
  CHECK(autocommit < down);
  CHECK(down < drop_not_null);
  // The reverted index is not undone by the downgrade: the previous revision expects it.
  CHECK(py.find("orders_idx", down) == std::string::npos);

  // Names with quotes and backslashes stay inside the docstring and the comments.
  FixForwardMigration odd = m;
  odd.items = {dropped_index};
  odd.items[0].finding.object = "public.\"\"\"x\\";
  const std::string odd_py = render_fix_forward_migration(odd);
  CHECK(odd_py.find("revert missing index public.\\\"\\\"\\\"x\\\\\n") != std::string::npos);

  FixForwardMigration empty = m;
  empty.items = {};
  const std::string nothing = render_fix_forward_migration(empty);
  CHECK(nothing.find("def upgrade() -> None:\n    pass\n") != std::string::npos);
  CHECK(nothing.find("def downgrade() -> None:\n    pass\n") != std::string::npos);
}

}  // namespace driftwatch
