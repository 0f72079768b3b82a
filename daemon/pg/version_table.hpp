// Reading Alembic's version table (alembic_version by default) without ever waiting on a
// running migration.
#pragma once

#include "driftwatch/introspect.hpp"
#include "pg/session.hpp"

namespace driftwatch {

// Reads options.version_table_schema.options.version_table in the session's read transaction
// (call it before the catalog queries). Checks pg_locks FIRST (pg_locks never blocks): when
// another backend holds a lock stronger than AccessShareLock on the version table, or a granted
// AccessExclusiveLock on any table in the watched schemas, the result is locked=true and the
// rows are not read. Otherwise SELECT version_num (sorted). Should that SELECT still hit the
// lock_timeout (a migration started in between), the result is locked=true as well and the
// session's transaction is restarted. At most 2 queries. Throws Error (e.g. "permission" when
// the role lacks USAGE on the schema or SELECT on the table).
VersionTableRead read_version_table(PgSession& session, const IntrospectOptions& options);

}  // namespace driftwatch
