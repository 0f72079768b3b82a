// Catalog introspection: one set-based pg_catalog query per object type (information_schema
// is not used: it hides objects the role does not own and is slow), each SQL constant next to
// the function that maps its rows, all listed in kCatalogQueries.
//
// Round trips per check (PgSession sends BEGIN, the session settings and a savepoint's release
// in the message of the next statement, parameters inlined): on one connection BEGIN + version
// table state, the version table read, 10 catalog queries (the first also releases the version
// table's savepoint), ROLLBACK = 13, +1 with privileges, +1 with comments, whatever the schema
// size (tables, views, materialized views and sequences share one pg_class query), plus 1 per
// kDeparseBatch views and materialized views and 1 per kDeparseBatch SQL-standard function
// bodies (see Deferred below): 15 for a schema with both, without privileges and comments.
// A large schema is read over two connections in one snapshot (introspect_schema): the first
// sends 1 more (pg_export_snapshot) and 2 fewer, the second BEGIN + SET TRANSACTION SNAPSHOT,
// indexes, constraints, ROLLBACK. Measured with the server's statement log (bench/README.md).
//
// Minimal grants for the driftwatch role (verified by session_pgtest "minimal grants"):
//   GRANT CONNECT ON DATABASE app TO driftwatch;            -- PUBLIC has it by default
//   GRANT USAGE ON SCHEMA public, middleman TO driftwatch;  -- every watched schema
//   GRANT SELECT ON public.alembic_version TO driftwatch;
// Nothing else: the pg_catalog tables, pg_locks, and pg_get_viewdef / pg_get_functiondef /
// pg_get_indexdef / pg_get_constraintdef / pg_get_triggerdef / pg_get_expr are available to
// every role. USAGE is not needed to read the catalog, but driftwatch requires it on every
// watched schema and fails with reason "permission" otherwise, so a schema is never skipped
// silently.
//
// Attribute vocabulary (attrs are compared by the diff; absent = null; info is context):
//   schema        -                                              [+ comment]
//   table         kind, partition_of, row_security, force_row_security  [+ comment]
//                 model 2: persistence, replica_identity, reloptions, inherits, partition_key
//                 (each only when not PostgreSQL's default)
//   column        type, nullable, default, identity, generated, collation  [+ comment]
//                 model 2: identity_options, generated_kind (virtual)
//   index         definition, unique, primary          (indexes backing constraints excluded;
//                 storage parameters are in the definition: pg_get_indexdef prints WITH (...))
//                 model 2: valid (only when false)
//   constraint    type, definition, on_delete, on_update, deferrable, validated
//   enum          labels
//   domain        type, default, nullable, checks                  (model 2)
//                 model 3: collation (only when not the base type's)
//   type          kind (composite|range), attributes, subtype      (model 2)
//                 model 3: subtype_opclass, collation (range; only when not the subtype's
//                 default operator class / collation)
//   view, materialized_view  definition                           [+ comment]
//   function      kind, result, language, body, volatility, security_definer, strict
//                 model 2: config, sql_body, arguments, parallel, leakproof
//   trigger       definition, enabled      (info inherited: cloned onto a partition)
//   sequence      data_type, start, increment, min, max, cache, cycle, owned_by
//   extension     version, schema
//   policy        command, permissive, roles, using, with_check
//   privilege     grantable                                       (options.privileges)
#include "pg/introspect.hpp"

#include <algorithm>
#include <cstdlib>
#include <future>
#include <map>
#include <optional>
#include <tuple>

#include "driftwatch/check.hpp"
#include "driftwatch/error.hpp"
#include "pg/scope.hpp"
#include "pg/session_impl.hpp"
#include "pg/version_table.hpp"

namespace driftwatch {
namespace {

// Catalogs a comment can hang on (pg_description.classoid), as small tags.
enum CommentCatalog : int {
  kClassCatalog = 1,
  kNamespaceCatalog,
  kProcCatalog,
  kTypeCatalog,
  kConstraintCatalog,
  kTriggerCatalog,
  kPolicyCatalog,
  kExtensionCatalog,
};

struct Builder {
  explicit Builder(const IntrospectOptions& read_options) : options(read_options) {}

  const IntrospectOptions& options;
  std::vector<SchemaObject> objects;
  std::vector<std::string> schemas;
  // (catalog, oid, objsubid) -> index in objects; filled only when options.comments.
  std::map<std::tuple<int, unsigned long, int>, size_t> comment_targets;
  size_t tables = 0;  // in the schemas read (from the schemas query)

  // Deparses that lock relations until their (sub)transaction ends: pg_get_viewdef locks the
  // view and every relation it reads, pg_get_functiondef every relation a SQL-standard body
  // (BEGIN ATOMIC / RETURN) reads. The catalog queries leave them out; resolve_deferred runs
  // them in batches of kDeparseBatch, each in its own savepoint, so that an ALTER TABLE never
  // waits longer than one batch, whatever the schema size. (pg_get_indexdef,
  // pg_get_constraintdef, pg_get_triggerdef, pg_get_expr and pg_get_partkeydef take no relation
  // lock in PostgreSQL 15: verified with pg_locks.)
  enum class Deparse { kView, kFunction };
  struct Deferred {
    Deparse what;
    unsigned long oid;
    size_t object;  // index in objects
  };
  std::vector<Deferred> deferred;

  void defer(Deparse what, unsigned long oid) {
    deferred.push_back({what, oid, objects.size() - 1});
  }

  SchemaObject& add(ObjectType type, std::string name, const std::string& schema,
                    const std::string& local_name) {
    objects.emplace_back();
    SchemaObject& object = objects.back();
    object.type = type;
    object.name = std::move(name);
    if (!schema.empty()) {
      object.info.emplace(SchemaObject::kSchemaName, schema);
    }
    object.info.emplace(SchemaObject::kLocalName, local_name);
    return object;
  }

  void comment_target(CommentCatalog catalog, unsigned long oid, int subid = 0) {
    if (options.comments) {
      comment_targets.emplace(std::make_tuple(catalog, oid, subid), objects.size() - 1);
    }
  }

