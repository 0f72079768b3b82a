#include "pg/version_table.hpp"

#include <algorithm>

#include "driftwatch/error.hpp"
#include "pg/scope.hpp"
#include "pg/session_impl.hpp"

namespace driftwatch {
namespace {

// Existence by catalog lookup (needs no privilege, unlike naming the table), and whether a
// migration looks active. Locks that only read (AccessShareLock: another driftwatch, the
// application checking its revision) do not count; autovacuum's locks (its truncation phase
// takes AccessExclusiveLock) do not either.
const std::string kVersionTableStateSql = std::string(kScopeCte) + R"sql(
SELECT vt.oid IS NOT NULL AS exists,
       EXISTS (
         SELECT 1
         FROM pg_catalog.pg_locks l
         JOIN pg_catalog.pg_class c ON c.oid = l.relation
         WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
           AND l.database = (SELECT oid FROM pg_catalog.pg_database
                             WHERE datname = pg_catalog.current_database())
           AND ((c.oid = vt.oid AND l.mode <> 'AccessShareLock')
                OR (l.mode = 'AccessExclusiveLock'
                    AND c.relnamespace IN (SELECT oid FROM scope)))
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                           WHERE a.pid = l.pid AND a.backend_type = 'autovacuum worker')
       ) AS locked
FROM (SELECT (SELECT c.oid FROM pg_catalog.pg_class c
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $2 AND c.relname = $3 AND c.relkind IN ('r', 'p', 'v', 'm'))
             AS oid) vt
)sql";

}  // namespace

namespace {

VersionTableRead read_uncached(PgSession& session, const IntrospectOptions& options) {
  PgSession::Impl& impl = session.impl();
  VersionTableRead read;
  const pqxx::result state = impl.exec(
      "version_table_state", kVersionTableStateSql,
      {text_array_literal(options.schemas), options.version_table_schema, options.version_table});
  read.exists = state[0][0].as<bool>();
  read.locked = state[0][1].as<bool>();
  if (!read.exists || read.locked) {
    return read;
  }

  const std::string select = "SELECT version_num FROM " +
                             impl.connection->quote_name(options.version_table_schema) + "." +
                             impl.connection->quote_name(options.version_table);
  try {
    // Its AccessShareLock is released right after (savepoint): an ALTER of the version table
    // must not wait for the rest of the check.
    const pqxx::result rows = impl.exec_released("version_table", select);
    read.rows.reserve(rows.size());
    for (const auto& row : rows) {
      if (!row[0].is_null()) {
        read.rows.emplace_back(row[0].c_str());
      }
    }
  } catch (const Error& error) {
    // A migration took its lock after the pg_locks check: lock_timeout fired. That is the
    // `migrating` state, not a failure; the aborted transaction is already gone (exec ended
    // it), so the catalog reads that follow start a fresh one.
    if (error.sqlstate() != "55P03") {
      throw;
    }
    read.locked = true;
    return read;
  }
  std::sort(read.rows.begin(), read.rows.end());
  return read;
}

}  // namespace

VersionTableRead read_version_table(PgSession& session, const IntrospectOptions& options) {
  VersionTableRead read = read_uncached(session, options);
  session.impl().version_read.emplace(options.version_table_schema + "." + options.version_table,
                                      read);
  return read;
}

}  // namespace driftwatch
