// What the PostgreSQL adapter (daemon/pg) is asked to read, and what it reports about the
// version table. Plain values; the adapter's functions live in daemon/pg.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace driftwatch {

struct IntrospectOptions {
  std::vector<std::string> schemas;  // empty: every non-system, non-temp schema
  bool privileges = false;
  bool comments = false;
  std::string version_table = "alembic_version";
  std::string version_table_schema = "public";
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  // connect + statements
  // When the whole check must be over (connect + every query, on every connection of the
  // check). Default (epoch): each session's construction time + timeout. At the deadline the
  // running query is cancelled and the connection abandoned (reason "timeout").
  std::chrono::steady_clock::time_point deadline{};
  // From this many tables (in the schemas read) on, a second connection reads indexes and
  // constraints (what the server takes longest over) while the first reads the rest, both in one
  // catalog snapshot (pg_export_snapshot / SET TRANSACTION SNAPSHOT). 0 = never. When the second
  // connection cannot be opened, the first reads everything.
  size_t second_connection_min_tables = 100;
  std::string application_name = "driftwatch";
};

// What the database says about alembic_version.
struct VersionTableRead {
  bool exists = false;
  std::vector<std::string> rows;  // version_num values, sorted
  // Another session holds a write lock on the version table or an ACCESS EXCLUSIVE lock in a
  // watched schema: a check now would see a schema in flux (or block on it).
  bool locked = false;
  // The lock holder also has the version table open, as a running Alembic migration has; an
  // ETL's TRUNCATE, REFRESH MATERIALIZED VIEW or VACUUM FULL has not.
  bool by_migration = false;
  // When locked: what was seen, e.g. "pid 4242 (application_name 'alembic') holds
  // RowExclusiveLock on the version table public.alembic_version; its statement: UPDATE ...".
  std::vector<std::string> lock_evidence;
};

}  // namespace driftwatch
