// A read-only PostgreSQL session for one check: connect from a URL with safe session settings,
// run every read in ONE `READ ONLY REPEATABLE READ` transaction (one consistent catalog
// snapshot), count the queries, and turn every failure into driftwatch::Error with a reason
// from error_reason::* and a message that never contains a secret.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "driftwatch/introspect.hpp"

namespace driftwatch {

class PgSession {
 public:
  using Row = std::vector<std::optional<std::string>>;  // NULL = nullopt

  // Connects to `url` (postgresql:// URL or key=value conninfo). The session gets
  // application_name (options.application_name), default_transaction_read_only=on,
  // statement_timeout = options.timeout, lock_timeout = min(options.timeout, 2s), an empty
  // search_path (so pg_get_*def output is schema-qualified), TCP keepalives and
  // tcp_user_timeout derived from options.timeout. The settings go in the startup packet and
  // again as SET LOCAL in every transaction; a server that refuses the startup `options`
  // (PgBouncer: SQLSTATE 08P01) is connected to again without them.
  // Deadline (options.deadline, else now + options.timeout): connecting gives up at it, and a
  // watchdog then cancels the running query and cuts the connection; every later call throws
  // reason "timeout". `target` names the target in errors.
  // Throws Error: reason "config" (malformed URL), "connect" (refused, unknown host, no such
  // database), "timeout" (deadline), "auth" (SQLSTATE class 28: wrong password, unknown role,
  // pg_hba rejection), "permission" (42501: no CONNECT privilege).
  PgSession(const std::string& url, const IntrospectOptions& options, std::string target = "");
  ~PgSession();
  PgSession(const PgSession&) = delete;
  PgSession& operator=(const PgSession&) = delete;

  // Runs one statement inside the session's read-only repeatable-read transaction (begun on
  // first use) and returns all rows as text. Counted in query_count(). Throws Error with
  // reason "permission" (42501), "timeout" (57014, 55P03), "connect" (connection lost) or
  // "query" (anything else, including 25006: a write attempt in the read-only transaction).
  std::vector<Row> query(const std::string& sql);

  // Ends the current read transaction (rolled back: nothing was written). The next query starts
  // a new transaction, hence a new snapshot. Also needed after a failed query.
  void end_transaction();

  int query_count() const;  // statements sent by query()/internal reads since construction
  // Messages sent to the server since construction (BEGIN, settings and savepoint releases
  // travel with a statement; the closing ROLLBACK counts): what the server's statement log shows.
  int round_trips() const;
  void reset_query_count();

  std::string server_version() const;  // "15.20"
  int server_version_num() const;      // 150020
  int backend_pid() const;
  const std::string& target() const;
  // Redacted description of where this session is connected, e.g. "127.0.0.1:5432/app".
  const std::string& endpoint() const;

  // Internals for the other daemon/pg files (see session_impl.hpp); not for callers.
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Connection string actually used for `url` (URL or conninfo): the caller's parameters plus the
// read-only session settings above, as key=value conninfo. Throws Error(config) when `url` does
// not parse. Exposed for tests; it contains the password, never log it.
std::string build_session_conninfo(const std::string& url, const IntrospectOptions& options);
// Same; without `options` (the -c settings) when `with_server_options` is false: PgBouncer
// refuses that startup parameter. Always with TCP keepalives and tcp_user_timeout derived from
// options.timeout (unless the URL sets them).
std::string build_session_conninfo(const std::string& url, const IntrospectOptions& options,
                                   bool with_server_options);
// The statement (set_config(..., is_local => true), i.e. SET LOCAL) every read transaction starts
// with: statement_timeout, lock_timeout, idle_in_transaction_session_timeout and search_path as in
// the startup options, so they hold behind PgBouncer too.
std::string session_local_settings(const IntrospectOptions& options);

}  // namespace driftwatch