  // Takes over what another builder read (on the second connection).
  void append(Builder&& other) {
    const size_t offset = objects.size();
    objects.insert(objects.end(), std::make_move_iterator(other.objects.begin()),
                   std::make_move_iterator(other.objects.end()));
    schemas.insert(schemas.end(), other.schemas.begin(), other.schemas.end());
    for (const auto& [key, index] : other.comment_targets) {
      comment_targets.emplace(key, index + offset);
    }
  }
};

// "a.b" with one allocation (runs once per object of a large schema).
std::string qualify(const std::string& a, const std::string& b) {
  std::string out;
  out.reserve(a.size() + 1 + b.size());
  out.append(a).append(1, '.').append(b);
  return out;
}

std::string text(const pqxx::field& field) {
  return field.is_null() ? std::string() : std::string(field.c_str(), field.size());
}
bool is_true(const pqxx::field& field) { return !field.is_null() && field.c_str()[0] == 't'; }
const char* bool_text(bool value) { return value ? "true" : "false"; }
char first_char(const pqxx::field& field) { return field.is_null() ? '\0' : field.c_str()[0]; }
unsigned long oid_of(const pqxx::field& field) { return std::strtoul(field.c_str(), nullptr, 10); }
void set_attr(SchemaObject& object, const char* key, const pqxx::field& field) {
  if (!field.is_null()) {
    object.attrs.emplace(key, text(field));
  }
}

// Excludes members of extensions: pg_depend deptype 'e' on the object (catalog given).
#define DW_NOT_EXTENSION_MEMBER(catalog, oid_expr)                                               \
  " NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend ext WHERE ext.classid = 'pg_catalog." catalog \
  "'::pg_catalog.regclass AND ext.objid = " oid_expr " AND ext.deptype = 'e') "

// A collation's name as COLLATE takes it: bare for pg_catalog's, else schema-qualified.
#define DW_COLLATION_NAME(oid_expr)                                            \
  "(SELECT CASE WHEN cn.nspname = 'pg_catalog' THEN co.collname::text "        \
  "ELSE cn.nspname || '.' || co.collname END FROM pg_catalog.pg_collation co " \
  "JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = " oid_expr ")"

// A function's identity: argument types as format_type renders them, comma-space separated.
#define DW_FUNCTION_ARGS(proc)                                                               \
  "COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format_type(u.t, NULL), ', ' ORDER BY " \
  "u.ord) FROM pg_catalog.unnest(" proc                                                      \
  ".proargtypes::pg_catalog.oid[]) WITH ORDINALITY AS "                                      \
  "u(t, ord)), '')"

// ---------------------------------------------------------------------------------------------
// schemas, with the number of tables in each (it decides on a second connection)
const std::string kSchemasSql = std::string(kScopeCte) + R"sql(
SELECT s.oid, s.nspname, pg_catalog.has_schema_privilege(s.oid, 'USAGE') AS usable,
       COALESCE(t.tables, 0)
FROM scope s
LEFT JOIN (SELECT c.relnamespace, pg_catalog.count(*) AS tables
           FROM pg_catalog.pg_class c
           WHERE c.relkind IN ('r', 'p')
           GROUP BY c.relnamespace) t ON t.relnamespace = s.oid
ORDER BY s.nspname
)sql";

void map_schemas(const pqxx::result& rows, Builder& b) {
  for (const auto& row : rows) {
    const std::string name = text(row[1]);
    if (!is_true(row[2])) {
      throw Error(error_reason::kPermission,
                  "permission denied for schema " + name +
                      " (the role needs USAGE on every watched schema)",
                  "", "42501");
    }
    b.schemas.push_back(name);
    b.add(ObjectType::kSchema, name, name, name);
    b.comment_target(kNamespaceCatalog, oid_of(row[0]));
    b.tables += std::strtoul(row[3].c_str(), nullptr, 10);
  }
}

// ---------------------------------------------------------------------------------------------
// relations: tables (incl. partitions), views, materialized views, sequences
const std::string kRelationsSql = std::string(kScopeCte) + R"sql(
SELECT c.oid, s.nspname, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
       CASE WHEN c.relispartition THEN
         (SELECT pn.nspname || '.' || p.relname
          FROM pg_catalog.pg_inherits i
          JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
          JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
          WHERE i.inhrelid = c.oid LIMIT 1)
         || ' ' || pg_catalog.pg_get_expr(c.relpartbound, c.oid)
       END AS partition_of,
       NULL::text AS viewdef,  -- deferred (Builder::Deferred): it locks relations
       pg_catalog.format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement, q.seqmin, q.seqmax,
       q.seqcache, q.seqcycle, o.owned_by,
       c.relpersistence, c.relreplident,
       CASE WHEN c.relreplident = 'i' THEN
         (SELECT ri.relname FROM pg_catalog.pg_index x
          JOIN pg_catalog.pg_class ri ON ri.oid = x.indexrelid
          WHERE x.indrelid = c.oid AND x.indisreplident LIMIT 1)
       END AS replica_index,
       pg_catalog.array_to_json(c.reloptions)::text AS reloptions,
       CASE WHEN c.relkind IN ('r', 'p') AND NOT c.relispartition THEN
         (SELECT pg_catalog.array_to_json(pg_catalog.array_agg(
                   pn.nspname || '.' || p.relname ORDER BY i.inhseqno))::text
          FROM pg_catalog.pg_inherits i
          JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
          JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
          WHERE i.inhrelid = c.oid)
       END AS inherits,
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_key,
       CASE WHEN c.relispartition THEN
         (SELECT pn.nspname FROM pg_catalog.pg_inherits i
          JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
          JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
          WHERE i.inhrelid = c.oid LIMIT 1)
       END AS partition_parent_schema,
       CASE WHEN c.relispartition THEN
         (SELECT p.relname FROM pg_catalog.pg_inherits i
          JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
          WHERE i.inhrelid = c.oid LIMIT 1)
       END AS partition_parent_name,
       CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END
FROM pg_catalog.pg_class c
JOIN scope s ON s.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_sequence q ON q.seqrelid = c.oid
LEFT JOIN LATERAL (
  SELECT d.deptype, tn.nspname || '.' || t.relname || '.' || a.attname AS owned_by
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
  JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
  WHERE c.relkind = 'S' AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
    AND d.objid = c.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
    AND d.deptype IN ('a', 'i')
  LIMIT 1) o ON true
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND (o.deptype IS NULL OR o.deptype <> 'i')
  AND )sql" DW_NOT_EXTENSION_MEMBER("pg_class", "c.oid");

