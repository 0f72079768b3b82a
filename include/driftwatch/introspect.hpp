// What the PostgreSQL adapter (daemon/pg) is asked to read, and what it reports about the
// version table. Plain values; the adapter's functions live in daemon/pg.
#pragma once

#include <chrono>
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
  std::string application_name = "driftwatch";
};

// What the database says about alembic_version.
struct VersionTableRead {
  bool exists = false;
  std::vector<std::string> rows;  // version_num values, sorted
  bool locked = false;  // another session holds a lock on it or on watched tables (migrating)
};

}  // namespace driftwatch
