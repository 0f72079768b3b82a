#include "pg/version_table.hpp"

#include <algorithm>

#include "driftwatch/error.hpp"
#include "pg/scope.hpp"
#include "pg/session_impl.hpp"

namespace driftwatch {
namespace {

// Existence by catalog lookup (needs no privilege, unlike naming the table), and whether another
// session (not autovacuum) holds locks that make a check now meaningless or blocked: a write lock
// on the version table, or an AccessExclusiveLock in a watched schema. Locks that only read the
// version table (another driftwatch, the application checking its revision) do not count.
// `by_migration`: the holder also has the version table open, as Alembic has (it reads
// alembic_version at the start of its transaction and keeps that lock until it commits); an
// ETL's TRUNCATE, REFRESH MATERIALIZED VIEW or VACUUM FULL has not.
const std::string kVersionTableStateSql = std::string(kScopeCte) + R"sql(
, vt AS (
  SELECT (SELECT c.oid FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $2 AND c.relname = $3 AND c.relkind IN ('r', 'p', 'v', 'm')) AS oid
), held AS (
  SELECT l.pid, l.mode, l.relation,
         COALESCE(l.relation = (SELECT oid FROM vt), false) AS on_version_table
  FROM pg_catalog.pg_locks l
  JOIN pg_catalog.pg_class c ON c.oid = l.relation
  WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
    AND l.database = (SELECT oid FROM pg_catalog.pg_database
                      WHERE datname = pg_catalog.current_database())
    AND (l.relation = (SELECT oid FROM vt)
         OR (l.mode = 'AccessExclusiveLock' AND c.relnamespace IN (SELECT oid FROM scope)))
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                    WHERE a.pid = l.pid AND a.backend_type = 'autovacuum worker')
), locking AS (
  SELECT h.pid, h.mode, h.relation, h.on_version_table FROM held h
  WHERE (h.on_version_table AND h.mode <> 'AccessShareLock') OR NOT h.on_version_table
)
SELECT (SELECT oid FROM vt) IS NOT NULL AS exists,
       EXISTS (SELECT 1 FROM locking) AS locked,
       EXISTS (SELECT 1 FROM locking k
               WHERE EXISTS (SELECT 1 FROM held v WHERE v.pid = k.pid AND v.on_version_table))
         AS by_migration,
       COALESCE((SELECT pg_catalog.array_agg(
                   'pid ' || m.pid || ' (application_name ' ||
                   pg_catalog.quote_literal(COALESCE(a.application_name, '')) || ') holds ' ||
                   m.mode || ' on ' ||
                   CASE WHEN m.on_version_table THEN 'the version table ' ELSE '' END ||
                   m.relation::pg_catalog.regclass::text ||
                   '; its statement: ' ||
                   pg_catalog.left(pg_catalog.regexp_replace(COALESCE(a.query, ''), '\s+', ' ',
                                                             'g'), 200)
                   ORDER BY m.on_version_table DESC, m.pid, m.relation::pg_catalog.regclass::text)
                 FROM locking m
                 LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = m.pid),
                '{}') AS evidence
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
  read.by_migration = state[0][2].as<bool>();
  if (read.locked) {
    auto evidence = state[0][3].as_array();
    for (auto item = evidence.get_next(); item.first != pqxx::array_parser::juncture::done;
         item = evidence.get_next()) {
      if (item.first == pqxx::array_parser::juncture::string_value) {
        read.lock_evidence.push_back(item.second);
      }
    }
  }
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
    read.by_migration = true;
    read.lock_evidence.push_back("lock_timeout on the version table: another session holds it");
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