void map_relations(const pqxx::result& rows, Builder& b) {
  for (const auto& row : rows) {
    const std::string schema = text(row[1]);
    const std::string local = text(row[2]);
    const char kind = first_char(row[3]);
    if (kind == 'r' || kind == 'p') {
      SchemaObject& table = b.add(ObjectType::kTable, qualify(schema, local), schema, local);
      table.attrs.emplace("kind", kind == 'p' ? "partitioned_table" : "table");
      set_attr(table, "partition_of", row[6]);
      table.attrs.emplace("row_security", is_true(row[4]) ? "on" : "off");
      table.attrs.emplace("force_row_security", is_true(row[5]) ? "on" : "off");
      // Model 2: only what differs from PostgreSQL's defaults (absent = default).
      if (first_char(row[16]) == 'u') {
        table.attrs.emplace("persistence", "unlogged");
      }
      const char identity = first_char(row[17]);
      if (identity == 'f') {
        table.attrs.emplace("replica_identity", "full");
      } else if (identity == 'n') {
        table.attrs.emplace("replica_identity", "nothing");
      } else if (identity == 'i') {
        table.attrs.emplace("replica_identity", "index " + text(row[18]));
      }
      set_attr(table, "reloptions", row[19]);
      set_attr(table, "inherits", row[20]);
      set_attr(table, "partition_key", row[21]);
      if (!row[22].is_null()) {
        table.info.emplace("partition_parent_schema", text(row[22]));
        table.info.emplace("partition_parent_name", text(row[23]));
        table.info.emplace("partition_bound", text(row[24]));
      }
    } else if (kind == 'v' || kind == 'm') {
      b.add(kind == 'v' ? ObjectType::kView : ObjectType::kMaterializedView, qualify(schema, local),
            schema, local);
      b.defer(Builder::Deparse::kView, oid_of(row[0]));
    } else {  // 'S'
      SchemaObject& sequence = b.add(ObjectType::kSequence, qualify(schema, local), schema, local);
      set_attr(sequence, "data_type", row[8]);
      set_attr(sequence, "start", row[9]);
      set_attr(sequence, "increment", row[10]);
      set_attr(sequence, "min", row[11]);
      set_attr(sequence, "max", row[12]);
      set_attr(sequence, "cache", row[13]);
      sequence.attrs.emplace("cycle", bool_text(is_true(row[14])));
      set_attr(sequence, "owned_by", row[15]);
    }
    b.comment_target(kClassCatalog, oid_of(row[0]));
  }
}

// ---------------------------------------------------------------------------------------------
// columns of tables and partitions. A column default cannot reference columns, so it is
// deparsed with relid 0: pg_get_expr with a relid opens the table (a relcache build per table in
// a fresh session, and an AccessShareLock), which cost ~40% of this query at 1,000 tables
// (bench/README.md). Generated columns do reference columns and keep their relid. Defaults and
// collations are looked up only for the columns that have them (atthasdef, a collation other
// than the type's): joined, they were a probe per column, ~40% of this query again.
const std::string kColumnsSql = std::string(kScopeCte) + R"sql(
SELECT c.oid, a.attnum, s.nspname, c.relname, a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
       CASE WHEN a.atthasdef AND a.attgenerated = '' THEN
         (SELECT pg_catalog.pg_get_expr(ad.adbin, 0) FROM pg_catalog.pg_attrdef ad
          WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum)
       END,
       a.attidentity,
       CASE WHEN a.atthasdef AND a.attgenerated <> '' THEN
         (SELECT pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) FROM pg_catalog.pg_attrdef ad
          WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum)
       END,
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN
         )sql" DW_COLLATION_NAME("a.attcollation") R"sql(
       END,
       a.attgenerated,
       CASE WHEN a.attidentity <> '' THEN
         (SELECT 'START WITH ' || q.seqstart || ' INCREMENT BY ' || q.seqincrement ||
                 ' MINVALUE ' || q.seqmin || ' MAXVALUE ' || q.seqmax || ' CACHE ' || q.seqcache ||
                 CASE WHEN q.seqcycle THEN ' CYCLE' ELSE ' NO CYCLE' END
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_sequence q ON q.seqrelid = d.objid
          WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
            AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
            AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum AND d.deptype = 'i'
          LIMIT 1)
       END
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN scope s ON s.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND )sql" DW_NOT_EXTENSION_MEMBER("pg_class", "c.oid");

void map_columns(const pqxx::result& rows, Builder& b) {
  for (const auto& row : rows) {
    const std::string schema = text(row[2]);
    const std::string table = qualify(schema, text(row[3]));
    const std::string local = text(row[4]);
    SchemaObject& column = b.add(ObjectType::kColumn, qualify(table, local), schema, local);
    column.info.emplace(SchemaObject::kParent, table);
    column.info.emplace("position", text(row[1]));
    set_attr(column, "type", row[5]);
    column.attrs.emplace("nullable", bool_text(!is_true(row[6])));
    set_attr(column, "default", row[7]);
    const char identity = first_char(row[8]);
    if (identity == 'a') {
      column.attrs.emplace("identity", "always");
    }
    if (identity == 'd') {
      column.attrs.emplace("identity", "by default");
    }
    set_attr(column, "generated", row[9]);
    set_attr(column, "collation", row[10]);
    // PostgreSQL 18 virtual generated columns: computed on read, so never NULL-violating.
    if (first_char(row[11]) == 'v') {
      column.attrs.emplace("generated_kind", "virtual");
    }
    set_attr(column, "identity_options", row[12]);
    b.comment_target(kClassCatalog, oid_of(row[0]), std::atoi(row[1].c_str()));
  }
}

// ---------------------------------------------------------------------------------------------
// indexes that do not back a constraint (those are reported as the constraint)
const std::string kIndexesSql = std::string(kScopeCte) + R"sql(
SELECT i.indexrelid, s.nspname, ic.relname, tc.relname, pg_catalog.pg_get_indexdef(i.indexrelid),
       i.indisunique, i.indisprimary, i.indisvalid, ic.relispartition
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid
JOIN scope s ON s.oid = ic.relnamespace
WHERE tc.relkind IN ('r', 'p', 'm')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                  WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                    AND k.contype IN ('p', 'u', 'x'))
  AND )sql" DW_NOT_EXTENSION_MEMBER("pg_class", "tc.oid");

void map_indexes(const pqxx::result& rows, Builder& b) {
  for (const auto& row : rows) {
    const std::string schema = text(row[1]);
    const std::string local = text(row[2]);
    SchemaObject& index = b.add(ObjectType::kIndex, qualify(schema, local), schema, local);
    index.info.emplace(SchemaObject::kParent, qualify(schema, text(row[3])));
    set_attr(index, "definition", row[4]);
    index.attrs.emplace("unique", bool_text(is_true(row[5])));
    index.attrs.emplace("primary", bool_text(is_true(row[6])));
    // Left by a failed CREATE INDEX CONCURRENTLY: same name and definition, but not used.
    if (!is_true(row[7])) {
      index.attrs.emplace("valid", "false");
    }
    if (is_true(row[8])) {  // attached to a partitioned index: comes with PARTITION OF
      index.info.emplace("inherited", "true");
    }
    b.comment_target(kClassCatalog, oid_of(row[0]));
  }
}

