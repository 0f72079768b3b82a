// Fix SQL builders: for each finding, the SQL that makes the database match the expected
// schema (or null when there is none). One function per (kind, missing/extra/changed), wired up
// in kinds.cpp. A fix that loses data or drops an object others may depend on starts with a
// `-- destructive: <what>` line.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "core/diff_kinds.hpp"

namespace driftwatch::diff_detail {
namespace {

std::string after_prefix(const std::string& full, const std::string& prefix) {
  if (!prefix.empty() && full.size() > prefix.size() &&
      full.compare(0, prefix.size(), prefix) == 0 && full[prefix.size()] == '.') {
    return full.substr(prefix.size() + 1);
  }
  size_t dot = full.find('.');
  return dot == std::string::npos ? full : full.substr(dot + 1);
}

std::string qualify(const std::string& schema, const std::string& local) {
  return schema.empty() ? quote_ident(local) : quote_ident(schema) + "." + quote_ident(local);
}

std::string table_sql(const std::string& qualified, const std::string& schema_hint) {
  std::string schema = schema_hint;
  if (schema.empty() || qualified.compare(0, schema.size() + 1, schema + ".") != 0) {
    size_t dot = qualified.find('.');
    schema = dot == std::string::npos ? "" : qualified.substr(0, dot);
  }
  return qualify(schema, schema.empty() ? qualified : qualified.substr(schema.size() + 1));
}

std::string function_sql(const std::string& schema, const std::string& local) {
  size_t open = local.find('(');
  if (open == std::string::npos) return qualify(schema, local);
  return qualify(schema, local.substr(0, open)) + local.substr(open);
}

std::string column_ref_sql(const std::string& ref) {
  size_t first = ref.find('.');
  size_t last = ref.rfind('.');
  if (first == std::string::npos || first == last) return quote_ident(ref);
  return quote_ident(ref.substr(0, first)) + "." +
         quote_ident(ref.substr(first + 1, last - first - 1)) + "." +
         quote_ident(ref.substr(last + 1));
}

std::string collation_sql(const std::string& collation) {
  if (collation.find('"') != std::string::npos || collation.find('.') != std::string::npos) {
    return collation;
  }
  return quote_ident(collation);
}

}  // namespace

// ---- names ----

std::string parent_of(const SchemaObject& o) {
  std::string parent = info_or(o, SchemaObject::kParent, "");
  if (!parent.empty()) return parent;
  if (o.type == ObjectType::kIndex) return "";  // index names do not contain the table
  size_t dot = o.name.rfind('.');
  return dot == std::string::npos ? "" : o.name.substr(0, dot);
}

std::string schema_of(const SchemaObject& o) {
  if (o.type == ObjectType::kSchema) return o.name;
  std::string schema = info_or(o, SchemaObject::kSchemaName, "");
  if (!schema.empty()) return schema;
  size_t dot = o.name.find('.');
  return dot == std::string::npos ? "" : o.name.substr(0, dot);
}

std::string local_of(const SchemaObject& o) {
  std::string local = info_or(o, SchemaObject::kLocalName, "");
  if (!local.empty()) return local;
  switch (rules_for(o.type).name_shape) {
    case NameShape::kColumn:
    case NameShape::kTableChild:
      return after_prefix(o.name, parent_of(o));
    case NameShape::kGlobal:
      return o.name;
    default:
      return after_prefix(o.name, schema_of(o));
  }
}

std::string parent_sql(const SchemaObject& o) { return table_sql(parent_of(o), schema_of(o)); }

std::string object_sql(const SchemaObject& o) {
  switch (rules_for(o.type).name_shape) {
    case NameShape::kGlobal:
      return quote_ident(o.name);
    case NameShape::kFunction:
      return function_sql(schema_of(o), local_of(o));
    case NameShape::kColumn:
      return parent_sql(o) + "." + quote_ident(local_of(o));
    default:
      return qualify(schema_of(o), local_of(o));
  }
}

PrivilegeName parse_privilege(const std::string& name) {
  PrivilegeName p;
  size_t last = name.rfind(':');
  if (last == std::string::npos || last == 0) return p;
  size_t mid = name.rfind(':', last - 1);
  if (mid == std::string::npos) return p;
  p.object = name.substr(0, mid);
  p.grantee = name.substr(mid + 1, last - mid - 1);
  p.privilege = name.substr(last + 1);
  p.ok = !p.object.empty() && !p.grantee.empty() && !p.privilege.empty();
  return p;
}

bool has_value_source(const SchemaObject& c) {
  return attr_of(c, "default") || attr_of(c, "identity") || attr_of(c, "generated");
}

namespace {

std::string end_statement(std::string sql) {
  while (!sql.empty() && (sql.back() == ' ' || sql.back() == '\n' || sql.back() == ';')) {
    sql.pop_back();
  }
  return sql + ";";
}

std::string trim_copy(const std::string& s) {
  size_t b = s.find_first_not_of(" \n\t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \n\t\r");
  return s.substr(b, e - b + 1);
}

// ---- fix SQL builders ---------------------------------------------------------------------

std::string column_definition(const SchemaObject& c, bool with_not_null) {
  std::string sql = quote_ident(local_of(c)) + " " + attr_or(c, "type", "text");
  if (const std::string* coll = attr_of(c, "collation")) sql += " COLLATE " + collation_sql(*coll);
  if (const std::string* gen = attr_of(c, "generated")) {
    sql += " GENERATED ALWAYS AS (" + *gen + ") STORED";
  } else if (const std::string* identity = attr_of(c, "identity")) {
    sql += " GENERATED " + upper(*identity) + " AS IDENTITY";
  } else if (const std::string* def = attr_of(c, "default")) {
    sql += " DEFAULT " + *def;
  }
  if (with_not_null && attr_or(c, "nullable", "true") == "false") sql += " NOT NULL";
  return sql;
}

std::string add_column_sql(const SchemaObject& c) {
  std::string table = parent_sql(c);
  bool not_null = attr_or(c, "nullable", "true") == "false";
  if (not_null && !has_value_source(c)) {
    // Fix-forward recipe: existing rows have no value, so SET NOT NULL must wait for a backfill.
    return "ALTER TABLE " + table + " ADD COLUMN IF NOT EXISTS " + column_definition(c, false) +
           ";\n-- backfill " + c.name + " here\nALTER TABLE " + table + " ALTER COLUMN " +
           quote_ident(local_of(c)) + " SET NOT NULL;";
  }
  return "ALTER TABLE " + table + " ADD COLUMN IF NOT EXISTS " + column_definition(c, true) + ";";
}

std::string index_create_sql(const SchemaObject& index) {
  std::string def = attr_or(index, "definition", "");
  if (def.empty()) return "";
  for (const char* head : {"CREATE UNIQUE INDEX ", "CREATE INDEX "}) {
    std::string h = head;
    if (def.compare(0, h.size(), h) == 0 && def.compare(h.size(), 14, "IF NOT EXISTS ") != 0) {
      def.insert(h.size(), "IF NOT EXISTS ");
      break;
    }
  }
  return end_statement(def);
}

std::string constraint_clause(const SchemaObject& c) {
  std::string sql = "CONSTRAINT " + quote_ident(local_of(c)) + " " + attr_or(c, "definition", "");
  if (attr_or(c, "type", "") == "foreign_key") {
    std::string on_update = attr_or(c, "on_update", "no action");
    std::string on_delete = attr_or(c, "on_delete", "no action");
    if (on_update != "no action") sql += " ON UPDATE " + upper(on_update);
    if (on_delete != "no action") sql += " ON DELETE " + upper(on_delete);
  }
  std::string deferrable = attr_or(c, "deferrable", "not deferrable");
  if (upper(sql).find("DEFERRABLE") == std::string::npos) {
    if (deferrable == "deferrable initially immediate") sql += " DEFERRABLE";
    if (deferrable == "deferrable initially deferred") sql += " DEFERRABLE INITIALLY DEFERRED";
  }
  if (attr_or(c, "validated", "true") == "false") sql += " NOT VALID";
  return sql;
}

std::string add_constraint_sql(const SchemaObject& c) {
  return "ALTER TABLE " + parent_sql(c) + " ADD " + constraint_clause(c) + ";";
}

std::string drop_constraint_sql(const SchemaObject& c) {
  return "ALTER TABLE " + parent_sql(c) + " DROP CONSTRAINT IF EXISTS " + quote_ident(local_of(c)) +
         ";";
}

std::string trigger_enable_sql(const SchemaObject& t, const std::string& enabled) {
  std::string verb = enabled == "disabled"  ? "DISABLE"
                     : enabled == "replica" ? "ENABLE REPLICA"
                     : enabled == "always"  ? "ENABLE ALWAYS"
                                            : "ENABLE";
  return "ALTER TABLE " + parent_sql(t) + " " + verb + " TRIGGER " + quote_ident(local_of(t)) + ";";
}

std::string trigger_create_sql(const SchemaObject& t) {
  std::string def = attr_or(t, "definition", "");
  if (def.empty()) return "";
  std::string sql = "DROP TRIGGER IF EXISTS " + quote_ident(local_of(t)) + " ON " + parent_sql(t) +
                    ";\n" + end_statement(def);
  std::string enabled = attr_or(t, "enabled", "origin");
  if (enabled != "origin") sql += "\n" + trigger_enable_sql(t, enabled);
  return sql;
}

std::string role_sql(const std::string& role) {
  return (role == "public" || role == "PUBLIC") ? "PUBLIC" : quote_ident(role);
}

std::string policy_create_sql(const SchemaObject& p) {
  std::string name = quote_ident(local_of(p));
  std::string table = parent_sql(p);
  std::string sql = "DROP POLICY IF EXISTS " + name + " ON " + table + ";\nCREATE POLICY " + name +
                    " ON " + table + " AS " + upper(attr_or(p, "permissive", "permissive")) +
                    " FOR " + upper(attr_or(p, "command", "all"));
  std::vector<std::string> roles = json_strings(attr_or(p, "roles", "[]"));
  if (!roles.empty()) {
    sql += " TO ";
    for (size_t i = 0; i < roles.size(); ++i) sql += (i ? ", " : "") + role_sql(roles[i]);
  }
  if (const std::string* using_expr = attr_of(p, "using")) sql += " USING (" + *using_expr + ")";
  if (const std::string* check = attr_of(p, "with_check")) sql += " WITH CHECK (" + *check + ")";
  return sql + ";";
}

std::string sequence_options(const SchemaObject& s, bool create) {
  std::string sql;
  if (const std::string* v = attr_of(s, "data_type")) sql += " AS " + *v;
  if (const std::string* v = attr_of(s, "increment")) sql += " INCREMENT BY " + *v;
  if (const std::string* v = attr_of(s, "min")) sql += " MINVALUE " + *v;
  if (const std::string* v = attr_of(s, "max")) sql += " MAXVALUE " + *v;
  if (const std::string* v = attr_of(s, "start")) sql += " START WITH " + *v;
  if (const std::string* v = attr_of(s, "cache")) sql += " CACHE " + *v;
  if (const std::string* v = attr_of(s, "cycle")) sql += *v == "true" ? " CYCLE" : " NO CYCLE";
  (void)create;
  return sql;
}

std::string sequence_create_sql(const SchemaObject& s) {
  std::string sql =
      "CREATE SEQUENCE IF NOT EXISTS " + object_sql(s) + sequence_options(s, true) + ";";
  if (const std::string* owner = attr_of(s, "owned_by")) {
    sql += "\nALTER SEQUENCE " + object_sql(s) + " OWNED BY " + column_ref_sql(*owner) + ";";
  }
  return sql;
}

// "TABLE public.t", "SCHEMA s", "FUNCTION public.f(text)", "SEQUENCE public.s".
std::string privilege_target_sql(const SchemaObject& priv, const PrivilegeName& p) {
  std::string kind = upper(info_or(priv, "object_type", ""));
  std::string privilege = upper(p.privilege);
  if (kind.empty()) {
    if (p.object.find('(') != std::string::npos || privilege == "EXECUTE") {
      kind = "FUNCTION";
    } else if (p.object.find('.') == std::string::npos) {
      kind = "SCHEMA";
    } else if (privilege == "USAGE") {
      kind = "SEQUENCE";
    } else {
      kind = "TABLE";
    }
  }
  if (kind == "MATERIALIZED_VIEW" || kind == "VIEW") kind = "TABLE";
  size_t dot = p.object.find('.');
  std::string target;
  if (kind == "SCHEMA" || dot == std::string::npos) {
    target = quote_ident(p.object);
  } else if (kind == "FUNCTION" || kind == "PROCEDURE") {
    target = function_sql(p.object.substr(0, dot), p.object.substr(dot + 1));
  } else {
    target = qualify(p.object.substr(0, dot), p.object.substr(dot + 1));
  }
  return kind + " " + target;
}

std::optional<std::string> grant_sql(const SchemaObject& priv) {
  PrivilegeName p = parse_privilege(priv.name);
  if (!p.ok) return std::nullopt;
  return "GRANT " + upper(p.privilege) + " ON " + privilege_target_sql(priv, p) + " TO " +
         role_sql(p.grantee) + (is_true(priv, "grantable") ? " WITH GRANT OPTION" : "") + ";";
}

std::optional<std::string> revoke_sql(const SchemaObject& priv) {
  PrivilegeName p = parse_privilege(priv.name);
  if (!p.ok) return std::nullopt;
  return "REVOKE " + upper(p.privilege) + " ON " + privilege_target_sql(priv, p) + " FROM " +
         role_sql(p.grantee) + ";";
}

std::string enum_create_sql(const SchemaObject& e) {
  std::string sql = "CREATE TYPE " + object_sql(e) + " AS ENUM (";
  std::vector<std::string> labels = json_strings(attr_or(e, "labels", "[]"));
  for (size_t i = 0; i < labels.size(); ++i) sql += (i ? ", " : "") + quote_literal(labels[i]);
  return sql + ");";
}

std::string view_body(const SchemaObject& v) {
  std::string def = trim_copy(attr_or(v, "definition", ""));
  while (!def.empty() && (def.back() == ';' || def.back() == ' ' || def.back() == '\n')) {
    def.pop_back();
  }
  return def;
}

std::string function_drop_sql(const SchemaObject& f) {
  std::string kind = attr_or(f, "kind", "function");
  std::string keyword = kind == "procedure"   ? "PROCEDURE"
                        : kind == "aggregate" ? "AGGREGATE"
                                              : "FUNCTION";
  return "DROP " + keyword + " IF EXISTS " + object_sql(f) + ";";
}

std::optional<std::string> function_create_sql(const SchemaObject& f) {
  std::string create = trim_copy(info_or(f, SchemaObject::kCreateSql, ""));
  if (create.empty()) return std::nullopt;
  return end_statement(create);
}

std::string destructive(const std::string& what, const std::string& sql) {
  return "-- destructive: " + what + "\n" + sql;
}

long position_of(const SchemaObject& c) {
  try {
    return std::stol(info_or(c, "position", "1000000"));
  } catch (...) {
    return 1000000;
  }
}

int constraint_rank(const SchemaObject& c) {
  static const std::vector<std::string> kOrder = {"primary_key", "unique", "exclude", "check",
                                                  "foreign_key"};
  auto it = std::find(kOrder.begin(), kOrder.end(), attr_or(c, "type", ""));
  return static_cast<int>(it - kOrder.begin());
}

std::optional<std::string> create_table_sql(const SchemaObject& table, Children children,
                                            const DiffOptions& options) {
  std::string name = object_sql(table);
  std::string partition_by = info_or(table, "partition_by", info_or(table, "partition_key", ""));
  bool partitioned = attr_or(table, "kind", "table") == "partitioned_table";
  if (partitioned && partition_by.empty()) return std::nullopt;  // cannot invent the key

  std::sort(children.columns.begin(), children.columns.end(),
            [](const SchemaObject* a, const SchemaObject* b) {
              return std::make_tuple(position_of(*a), a->name) <
                     std::make_tuple(position_of(*b), b->name);
            });
  std::sort(children.constraints.begin(), children.constraints.end(),
            [](const SchemaObject* a, const SchemaObject* b) {
              return std::make_tuple(constraint_rank(*a), a->name) <
                     std::make_tuple(constraint_rank(*b), b->name);
            });

  std::string sql;
  // Sequences used by column defaults (serial) must exist before the table; identity columns
  // create their own.
  std::unordered_set<std::string> identity_columns;
  for (const SchemaObject* c : children.columns) {
    if (attr_of(*c, "identity")) identity_columns.insert(c->name);
  }
  for (const SchemaObject* s : children.sequences) {
    if (identity_columns.count(attr_or(*s, "owned_by", "")) == 0) {
      sql += "CREATE SEQUENCE IF NOT EXISTS " + object_sql(*s) + sequence_options(*s, true) + ";\n";
    }
  }
  if (const std::string* partition_of = attr_of(table, "partition_of")) {
    sql += "CREATE TABLE IF NOT EXISTS " + name + " PARTITION OF " + *partition_of + ";";
  } else {
    sql += "CREATE TABLE IF NOT EXISTS " + name + " (";
    for (size_t i = 0; i < children.columns.size(); ++i) {
      sql += (i ? ",\n    " : "\n    ") + column_definition(*children.columns[i], true);
    }
    sql += children.columns.empty() ? ")" : "\n)";
    if (partitioned) sql += " PARTITION BY " + partition_by;
    sql += ";";
  }
  for (const SchemaObject* s : children.sequences) {
    if (const std::string* owner = attr_of(*s, "owned_by")) {
      if (identity_columns.count(*owner) == 0) {
        sql += "\nALTER SEQUENCE " + object_sql(*s) + " OWNED BY " + column_ref_sql(*owner) + ";";
      }
    }
  }
  for (const SchemaObject* c : children.constraints) sql += "\n" + add_constraint_sql(*c);
  for (const SchemaObject* i : children.indexes) {
    std::string create = index_create_sql(*i);
    if (!create.empty()) sql += "\n" + create;
  }
  for (const SchemaObject* t : children.triggers) {
    std::string def = attr_or(*t, "definition", "");
    if (def.empty()) continue;
    sql += "\n" + end_statement(def);
    std::string enabled = attr_or(*t, "enabled", "origin");
    if (enabled != "origin") sql += "\n" + trigger_enable_sql(*t, enabled);
  }
  if (attr_or(table, "row_security", "off") == "on") {
    sql += "\nALTER TABLE " + name + " ENABLE ROW LEVEL SECURITY;";
  }
  if (attr_or(table, "force_row_security", "off") == "on") {
    sql += "\nALTER TABLE " + name + " FORCE ROW LEVEL SECURITY;";
  }
  for (const SchemaObject* p : children.policies) {
    std::string create = policy_create_sql(*p);
    sql += "\n" + create.substr(create.find('\n') + 1);  // fresh table: no DROP POLICY needed
  }
  for (const SchemaObject* p : children.privileges) {
    if (auto grant = grant_sql(*p)) sql += "\n" + *grant;
  }
  if (options.compare_comments) {
    if (const std::string* comment = attr_of(table, "comment")) {
      sql += "\n" + *comment_sql(table, *comment);
    }
    for (const SchemaObject* c : children.columns) {
      if (const std::string* comment = attr_of(*c, "comment")) {
        sql += "\n" + *comment_sql(*c, *comment);
      }
    }
  }
  return sql;
}

std::string comment_target_sql(const SchemaObject& o) {
  const KindRules& rules = rules_for(o.type);
  std::string keyword = rules.comment_keyword;
  if (keyword.empty()) return "";
  switch (rules.name_shape) {
    case NameShape::kTableChild:
      return keyword + " " + quote_ident(local_of(o)) + " ON " + parent_sql(o);
    case NameShape::kFunction: {
      std::string kind = attr_or(o, "kind", "function");
      keyword = kind == "procedure" ? "PROCEDURE" : kind == "aggregate" ? "AGGREGATE" : "FUNCTION";
      return keyword + " " + object_sql(o);
    }
    default:
      return keyword + " " + object_sql(o);
  }
}

std::string enum_add_values_sql(const SchemaObject& e, const std::optional<std::string>& ev,
                                const std::optional<std::string>& av) {
  std::vector<std::string> expected = json_strings(ev.value_or("[]"));
  std::vector<std::string> actual = json_strings(av.value_or("[]"));
  std::set<std::string> present(actual.begin(), actual.end());
  std::string sql;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (present.count(expected[i])) continue;
    // Neighbour: the closest preceding label already present (AFTER), else the next (BEFORE).
    std::string position;
    for (size_t j = i; j-- > 0;) {
      if (present.count(expected[j])) {
        position = " AFTER " + quote_literal(expected[j]);
        break;
      }
    }
    if (position.empty()) {
      for (size_t j = i + 1; j < expected.size(); ++j) {
        if (present.count(expected[j])) {
          position = " BEFORE " + quote_literal(expected[j]);
          break;
        }
      }
    }
    sql += (sql.empty() ? "" : "\n") + std::string("ALTER TYPE ") + object_sql(e) +
           " ADD VALUE IF NOT EXISTS " + quote_literal(expected[i]) + position + ";";
    present.insert(expected[i]);
  }
  return sql;
}

}  // namespace

