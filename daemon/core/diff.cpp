// Schema diff: one merge pass over both snapshots' objects sorted by (type, name).
//
// Severity and risk per finding (DESIGN.md "Risk": how the application will fail):
//
//  object       kind     condition                                 severity  risk
//  -----------  -------  ----------------------------------------  --------  ------------------
//  schema       missing                                            critical  undefined_object
//  schema       extra                                              info      none
//  table        missing  (children folded, fix = CREATE TABLE)     critical  undefined_table
//  table        extra    (children folded)                         info      none
//  table        changed  row_security / force_row_security / kind  warning   none
//  column       missing                                            critical  undefined_column
//  column       extra    NOT NULL, no default/identity/generated   critical  not_null_violation
//  column       extra    otherwise                                 info      none
//  column       changed  type, narrowing                           critical  type_mismatch
//  column       changed  type, otherwise                           warning   type_mismatch
//  column       changed  nullable: expected NULL, DB NOT NULL      critical  not_null_violation
//  column       changed  nullable: expected NOT NULL, DB NULL      warning   none
//  column       changed  default/identity removed, DB NOT NULL     critical  not_null_violation
//                        (the application relies on the server
//                        default and does not send the column)
//  column       changed  default, identity, generated, collation   warning   none
//  index        missing  unique                                    warning   unique_violation
//  index        missing  not unique (queries get slow)             warning   none
//  index        extra    unique (inserts may now fail)             warning   unique_violation
//  index        extra    not unique                                info      none
//  index        changed  definition (unique on either side)        warning   unique_violation
//  index        changed  definition, otherwise                     warning   none
//  constraint   missing  primary_key / unique / exclude            warning   unique_violation
//  constraint   missing  check / foreign_key                       warning   none
//  constraint   extra    primary_key / unique / exclude            warning   unique_violation
//  constraint   extra    check `IS NOT NULL`                       warning   not_null_violation
//  constraint   extra    other check / foreign_key                 warning   none
//  constraint   changed  validated                                 info      none
//  constraint   changed  definition of pk / unique / exclude       warning   unique_violation
//  constraint   changed  otherwise (on_delete, deferrable, ...)    warning   none
//  enum         missing                                            critical  undefined_object
//  enum         extra                                              info      none
//  enum         changed  labels, an expected label is missing      critical  undefined_object
//  enum         changed  labels, reordered                         warning   none
//  enum         changed  labels, only extra labels                 info      none
//  view, matv.  missing                                            critical  undefined_object
//  view, matv.  extra                                              info      none
//  view, matv.  changed  definition                                warning   none
//  function     missing                                            critical  undefined_object
//  function     extra                                              info      none
//  function     changed  any attribute                             warning   none
//  trigger      missing / extra / changed                          warning   none
//  sequence     missing                                            critical  undefined_object
//  sequence     extra                                              info      none
//  sequence     changed  data_type narrowing                       warning   type_mismatch
//  sequence     changed  otherwise                                 warning   none
//  extension    missing                                            critical  undefined_object
//  extension    extra                                              info      none
//  extension    changed  version / schema                          warning   none
//  policy       missing / extra / changed                          warning   none
//  privilege    missing (permission denied for the application)    warning   none
//  privilege    extra / changed grantable                          info      none
//  any          changed  comment                                   info      none
#include "driftwatch/diff.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace driftwatch {
namespace {

using Objects = std::vector<const SchemaObject*>;

const std::string* attr_of(const SchemaObject& o, const std::string& key) {
  auto it = o.attrs.find(key);
  return it == o.attrs.end() ? nullptr : &it->second;
}

std::string attr_or(const SchemaObject& o, const std::string& key, const std::string& fallback) {
  const std::string* v = attr_of(o, key);
  return v ? *v : fallback;
}

std::string info_or(const SchemaObject& o, const char* key, const std::string& fallback) {
  auto it = o.info.find(key);
  return it == o.info.end() ? fallback : it->second;
}

bool is_true(const SchemaObject& o, const std::string& key) {
  return attr_or(o, key, "") == "true";
}

// ---- names -------------------------------------------------------------------------------

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

// `rest` of `full` after "prefix.", or everything after the first '.' when it does not start so.
std::string after_prefix(const std::string& full, const std::string& prefix) {
  if (!prefix.empty() && full.size() > prefix.size() &&
      full.compare(0, prefix.size(), prefix) == 0 && full[prefix.size()] == '.') {
    return full.substr(prefix.size() + 1);
  }
  size_t dot = full.find('.');
  return dot == std::string::npos ? full : full.substr(dot + 1);
}

std::string local_of(const SchemaObject& o) {
  std::string local = info_or(o, SchemaObject::kLocalName, "");
  if (!local.empty()) return local;
  switch (o.type) {
    case ObjectType::kColumn:
    case ObjectType::kConstraint:
    case ObjectType::kTrigger:
    case ObjectType::kPolicy:
      return after_prefix(o.name, parent_of(o));
    case ObjectType::kSchema:
    case ObjectType::kExtension:
    case ObjectType::kPrivilege:
      return o.name;
    default:
      return after_prefix(o.name, schema_of(o));
  }
}

std::string qualify(const std::string& schema, const std::string& local) {
  return schema.empty() ? quote_ident(local) : quote_ident(schema) + "." + quote_ident(local);
}

// "s.t" (a qualified table name as it appears in `parent`) -> quoted SQL.
std::string table_sql(const std::string& qualified, const std::string& schema_hint) {
  std::string schema = schema_hint;
  if (schema.empty() || qualified.compare(0, schema.size() + 1, schema + ".") != 0) {
    size_t dot = qualified.find('.');
    schema = dot == std::string::npos ? "" : qualified.substr(0, dot);
  }
  return qualify(schema, schema.empty() ? qualified : qualified.substr(schema.size() + 1));
}

std::string parent_sql(const SchemaObject& o) { return table_sql(parent_of(o), schema_of(o)); }

// "f(text, integer)" -> "f" + "(text, integer)".
std::string function_sql(const std::string& schema, const std::string& local) {
  size_t open = local.find('(');
  if (open == std::string::npos) return qualify(schema, local);
  return qualify(schema, local.substr(0, open)) + local.substr(open);
}

// The object's own name as SQL (for types whose name is schema-qualified or global).
std::string object_sql(const SchemaObject& o) {
  switch (o.type) {
    case ObjectType::kSchema:
    case ObjectType::kExtension:
      return quote_ident(o.name);
    case ObjectType::kFunction:
      return function_sql(schema_of(o), local_of(o));
    case ObjectType::kColumn:
      return parent_sql(o) + "." + quote_ident(local_of(o));
    default:
      return qualify(schema_of(o), local_of(o));
  }
}

// "s.t.c" (sequence owned_by) -> quoted.
std::string column_ref_sql(const std::string& ref) {
  size_t first = ref.find('.');
  size_t last = ref.rfind('.');
  if (first == std::string::npos || first == last) return quote_ident(ref);
  return quote_ident(ref.substr(0, first)) + "." +
         quote_ident(ref.substr(first + 1, last - first - 1)) + "." +
         quote_ident(ref.substr(last + 1));
}

// Collations come from the catalog either bare (C) or already quoted ("en_US"/schema.coll).
std::string collation_sql(const std::string& collation) {
  if (collation.find('"') != std::string::npos || collation.find('.') != std::string::npos) {
    return collation;
  }
  return quote_ident(collation);
}

std::vector<std::string> json_strings(const std::string& text) {
  std::vector<std::string> out;
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  if (!parsed.is_array()) return out;
  for (const auto& item : parsed) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

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

bool has_value_source(const SchemaObject& c) {
  return attr_of(c, "default") || attr_of(c, "identity") || attr_of(c, "generated");
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

// Privilege name OBJECT:GRANTEE:PRIVILEGE.
struct PrivilegeName {
  std::string object, grantee, privilege;
  bool ok = false;
};

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

std::string comment_target_sql(const SchemaObject& o) {
  switch (o.type) {
    case ObjectType::kSchema:
      return "SCHEMA " + object_sql(o);
    case ObjectType::kTable:
      return "TABLE " + object_sql(o);
    case ObjectType::kColumn:
      return "COLUMN " + object_sql(o);
    case ObjectType::kIndex:
      return "INDEX " + object_sql(o);
    case ObjectType::kEnum:
      return "TYPE " + object_sql(o);
    case ObjectType::kView:
      return "VIEW " + object_sql(o);
    case ObjectType::kMaterializedView:
      return "MATERIALIZED VIEW " + object_sql(o);
    case ObjectType::kSequence:
      return "SEQUENCE " + object_sql(o);
    case ObjectType::kExtension:
      return "EXTENSION " + object_sql(o);
    case ObjectType::kFunction: {
      std::string kind = attr_or(o, "kind", "function");
      std::string keyword = kind == "procedure"   ? "PROCEDURE"
                            : kind == "aggregate" ? "AGGREGATE"
                                                  : "FUNCTION";
      return keyword + " " + object_sql(o);
    }
    case ObjectType::kConstraint:
      return "CONSTRAINT " + quote_ident(local_of(o)) + " ON " + parent_sql(o);
    case ObjectType::kTrigger:
      return "TRIGGER " + quote_ident(local_of(o)) + " ON " + parent_sql(o);
    case ObjectType::kPolicy:
      return "POLICY " + quote_ident(local_of(o)) + " ON " + parent_sql(o);
    case ObjectType::kPrivilege:
      return "";
  }
  return "";
}

std::optional<std::string> comment_sql(const SchemaObject& o,
                                       const std::optional<std::string>& text) {
  std::string target = comment_target_sql(o);
  if (target.empty()) return std::nullopt;
  return "COMMENT ON " + target + " IS " + (text ? quote_literal(*text) : "NULL") + ";";
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

// ---- messages -----------------------------------------------------------------------------

std::string type_label(ObjectType type) {
  switch (type) {
    case ObjectType::kEnum:
      return "enum type";
    case ObjectType::kMaterializedView:
      return "materialized view";
    default:
      return to_string(type);
  }
}

std::string capitalized(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

std::string display(const std::optional<std::string>& value) {
  if (!value) return "none";
  std::string out;
  bool space = false;
  for (char c : *value) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  if (out.size() > 80) out = out.substr(0, 77) + "...";
  return out;
}

// Short description of a present object, used as expected/actual of missing/extra findings.
std::string describe(const SchemaObject& o) {
  switch (o.type) {
    case ObjectType::kColumn: {
      std::string text = attr_or(o, "type", "?");
      if (attr_or(o, "nullable", "true") == "false") text += " NOT NULL";
      if (const std::string* d = attr_of(o, "default")) text += " DEFAULT " + *d;
      if (const std::string* i = attr_of(o, "identity"))
        text += " GENERATED " + upper(*i) + " AS IDENTITY";
      if (const std::string* g = attr_of(o, "generated"))
        text += " GENERATED ALWAYS AS (" + *g + ")";
      return text;
    }
    case ObjectType::kTable:
      return attr_or(o, "kind", "table");
    case ObjectType::kEnum:
      return attr_or(o, "labels", "[]");
    case ObjectType::kFunction:
      return attr_or(o, "kind", "function") + " returning " + attr_or(o, "result", "?");
    case ObjectType::kSequence:
      return attr_or(o, "data_type", "sequence");
    case ObjectType::kExtension:
      return "version " + attr_or(o, "version", "?");
    case ObjectType::kPolicy:
      return attr_or(o, "permissive", "permissive") + " for " + attr_or(o, "command", "all");
    case ObjectType::kPrivilege:
      return is_true(o, "grantable") ? "granted with grant option" : "granted";
    case ObjectType::kSchema:
      return "schema";
    default:
      return attr_or(o, "definition", to_string(o.type));
  }
}

Finding make_finding(const char* kind, const SchemaObject& o, Severity severity, const char* risk) {
  Finding f;
  f.kind = kind;
  f.object_type = o.type;
  f.object = o.name;
  f.severity = severity;
  f.risk = risk;
  return f;
}

// ---- folding ------------------------------------------------------------------------------

bool is_table_child(ObjectType type) {
  return type == ObjectType::kColumn || type == ObjectType::kIndex ||
         type == ObjectType::kConstraint || type == ObjectType::kTrigger ||
         type == ObjectType::kPolicy;
}

// The table a folded object belongs to, or "" when it does not fold into a table.
std::string fold_parent(const SchemaObject& o) {
  if (is_table_child(o.type)) return parent_of(o);
  if (o.type == ObjectType::kSequence) {
    std::string owner = attr_or(o, "owned_by", "");
    size_t dot = owner.rfind('.');
    return dot == std::string::npos ? "" : owner.substr(0, dot);
  }
  if (o.type == ObjectType::kPrivilege) return parse_privilege(o.name).object;
  return "";
}

struct Children {
  Objects columns, indexes, constraints, triggers, policies, sequences, privileges;
  size_t count() const {
    return columns.size() + indexes.size() + constraints.size() + triggers.size() +
           policies.size() + sequences.size() + privileges.size();
  }
};

void add_child(Children& children, const SchemaObject* o) {
  switch (o->type) {
    case ObjectType::kColumn:
      children.columns.push_back(o);
      break;
    case ObjectType::kIndex:
      children.indexes.push_back(o);
      break;
    case ObjectType::kConstraint:
      children.constraints.push_back(o);
      break;
    case ObjectType::kTrigger:
      children.triggers.push_back(o);
      break;
    case ObjectType::kPolicy:
      children.policies.push_back(o);
      break;
    case ObjectType::kSequence:
      children.sequences.push_back(o);
      break;
    default:
      children.privileges.push_back(o);
      break;
  }
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

std::string children_summary(const Children& c) {
  std::vector<std::string> parts;
  auto add = [&parts](size_t n, const char* one, const char* many) {
    if (n > 0) parts.push_back(std::to_string(n) + " " + (n == 1 ? one : many));
  };
  add(c.columns.size(), "column", "columns");
  add(c.indexes.size(), "index", "indexes");
  add(c.constraints.size(), "constraint", "constraints");
  add(c.triggers.size(), "trigger", "triggers");
  add(c.policies.size(), "policy", "policies");
  add(c.sequences.size(), "owned sequence", "owned sequences");
  if (parts.empty()) return "";
  std::string text = " (with ";
  for (size_t i = 0; i < parts.size(); ++i) {
    text += (i == 0 ? "" : i + 1 == parts.size() ? " and " : ", ") + parts[i];
  }
  return text + ")";
}

// ---- missing / extra ----------------------------------------------------------------------

Finding missing_finding(const SchemaObject& e, const Children* children,
                        const DiffOptions& options) {
  const std::string label = capitalized(type_label(e.type)) + " " + e.name;
  const std::string expected_absent =
      label + " is expected by the migrations but missing from the database";
  Finding f;
  switch (e.type) {
    case ObjectType::kSchema:
      f = make_finding("missing", e, Severity::kCritical, risk::kUndefinedObject);
      f.message = expected_absent + "; queries on its objects fail.";
      f.fix_sql = "CREATE SCHEMA IF NOT EXISTS " + object_sql(e) + ";";
      break;
    case ObjectType::kTable:
      f = make_finding("missing", e, Severity::kCritical, risk::kUndefinedTable);
      f.message = expected_absent + (children ? children_summary(*children) : "") +
                  "; queries on it fail with undefined_table.";
      f.fix_sql = create_table_sql(e, children ? *children : Children{}, options);
      break;
    case ObjectType::kColumn:
      f = make_finding("missing", e, Severity::kCritical, risk::kUndefinedColumn);
      f.message = expected_absent + "; queries using it fail with undefined_column.";
      f.fix_sql = add_column_sql(e);
      break;
    case ObjectType::kIndex: {
      bool unique = is_true(e, "unique") || is_true(e, "primary");
      f = make_finding("missing", e, Severity::kWarning,
                       unique ? risk::kUniqueViolation : risk::kNone);
      f.message = expected_absent +
                  (unique ? "; duplicates are no longer rejected and ON CONFLICT upserts on its "
                            "columns fail."
                          : "; queries that rely on it may be slow.");
      std::string create = index_create_sql(e);
      if (!create.empty()) f.fix_sql = create;
      break;
    }
    case ObjectType::kConstraint: {
      std::string type = attr_or(e, "type", "");
      bool unique = type == "primary_key" || type == "unique" || type == "exclude";
      f = make_finding("missing", e, Severity::kWarning,
                       unique ? risk::kUniqueViolation : risk::kNone);
      f.message = expected_absent +
                  (unique ? "; duplicates are no longer rejected and ON CONFLICT upserts on its "
                            "columns fail (no unique or exclusion constraint matching)."
                          : "; the database no longer enforces it.");
      f.fix_sql = add_constraint_sql(e);
      break;
    }
    case ObjectType::kEnum:
      f = make_finding("missing", e, Severity::kCritical, risk::kUndefinedObject);
      f.message = expected_absent + "; columns and casts using it fail.";
      f.fix_sql = enum_create_sql(e);
      break;
    case ObjectType::kView:
      f = make_finding("missing", e, Severity::kCritical, risk::kUndefinedObject);
      f.message = expected_absent + "; queries on it fail.";
      f.fix_sql = "CREATE OR REPLACE VIEW " + object_sql(e) + " AS\n" + view_body(e) + ";";
      break;
    case ObjectType::kMaterializedView:
      f = make_finding("missing", e, Severity::kCritical, risk::kUndefinedObject);
      f.message = expected_absent + "; queries on it fail.";
      f.fix_sql =
          "CREATE MATERIALIZED VIEW IF NOT EXISTS " + object_sql(e) + " AS\n" + view_body(e) + ";";
      break;
    case ObjectType::kFunction:
      f = make_finding("missing", e, Severity::kCritical, risk::kUndefinedObject);
      f.message = expected_absent + "; calls to it fail.";
      f.fix_sql = function_create_sql(e);
      break;
    case ObjectType::kTrigger: {
      f = make_finding("missing", e, Severity::kWarning, risk::kNone);
      f.message = expected_absent + "; what it does on writes silently no longer happens.";
      std::string create = trigger_create_sql(e);
      if (!create.empty()) f.fix_sql = create;
      break;
    }
    case ObjectType::kSequence:
      f = make_finding("missing", e, Severity::kCritical, risk::kUndefinedObject);
      f.message = expected_absent + "; nextval() on it fails.";
      f.fix_sql = sequence_create_sql(e);
      break;
    case ObjectType::kExtension: {
      f = make_finding("missing", e, Severity::kCritical, risk::kUndefinedObject);
      f.message = expected_absent + "; functions and types it provides are undefined.";
      std::string sql = "CREATE EXTENSION IF NOT EXISTS " + object_sql(e);
      if (const std::string* schema = attr_of(e, "schema"))
        sql += " WITH SCHEMA " + quote_ident(*schema);
      if (const std::string* version = attr_of(e, "version"))
        sql += " VERSION " + quote_literal(*version);
      f.fix_sql = sql + ";";
      break;
    }
    case ObjectType::kPolicy:
      f = make_finding("missing", e, Severity::kWarning, risk::kNone);
      f.message = expected_absent +
                  "; with row level security on, rows it allows are hidden or "
                  "rejected.";
      f.fix_sql = policy_create_sql(e);
      break;
    case ObjectType::kPrivilege:
      f = make_finding("missing", e, Severity::kWarning, risk::kNone);
      f.message = "Privilege " + e.name +
                  " is expected but not granted; the grantee gets "
                  "permission denied.";
      f.fix_sql = grant_sql(e);
      break;
  }
  f.expected = describe(e);
  return f;
}

Finding extra_finding(const SchemaObject& a, const Children* children) {
  const std::string label = capitalized(type_label(a.type)) + " " + a.name;
  const std::string unexpected = label + " exists in the database but not in the migrations";
  Finding f = make_finding("extra", a, Severity::kInfo, risk::kNone);
  switch (a.type) {
    case ObjectType::kSchema:
      f.message = unexpected + ".";
      f.fix_sql = destructive("drops the schema (fails while it has objects)",
                              "DROP SCHEMA IF EXISTS " + object_sql(a) + ";");
      break;
    case ObjectType::kTable:
      f.message = unexpected + (children ? children_summary(*children) : "") + ".";
      f.fix_sql = destructive("drops the table and its rows",
                              "DROP TABLE IF EXISTS " + object_sql(a) + ";");
      break;
    case ObjectType::kColumn: {
      bool not_null = attr_or(a, "nullable", "true") == "false";
      if (not_null && !has_value_source(a)) {
        f.severity = Severity::kCritical;
        f.risk = risk::kNotNullViolation;
        f.message = unexpected +
                    "; it is NOT NULL without a default, so the application's "
                    "INSERTs fail with not_null_violation.";
        // Dropping NOT NULL unblocks the application without losing the column's data.
        f.fix_sql = "ALTER TABLE " + parent_sql(a) + " ALTER COLUMN " + quote_ident(local_of(a)) +
                    " DROP NOT NULL;";
      } else {
        f.message = unexpected + ".";
        f.fix_sql = destructive("drops the column and its data",
                                "ALTER TABLE " + parent_sql(a) + " DROP COLUMN IF EXISTS " +
                                    quote_ident(local_of(a)) + ";");
      }
      break;
    }
    case ObjectType::kIndex:
      if (is_true(a, "unique") || is_true(a, "primary")) {
        f.severity = Severity::kWarning;
        f.risk = risk::kUniqueViolation;
        f.message = unexpected +
                    "; it is unique, so inserts the application expects to succeed "
                    "may fail with unique_violation.";
      } else {
        f.message = unexpected + "; it costs write time and space.";
      }
      f.fix_sql = "DROP INDEX IF EXISTS " + object_sql(a) + ";";
      break;
    case ObjectType::kConstraint: {
      std::string type = attr_or(a, "type", "");
      f.severity = Severity::kWarning;
      if (type == "primary_key" || type == "unique" || type == "exclude") {
        f.risk = risk::kUniqueViolation;
        f.message = unexpected +
                    "; inserts the application expects to succeed may fail with "
                    "unique_violation.";
      } else if (type == "check" &&
                 upper(attr_or(a, "definition", "")).find("IS NOT NULL") != std::string::npos) {
        f.risk = risk::kNotNullViolation;
        f.message = unexpected + "; it rejects NULLs the application may write.";
      } else {
        f.message = unexpected + "; writes the application expects to succeed may be rejected.";
      }
      f.fix_sql = drop_constraint_sql(a);
      break;
    }
    case ObjectType::kEnum:
      f.message = unexpected + ".";
      f.fix_sql = destructive("fails while columns use the type",
                              "DROP TYPE IF EXISTS " + object_sql(a) + ";");
      break;
    case ObjectType::kView:
      f.message = unexpected + ".";
      f.fix_sql = "DROP VIEW IF EXISTS " + object_sql(a) + ";";
      break;
    case ObjectType::kMaterializedView:
      f.message = unexpected + ".";
      f.fix_sql = "DROP MATERIALIZED VIEW IF EXISTS " + object_sql(a) + ";";
      break;
    case ObjectType::kFunction:
      f.message = unexpected + ".";
      f.fix_sql = function_drop_sql(a);
      break;
    case ObjectType::kTrigger:
      f.severity = Severity::kWarning;
      f.message = unexpected +
                  "; it runs on the application's writes and may change or reject "
                  "them.";
      f.fix_sql =
          "DROP TRIGGER IF EXISTS " + quote_ident(local_of(a)) + " ON " + parent_sql(a) + ";";
      break;
    case ObjectType::kSequence:
      f.message = unexpected + ".";
      f.fix_sql = destructive("loses the sequence's current value",
                              "DROP SEQUENCE IF EXISTS " + object_sql(a) + ";");
      break;
    case ObjectType::kExtension:
      f.message = unexpected + ".";
      f.fix_sql = destructive("drops the extension's objects",
                              "DROP EXTENSION IF EXISTS " + object_sql(a) + ";");
      break;
    case ObjectType::kPolicy:
      f.severity = Severity::kWarning;
      f.message = unexpected + "; it changes which rows the application sees or may write.";
      f.fix_sql =
          "DROP POLICY IF EXISTS " + quote_ident(local_of(a)) + " ON " + parent_sql(a) + ";";
      break;
    case ObjectType::kPrivilege:
      f.message = "Privilege " + a.name + " is granted in the database but not expected.";
      f.fix_sql = revoke_sql(a);
      break;
  }
  f.actual = describe(a);
  return f;
}

// ---- changed ------------------------------------------------------------------------------

std::string changed_message(const SchemaObject& e, const std::string& attr,
                            const std::optional<std::string>& ev,
                            const std::optional<std::string>& av, const std::string& consequence) {
  return capitalized(type_label(e.type)) + " " + e.name + " has " + attr + " " + display(av) +
         " in the database, but the migrations expect " + display(ev) +
         (consequence.empty() ? "." : "; " + consequence + ".");
}

struct Classified {
  Severity severity = Severity::kWarning;
  const char* risk = risk::kNone;
  std::string consequence;
  std::optional<std::string> fix_sql;
};

Classified classify_column(const SchemaObject& e, const SchemaObject& a, const std::string& attr,
                           const std::optional<std::string>& ev,
                           const std::optional<std::string>& av) {
  Classified c;
  std::string alter = "ALTER TABLE " + parent_sql(e) + " ALTER COLUMN " + quote_ident(local_of(e));
  bool actual_not_null = attr_or(a, "nullable", "true") == "false";
  if (attr == "type") {
    c.risk = risk::kTypeMismatch;
    if (ev && av && type_narrows(*ev, *av)) {
      c.severity = Severity::kCritical;
      c.consequence =
          "the database type is narrower, so values the application writes may not "
          "fit";
    } else {
      c.consequence = "values read or written may convert differently";
    }
    if (ev)
      c.fix_sql = alter + " TYPE " + *ev + " USING " + quote_ident(local_of(e)) + "::" + *ev + ";";
  } else if (attr == "nullable") {
    if (ev && *ev == "true") {
      c.severity = Severity::kCritical;
      c.risk = risk::kNotNullViolation;
      c.consequence =
          "the application may write NULL and its INSERTs fail with "
          "not_null_violation";
      c.fix_sql = alter + " DROP NOT NULL;";
    } else {
      c.consequence = "NULLs the migrations forbid can be stored";
      c.fix_sql = alter + " SET NOT NULL;";
    }
  } else if (attr == "default" || attr == "identity") {
    bool removed = ev && !av;
    if (removed && actual_not_null && !has_value_source(a)) {
      // The application relies on the server-side value and does not send the column.
      c.severity = Severity::kCritical;
      c.risk = risk::kNotNullViolation;
      c.consequence = "the column is NOT NULL, so INSERTs that rely on the " + attr +
                      " fail with not_null_violation";
    } else {
      c.consequence = attr == "default" ? "rows inserted without a value get a different value"
                                        : "generated values differ";
    }
    if (attr == "default") {
      c.fix_sql = alter + (ev ? " SET DEFAULT " + *ev : std::string(" DROP DEFAULT")) + ";";
    } else if (!ev) {
      c.fix_sql = alter + " DROP IDENTITY IF EXISTS;";
    } else if (!av) {
      c.fix_sql = alter + " ADD GENERATED " + upper(*ev) + " AS IDENTITY;";
    } else {
      c.fix_sql = alter + " SET GENERATED " + upper(*ev) + ";";
    }
  } else if (attr == "generated") {
    c.consequence = av && !ev ? "the application's writes to it fail (generated column)"
                              : "stored values are computed differently";
    if (!ev) c.fix_sql = alter + " DROP EXPRESSION IF EXISTS;";
  } else if (attr == "collation") {
    c.consequence = "sorting and comparisons differ";
    std::string coll = ev ? collation_sql(*ev) : "\"default\"";
    c.fix_sql = alter + " TYPE " + attr_or(e, "type", "text") + " COLLATE " + coll + ";";
  }
  return c;
}

Classified classify_changed(const SchemaObject& e, const SchemaObject& a, const std::string& attr,
                            const std::optional<std::string>& ev,
                            const std::optional<std::string>& av) {
  Classified c;
  if (attr == "comment") {
    c.severity = Severity::kInfo;
    c.fix_sql = comment_sql(e, ev);
    return c;
  }
  switch (e.type) {
    case ObjectType::kColumn:
      return classify_column(e, a, attr, ev, av);
    case ObjectType::kTable: {
      std::string name = object_sql(e);
      if (attr == "row_security") {
        c.consequence = "which rows non-owners see changes";
        c.fix_sql = "ALTER TABLE " + name + (ev && *ev == "on" ? " ENABLE" : " DISABLE") +
                    " ROW LEVEL SECURITY;";
      } else if (attr == "force_row_security") {
        c.consequence = "whether policies apply to the table owner changes";
        c.fix_sql = "ALTER TABLE " + name + (ev && *ev == "on" ? " FORCE" : " NO FORCE") +
                    " ROW LEVEL SECURITY;";
      }
      return c;
    }
    case ObjectType::kIndex: {
      bool unique = is_true(e, "unique") || is_true(a, "unique") || is_true(e, "primary") ||
                    is_true(a, "primary");
      if (unique) {
        c.risk = risk::kUniqueViolation;
        c.consequence =
            "uniqueness is enforced differently, so inserts or ON CONFLICT upserts may "
            "fail";
      }
      std::string create = index_create_sql(e);
      if (!create.empty()) c.fix_sql = "DROP INDEX IF EXISTS " + object_sql(e) + ";\n" + create;
      return c;
    }
    case ObjectType::kConstraint: {
      std::string type = attr_or(e, "type", "");
      if (attr == "validated") {
        c.severity = Severity::kInfo;
        c.consequence = "existing rows were not checked against it";
        if (ev && *ev == "true") {
          c.fix_sql = "ALTER TABLE " + parent_sql(e) + " VALIDATE CONSTRAINT " +
                      quote_ident(local_of(e)) + ";";
        }
        return c;
      }
      if (attr == "definition" &&
          (type == "primary_key" || type == "unique" || type == "exclude")) {
        c.risk = risk::kUniqueViolation;
        c.consequence = "ON CONFLICT upserts and inserts may fail";
      }
      // One ALTER TABLE: the constraint is never absent to concurrent sessions.
      c.fix_sql = "ALTER TABLE " + parent_sql(e) + " DROP CONSTRAINT IF EXISTS " +
                  quote_ident(local_of(e)) + ", ADD " + constraint_clause(e) + ";";
      return c;
    }
    case ObjectType::kEnum: {
      std::vector<std::string> expected = json_strings(ev.value_or("[]"));
      std::vector<std::string> actual = json_strings(av.value_or("[]"));
      std::set<std::string> present(actual.begin(), actual.end());
      std::string sql;
      std::vector<std::string> missing;
      for (size_t i = 0; i < expected.size(); ++i) {
        if (present.count(expected[i])) continue;
        missing.push_back(expected[i]);
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
      if (!missing.empty()) {
        c.severity = Severity::kCritical;
        c.risk = risk::kUndefinedObject;
        std::string list;
        for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
        c.consequence = "writing " + list + " fails with invalid input value for enum";
        c.fix_sql = sql;
      } else if (expected.size() == actual.size()) {
        c.consequence = "label order (and so sorting) differs";
      } else {
        c.severity = Severity::kInfo;
        c.consequence = "the database accepts labels the application does not know";
      }
      return c;
    }
    case ObjectType::kView:
      c.consequence = "its columns or rows may differ from what the application reads";
      c.fix_sql = "CREATE OR REPLACE VIEW " + object_sql(e) + " AS\n" + view_body(e) + ";";
      return c;
    case ObjectType::kMaterializedView:
      c.consequence = "its columns or rows may differ from what the application reads";
      c.fix_sql = "DROP MATERIALIZED VIEW IF EXISTS " + object_sql(e) +
                  ";\nCREATE MATERIALIZED VIEW " + object_sql(e) + " AS\n" + view_body(e) + ";";
      return c;
    case ObjectType::kFunction: {
      c.consequence = "calls behave differently";
      auto create = function_create_sql(e);
      if (create) {
        // CREATE OR REPLACE cannot change the result type or the kind of routine.
        bool needs_drop = attr == "result" || attr == "kind";
        c.fix_sql = needs_drop ? function_drop_sql(a) + "\n" + *create : *create;
      }
      return c;
    }
    case ObjectType::kTrigger: {
      c.consequence = "what happens on the application's writes differs";
      if (attr == "enabled") {
        c.fix_sql = trigger_enable_sql(e, ev.value_or("origin"));
      } else {
        std::string create = trigger_create_sql(e);
        if (!create.empty()) c.fix_sql = create;
      }
      return c;
    }
    case ObjectType::kSequence: {
      std::string alter = "ALTER SEQUENCE " + object_sql(e);
      if (attr == "data_type") {
        if (ev && av && type_narrows(*ev, *av)) {
          c.risk = risk::kTypeMismatch;
          c.consequence = "nextval() reaches the smaller maximum sooner";
        }
        if (ev) c.fix_sql = alter + " AS " + *ev + ";";
      } else if (attr == "owned_by") {
        c.fix_sql = alter + " OWNED BY " + (ev ? column_ref_sql(*ev) : std::string("NONE")) + ";";
      } else if (attr == "cycle") {
        c.fix_sql = alter + (ev && *ev == "true" ? " CYCLE" : " NO CYCLE") + ";";
      } else if (ev) {
        static const std::map<std::string, std::string> kClause = {{"start", " START WITH "},
                                                                   {"increment", " INCREMENT BY "},
                                                                   {"min", " MINVALUE "},
                                                                   {"max", " MAXVALUE "},
                                                                   {"cache", " CACHE "}};
        auto it = kClause.find(attr);
        if (it != kClause.end()) c.fix_sql = alter + it->second + *ev + ";";
      }
      return c;
    }
    case ObjectType::kExtension:
      if (attr == "version" && ev) {
        c.fix_sql = "ALTER EXTENSION " + object_sql(e) + " UPDATE TO " + quote_literal(*ev) + ";";
      } else if (attr == "schema" && ev) {
        c.fix_sql = "ALTER EXTENSION " + object_sql(e) + " SET SCHEMA " + quote_ident(*ev) + ";";
      }
      return c;
    case ObjectType::kPolicy:
      c.consequence = "which rows the application sees or may write differs";
      c.fix_sql = policy_create_sql(e);
      return c;
    case ObjectType::kPrivilege:
      c.severity = Severity::kInfo;
      if (ev && *ev == "true") {
        c.fix_sql = grant_sql(e);
      } else if (auto p = parse_privilege(e.name); p.ok) {
        c.fix_sql = "REVOKE GRANT OPTION FOR " + upper(p.privilege) + " ON " +
                    privilege_target_sql(e, p) + " FROM " + role_sql(p.grantee) + ";";
      }
      return c;
    case ObjectType::kSchema:
      return c;
  }
  return c;
}

bool same_value(ObjectType type, const std::string& attr, const std::string* ev,
                const std::string* av) {
  if (!ev || !av) return ev == av;
  if (*ev == *av) return true;
  return normalize_attr(type, attr, *ev) == normalize_attr(type, attr, *av);
}

void diff_pair(const SchemaObject& e, const SchemaObject& a, const DiffOptions& options,
               std::vector<Finding>& out) {
  // Union of attribute keys: both maps are sorted, so walk them together.
  std::vector<const std::string*> keys;
  auto ei = e.attrs.begin();
  auto ai = a.attrs.begin();
  while (ei != e.attrs.end() || ai != a.attrs.end()) {
    if (ai == a.attrs.end() || (ei != e.attrs.end() && ei->first < ai->first)) {
      keys.push_back(&ei->first);
      ++ei;
    } else if (ei == e.attrs.end() || ai->first < ei->first) {
      keys.push_back(&ai->first);
      ++ai;
    } else {
      if (!same_value(e.type, ei->first, &ei->second, &ai->second)) keys.push_back(&ei->first);
      ++ei;
      ++ai;
    }
  }
  if (keys.empty()) return;
  bool index_definition_changed = e.type == ObjectType::kIndex &&
                                  std::any_of(keys.begin(), keys.end(), [](const std::string* k) {
                                    return *k == "definition";
                                  });
  for (const std::string* key : keys) {
    const std::string& attr = *key;
    if (attr == "comment" && !options.compare_comments) continue;
    // unique/primary are part of an index's definition text: one finding, not three.
    if (index_definition_changed && attr != "definition") continue;
    const std::string* ev = attr_of(e, attr);
    const std::string* av = attr_of(a, attr);
    if (same_value(e.type, attr, ev, av)) continue;
    std::optional<std::string> eo = ev ? std::optional<std::string>(*ev) : std::nullopt;
    std::optional<std::string> ao = av ? std::optional<std::string>(*av) : std::nullopt;
    Classified c = classify_changed(e, a, attr, eo, ao);
    Finding f = make_finding("changed", e, c.severity, c.risk);
    f.attribute = attr;
    f.expected = eo;
    f.actual = ao;
    f.message = changed_message(e, attr, eo, ao, c.consequence);
    f.fix_sql = c.fix_sql;
    out.push_back(std::move(f));
  }
}

bool key_less(const SchemaObject* a, const SchemaObject* b) {
  if (a->type != b->type) return a->type < b->type;
  return a->name < b->name;
}

Objects sorted_objects(const SchemaSnapshot& snapshot, const DiffOptions& options) {
  Objects out;
  out.reserve(snapshot.objects.size());
  for (const SchemaObject& o : snapshot.objects) {
    if (o.type == ObjectType::kPrivilege && !options.compare_privileges) continue;
    out.push_back(&o);
  }
  if (!std::is_sorted(out.begin(), out.end(), key_less)) {
    std::stable_sort(out.begin(), out.end(), key_less);
  }
  // Duplicate keys would make the merge ambiguous; the first occurrence wins.
  out.erase(std::unique(out.begin(), out.end(),
                        [](const SchemaObject* a, const SchemaObject* b) {
                          return a->type == b->type && a->name == b->name;
                        }),
            out.end());
  return out;
}

// Emits missing (or extra) findings, folding children of whole missing (extra) tables.
void emit_one_sided(const Objects& objects, bool missing, const DiffOptions& options,
                    std::vector<Finding>& out) {
  std::unordered_map<std::string, Children> tables;
  for (const SchemaObject* o : objects) {
    if (o->type == ObjectType::kTable) tables.emplace(o->name, Children{});
  }
  Objects rest;
  for (const SchemaObject* o : objects) {
    if (o->type != ObjectType::kTable && !tables.empty()) {
      std::string parent = fold_parent(*o);
      auto it = parent.empty() ? tables.end() : tables.find(parent);
      if (it != tables.end()) {
        add_child(it->second, o);
        continue;
      }
    }
    rest.push_back(o);
  }
  for (const SchemaObject* o : rest) {
    const Children* children = nullptr;
    if (o->type == ObjectType::kTable) children = &tables.at(o->name);
    out.push_back(missing ? missing_finding(*o, children, options) : extra_finding(*o, children));
  }
}

}  // namespace

void sort_findings(std::vector<Finding>& findings) {
  std::sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    if (a.severity != b.severity) return a.severity > b.severity;
    return std::tie(a.object_type, a.object, a.attribute, a.kind) <
           std::tie(b.object_type, b.object, b.attribute, b.kind);
  });
}

std::vector<Finding> diff_schemas(const SchemaSnapshot& expected, const SchemaSnapshot& actual,
                                  const DiffOptions& options) {
  Objects exp = sorted_objects(expected, options);
  Objects act = sorted_objects(actual, options);
  Objects missing, extra;
  std::vector<Finding> findings;
  size_t i = 0, j = 0;
  while (i < exp.size() || j < act.size()) {
    if (j == act.size() || (i < exp.size() && key_less(exp[i], act[j]))) {
      missing.push_back(exp[i++]);
    } else if (i == exp.size() || key_less(act[j], exp[i])) {
      extra.push_back(act[j++]);
    } else {
      diff_pair(*exp[i++], *act[j++], options, findings);
    }
  }
  emit_one_sided(missing, /*missing=*/true, options, findings);
  emit_one_sided(extra, /*missing=*/false, options, findings);
  if (!options.ignore.rules.empty()) {
    findings.erase(std::remove_if(findings.begin(), findings.end(),
                                  [&](const Finding& f) { return options.ignore.matches(f); }),
                   findings.end());
  }
  sort_findings(findings);
  return findings;
}

}  // namespace driftwatch