// ---------------------------------------------------------------------------------------------
// table constraints (NOT NULL is a column attribute; domain constraints are skipped)
const std::string kConstraintsSql = std::string(kScopeCte) + R"sql(
SELECT k.oid, s.nspname, c.relname, k.conname, k.contype, pg_catalog.pg_get_constraintdef(k.oid),
       k.confdeltype, k.confupdtype, k.condeferrable, k.condeferred, k.convalidated, k.conislocal
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
JOIN scope s ON s.oid = c.relnamespace
WHERE k.contype IN ('p', 'u', 'c', 'f', 'x')
  AND )sql" DW_NOT_EXTENSION_MEMBER("pg_class", "c.oid");

const char* constraint_type(char contype) {
  switch (contype) {
    case 'p':
      return "primary_key";
    case 'u':
      return "unique";
    case 'c':
      return "check";
    case 'f':
      return "foreign_key";
    default:
      return "exclude";
  }
}

const char* fk_action(char action) {
  switch (action) {
    case 'r':
      return "restrict";
    case 'c':
      return "cascade";
    case 'n':
      return "set null";
    case 'd':
      return "set default";
    default:
      return "no action";
  }
}

// PostgreSQL 15+: `ON DELETE SET NULL (a, b)` / `SET DEFAULT (a)` limit the action to those
// columns. Returns " (a, b)" as printed, or "".
std::string set_columns(const std::string& definition, const std::string& clause) {
  const auto at = definition.find(clause);
  if (at == std::string::npos) {
    return "";
  }
  const auto open = definition.find(' ', at + clause.size());  // after NULL / DEFAULT
  if (open == std::string::npos || definition.compare(open, 2, " (") != 0) {
    return "";
  }
  const auto close = definition.find(')', open);
  return close == std::string::npos ? "" : definition.substr(open, close - open + 1);
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string strip_constraint_definition(std::string definition, bool foreign_key) {
  // Deferrability and validation are attrs of their own; a difference there must show up once.
  for (bool changed = true; changed;) {
    changed = false;
    for (const char* suffix : {" NOT VALID", " INITIALLY DEFERRED", " INITIALLY IMMEDIATE",
                               " NOT DEFERRABLE", " DEFERRABLE"}) {
      if (ends_with(definition, suffix)) {
        definition.resize(definition.size() - std::string(suffix).size());
        changed = true;
      }
    }
  }
  if (foreign_key) {
    const auto references = definition.find(" REFERENCES ");
    if (references != std::string::npos) {
      const auto cut = std::min(definition.find(" ON UPDATE ", references),
                                definition.find(" ON DELETE ", references));
      if (cut != std::string::npos) {
        definition.resize(cut);
      }
    }
  }
  return definition;
}

namespace {

void map_constraints(const pqxx::result& rows, Builder& b) {
  for (const auto& row : rows) {
    const std::string schema = text(row[1]);
    const std::string table = qualify(schema, text(row[2]));
    const std::string local = text(row[3]);
    const char contype = first_char(row[4]);
    SchemaObject& constraint = b.add(ObjectType::kConstraint, qualify(table, local), schema, local);
    constraint.info.emplace(SchemaObject::kParent, table);
    constraint.attrs.emplace("type", constraint_type(contype));
    const std::string definition = text(row[5]);
    constraint.attrs.emplace("definition", strip_constraint_definition(definition, contype == 'f'));
    if (contype == 'f') {
      constraint.attrs.emplace(
          "on_delete", fk_action(first_char(row[6])) + set_columns(definition, " ON DELETE SET "));
      constraint.attrs.emplace("on_update", fk_action(first_char(row[7])));
    }
    if (!is_true(row[11])) {  // inherited from a parent (partition): comes with PARTITION OF
      constraint.info.emplace("inherited", "true");
    }
    constraint.attrs.emplace("deferrable", !is_true(row[8])  ? "not deferrable"
                                           : is_true(row[9]) ? "deferrable initially deferred"
                                                             : "deferrable initially immediate");
    constraint.attrs.emplace("validated", bool_text(is_true(row[10])));
    b.comment_target(kConstraintCatalog, oid_of(row[0]));
  }
}

// ---------------------------------------------------------------------------------------------
// user-defined types: enums, domains, composite types (not a table's row type) and range types,
// in one query (one statement per check, whatever the kinds)
const std::string kTypesSql = std::string(kScopeCte) + R"sql(
SELECT t.oid, s.nspname, t.typname, t.typtype,
       CASE WHEN t.typtype = 'e' THEN
         (SELECT pg_catalog.array_to_json(pg_catalog.array_agg(e.enumlabel
                                                               ORDER BY e.enumsortorder))::text
          FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid)
       END AS labels,
       CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
       CASE WHEN t.typtype = 'd' THEN pg_catalog.pg_get_expr(t.typdefaultbin, 0) END,
       t.typnotnull,
       CASE WHEN t.typtype = 'd' THEN
         (SELECT pg_catalog.array_to_json(pg_catalog.array_agg(
                   k.conname || ': ' || pg_catalog.pg_get_constraintdef(k.oid)
                   ORDER BY k.conname))::text
          FROM pg_catalog.pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c')
       END AS checks,
       CASE WHEN t.typtype = 'c' THEN
         (SELECT pg_catalog.array_to_json(pg_catalog.array_agg(
                   pg_catalog.quote_ident(a.attname) || ' ' ||
                   pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum))::text
          FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)
       END AS attributes,
       CASE WHEN t.typtype = 'r' THEN
         (SELECT pg_catalog.format_type(r.rngsubtype, NULL) FROM pg_catalog.pg_range r
          WHERE r.rngtypid = t.oid)
       END AS subtype,
       CASE WHEN t.typtype = 'd' AND t.typcollation <> 0 AND t.typcollation <>
                 (SELECT bt.typcollation FROM pg_catalog.pg_type bt WHERE bt.oid = t.typbasetype)
       THEN )sql" DW_COLLATION_NAME("t.typcollation") R"sql( END AS domain_collation,
       CASE WHEN t.typtype = 'r' THEN
         (SELECT CASE WHEN on_.nspname = 'pg_catalog' THEN pg_catalog.quote_ident(opc.opcname)
                      ELSE pg_catalog.quote_ident(on_.nspname) || '.' ||
                           pg_catalog.quote_ident(opc.opcname) END
          FROM pg_catalog.pg_range r
          JOIN pg_catalog.pg_opclass opc ON opc.oid = r.rngsubopc
          JOIN pg_catalog.pg_namespace on_ ON on_.oid = opc.opcnamespace
          WHERE r.rngtypid = t.oid AND NOT opc.opcdefault)
       END AS subtype_opclass,
       CASE WHEN t.typtype = 'r' THEN
         (SELECT )sql" DW_COLLATION_NAME("r.rngcollation") R"sql(
          FROM pg_catalog.pg_range r
          JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype
          WHERE r.rngtypid = t.oid AND r.rngcollation <> 0 AND r.rngcollation <> st.typcollation)
       END AS range_collation
FROM pg_catalog.pg_type t
JOIN scope s ON s.oid = t.typnamespace
WHERE (t.typtype IN ('e', 'd', 'r')
       OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_catalog.pg_class c
                                WHERE c.oid = t.typrelid) = 'c'))
  AND )sql" DW_NOT_EXTENSION_MEMBER("pg_type", "t.oid");

