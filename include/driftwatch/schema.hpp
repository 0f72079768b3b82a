// Schema model: the catalog of one database (live or expected) as plain values.
//
// Every database object is one SchemaObject keyed by (type, qualified name). Its `attrs` are
// the compared attributes (a difference there is drift); its `info` carries what is needed to
// render messages and fix SQL but is never compared (e.g. the owning table, a full CREATE
// statement). One general shape for every object type keeps snapshot I/O and the diff generic.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace driftwatch {

enum class ObjectType {
  kSchema,
  kTable,
  kColumn,
  kIndex,
  kConstraint,
  kEnum,
  kView,
  kMaterializedView,
  kFunction,
  kTrigger,
  kSequence,
  kExtension,
  kPolicy,
  kPrivilege,
  // Since model 2 (appended, so that snapshot files without them keep their object order).
  kDomain,  // a domain: base type, default, NOT NULL, checks
  kType,    // a composite or range type (attr `kind`)
  kServer,  // the server itself ("postgresql"): its major version; never introspected
};

// "schema", "table", "column", "index", "constraint", "enum", "view", "materialized_view",
// "function", "trigger", "sequence", "extension", "policy", "privilege", "domain", "type",
// "server".
const char* to_string(ObjectType type);
std::optional<ObjectType> object_type_from_string(const std::string& text);
// All object types in declaration order (parents before children).
const std::vector<ObjectType>& all_object_types();

// Qualified names (DESIGN.md): schema `s`; table/view/sequence/enum `s.t`; column `s.t.c`;
// index `s.i`; constraint/trigger/policy `s.t.name`; function `s.f(text, integer)`;
// extension `name`; privilege `OBJECT:GRANTEE:PRIVILEGE`.
struct SchemaObject {
  ObjectType type = ObjectType::kTable;
  std::string name;                          // qualified name, the identity
  std::map<std::string, std::string> attrs;  // compared attributes; absent = null
  std::map<std::string, std::string> info;   // not compared: context for messages/fix SQL

  // Well-known info keys.
  static constexpr const char* kParent = "parent";         // owning table/view qualified name
  static constexpr const char* kSchemaName = "schema";     // schema of the object
  static constexpr const char* kLocalName = "local_name";  // unqualified name
  static constexpr const char* kCreateSql = "create_sql";  // full CREATE statement, if known
};

inline bool operator<(const SchemaObject& a, const SchemaObject& b) {
  return std::tie(a.type, a.name) < std::tie(b.type, b.name);
}

// What an introspection records; it grows when the engine learns new kinds and attributes.
// 1: the first release. 2: domains, composite and range types, invalid indexes, function config
// / SQL-standard bodies / arguments / parallel / leakproof, table persistence / replica identity /
// storage parameters / inheritance / partition key, identity sequence options, virtual generated
// columns. 3: domain collation, range subtype operator class and collation. An attribute or kind is
// compared only when both sides' models record it, so a snapshot file written before it existed
// does not report it as drift.
inline constexpr int kSchemaModel = 3;

// One database's schema at one moment (from introspection or a snapshot file).
struct SchemaSnapshot {
  int model = kSchemaModel;                  // snapshot files without "model" are model 1
  std::string server_version;                // e.g. "15.20"
  std::vector<std::string> schemas;          // schemas that were introspected, sorted
  std::vector<std::string> alembic_version;  // version rows seen (sorted); empty if none
  bool has_version_table = false;
  std::vector<SchemaObject> objects;  // sorted by (type, name), unique keys

  // Sorts objects and schemas; call after building a snapshot by hand.
  void normalize_order();
  const SchemaObject* find(ObjectType type, const std::string& name) const;
};

}  // namespace driftwatch
