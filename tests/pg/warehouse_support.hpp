// Shared by the pg tests that need the example warehouse project (tests/fixtures/warehouse)
// migrated with real Alembic, and scratch databases copied from a template.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "pg_test_support.hpp"

namespace driftwatch {
namespace pgtest {

const std::string kWarehouseFixture = std::string(DRIFTWATCH_FIXTURES_DIR) + "/warehouse";

// Runs the fixture's Alembic against `url` (the URL travels in the environment, not argv);
// Alembic's stderr goes to `err_file` in the working directory. Returns the exit status.
inline int run_alembic(const std::string& url, const std::string& args,
                       const std::string& err_file = "alembic.err") {
  ::setenv("DRIFTWATCH_ALEMBIC_URL", url.c_str(), 1);
  const std::string command = "/usr/bin/python3 -m alembic -c '" + kWarehouseFixture +
                              "/alembic.ini' " + args + " >/dev/null 2>" + err_file;
  const int rc = std::system(command.c_str());
  ::unsetenv("DRIFTWATCH_ALEMBIC_URL");
  return rc;
}

// A database dropped (WITH FORCE) when the object goes away; optionally a copy of a template.
class ScratchDatabase {
 public:
  explicit ScratchDatabase(const std::string& prefix, const std::string& template_db = "")
      : name_(unique_name(prefix)) {
    std::string sql = "CREATE DATABASE " + name_;
    if (!template_db.empty()) sql += " TEMPLATE " + template_db;
    // A template must have no sessions; one that just disconnected may still be exiting.
    for (int attempt = 0;; ++attempt) {
      try {
        exec_sql(superuser_url(), sql);
        return;
      } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() != "55006" || attempt >= 100) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  ~ScratchDatabase() {
    try {
      exec_sql(superuser_url(), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
      // Best effort: the cluster is thrown away after the run.
    }
  }
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  const std::string& name() const { return name_; }
  std::string url() const { return url_for_database(name_); }
  void exec(const std::string& sql) const { exec_sql(url(), sql); }
  // Each statement separately: VACUUM refuses to run inside a multi-statement string.
  void exec(const std::vector<std::string>& statements) const {
    for (const auto& sql : statements) exec_sql(url(), sql);
  }

 private:
  std::string name_;
};

}  // namespace pgtest
}  // namespace driftwatch