void map_types(const pqxx::result& rows, Builder& b) {
  for (const auto& row : rows) {
    const std::string schema = text(row[1]);
    const std::string local = text(row[2]);
    const char typtype = first_char(row[3]);
    if (typtype == 'e') {
      SchemaObject& type = b.add(ObjectType::kEnum, qualify(schema, local), schema, local);
      set_attr(type, "labels", row[4]);
    } else if (typtype == 'd') {
      SchemaObject& domain = b.add(ObjectType::kDomain, qualify(schema, local), schema, local);
      set_attr(domain, "type", row[5]);
      set_attr(domain, "default", row[6]);
      domain.attrs.emplace("nullable", bool_text(!is_true(row[7])));
      set_attr(domain, "checks", row[8]);
      set_attr(domain, "collation", row[11]);  // model 3, only when not the base type's
    } else {
      SchemaObject& type = b.add(ObjectType::kType, qualify(schema, local), schema, local);
      type.attrs.emplace("kind", typtype == 'r' ? "range" : "composite");
      set_attr(type, "attributes", row[9]);
      set_attr(type, "subtype", row[10]);
      set_attr(type, "subtype_opclass", row[12]);  // model 3, only when not the default
      set_attr(type, "collation", row[13]);        // model 3, only when not the subtype's
    }
    b.comment_target(kTypeCatalog, oid_of(row[0]));
  }
}

// ---------------------------------------------------------------------------------------------
// functions, procedures, aggregates, window functions
const std::string kFunctionsSql = std::string(kScopeCte) + R"sql(
SELECT p.oid, s.nspname, p.proname, )sql" DW_FUNCTION_ARGS("p") R"sql(,
       p.prokind, pg_catalog.pg_get_function_result(p.oid), l.lanname, p.prosrc, p.provolatile,
       p.prosecdef, p.proisstrict,
       CASE WHEN p.prokind <> 'a' AND p.prosqlbody IS NULL THEN pg_catalog.pg_get_functiondef(p.oid) END,
       pg_catalog.array_to_json(p.proconfig)::text, pg_catalog.pg_get_function_arguments(p.oid),
       p.proparallel, p.proleakproof,
       p.prokind <> 'a' AND p.prosqlbody IS NOT NULL AS deferred_definition
FROM pg_catalog.pg_proc p
JOIN scope s ON s.oid = p.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE )sql" DW_NOT_EXTENSION_MEMBER("pg_proc", "p.oid") R"sql(
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend own
                  WHERE own.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                    AND own.objid = p.oid AND own.deptype = 'i')
)sql";

const char* function_kind(char prokind) {
  switch (prokind) {
    case 'p':
      return "procedure";
    case 'a':
      return "aggregate";
    case 'w':
      return "window";
    default:
      return "function";
  }
}

// pg_get_functiondef's text; model 2: a SQL-standard body (BEGIN ATOMIC / RETURN, the functions
// whose definition is deferred) leaves prosrc empty: its text is what pg_get_functiondef prints
// after the header lines (which all start with a space).
void set_function_definition(SchemaObject& function, const std::string& definition) {
  function.info.emplace(SchemaObject::kCreateSql, definition);
  const auto language = function.attrs.find("language");
  const auto body = function.attrs.find("body");
  if (language == function.attrs.end() || language->second != "sql" ||
      (body != function.attrs.end() &&
       body->second.find_first_not_of(" \n\t") != std::string::npos)) {
    return;
  }
  std::string::size_type line = definition.find('\n');
  while (line != std::string::npos && line + 1 < definition.size() && definition[line + 1] == ' ') {
    line = definition.find('\n', line + 1);
  }
  if (line != std::string::npos) {
    function.attrs.emplace("sql_body", definition.substr(line + 1));
  }
}

void map_functions(const pqxx::result& rows, Builder& b) {
  for (const auto& row : rows) {
    const std::string schema = text(row[1]);
    const std::string local = text(row[2]);
    SchemaObject& function = b.add(
        ObjectType::kFunction, qualify(schema, local) + "(" + text(row[3]) + ")", schema, local);
    function.attrs.emplace("kind", function_kind(first_char(row[4])));
    set_attr(function, "result", row[5]);
    set_attr(function, "language", row[6]);
    set_attr(function, "body", row[7]);
    const char volatility = first_char(row[8]);
    function.attrs.emplace("volatility", volatility == 'i'   ? "immutable"
                                         : volatility == 's' ? "stable"
                                                             : "volatile");
    function.attrs.emplace("security_definer", bool_text(is_true(row[9])));
    function.attrs.emplace("strict", bool_text(is_true(row[10])));
    if (is_true(row[16])) {
      b.defer(Builder::Deparse::kFunction, oid_of(row[0]));
    } else if (!row[11].is_null()) {
      set_function_definition(function, text(row[11]));
    }
    set_attr(function, "config", row[12]);
    set_attr(function, "arguments", row[13]);
    const char parallel = first_char(row[14]);
    if (parallel == 's') {
      function.attrs.emplace("parallel", "safe");
    } else if (parallel == 'r') {
      function.attrs.emplace("parallel", "restricted");
    }
    if (is_true(row[15])) {
      function.attrs.emplace("leakproof", "true");
    }
    b.comment_target(kProcCatalog, oid_of(row[0]));
  }
}