Fix comment_sql(const SchemaObject& o, const std::optional<std::string>& text) {
  std::string target = comment_target_sql(o);
  if (target.empty()) return std::nullopt;
  return "COMMENT ON " + target + " IS " + (text ? quote_literal(*text) : "NULL") + ";";
}

Fix no_fix(const Change&) { return std::nullopt; }

// ---- schema ---------------------------------------------------------------------------------

Fix fix_missing_schema(const SchemaObject& e, const Children&, const DiffOptions&) {
  return "CREATE SCHEMA IF NOT EXISTS " + object_sql(e) + ";";
}

Fix fix_extra_schema(const SchemaObject& a) {
  return destructive("drops the schema (fails while it has objects)",
                     "DROP SCHEMA IF EXISTS " + object_sql(a) + ";");
}

// ---- table ----------------------------------------------------------------------------------

Fix fix_missing_table(const SchemaObject& e, const Children& children, const DiffOptions& options) {
  return create_table_sql(e, children, options);
}

Fix fix_extra_table(const SchemaObject& a) {
  return destructive("drops the table and its rows", "DROP TABLE IF EXISTS " + object_sql(a) + ";");
}

Fix fix_changed_table(const Change& c) {
  std::string name = object_sql(c.expected);
  bool on = c.ev && *c.ev == "on";
  if (c.attr == "row_security") {
    return "ALTER TABLE " + name + (on ? " ENABLE" : " DISABLE") + " ROW LEVEL SECURITY;";
  }
  if (c.attr == "force_row_security") {
    return "ALTER TABLE " + name + (on ? " FORCE" : " NO FORCE") + " ROW LEVEL SECURITY;";
  }
  return std::nullopt;
}

