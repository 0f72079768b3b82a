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
  bool locked = false;  // another session holds a lock on it or on watched tables (migrating)
};

}  // namespace driftwatch