// ---------------------------------------------------------------------------------------------
// triggers (internal ones, e.g. for foreign keys, are part of their constraint)
const std::string kTriggersSql = std::string(kScopeCte) + R"sql(
SELECT tg.oid, s.nspname, c.relname, tg.tgname, pg_catalog.pg_get_triggerdef(tg.oid, false),
       tg.tgenabled, tg.tgparentid <> 0 AS cloned
FROM pg_catalog.pg_trigger tg
JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid
JOIN scope s ON s.oid = c.relnamespace
WHERE NOT tg.tgisinternal
  AND )sql" DW_NOT_EXTENSION_MEMBER("pg_class", "c.oid");

void map_triggers(const pqxx::result& rows, Builder& b) {
  for (const auto& row : rows) {
    const std::string schema = text(row[1]);
    const std::string table = qualify(schema, text(row[2]));
    const std::string local = text(row[3]);
    SchemaObject& trigger = b.add(ObjectType::kTrigger, qualify(table, local), schema, local);
    trigger.info.emplace(SchemaObject::kParent, table);
    set_attr(trigger, "definition", row[4]);
    const char enabled = first_char(row[5]);
    trigger.attrs.emplace("enabled", enabled == 'D'   ? "disabled"
                                     : enabled == 'R' ? "replica"
                                     : enabled == 'A' ? "always"
                                                      : "origin");
    if (is_true(row[6])) {  // cloned from a partitioned table's: comes with PARTITION OF
      trigger.info.emplace("inherited", "true");
    }
    b.comment_target(kTriggerCatalog, oid_of(row[0]));
  }
}

// ---------------------------------------------------------------------------------------------
// extensions (database-wide; compared as a whole, their members are excluded everywhere)
const std::string kExtensionsSql = R"sql(
SELECT e.oid, e.extname, e.extversion, n.nspname
FROM pg_catalog.pg_extension e
JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
)sql";

void map_extensions(const pqxx::result& rows, Builder& b) {
  for (const auto& row : rows) {
    const std::string name = text(row[1]);
    SchemaObject& extension = b.add(ObjectType::kExtension, name, "", name);
    set_attr(extension, "version", row[2]);
    set_attr(extension, "schema", row[3]);
    b.comment_target(kExtensionCatalog, oid_of(row[0]));
  }
}

// ---------------------------------------------------------------------------------------------
// row-level security policies
const std::string kPoliciesSql = std::string(kScopeCte) + R"sql(
SELECT pol.oid, s.nspname, c.relname, pol.polname, pol.polcmd, pol.polpermissive,
       (SELECT pg_catalog.array_to_json(pg_catalog.array_agg(r.name ORDER BY r.name COLLATE "C"))::text
        FROM (SELECT CASE WHEN u.role = 0 THEN 'public'
                          ELSE pg_catalog.pg_get_userbyid(u.role)::text END AS name
              FROM pg_catalog.unnest(pol.polroles) AS u(role)) r),
       pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
       pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid)
FROM pg_catalog.pg_policy pol
JOIN pg_catalog.pg_class c ON c.oid = pol.polrelid
JOIN scope s ON s.oid = c.relnamespace
WHERE )sql" DW_NOT_EXTENSION_MEMBER("pg_class", "c.oid");

void map_policies(const pqxx::result& rows, Builder& b) {
  for (const auto& row : rows) {
    const std::string schema = text(row[1]);
    const std::string table = qualify(schema, text(row[2]));
    const std::string local = text(row[3]);
    SchemaObject& policy = b.add(ObjectType::kPolicy, qualify(table, local), schema, local);
    policy.info.emplace(SchemaObject::kParent, table);
    const char command = first_char(row[4]);
    policy.attrs.emplace("command", command == 'r'   ? "select"
                                    : command == 'a' ? "insert"
                                    : command == 'w' ? "update"
                                    : command == 'd' ? "delete"
                                                     : "all");
    policy.attrs.emplace("permissive", is_true(row[5]) ? "permissive" : "restrictive");
    set_attr(policy, "roles", row[6]);
    set_attr(policy, "using", row[7]);
    set_attr(policy, "with_check", row[8]);
    b.comment_target(kPolicyCatalog, oid_of(row[0]));
  }
}

// ---------------------------------------------------------------------------------------------
// privileges (options.privileges): ACL entries of relations, functions and schemas in scope.
// A NULL ACL means the built-in default, so acldefault() makes "never granted" and "granted
// back to the default" look the same. Grants of the owner to itself are left out.
const std::string kPrivilegesSql = std::string(kScopeCte) + R"sql(
, objects AS (
  SELECT s.nspname AS schema, s.nspname || '.' || c.relname AS object,
         COALESCE(c.relacl, pg_catalog.acldefault(
             CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner)) AS acl,
         c.relowner AS owner
  FROM pg_catalog.pg_class c
  JOIN scope s ON s.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend idd
                    WHERE idd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND idd.objid = c.oid AND idd.deptype = 'i')
    AND )sql" DW_NOT_EXTENSION_MEMBER("pg_class", "c.oid") R"sql(
  UNION ALL
  SELECT s.nspname, s.nspname || '.' || p.proname || '(' || )sql" DW_FUNCTION_ARGS(
                                                                "p") R"sql( || ')',
         COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner)), p.proowner
  FROM pg_catalog.pg_proc p
  JOIN scope s ON s.oid = p.pronamespace
  WHERE )sql" DW_NOT_EXTENSION_MEMBER("pg_proc", "p.oid") R"sql(
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend own
                    WHERE own.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                      AND own.objid = p.oid AND own.deptype = 'i')
  UNION ALL
  SELECT s.nspname, s.nspname, COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner)),
         n.nspowner
  FROM scope s
  JOIN pg_catalog.pg_namespace n ON n.oid = s.oid
)
SELECT o.schema, o.object,
       CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.grantee)::text END,
       x.privilege_type, x.is_grantable
FROM objects o
CROSS JOIN LATERAL pg_catalog.aclexplode(o.acl) x
WHERE NOT (x.grantee = o.owner AND x.grantor = o.owner)
)sql";

void map_privileges(const pqxx::result& rows, Builder& b) {
  // The same privilege granted by two grantors is one fact for the application.
  std::map<std::string, size_t> seen;
  for (const auto& row : rows) {
    const std::string object = text(row[1]);
    const std::string name = object + ":" + text(row[2]) + ":" + text(row[3]);
    const bool grantable = is_true(row[4]);
    auto found = seen.find(name);
    if (found != seen.end()) {
      if (grantable) {
        b.objects[found->second].attrs["grantable"] = "true";
      }
      continue;
    }
    SchemaObject& privilege = b.add(ObjectType::kPrivilege, name, text(row[0]), name);
    privilege.info.emplace(SchemaObject::kParent, object);
    privilege.attrs.emplace("grantable", bool_text(grantable));
    seen.emplace(name, b.objects.size() - 1);
  }
}