// ---- column ---------------------------------------------------------------------------------

Fix fix_missing_column(const SchemaObject& e, const Children&, const DiffOptions&) {
  return add_column_sql(e);
}

Fix fix_extra_column(const SchemaObject& a) {
  if (attr_or(a, "nullable", "true") == "false" && !has_value_source(a)) {
    // Dropping NOT NULL unblocks the application without losing the column's data.
    return "ALTER TABLE " + parent_sql(a) + " ALTER COLUMN " + quote_ident(local_of(a)) +
           " DROP NOT NULL;";
  }
  return destructive(
      "drops the column and its data",
      "ALTER TABLE " + parent_sql(a) + " DROP COLUMN IF EXISTS " + quote_ident(local_of(a)) + ";");
}

Fix fix_changed_column(const Change& c) {
  const SchemaObject& e = c.expected;
  const std::string& attr = c.attr;
  const auto& ev = c.ev;
  const auto& av = c.av;
  std::string alter = "ALTER TABLE " + parent_sql(e) + " ALTER COLUMN " + quote_ident(local_of(e));
  if (attr == "type") {
    if (!ev) return std::nullopt;
    return alter + " TYPE " + *ev + " USING " + quote_ident(local_of(e)) + "::" + *ev + ";";
  }
  if (attr == "nullable") {
    return alter + (ev && *ev == "true" ? " DROP NOT NULL;" : " SET NOT NULL;");
  }
  if (attr == "default") {
    return alter + (ev ? " SET DEFAULT " + *ev : std::string(" DROP DEFAULT")) + ";";
  }
  if (attr == "identity") {
    if (!ev) return alter + " DROP IDENTITY IF EXISTS;";
    if (!av) return alter + " ADD GENERATED " + upper(*ev) + " AS IDENTITY;";
    return alter + " SET GENERATED " + upper(*ev) + ";";
  }
  if (attr == "generated") {
    if (!ev) return alter + " DROP EXPRESSION IF EXISTS;";
    return std::nullopt;
  }
  if (attr == "collation") {
    std::string coll = ev ? collation_sql(*ev) : "\"default\"";
    return alter + " TYPE " + attr_or(e, "type", "text") + " COLLATE " + coll + ";";
  }
  return std::nullopt;
}

