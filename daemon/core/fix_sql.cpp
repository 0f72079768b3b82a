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
    case NameShape::kFunction: {
      // Introspection's local name is the bare name: the identity (argument types) is in the
      // qualified name, and the SQL must carry it (overloads; DROP/ALTER ROUTINE need it).
      std::string local = local_of(o);
      size_t open = o.name.find('(');
      if (local.find('(') == std::string::npos && open != std::string::npos) {
        local += o.name.substr(open);
      }
      return function_sql(schema_of(o), local);
    }
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
    sql += " GENERATED ALWAYS AS (" + *gen + ")" +
           (attr_or(c, "generated_kind", "stored") == "virtual" ? " VIRTUAL" : " STORED");
  } else if (const std::string* identity = attr_of(c, "identity")) {
    sql += " GENERATED " + upper(*identity) + " AS IDENTITY";
    if (const std::string* options = attr_of(c, "identity_options")) sql += " (" + *options + ")";
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

// An index on a partitioned table (pg_get_indexdef prints `ON ONLY`) cannot be built
// concurrently.
bool can_build_concurrently(const SchemaObject& index) {
  return attr_or(index, "definition", "").find(" ON ONLY ") == std::string::npos;
}

// CREATE [UNIQUE] INDEX [CONCURRENTLY] IF NOT EXISTS ...; CONCURRENTLY does not lock out the
// application's writes (and cannot run inside a transaction block: the statement stands alone).
std::string index_create_sql(const SchemaObject& index, bool concurrently) {
  std::string def = attr_or(index, "definition", "");
  if (def.empty()) return "";
  concurrently = concurrently && can_build_concurrently(index);
  for (const char* head : {"CREATE UNIQUE INDEX ", "CREATE INDEX "}) {
    std::string h = head;
    if (def.compare(0, h.size(), h) != 0) continue;
    std::string rest = def.substr(h.size());
    if (rest.compare(0, 13, "CONCURRENTLY ") == 0) rest = rest.substr(13);
    if (rest.compare(0, 14, "IF NOT EXISTS ") == 0) rest = rest.substr(14);
    def = h + (concurrently ? "CONCURRENTLY " : "") + "IF NOT EXISTS " + rest;
    break;
  }
  return end_statement(def);
}

std::string index_drop_sql(const SchemaObject& index, bool concurrently) {
  return std::string("DROP INDEX ") +
         (concurrently && can_build_concurrently(index) ? "CONCURRENTLY " : "") + "IF EXISTS " +
         object_sql(index) + ";";
}

// "set null (a, b)" -> "SET NULL (a, b)": the column list stays as the catalog printed it.
std::string action_sql(const std::string& action) {
  size_t open = action.find(" (");
  if (open == std::string::npos) return upper(action);
  return upper(action.substr(0, open)) + action.substr(open);
}

std::string constraint_clause(const SchemaObject& c, bool not_valid = false) {
  std::string sql = "CONSTRAINT " + quote_ident(local_of(c)) + " " + attr_or(c, "definition", "");
  if (attr_or(c, "type", "") == "foreign_key") {
    std::string on_update = attr_or(c, "on_update", "no action");
    std::string on_delete = attr_or(c, "on_delete", "no action");
    if (on_update != "no action") sql += " ON UPDATE " + action_sql(on_update);
    if (on_delete != "no action") sql += " ON DELETE " + action_sql(on_delete);
  }
  std::string deferrable = attr_or(c, "deferrable", "not deferrable");
  if (upper(sql).find("DEFERRABLE") == std::string::npos) {
    if (deferrable == "deferrable initially immediate") sql += " DEFERRABLE";
    if (deferrable == "deferrable initially deferred") sql += " DEFERRABLE INITIALLY DEFERRED";
  }
  if (not_valid || attr_or(c, "validated", "true") == "false") sql += " NOT VALID";
  return sql;
}

std::string add_constraint_sql(const SchemaObject& c) {
  return "ALTER TABLE " + parent_sql(c) + " ADD " + constraint_clause(c) + ";";
}

// Checks and foreign keys can be added NOT VALID (a brief lock, no scan) and validated in a
// second statement that lets the application's reads and writes go on.
bool validates_separately(const SchemaObject& c) {
  std::string type = attr_or(c, "type", "");
  return (type == "check" || type == "foreign_key") && attr_or(c, "validated", "true") == "true";
}

std::string validate_constraint_sql(const SchemaObject& c) {
  return "ALTER TABLE " + parent_sql(c) + " VALIDATE CONSTRAINT " + quote_ident(local_of(c)) + ";";
}

// ADD (after `drop_first`: DROP ... IF EXISTS in the same statement, so the constraint is never
// absent to concurrent sessions), NOT VALID + VALIDATE where PostgreSQL allows it.
std::string safe_add_constraint_sql(const SchemaObject& c, bool drop_first) {
  bool separately = validates_separately(c);
  std::string sql =
      "ALTER TABLE " + parent_sql(c) +
      (drop_first ? " DROP CONSTRAINT IF EXISTS " + quote_ident(local_of(c)) + "," : "") + " ADD " +
      constraint_clause(c, separately) + ";";
  if (separately) sql += "\n" + validate_constraint_sql(c);
  return sql;
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

bool is_plain_trigger(const SchemaObject& t) {
  return attr_or(t, "definition", "").compare(0, 15, "CREATE TRIGGER ") == 0;
}

// Makes trigger `t` exist as defined (and enabled as recorded), replacing `existing` (null when
// there is none). On PostgreSQL 14+ CREATE OR REPLACE TRIGGER swaps the definition in one
// statement, so the trigger is never absent and nothing is dropped; it cannot create or replace
// a constraint trigger, nor replace one with a plain trigger: those, and older servers, DROP the
// existing trigger first (destructive: writes in between do not fire it).
std::string trigger_create_sql(const SchemaObject& t, const SchemaObject* existing,
                               int server_major) {
  std::string def = attr_or(t, "definition", "");
  if (def.empty()) return "";
  std::string sql;
  if (server_major >= 14 && is_plain_trigger(t) && (!existing || is_plain_trigger(*existing))) {
    def = "CREATE OR REPLACE TRIGGER " + def.substr(15);
  } else if (existing) {
    sql = "DROP TRIGGER IF EXISTS " + quote_ident(local_of(t)) + " ON " + parent_sql(t) + ";\n";
  }
  sql += end_statement(def);
  std::string enabled = attr_or(t, "enabled", "origin");
  if (enabled != "origin") sql += "\n" + trigger_enable_sql(t, enabled);
  return sql;
}

std::string role_sql(const std::string& role) {
  return (role == "public" || role == "PUBLIC") ? "PUBLIC" : quote_ident(role);
}

std::string policy_roles_sql(const SchemaObject& p) {
  std::vector<std::string> roles = json_strings(attr_or(p, "roles", "[]"));
  std::string sql;
  for (size_t i = 0; i < roles.size(); ++i) sql += (i ? ", " : "") + role_sql(roles[i]);
  return sql;
}

// CREATE POLICY (with `drop_first`: after DROP POLICY IF EXISTS).
std::string policy_create_sql(const SchemaObject& p, bool drop_first) {
  std::string name = quote_ident(local_of(p));
  std::string table = parent_sql(p);
  std::string sql = drop_first ? "DROP POLICY IF EXISTS " + name + " ON " + table + ";\n" : "";
  sql += "CREATE POLICY " + name + " ON " + table + " AS " +
         upper(attr_or(p, "permissive", "permissive")) + " FOR " +
         upper(attr_or(p, "command", "all"));
  std::string roles = policy_roles_sql(p);
  if (!roles.empty()) sql += " TO " + roles;
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
  // ROUTINE names a function, procedure or aggregate alike: no guessing which one it is.
  if (kind == "FUNCTION" || kind == "PROCEDURE" || kind == "AGGREGATE") kind = "ROUTINE";
  size_t dot = p.object.find('.');
  std::string target;
  if (kind == "SCHEMA" || dot == std::string::npos) {
    target = quote_ident(p.object);
  } else if (kind == "ROUTINE") {
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
  return "DROP ROUTINE IF EXISTS " + object_sql(f) + ";";
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

bool inherited(const SchemaObject& o) { return info_or(o, "inherited", "") == "true"; }

// The partitioned parent of a partition, quoted (info partition_parent_schema/_name; older
// snapshots: the first word of attr partition_of, as it was printed).
std::string partition_parent_sql(const SchemaObject& table) {
  std::string schema = info_or(table, "partition_parent_schema", "");
  std::string parent = info_or(table, "partition_parent_name", "");
  if (!parent.empty()) return qualify(schema, parent);
  std::string partition_of = attr_or(table, "partition_of", "");
  return table_sql(partition_of.substr(0, partition_of.find(' ')), "");
}

// "FOR VALUES ..." / "DEFAULT" of a partition.
std::string partition_bound(const SchemaObject& table, const std::string& partition_of) {
  std::string bound = info_or(table, "partition_bound", "");
  if (!bound.empty()) return bound;
  size_t space = partition_of.find(' ');
  return space == std::string::npos ? "DEFAULT" : partition_of.substr(space + 1);
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
  std::string partition_by = attr_or(
      table, "partition_key", info_or(table, "partition_by", info_or(table, "partition_key", "")));
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
  std::string create =
      attr_or(table, "persistence", "") == "unlogged" ? "CREATE UNLOGGED TABLE" : "CREATE TABLE";
  std::string with;
  if (const std::string* options = attr_of(table, "reloptions")) {
    std::vector<std::string> list = json_strings(*options);
    for (size_t i = 0; i < list.size(); ++i) with += (i ? ", " : "") + list[i];
    if (!with.empty()) with = " WITH (" + with + ")";
  }
  if (const std::string* partition_of = attr_of(table, "partition_of")) {
    sql += create + " IF NOT EXISTS " + name + " PARTITION OF " + partition_parent_sql(table) +
           " " + partition_bound(table, *partition_of);
    if (partitioned) sql += " PARTITION BY " + partition_by;
    sql += with + ";";
  } else {
    sql += create + " IF NOT EXISTS " + name + " (";
    for (size_t i = 0; i < children.columns.size(); ++i) {
      sql += (i ? ",\n    " : "\n    ") + column_definition(*children.columns[i], true);
    }
    sql += children.columns.empty() ? ")" : "\n)";
    std::vector<std::string> parents = json_strings(attr_or(table, "inherits", "[]"));
    for (size_t i = 0; i < parents.size(); ++i) {
      sql += (i ? ", " : " INHERITS (") + table_sql(parents[i], "");
    }
    if (!parents.empty()) sql += ")";
    if (partitioned) sql += " PARTITION BY " + partition_by;
    sql += with + ";";
  }
  for (const SchemaObject* s : children.sequences) {
    if (const std::string* owner = attr_of(*s, "owned_by")) {
      if (identity_columns.count(*owner) == 0) {
        sql += "\nALTER SEQUENCE " + object_sql(*s) + " OWNED BY " + column_ref_sql(*owner) + ";";
      }
    }
  }
  // A partition gets the parent's indexes, constraints and row triggers from PARTITION OF.
  for (const SchemaObject* c : children.constraints) {
    if (!inherited(*c)) sql += "\n" + add_constraint_sql(*c);
  }
  for (const SchemaObject* i : children.indexes) {
    if (inherited(*i)) continue;
    std::string create = index_create_sql(*i, /*concurrently=*/false);  // the table is new
    // A partitioned table's index (pg_get_indexdef prints ON ONLY): built on the partitions too,
    // whether they are created before or after it, so that it is valid.
    size_t only = create.find(" ON ONLY ");
    if (only != std::string::npos) create.erase(only + 3, 5);
    if (!create.empty()) sql += "\n" + create;
  }
  for (const SchemaObject* t : children.triggers) {
    if (inherited(*t)) continue;
    std::string create = trigger_create_sql(*t, nullptr, /*server_major=*/0);  // the table is new
    if (!create.empty()) sql += "\n" + create;
  }
  if (attr_or(table, "row_security", "off") == "on") {
    sql += "\nALTER TABLE " + name + " ENABLE ROW LEVEL SECURITY;";
  }
  if (attr_or(table, "force_row_security", "off") == "on") {
    sql += "\nALTER TABLE " + name + " FORCE ROW LEVEL SECURITY;";
  }
  for (const SchemaObject* p : children.policies) {
    sql += "\n" + policy_create_sql(*p, /*drop_first=*/false);
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

// Appends the CREATE statements of `rebuild` (the table, then its partitions) to `sql`.
void append_rebuild(std::string& sql, const TableRebuild& rebuild, const DiffOptions& options) {
  if (auto create = create_table_sql(*rebuild.table, rebuild.children, options)) {
    sql += "\n" + *create;
  }
  for (const TableRebuild& partition : rebuild.partitions) {
    append_rebuild(sql, partition, options);
  }
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

// GUCs whose value is a list (PostgreSQL's GUC_LIST_QUOTE): each element is its own literal.
bool is_list_setting(const std::string& name) {
  return name == "search_path" || name == "temp_tablespaces" ||
         name == "session_preload_libraries" || name == "local_preload_libraries" ||
         name == "shared_preload_libraries";
}

// A proconfig value as SET ... TO <value> (pg_dump's rule): list elements ("$user", public)
// unquoted and each made a literal, any other value one literal.
std::string setting_value_sql(const std::string& name, const std::string& value) {
  if (!is_list_setting(name)) return quote_literal(value);
  std::string sql;
  size_t i = 0;
  while (i <= value.size()) {
    while (i < value.size() && value[i] == ' ') ++i;
    std::string element;
    if (i < value.size() && value[i] == '"') {
      for (++i; i < value.size(); ++i) {
        if (value[i] == '"') {
          if (i + 1 < value.size() && value[i + 1] == '"') {
            element += '"';
            ++i;
          } else {
            ++i;
            break;
          }
        } else {
          element += value[i];
        }
      }
      while (i < value.size() && value[i] != ',') ++i;
    } else {
      size_t comma = value.find(',', i);
      element =
          trim_copy(value.substr(i, comma == std::string::npos ? std::string::npos : comma - i));
      i = comma == std::string::npos ? value.size() : comma;
    }
    sql += (sql.empty() ? "" : ", ") + quote_literal(element);
    ++i;  // past the comma
  }
  return sql;
}

std::string domain_check_sql(const std::string& name, const std::string& definition) {
  return "CONSTRAINT " + quote_ident(name) + " " + definition;
}

std::string domain_create_sql(const SchemaObject& d) {
  std::string sql = "CREATE DOMAIN " + object_sql(d) + " AS " + attr_or(d, "type", "text");
  if (const std::string* collation = attr_of(d, "collation")) {
    sql += " COLLATE " + collation_sql(*collation);
  }
  if (const std::string* def = attr_of(d, "default")) sql += " DEFAULT " + *def;
  if (attr_or(d, "nullable", "true") == "false") sql += " NOT NULL";
  for (const auto& [name, definition] : named_checks(attr_or(d, "checks", "[]"))) {
    sql += " " + domain_check_sql(name, definition);
  }
  return sql + ";";
}

std::string type_create_sql(const SchemaObject& t) {
  if (attr_or(t, "kind", "") == "range") {
    const std::string* opclass = attr_of(t, "subtype_opclass");
    const std::string* collation = attr_of(t, "collation");
    return "CREATE TYPE " + object_sql(t) + " AS RANGE (SUBTYPE = " + attr_or(t, "subtype", "") +
           (opclass ? ", SUBTYPE_OPCLASS = " + *opclass : std::string()) +
           (collation ? ", COLLATION = " + collation_sql(*collation) : std::string()) + ");";
  }
  std::string sql;
  for (const auto& [name, type] : type_attributes(attr_or(t, "attributes", "[]"))) {
    sql += (sql.empty() ? "" : ", ") + name + " " + type;
  }
  return "CREATE TYPE " + object_sql(t) + " AS (" + sql + ");";
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
  if (c.attr == "persistence") {
    return "ALTER TABLE " + name +
           (c.ev && *c.ev == "unlogged" ? " SET UNLOGGED;" : " SET LOGGED;");
  }
  if (c.attr == "replica_identity") {
    std::string identity = c.ev.value_or("default");
    if (identity.compare(0, 6, "index ") == 0) {
      return "ALTER TABLE " + name + " REPLICA IDENTITY USING INDEX " +
             quote_ident(identity.substr(6)) + ";";
    }
    return "ALTER TABLE " + name + " REPLICA IDENTITY " + upper(identity) + ";";
  }
  if (c.attr == "reloptions") {
    std::set<std::string> expected_keys;
    std::string set;
    for (const auto& option : json_strings(c.ev.value_or("[]"))) {
      expected_keys.insert(option.substr(0, option.find('=')));
      set += (set.empty() ? "" : ", ") + option;
    }
    std::string reset;
    for (const auto& option : json_strings(c.av.value_or("[]"))) {
      std::string key = option.substr(0, option.find('='));
      if (expected_keys.count(key) == 0) reset += (reset.empty() ? "" : ", ") + key;
    }
    std::string sql;
    if (!reset.empty()) sql += "ALTER TABLE " + name + " RESET (" + reset + ");";
    if (!set.empty())
      sql += std::string(sql.empty() ? "" : "\n") + "ALTER TABLE " + name + " SET (" + set + ");";
    if (sql.empty()) return std::nullopt;
    return sql;
  }
  if (c.attr == "inherits") {
    std::vector<std::string> expected = json_strings(c.ev.value_or("[]"));
    std::vector<std::string> actual = json_strings(c.av.value_or("[]"));
    std::string sql;
    for (const auto& parent : actual) {
      if (std::find(expected.begin(), expected.end(), parent) == expected.end()) {
        sql += std::string(sql.empty() ? "" : "\n") + "ALTER TABLE " + name + " NO INHERIT " +
               table_sql(parent, "") + ";";
      }
    }
    for (const auto& parent : expected) {
      if (std::find(actual.begin(), actual.end(), parent) == actual.end()) {
        sql += std::string(sql.empty() ? "" : "\n") + "ALTER TABLE " + name + " INHERIT " +
               table_sql(parent, "") + ";";
      }
    }
    if (sql.empty()) return std::nullopt;
    return sql;
  }
  if (c.attr == "partition_key" && c.rebuild != nullptr) {
    // PostgreSQL cannot change a partition key: the table is dropped and created again with the
    // expected key, its children and its partitions. Keeping the rows is a decision for a person
    // (they may not fit the new key's partitions), described in the marker.
    std::string sql = "DROP TABLE IF EXISTS " + name + ";";
    append_rebuild(sql, *c.rebuild, c.options ? *c.options : DiffOptions{});
    return destructive(
        "a partition key cannot be altered: drops the partitioned table with its partitions and "
        "their rows and creates them with the expected key (fails while views or foreign keys "
        "use it). To keep the rows, first ALTER TABLE " +
            name + " RENAME TO a new name (and its partitions), run this, then INSERT INTO " +
            name + " SELECT * FROM the renamed table and drop it",
        sql);
  }
  return std::nullopt;  // kind, partition_of: only a rebuilt table changes them
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
    std::string change = alter + " TYPE " + *ev + " USING " + quote_ident(local_of(e)) + "::" + *ev;
    if (!attr_of(c.actual, "default")) return change + ";";
    // The current default may not cast to the new type (PostgreSQL refuses "default cannot be
    // cast automatically"): drop it, change the type, then set the expected default, in one
    // statement; the column's own default fix (sorted after type changes) then changes nothing.
    const std::string* expected_default = attr_of(e, "default");
    return alter + " DROP DEFAULT,\n  " + change.substr(change.find("ALTER COLUMN ")) +
           (expected_default ? ",\n  ALTER COLUMN " + quote_ident(local_of(e)) + " SET DEFAULT " +
                                   *expected_default
                             : std::string()) +
           ";";
  }
  if (attr == "nullable") {
    return alter + (ev && *ev == "true" ? " DROP NOT NULL;" : " SET NOT NULL;");
  }
  if (attr == "default") {
    return alter + (ev ? " SET DEFAULT " + *ev : std::string(" DROP DEFAULT")) + ";";
  }
  if (attr == "identity") {
    if (!ev) return alter + " DROP IDENTITY IF EXISTS;";
    if (!av) {
      const std::string* options = attr_of(e, "identity_options");
      return alter + " ADD GENERATED " + upper(*ev) + " AS IDENTITY" +
             (options ? " (" + *options + ")" : std::string()) + ";";
    }
    return alter + " SET GENERATED " + upper(*ev) + ";";
  }
  if (attr == "generated") {
    if (!ev) return alter + " DROP EXPRESSION IF EXISTS;";
    if (av) return std::nullopt;  // another expression: PostgreSQL 15 cannot change it in place
    // The expression was dropped (the column became a plain one). PostgreSQL cannot make an
    // existing column generated again: the column is dropped and added back generated, its
    // values recomputed from the expression. Indexes on it go with the drop and are rebuilt
    // (IF NOT EXISTS: the table's other indexes stay as they are); a view or a foreign key
    // using the column makes the DROP fail, which is better than CASCADE deleting them.
    std::string sql = "ALTER TABLE " + parent_sql(e) + " DROP COLUMN " + quote_ident(local_of(e)) +
                      ",\n  ADD COLUMN " + column_definition(e, true) + ";";
    if (c.expected_indexes != nullptr) {
      for (const SchemaObject* index : *c.expected_indexes) {
        std::string create = index_create_sql(*index, /*concurrently=*/false);
        if (!create.empty()) sql += "\n" + create;
      }
    }
    return destructive(
        "drops and re-adds the column as generated: values written since the expression was "
        "dropped are replaced by computed ones; fails while views or foreign keys use it",
        sql);
  }
  if (attr == "collation") {
    std::string coll = ev ? collation_sql(*ev) : "\"default\"";
    return alter + " TYPE " + attr_or(e, "type", "text") + " COLLATE " + coll + ";";
  }
  if (attr == "identity_options" && ev && attr_of(c.actual, "identity")) {
    // "START WITH 1 INCREMENT BY 1 ... NO CYCLE" -> "SET START WITH 1 SET INCREMENT BY 1 ...".
    std::string options;
    std::string rest = *ev;
    for (std::string clause : {"START WITH ", "INCREMENT BY ", "MINVALUE ", "MAXVALUE ", "CACHE ",
                               "NO CYCLE", "CYCLE"}) {
      size_t at = rest.find(clause);
      if (at == std::string::npos) continue;
      size_t end = clause.back() == ' ' ? rest.find(' ', at + clause.size()) : at + clause.size();
      size_t length = end == std::string::npos ? std::string::npos : end - at;
      options += " SET " + rest.substr(at, length);
      rest.erase(at, length);
    }
    if (options.empty()) return std::nullopt;
    return alter + options + ";";
  }
  return std::nullopt;
}

// ---- index ----------------------------------------------------------------------------------

Fix fix_missing_index(const SchemaObject& e, const Children&, const DiffOptions&) {
  std::string create = index_create_sql(e, /*concurrently=*/true);
  if (create.empty()) return std::nullopt;
  return create;
}

Fix fix_extra_index(const SchemaObject& a) { return index_drop_sql(a, /*concurrently=*/true); }

// Also rebuilds an index left INVALID by a failed CREATE INDEX CONCURRENTLY (same definition).
// Two statements: neither may run inside a transaction block.
Fix fix_changed_index(const Change& c) {
  if (c.attr == "valid" && !c.av) return std::nullopt;  // expected invalid: nothing to build
  if (c.attr == "definition" && c.ev && c.av) {
    // Only the storage parameters differ: ALTER INDEX sets them in place (no rebuild, no drop).
    IndexStorage expected = index_storage(*c.ev);
    IndexStorage actual = index_storage(*c.av);
    if (expected.rest == actual.rest) {
      auto key = [](const std::string& option) { return option.substr(0, option.find('=')); };
      std::set<std::string> expected_keys;
      std::string set;
      for (const auto& option : expected.options) {
        expected_keys.insert(key(option));
        set += (set.empty() ? "" : ", ") + option;
      }
      std::string reset;
      for (const auto& option : actual.options) {
        if (expected_keys.count(key(option)) == 0)
          reset += (reset.empty() ? "" : ", ") + key(option);
      }
      const std::string alter = "ALTER INDEX " + object_sql(c.expected);
      std::string sql;
      if (!reset.empty()) sql += alter + " RESET (" + reset + ");";
      if (!set.empty()) sql += (sql.empty() ? "" : "\n") + alter + " SET (" + set + ");";
      if (!sql.empty()) return sql;
    }
  }
  std::string create = index_create_sql(c.expected, /*concurrently=*/true);
  if (create.empty()) return std::nullopt;
  return index_drop_sql(c.expected, /*concurrently=*/true) + "\n" + create;
}

// ---- constraint -----------------------------------------------------------------------------

Fix fix_missing_constraint(const SchemaObject& e, const Children&, const DiffOptions&) {
  return safe_add_constraint_sql(e, /*drop_first=*/false);
}

Fix fix_extra_constraint(const SchemaObject& a) { return drop_constraint_sql(a); }

Fix fix_changed_constraint(const Change& c) {
  const SchemaObject& e = c.expected;
  if (c.attr == "validated") {
    if (c.ev && *c.ev == "true") return validate_constraint_sql(e);
    return std::nullopt;
  }
  return safe_add_constraint_sql(e, /*drop_first=*/true);
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

Fix fix_extra_view(const SchemaObject& a) {
  return destructive("fails while other views depend on it",
                     "DROP VIEW IF EXISTS " + object_sql(a) + ";");
}

Fix fix_changed_view(const Change& c) {
  return "CREATE OR REPLACE VIEW " + object_sql(c.expected) + " AS\n" + view_body(c.expected) + ";";
}

Fix fix_missing_materialized_view(const SchemaObject& e, const Children&, const DiffOptions&) {
  return "CREATE MATERIALIZED VIEW IF NOT EXISTS " + object_sql(e) + " AS\n" + view_body(e) + ";";
}

Fix fix_extra_materialized_view(const SchemaObject& a) {
  return destructive("drops the materialized view and its rows",
                     "DROP MATERIALIZED VIEW IF EXISTS " + object_sql(a) + ";");
}

// DROP + CREATE (a materialized view has no CREATE OR REPLACE); the drop takes the view's
// indexes along, so the expected ones are built again (on the new, not yet used view: no need
// for CONCURRENTLY, which a REFRESH ... CONCURRENTLY's unique index would otherwise lack).
Fix fix_changed_materialized_view(const Change& c) {
  const SchemaObject& e = c.expected;
  std::string sql = "DROP MATERIALIZED VIEW IF EXISTS " + object_sql(e) +
                    ";\nCREATE MATERIALIZED VIEW " + object_sql(e) + " AS\n" + view_body(e) + ";";
  if (c.expected_indexes != nullptr) {
    for (const SchemaObject* index : *c.expected_indexes) {
      std::string create = index_create_sql(*index, /*concurrently=*/false);
      if (!create.empty()) sql += "\n" + create;
    }
  }
  return destructive("drops the materialized view and rebuilds its rows", sql);
}

// ---- function -------------------------------------------------------------------------------

Fix fix_missing_function(const SchemaObject& e, const Children&, const DiffOptions&) {
  return function_create_sql(e);
}

Fix fix_extra_function(const SchemaObject& a) {
  return destructive("fails while other objects depend on it", function_drop_sql(a));
}

Fix fix_changed_function(const Change& c) {
  const SchemaObject& e = c.expected;
  const std::string& attr = c.attr;
  std::string alter = "ALTER ROUTINE " + object_sql(e);
  if (attr == "config") {
    auto expected = function_settings(c.ev);
    std::string sql;
    for (const auto& setting : function_settings(c.av)) {
      if (expected.count(setting.first) == 0) {
        sql += alter + " RESET " + quote_ident(setting.first) + ";\n";
      }
    }
    for (const auto& [name, value] : expected) {
      sql += alter + " SET " + quote_ident(name) + " TO " + setting_value_sql(name, value) + ";\n";
    }
    if (sql.empty()) return std::nullopt;
    sql.pop_back();
    return sql;
  }
  if (attr == "security_definer") {
    return alter + (c.ev && *c.ev == "true" ? " SECURITY DEFINER;" : " SECURITY INVOKER;");
  }
  if (attr == "volatility" && c.ev) return alter + " " + upper(*c.ev) + ";";
  if (attr == "parallel") return alter + " PARALLEL " + upper(c.ev.value_or("unsafe")) + ";";
  if (attr == "leakproof") {
    return alter + (c.ev && *c.ev == "true" ? " LEAKPROOF;" : " NOT LEAKPROOF;");
  }
  if (attr == "strict") {
    // Only functions have strictness (a procedure cannot differ here): not a guess.
    return "ALTER FUNCTION " + object_sql(e) +
           (c.ev && *c.ev == "true" ? " STRICT;" : " CALLED ON NULL INPUT;");
  }
  auto create = function_create_sql(e);
  if (!create) return std::nullopt;
  // CREATE OR REPLACE cannot change the result type, the kind of routine, argument names or
  // remove argument defaults: drop first (its grants and dependent objects go with it).
  if (attr == "result" || attr == "kind" || attr == "arguments") {
    return destructive("drops the routine (its grants; fails while others depend on it)",
                       function_drop_sql(c.actual) + "\n" + *create);
  }
  return *create;
}

// ---- trigger --------------------------------------------------------------------------------

Fix fix_missing_trigger(const SchemaObject& e, const Children&, const DiffOptions& options) {
  std::string create = trigger_create_sql(e, nullptr, options.fix_server_major);
  if (create.empty()) return std::nullopt;
  return create;
}

Fix fix_extra_trigger(const SchemaObject& a) {
  return "DROP TRIGGER IF EXISTS " + quote_ident(local_of(a)) + " ON " + parent_sql(a) + ";";
}

Fix fix_changed_trigger(const Change& c) {
  if (c.attr == "enabled") return trigger_enable_sql(c.expected, c.ev.value_or("origin"));
  std::string create =
      trigger_create_sql(c.expected, &c.actual, c.options ? c.options->fix_server_major : 0);
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
  return policy_create_sql(e, /*drop_first=*/true);
}

Fix fix_extra_policy(const SchemaObject& a) {
  return destructive(
      "changes which rows are visible or writable",
      "DROP POLICY IF EXISTS " + quote_ident(local_of(a)) + " ON " + parent_sql(a) + ";");
}

// ALTER POLICY changes roles, USING and WITH CHECK in place; the command, permissiveness or a
// removed expression need DROP + CREATE (meanwhile the other policies alone govern the rows).
Fix fix_changed_policy(const Change& c) {
  const SchemaObject& e = c.expected;
  std::string alter = "ALTER POLICY " + quote_ident(local_of(e)) + " ON " + parent_sql(e);
  if (c.attr == "roles") {
    std::string roles = policy_roles_sql(e);
    return alter + " TO " + (roles.empty() ? std::string("PUBLIC") : roles) + ";";
  }
  if (c.attr == "using" && c.ev) return alter + " USING (" + *c.ev + ");";
  if (c.attr == "with_check" && c.ev) return alter + " WITH CHECK (" + *c.ev + ");";
  return destructive("drops and recreates the policy", policy_create_sql(e, /*drop_first=*/true));
}

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

namespace driftwatch::diff_detail {

// ---- shared parsing -------------------------------------------------------------------------

std::map<std::string, std::string> function_settings(const std::optional<std::string>& config) {
  std::map<std::string, std::string> out;
  for (const auto& entry : json_strings(config.value_or("[]"))) {
    size_t eq = entry.find('=');
    if (eq != std::string::npos) out[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return out;
}

std::map<std::string, std::string> named_checks(const std::optional<std::string>& checks) {
  std::map<std::string, std::string> out;
  for (const auto& entry : json_strings(checks.value_or("[]"))) {
    size_t colon = entry.find(": ");
    if (colon != std::string::npos) out[entry.substr(0, colon)] = entry.substr(colon + 2);
  }
  return out;
}

IndexStorage index_storage(const std::string& definition) {
  IndexStorage out;
  out.rest = definition;
  static const std::string kWith = " WITH ";
  int depth = 0;
  size_t open = std::string::npos;  // the '(' of WITH (...) at depth 0
  size_t start = 0;                 // of the current option
  for (size_t i = 0; i < definition.size(); ++i) {
    const char c = definition[i];
    if (c == '\'' || c == '"') {
      i = end_of_quoted(definition, i) - 1;
      continue;
    }
    if (c == '(') {
      if (depth == 0 && i >= kWith.size() &&
          definition.compare(i - kWith.size(), kWith.size(), kWith) == 0) {
        open = i;
        start = i + 1;
      }
      ++depth;
    } else if (c == ')') {
      if (--depth == 0 && open != std::string::npos) {
        out.options.push_back(trim_copy(definition.substr(start, i - start)));
        out.rest = definition.substr(0, open - kWith.size()) + definition.substr(i + 1);
        return out;
      }
    } else if (c == ',' && depth == 1 && open != std::string::npos) {
      out.options.push_back(trim_copy(definition.substr(start, i - start)));
      start = i + 1;
    }
  }
  return IndexStorage{definition, {}};
}

size_t end_of_quoted(const std::string& text, size_t open) {
  const char quote = text[open];
  for (size_t i = open + 1; i < text.size(); ++i) {
    if (text[i] != quote) continue;
    if (i + 1 < text.size() && text[i + 1] == quote) {
      ++i;
    } else {
      return i + 1;
    }
  }
  return text.size();
}

std::vector<std::pair<std::string, std::string>> type_attributes(
    const std::optional<std::string>& attributes) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& entry : json_strings(attributes.value_or("[]"))) {
    const size_t end =
        !entry.empty() && entry[0] == '"' ? end_of_quoted(entry, 0) : entry.find(' ');
    if (end == std::string::npos || end >= entry.size()) continue;
    out.emplace_back(entry.substr(0, end), entry.substr(end + 1));
  }
  return out;
}

// ---- domain ---------------------------------------------------------------------------------

Fix fix_missing_domain(const SchemaObject& e, const Children&, const DiffOptions&) {
  return domain_create_sql(e);
}

Fix fix_extra_domain(const SchemaObject& a) {
  return destructive("fails while columns use the domain",
                     "DROP DOMAIN IF EXISTS " + object_sql(a) + ";");
}

Fix fix_changed_domain(const Change& c) {
  std::string alter = "ALTER DOMAIN " + object_sql(c.expected);
  if (c.attr == "default") {
    return alter + (c.ev ? " SET DEFAULT " + *c.ev : std::string(" DROP DEFAULT")) + ";";
  }
  if (c.attr == "nullable") {
    return alter + (c.ev && *c.ev == "false" ? " SET NOT NULL;" : " DROP NOT NULL;");
  }
  if (c.attr == "checks") {
    auto expected = named_checks(c.ev);
    auto actual = named_checks(c.av);
    std::string sql;
    for (const auto& [name, definition] : actual) {
      auto it = expected.find(name);
      if (it == expected.end() || it->second != definition) {
        sql += alter + " DROP CONSTRAINT IF EXISTS " + quote_ident(name) + ";\n";
      }
    }
    for (const auto& [name, definition] : expected) {
      auto it = actual.find(name);
      if (it != actual.end() && it->second == definition) continue;
      bool not_valid = definition.find(" NOT VALID") != std::string::npos;
      sql += alter + " ADD " + domain_check_sql(name, definition) +
             (not_valid ? "" : " NOT VALID") + ";\n";
      if (!not_valid) sql += alter + " VALIDATE CONSTRAINT " + quote_ident(name) + ";\n";
    }
    if (sql.empty()) return std::nullopt;
    sql.pop_back();
    return sql;
  }
  // type, collation: ALTER DOMAIN cannot change them; the domain is dropped and created again
  // (no CASCADE: while columns use it the DROP fails, rather than dropping their data).
  return destructive(
      "drops the domain to create it with its expected " + c.attr +
          " (fails while columns use it: move them to the base type first)",
      "DROP DOMAIN IF EXISTS " + object_sql(c.actual) + ";\n" + domain_create_sql(c.expected));
}

// ---- composite and range types --------------------------------------------------------------

Fix fix_missing_type(const SchemaObject& e, const Children&, const DiffOptions&) {
  return type_create_sql(e);
}

Fix fix_extra_type(const SchemaObject& a) {
  return destructive("fails while columns or functions use the type",
                     "DROP TYPE IF EXISTS " + object_sql(a) + ";");
}

Fix fix_changed_type(const Change& c) {
  if (c.attr != "attributes" || attr_or(c.expected, "kind", "") != "composite") {
    return destructive(
        "drops the type (fails while columns or functions use it)",
        "DROP TYPE IF EXISTS " + object_sql(c.actual) + ";\n" + type_create_sql(c.expected));
  }
  std::string alter = "ALTER TYPE " + object_sql(c.expected);
  auto expected = type_attributes(c.ev);
  auto actual = type_attributes(c.av);
  std::map<std::string, std::string> actual_types(actual.begin(), actual.end());
  std::map<std::string, std::string> expected_types(expected.begin(), expected.end());
  std::string sql;
  bool drops = false;
  for (const auto& [name, type] : actual) {
    if (expected_types.count(name) == 0) {
      sql += alter + " DROP ATTRIBUTE IF EXISTS " + name + ";\n";
      drops = true;
    }
  }
  for (const auto& [name, type] : expected) {
    auto it = actual_types.find(name);
    if (it == actual_types.end()) {
      sql += alter + " ADD ATTRIBUTE " + name + " " + type + ";\n";
    } else if (it->second != type) {
      sql += alter + " ALTER ATTRIBUTE " + name + " TYPE " + type + ";\n";
    }
  }
  if (sql.empty()) return std::nullopt;  // only the order differs
  sql.pop_back();
  return drops ? destructive("drops attributes of the type", sql) : sql;
}

Fix no_missing_fix(const SchemaObject&, const Children&, const DiffOptions&) {
  return std::nullopt;
}

Fix no_extra_fix(const SchemaObject&) { return std::nullopt; }

}  // namespace driftwatch::diff_detail