// ---------------------------------------------------------------------------------------------
// comments (options.comments): one read of pg_description, joined in memory by (catalog, oid,
// subid) with the objects read above. Built-in objects (oid < 16384) are skipped except
// schemas (public has a low oid).
const std::string kCommentsSql = R"sql(
SELECT CASE d.classoid
         WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN 1
         WHEN 'pg_catalog.pg_namespace'::pg_catalog.regclass THEN 2
         WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN 3
         WHEN 'pg_catalog.pg_type'::pg_catalog.regclass THEN 4
         WHEN 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN 5
         WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN 6
         WHEN 'pg_catalog.pg_policy'::pg_catalog.regclass THEN 7
         WHEN 'pg_catalog.pg_extension'::pg_catalog.regclass THEN 8
       END AS catalog,
       d.objoid, d.objsubid, d.description
FROM pg_catalog.pg_description d
WHERE d.classoid IN ('pg_catalog.pg_class'::pg_catalog.regclass,
                     'pg_catalog.pg_namespace'::pg_catalog.regclass,
                     'pg_catalog.pg_proc'::pg_catalog.regclass,
                     'pg_catalog.pg_type'::pg_catalog.regclass,
                     'pg_catalog.pg_constraint'::pg_catalog.regclass,
                     'pg_catalog.pg_trigger'::pg_catalog.regclass,
                     'pg_catalog.pg_policy'::pg_catalog.regclass,
                     'pg_catalog.pg_extension'::pg_catalog.regclass)
  AND (d.objoid >= 16384 OR d.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass)
)sql";

void map_comments(const pqxx::result& rows, Builder& b) {
  for (const auto& row : rows) {
    const auto key =
        std::make_tuple(std::atoi(row[0].c_str()), oid_of(row[1]), std::atoi(row[2].c_str()));
    auto found = b.comment_targets.find(key);
    if (found != b.comment_targets.end()) {
      b.objects[found->second].attrs["comment"] = text(row[3]);
    }
  }
}

#undef DW_NOT_EXTENSION_MEMBER
#undef DW_FUNCTION_ARGS

// ---------------------------------------------------------------------------------------------
// Every catalog query of a check, in the order they run (comments last: they join in memory
// with everything before).
enum class Needs { kAlways, kPrivileges, kComments };

// With a second connection, the `second` queries run there. They come right after the schemas
// (which count the tables and so decide on it), so that the first connection goes on with
// relations and columns while the second reads indexes and constraints: the two halves take
// about as long on the server (pg_get_indexdef and pg_get_constraintdef open every table and
// look up every column, opclass and referenced table in a fresh backend).
struct CatalogQuery {
  const char* name;
  const std::string& sql;
  void (*map)(const pqxx::result&, Builder&);
  bool scoped;  // takes $1 = the listed schemas
  Needs needs;
  bool second;  // runs on the second connection when there is one
};

const CatalogQuery kCatalogQueries[] = {
    {"schemas", kSchemasSql, map_schemas, true, Needs::kAlways, false},
    {"indexes", kIndexesSql, map_indexes, true, Needs::kAlways, true},
    {"constraints", kConstraintsSql, map_constraints, true, Needs::kAlways, true},
    {"relations", kRelationsSql, map_relations, true, Needs::kAlways, false},
    {"columns", kColumnsSql, map_columns, true, Needs::kAlways, false},
    {"types", kTypesSql, map_types, true, Needs::kAlways, false},
    {"functions", kFunctionsSql, map_functions, true, Needs::kAlways, false},
    {"triggers", kTriggersSql, map_triggers, true, Needs::kAlways, false},
    {"extensions", kExtensionsSql, map_extensions, false, Needs::kAlways, false},
    {"policies", kPoliciesSql, map_policies, true, Needs::kAlways, false},
    {"privileges", kPrivilegesSql, map_privileges, true, Needs::kPrivileges, false},
    {"comments", kCommentsSql, map_comments, false, Needs::kComments, false},
};

bool wanted(const CatalogQuery& query, const IntrospectOptions& options) {
  switch (query.needs) {
    case Needs::kPrivileges:
      return options.privileges;
    case Needs::kComments:
      return options.comments;
    default:
      return true;
  }
}

void run_query(PgSession& session, const CatalogQuery& query,
               const std::vector<std::string>& scope_params, Builder& builder) {
  // No savepoint: a catalog query locks only catalog relations (AccessShareLock, which no DDL
  // of the application conflicts with); the deparses that lock the application's relations are
  // deferred to resolve_deferred, which releases them per batch.
  const pqxx::result rows = session.impl().exec(
      query.name, query.sql, query.scoped ? scope_params : std::vector<std::string>{});
  try {
    query.map(rows, builder);
  } catch (const Error& error) {
    // Mapping errors carry no target; add it so the check result names it.
    throw Error(error.reason(), error.what(), session.target(), error.sqlstate());
  }
}

// Deparses per savepoint (Builder::Deferred): an ALTER TABLE waits at most for one batch
// (about 10 ms for 200 views on a small server), and a schema with up to kDeparseBatch views
// costs one query more.
constexpr size_t kDeparseBatch = 200;

const std::string kViewDefinitionsSql = R"sql(
SELECT d.n, pg_catalog.pg_get_viewdef(d.oid, true)
FROM pg_catalog.unnest('{OIDS}'::pg_catalog.oid[]) WITH ORDINALITY AS d(oid, n)
ORDER BY d.n
)sql";

const std::string kFunctionDefinitionsSql = R"sql(
SELECT d.n, pg_catalog.pg_get_functiondef(d.oid)
FROM pg_catalog.unnest('{OIDS}'::pg_catalog.oid[]) WITH ORDINALITY AS d(oid, n)
ORDER BY d.n
)sql";