// ---- index ----------------------------------------------------------------------------------

Fix fix_missing_index(const SchemaObject& e, const Children&, const DiffOptions&) {
  std::string create = index_create_sql(e);
  if (create.empty()) return std::nullopt;
  return create;
}

Fix fix_extra_index(const SchemaObject& a) { return "DROP INDEX IF EXISTS " + object_sql(a) + ";"; }

Fix fix_changed_index(const Change& c) {
  std::string create = index_create_sql(c.expected);
  if (create.empty()) return std::nullopt;
  return "DROP INDEX IF EXISTS " + object_sql(c.expected) + ";\n" + create;
}

// ---- constraint -----------------------------------------------------------------------------

Fix fix_missing_constraint(const SchemaObject& e, const Children&, const DiffOptions&) {
  return add_constraint_sql(e);
}

Fix fix_extra_constraint(const SchemaObject& a) { return drop_constraint_sql(a); }

Fix fix_changed_constraint(const Change& c) {
  const SchemaObject& e = c.expected;
  if (c.attr == "validated") {
    if (c.ev && *c.ev == "true") {
      return "ALTER TABLE " + parent_sql(e) + " VALIDATE CONSTRAINT " + quote_ident(local_of(e)) +
             ";";
    }
    return std::nullopt;
  }
  // One ALTER TABLE: the constraint is never absent to concurrent sessions.
  return "ALTER TABLE " + parent_sql(e) + " DROP CONSTRAINT IF EXISTS " + quote_ident(local_of(e)) +
         ", ADD " + constraint_clause(e) + ";";
}

