// Helpers for tests against the throwaway PostgreSQL cluster started by
// tests/harness/pg_cluster.sh: the superuser URL, fresh databases and roles with unique names,
// and running SQL as the superuser. Test code only: it writes to the databases it creates.
#pragma once

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>

#include "driftwatch/error.hpp"

namespace driftwatch::pgtest {

// The superuser URL (postgresql://postgres:PW@127.0.0.1:PORT/postgres) from the file named by
// $DRIFTWATCH_TEST_PG_URL_FILE. Throws when unset or unreadable.
inline std::string superuser_url() {
  const char* file = std::getenv("DRIFTWATCH_TEST_PG_URL_FILE");
  if (file == nullptr || *file == '\0') {
    throw std::runtime_error("DRIFTWATCH_TEST_PG_URL_FILE is not set (run via ctest -L pg)");
  }
  std::ifstream in(file);
  std::string url;
  if (!std::getline(in, url) || url.empty()) {
    throw std::runtime_error(std::string("cannot read the test cluster URL from ") + file);
  }
  return url;
}

// Parts of a postgresql://user:password@host:port/db URL (the harness's format).
struct UrlParts {
  std::string user;
  std::string password;
  std::string host;
  std::string port;
  std::string dbname;
};

inline UrlParts parse_url(const std::string& url) {
  UrlParts parts;
  const std::string scheme = "postgresql://";
  std::string rest = url.rfind(scheme, 0) == 0 ? url.substr(scheme.size()) : url;
  const auto at = rest.rfind('@');
  if (at != std::string::npos) {
    const std::string credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = credentials.find(':');
    parts.user = credentials.substr(0, colon);
    if (colon != std::string::npos) parts.password = credentials.substr(colon + 1);
  }
  const auto slash = rest.find('/');
  const std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) parts.dbname = rest.substr(slash + 1);
  const auto query = parts.dbname.find('?');
  if (query != std::string::npos) parts.dbname = parts.dbname.substr(0, query);
  const auto colon = hostport.rfind(':');
  parts.host = hostport.substr(0, colon);
  if (colon != std::string::npos) parts.port = hostport.substr(colon + 1);
  return parts;
}

inline std::string make_url(const UrlParts& parts) {
  std::string url = "postgresql://" + parts.user;
  if (!parts.password.empty()) url += ":" + parts.password;
  url += "@" + parts.host;
  if (!parts.port.empty()) url += ":" + parts.port;
  return url + "/" + parts.dbname;
}

// The superuser URL pointed at another database.
inline std::string url_for_database(const std::string& dbname) {
  UrlParts parts = parse_url(superuser_url());
  parts.dbname = dbname;
  return make_url(parts);
}

// `dbname` as `user` with `password`.
inline std::string url_as(const std::string& dbname, const std::string& user,
                          const std::string& password) {
  UrlParts parts = parse_url(superuser_url());
  parts.dbname = dbname;
  parts.user = user;
  parts.password = password;
  return make_url(parts);
}

// A lowercase identifier unique across test processes and calls: prefix_<pid>_<counter>_<time>.
inline std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count() % 1000000;
  return prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(++counter) + "_" +
         std::to_string(ticks);
}

// Runs `sql` (one or more statements, simple query protocol) on `url` in autocommit mode.
inline void exec_sql(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  tx.exec(sql);
}

// The first column of the first row `sql` returns on `url` ("" for no row or NULL).
inline std::string first_value(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  const pqxx::result rows = tx.exec(sql);
  return rows.empty() || rows[0][0].is_null() ? "" : rows[0][0].c_str();
}

// The Error thrown by `action`; fails the test when nothing is thrown.
inline Error error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error;
  }
  FAIL("expected a driftwatch::Error");
  return Error("", "");
}

// A TCP port on 127.0.0.1 that nobody listens on (bound, then released).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A fresh database owned by the superuser, dropped (WITH FORCE) when the object goes away.
class TempDatabase {
 public:
  explicit TempDatabase(const std::string& prefix = "dwtest") : name_(unique_name(prefix)) {
    exec_sql(superuser_url(), "CREATE DATABASE " + name_);
  }
  ~TempDatabase() {
    try {
      exec_sql(superuser_url(), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
      // Best effort: the cluster is thrown away after the run anyway.
    }
  }
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;

  const std::string& name() const { return name_; }
  // Superuser URL of this database.
  std::string url() const { return url_for_database(name_); }
  std::string url_as(const std::string& user, const std::string& password) const {
    return pgtest::url_as(name_, user, password);
  }
  // Runs SQL in this database as the superuser.
  void exec(const std::string& sql) const { exec_sql(url(), sql); }

 private:
  std::string name_;
};

// A login role with a password, dropped when the object goes away. Declare it BEFORE the
// TempDatabase objects it has privileges in, so the databases are dropped first.
class TempRole {
 public:
  explicit TempRole(const std::string& prefix = "dwrole", const std::string& attributes = "")
      : name_(unique_name(prefix)), password_("pw-" + unique_name("x")) {
    exec_sql(superuser_url(),
             "CREATE ROLE " + name_ + " LOGIN PASSWORD '" + password_ + "' " + attributes);
  }
  ~TempRole() {
    try {
      exec_sql(superuser_url(), "DROP OWNED BY " + name_ + "; DROP ROLE IF EXISTS " + name_);
    } catch (...) {
    }
  }
  TempRole(const TempRole&) = delete;
  TempRole& operator=(const TempRole&) = delete;

  const std::string& name() const { return name_; }
  const std::string& password() const { return password_; }

 private:
  std::string name_;
  std::string password_;
};

}  // namespace driftwatch::pgtest