void resolve_deferred(PgSession& session, Builder& builder) {
  for (const auto what : {Builder::Deparse::kView, Builder::Deparse::kFunction}) {
    std::vector<const Builder::Deferred*> pending;
    for (const auto& deferred : builder.deferred) {
      if (deferred.what == what) {
        pending.push_back(&deferred);
      }
    }
    const bool views = what == Builder::Deparse::kView;
    for (size_t start = 0; start < pending.size(); start += kDeparseBatch) {
      const size_t end = std::min(pending.size(), start + kDeparseBatch);
      std::string oids = "{";
      for (size_t i = start; i < end; ++i) {
        oids += (i > start ? "," : "") + std::to_string(pending[i]->oid);
      }
      oids += "}";
      // The oids are digits and commas (built here): inlined, as exec_released takes no
      // parameters.
      std::string sql = views ? kViewDefinitionsSql : kFunctionDefinitionsSql;
      sql.replace(sql.find("{OIDS}"), 6, oids);
      const pqxx::result rows =
          session.impl().exec_released(views ? "view definitions" : "function definitions", sql);
      for (const auto& row : rows) {
        const size_t n = std::strtoul(row[0].c_str(), nullptr, 10);
        if (n < 1 || start + n > end || row[1].is_null()) {
          continue;
        }
        SchemaObject& object = builder.objects[pending[start + n - 1]->object];
        if (views) {
          object.attrs.emplace("definition", text(row[1]));
        } else {
          set_function_definition(object, text(row[1]));
        }
      }
    }
  }
  builder.deferred.clear();
}

// The `second` queries on a connection of their own that reads the catalog in the snapshot
// `snapshot_id` exported by the first. Nothing when that connection cannot be opened (a
// connection limit, say): the first connection then reads them itself. Errors of the queries
// themselves are thrown.
std::optional<Builder> read_on_second_connection(const std::string& url,
                                                 const IntrospectOptions& options,
                                                 const std::string& target,
                                                 const std::string& snapshot_id,
                                                 const std::vector<std::string>& scope_params) {
  std::optional<PgSession> session;
  try {
    session.emplace(url, options, target);
    PgSession::Impl& impl = session->impl();
    impl.begin_in_snapshot(snapshot_id);
  } catch (const Error&) {
    return std::nullopt;
  }
  Builder builder(options);
  for (const auto& query : kCatalogQueries) {
    if (query.second && wanted(query, options)) {
      run_query(*session, query, scope_params, builder);
    }
  }
  session->end_transaction();
  return builder;
}

// The version table is reported through alembic_version, not as a table with columns, a
// primary key and grants.
bool belongs_to_version_table(const SchemaObject& object, const std::string& version_table) {
  if (object.name == version_table && object.type == ObjectType::kTable) {
    return true;
  }
  const auto parent = object.info.find(SchemaObject::kParent);
  return parent != object.info.end() && parent->second == version_table;
}

}  // namespace

std::vector<std::string> catalog_query_names(const IntrospectOptions& options) {
  std::vector<std::string> names;
  for (const auto& query : kCatalogQueries) {
    if (wanted(query, options)) {
      names.emplace_back(query.name);
    }
  }
  return names;
}

SchemaSnapshot introspect_schema(PgSession& session, const IntrospectOptions& options,
                                 const VersionTableRead& version) {
  PgSession::Impl& impl = session.impl();
  Builder builder(options);
  builder.objects.reserve(4096);
  const std::vector<std::string> scope_params{text_array_literal(options.schemas)};
  // Everything but the comments (they are matched with every object read, so they come last).
  // At the first `second` query the number of tables is known (schemas): a large schema gets a
  // second connection for the `second` queries, started in this transaction's snapshot.
  std::future<std::optional<Builder>> second;
  bool decided = false;
  for (const auto& query : kCatalogQueries) {
    if (!wanted(query, options) || query.needs == Needs::kComments) {
      continue;
    }
    if (query.second && !decided) {
      decided = true;
      if (options.second_connection_min_tables > 0 &&
          builder.tables >= options.second_connection_min_tables) {
        const std::string snapshot_id =
            impl.exec("export_snapshot", "SELECT pg_catalog.pg_export_snapshot()")[0][0].c_str();
        second =
            std::async(std::launch::async, read_on_second_connection, std::cref(impl.url),
                       std::cref(options), session.target(), snapshot_id, std::cref(scope_params));
      }
    }
    if (!(query.second && second.valid())) {
      run_query(session, query, scope_params, builder);
    }
  }
  if (second.valid()) {
    std::optional<Builder> read = second.get();
    if (read) {
      builder.append(std::move(*read));
    } else {  // the second connection could not be opened: read its part here
      for (const auto& query : kCatalogQueries) {
        if (query.second && wanted(query, options)) {
          run_query(session, query, scope_params, builder);
        }
      }
    }
  }
  resolve_deferred(session, builder);
  for (const auto& query : kCatalogQueries) {
    if (query.needs == Needs::kComments && wanted(query, options)) {
      run_query(session, query, scope_params, builder);
    }
  }

  SchemaSnapshot snapshot;
  snapshot.server_version = session.server_version();
  snapshot.schemas = std::move(builder.schemas);
  snapshot.has_version_table = version.exists;
  snapshot.alembic_version = version.rows;
  const std::string version_table = options.version_table_schema + "." + options.version_table;
  snapshot.objects.reserve(builder.objects.size());
  for (auto& object : builder.objects) {
    if (!belongs_to_version_table(object, version_table)) {
      snapshot.objects.push_back(std::move(object));
    }
  }
  snapshot.normalize_order();
  // Keys are unique by catalog constraints; guard anyway so find() stays well-defined.
  snapshot.objects.erase(std::unique(snapshot.objects.begin(), snapshot.objects.end(),
                                     [](const SchemaObject& a, const SchemaObject& b) {
                                       return a.type == b.type && a.name == b.name;
                                     }),
                         snapshot.objects.end());
  return snapshot;
}

SchemaSnapshot introspect_schema(PgSession& session, const IntrospectOptions& options) {
  const auto& cached = session.impl().version_read;
  const std::string version_table = options.version_table_schema + "." + options.version_table;
  if (cached && cached->first == version_table) {
    return introspect_schema(session, options, cached->second);
  }
  const VersionTableRead version = read_version_table(session, options);
  return introspect_schema(session, options, version);
}

LiveRead read_live_schema(const std::string& url, const IntrospectOptions& options,
                          const std::string& target) {
  PgSession session(url, options, target);
  LiveRead read;
  read.version = read_version_table(session, options);
  if (!read.version.locked) {
    read.snapshot = introspect_schema(session, options, read.version);
  } else {
    read.snapshot.server_version = session.server_version();
    read.snapshot.has_version_table = read.version.exists;
  }
  read.queries = session.query_count();
  session.end_transaction();
  return read;
}

}  // namespace driftwatch