// ---- enum -----------------------------------------------------------------------------------

Fix fix_missing_enum(const SchemaObject& e, const Children&, const DiffOptions&) {
  return enum_create_sql(e);
}

Fix fix_extra_enum(const SchemaObject& a) {
  return destructive("fails while columns use the type",
                     "DROP TYPE IF EXISTS " + object_sql(a) + ";");
}

Fix fix_changed_enum(const Change& c) {
  std::string sql = enum_add_values_sql(c.expected, c.ev, c.av);
  if (sql.empty()) return std::nullopt;
  return sql;
}

// ---- view, materialized view ----------------------------------------------------------------

Fix fix_missing_view(const SchemaObject& e, const Children&, const DiffOptions&) {
  return "CREATE OR REPLACE VIEW " + object_sql(e) + " AS\n" + view_body(e) + ";";
}

Fix fix_extra_view(const SchemaObject& a) { return "DROP VIEW IF EXISTS " + object_sql(a) + ";"; }

Fix fix_changed_view(const Change& c) {
  return "CREATE OR REPLACE VIEW " + object_sql(c.expected) + " AS\n" + view_body(c.expected) + ";";
}

Fix fix_missing_materialized_view(const SchemaObject& e, const Children&, const DiffOptions&) {
  return "CREATE MATERIALIZED VIEW IF NOT EXISTS " + object_sql(e) + " AS\n" + view_body(e) + ";";
}

