// Catalog introspection: the live schema of one database as a SchemaSnapshot, read from
// pg_catalog with one set-based query per object type inside the session's read-only
// repeatable-read transaction. The attribute vocabulary is documented in introspect.cpp.
#pragma once

#include <string>
#include <vector>

#include "driftwatch/introspect.hpp"
#include "driftwatch/schema.hpp"
#include "pg/session.hpp"

namespace driftwatch {

// Reads the version table (read_version_table; reuses the result when read_version_table already
// ran in this session for the same table) and then the catalog. The snapshot carries the
// server version, the schemas in scope, the version rows and has_version_table. Objects of
// extensions and the version table itself are left out. Throws Error.
// Callers that must not introspect while a migration runs (pg_get_viewdef waits for table
// locks) should call read_version_table first and use the overload below.
SchemaSnapshot introspect_schema(PgSession& session, const IntrospectOptions& options);

// Same, with the version table already read in this session (no second read). Does not look
// at version.locked: the caller decides whether to introspect during a migration.
SchemaSnapshot introspect_schema(PgSession& session, const IntrospectOptions& options,
                                 const VersionTableRead& version);

// Names of the catalog queries introspect_schema runs for `options`, in order (2 more for
// the version table). Documents the per-check query budget.
std::vector<std::string> catalog_query_names(const IntrospectOptions& options);

// One-shot read for the `check`, `snapshot` and `diff` subcommands: connect, read the version
// table, and unless it is locked (a migration is running) introspect; then disconnect.
struct LiveRead {
  VersionTableRead version;
  SchemaSnapshot snapshot;  // empty objects when version.locked
  int queries = 0;          // statements sent on the first connection
};
LiveRead read_live_schema(const std::string& url, const IntrospectOptions& options,
                          const std::string& target = "");

// pg_get_constraintdef text without the parts that are attrs of their own: a trailing NOT VALID,
// DEFERRABLE / INITIALLY ..., and for foreign keys (`foreign_key`) the ON UPDATE / ON DELETE
// actions. Exposed for tests.
std::string strip_constraint_definition(std::string definition, bool foreign_key);

}  // namespace driftwatch
