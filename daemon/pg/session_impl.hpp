// Private to daemon/pg (and its tests): the libpqxx side of PgSession. Other code uses
// session.hpp only, so libpqxx stays out of the rest of the daemon.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "pg/session.hpp"

namespace driftwatch {

// The read transaction's BEGIN and ROLLBACK are sent by PgSession::Impl itself (BEGIN travels
// with the transaction's first statement), so pqxx's own transaction control is not used.
using ReadTransaction = pqxx::nontransaction;

class DeadlineWatchdog;  // session.cpp: cancels and cuts the connection at the check's deadline

struct PgSession::Impl {
  ~Impl();
  // Deletes the concrete connection class of session.cpp (connection_base's destructor is not
  // virtual).
  struct ConnectionDeleter {
    void operator()(pqxx::connection_base* connection) const;
  };
  std::unique_ptr<pqxx::connection_base, ConnectionDeleter> connection;
  std::unique_ptr<ReadTransaction> transaction;
  std::shared_ptr<DeadlineWatchdog> watchdog;
  std::chrono::steady_clock::time_point deadline;
  std::chrono::milliseconds timeout{0};  // the check's timeout, for messages
  // SET LOCAL statements sent at the start of every transaction: the session settings apply
  // even where the startup packet's `options` were refused or ignored (PgBouncer).
  std::string local_settings;
  bool startup_options = true;  // false: the server refused `options` at connect (PgBouncer)
  std::string target;
  std::string endpoint;  // redacted host:port/db
  std::string secret;    // the password, only to scrub it from messages
  std::string url;       // as given (secret-bearing): for a second connection to the same place
  int queries = 0;
  int round_trips = 0;
  // The last read_version_table result in this session, keyed by "schema.table", so that
  // introspect_schema(session, options) after read_version_table does not read it twice.
  std::optional<std::pair<std::string, VersionTableRead>> version_read;

  // The open read transaction, begun on first use.
  ReadTransaction& tx();
  // Begins the read transaction in the snapshot another session exported (pg_export_snapshot).
  void begin_in_snapshot(const std::string& snapshot_id);
  std::string import_snapshot;  // for the next tx()
  // Statements due ahead of the next one, sent in its message: the session settings at the
  // start of a transaction, the release of exec_released's savepoint.
  std::string ahead;
  bool begun = false;  // BEGIN went to the server: the transaction ends with ROLLBACK
  // Sends ROLLBACK if BEGIN went out, then forgets the transaction. Never throws.
  void end_read_transaction() noexcept;
  // Runs `sql` with text parameters $1..$n (inlined as quoted literals) in the read transaction,
  // in one round trip with what is due ahead; counted. `name` says what
  // was being read in error messages ("columns", "version_table"). Failures become Error and
  // end the (now aborted) transaction.
  pqxx::result exec(const char* name, const std::string& sql,
                    const std::vector<std::string>& params = {});
  // Same, inside a savepoint that is rolled back right after: relation locks the statement
  // took (pg_get_viewdef locks every table a view reads; SELECT on the version table) are
  // released with the session's next statement (or at the transaction's end) instead of at the
  // end of the check, so DDL of the application never queues behind a check. Same transaction,
  // same snapshot, no extra round trip. Callers go on to their next statement at once: nothing
  // that waits may run between the two.
  pqxx::result exec_released(const char* name, const std::string& sql);
  // True once the check's deadline passed (the connection is then cut).
  bool deadline_passed() const;
  // Maps the exception being handled to Error and throws it. Use inside a catch block.
  [[noreturn]] void rethrow_mapped(const char* name);
};

}  // namespace driftwatch