Fix fix_extra_materialized_view(const SchemaObject& a) {
  return "DROP MATERIALIZED VIEW IF EXISTS " + object_sql(a) + ";";
}

Fix fix_changed_materialized_view(const Change& c) {
  const SchemaObject& e = c.expected;
  return "DROP MATERIALIZED VIEW IF EXISTS " + object_sql(e) + ";\nCREATE MATERIALIZED VIEW " +
         object_sql(e) + " AS\n" + view_body(e) + ";";
}

// ---- function -------------------------------------------------------------------------------

Fix fix_missing_function(const SchemaObject& e, const Children&, const DiffOptions&) {
  return function_create_sql(e);
}

Fix fix_extra_function(const SchemaObject& a) { return function_drop_sql(a); }

Fix fix_changed_function(const Change& c) {
  auto create = function_create_sql(c.expected);
  if (!create) return std::nullopt;
  // CREATE OR REPLACE cannot change the result type or the kind of routine.
  bool needs_drop = c.attr == "result" || c.attr == "kind";
  return needs_drop ? function_drop_sql(c.actual) + "\n" + *create : *create;
}

// ---- trigger --------------------------------------------------------------------------------

Fix fix_missing_trigger(const SchemaObject& e, const Children&, const DiffOptions&) {
  std::string create = trigger_create_sql(e);
  if (create.empty()) return std::nullopt;
  return create;
}

Fix fix_extra_trigger(const SchemaObject& a) {
  return "DROP TRIGGER IF EXISTS " + quote_ident(local_of(a)) + " ON " + parent_sql(a) + ";";
}

Fix fix_changed_trigger(const Change& c) {
  if (c.attr == "enabled") return trigger_enable_sql(c.expected, c.ev.value_or("origin"));
  std::string create = trigger_create_sql(c.expected);
  if (create.empty()) return std::nullopt;
  return create;
}

// ---- sequence -------------------------------------------------------------------------------

Fix fix_missing_sequence(const SchemaObject& e, const Children&, const DiffOptions&) {
  return sequence_create_sql(e);
}

Fix fix_extra_sequence(const SchemaObject& a) {
  return destructive("loses the sequence's current value",
                     "DROP SEQUENCE IF EXISTS " + object_sql(a) + ";");
}

Fix fix_changed_sequence(const Change& c) {
  std::string alter = "ALTER SEQUENCE " + object_sql(c.expected);
  const auto& ev = c.ev;
  if (c.attr == "data_type") {
    if (!ev) return std::nullopt;
    return alter + " AS " + *ev + ";";
  }
  if (c.attr == "owned_by") {
    return alter + " OWNED BY " + (ev ? column_ref_sql(*ev) : std::string("NONE")) + ";";
  }
  if (c.attr == "cycle") return alter + (ev && *ev == "true" ? " CYCLE" : " NO CYCLE") + ";";
  static const std::map<std::string, std::string> kClause = {{"start", " START WITH "},
                                                             {"increment", " INCREMENT BY "},
                                                             {"min", " MINVALUE "},
                                                             {"max", " MAXVALUE "},
                                                             {"cache", " CACHE "}};
  auto it = kClause.find(c.attr);
  if (!ev || it == kClause.end()) return std::nullopt;
  return alter + it->second + *ev + ";";
}

// ---- extension ------------------------------------------------------------------------------

Fix fix_missing_extension(const SchemaObject& e, const Children&, const DiffOptions&) {
  std::string sql = "CREATE EXTENSION IF NOT EXISTS " + object_sql(e);
  if (const std::string* schema = attr_of(e, "schema")) {
    sql += " WITH SCHEMA " + quote_ident(*schema);
  }
  if (const std::string* version = attr_of(e, "version")) {
    sql += " VERSION " + quote_literal(*version);
  }
  return sql + ";";
}

Fix fix_extra_extension(const SchemaObject& a) {
  return destructive("drops the extension's objects",
                     "DROP EXTENSION IF EXISTS " + object_sql(a) + ";");
}

Fix fix_changed_extension(const Change& c) {
  if (!c.ev) return std::nullopt;
  if (c.attr == "version") {
    return "ALTER EXTENSION " + object_sql(c.expected) + " UPDATE TO " + quote_literal(*c.ev) + ";";
  }
  if (c.attr == "schema") {
    return "ALTER EXTENSION " + object_sql(c.expected) + " SET SCHEMA " + quote_ident(*c.ev) + ";";
  }
  return std::nullopt;
}

// ---- policy ---------------------------------------------------------------------------------

Fix fix_missing_policy(const SchemaObject& e, const Children&, const DiffOptions&) {
  return policy_create_sql(e);
}

Fix fix_extra_policy(const SchemaObject& a) {
  return "DROP POLICY IF EXISTS " + quote_ident(local_of(a)) + " ON " + parent_sql(a) + ";";
}

Fix fix_changed_policy(const Change& c) { return policy_create_sql(c.expected); }

// ---- privilege ------------------------------------------------------------------------------

Fix fix_missing_privilege(const SchemaObject& e, const Children&, const DiffOptions&) {
  return grant_sql(e);
}

Fix fix_extra_privilege(const SchemaObject& a) { return revoke_sql(a); }

Fix fix_changed_privilege(const Change& c) {
  if (c.ev && *c.ev == "true") return grant_sql(c.expected);
  PrivilegeName p = parse_privilege(c.expected.name);
  if (!p.ok) return std::nullopt;
  return "REVOKE GRANT OPTION FOR " + upper(p.privilege) + " ON " +
         privilege_target_sql(c.expected, p) + " FROM " + role_sql(p.grantee) + ";";
}

}  // namespace driftwatch::diff_detail
