#include "pg/session.hpp"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "driftwatch/check.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"
#include "pg/errors.hpp"
#include "pg/session_impl.hpp"

namespace driftwatch {
namespace {

// Conninfo value quoting: single quotes, with \ and ' escaped.
std::string quote_conninfo_value(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') {
      out += '\\';
    }
    out += c;
  }
  return out + "'";
}

struct ParsedConninfo {
  std::vector<std::pair<std::string, std::string>> values;  // explicitly given keywords
  std::string get(const std::string& key) const {
    for (const auto& [k, v] : values) {
      if (k == key) {
        return v;
      }
    }
    return "";
  }
};

ParsedConninfo parse_conninfo(const std::string& url) {
  char* errmsg = nullptr;
  PQconninfoOption* options = PQconninfoParse(normalize_database_url(url).c_str(), &errmsg);
  if (options == nullptr) {
    const bool out_of_memory = errmsg == nullptr;
    if (errmsg != nullptr) {
      PQfreemem(errmsg);
    }
    // libpq's detail quotes the offending token, which may be (part of) the password: never
    // forward it.
    throw Error(error_reason::kConfig,
                out_of_memory ? "invalid database URL: out of memory"
                              : "invalid database URL or conninfo string (libpq cannot parse "
                                "it; details are not shown because they may contain the "
                                "password)");
  }
  ParsedConninfo parsed;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val != nullptr) {
      parsed.values.emplace_back(option->keyword, option->val);
    }
  }
  PQconninfoFree(options);
  return parsed;
}

long long timeout_ms(const IntrospectOptions& options) {
  return std::max<long long>(1, options.timeout.count());
}

int connect_timeout_seconds(const IntrospectOptions& options) {
  return static_cast<int>(std::max<long long>(1, (timeout_ms(options) + 999) / 1000));
}

std::string describe_endpoint(const ParsedConninfo& parsed) {
  std::string host = parsed.get("host");
  if (host.empty()) {
    host = parsed.get("hostaddr");
  }
  if (host.empty()) {
    host = "localhost";
  }
  std::string port = parsed.get("port");
  if (port.empty()) {
    port = "5432";
  }
  std::string endpoint = host + ":" + port;
  const std::string dbname = parsed.get("dbname");
  if (!dbname.empty()) {
    endpoint += "/" + dbname;
  }
  return redact_url(endpoint);
}

// "15.20" from 150020; "9.6.24" from 90624.
std::string format_server_version(int num) {
  if (num >= 100000) {
    return std::to_string(num / 10000) + "." + std::to_string(num % 10000);
  }
  return std::to_string(num / 10000) + "." + std::to_string(num / 100 % 100) + "." +
         std::to_string(num % 100);
}

// libpqxx 6.4 throws its specialised classes (insufficient_privilege, undefined_table, ...)
// without the SQLSTATE; recover it from the class for the states we classify by.
std::string sqlstate_of(const pqxx::sql_error& e) {
  if (!e.sqlstate().empty()) {
    return e.sqlstate();
  }
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr) {
    return "42501";
  }
  if (dynamic_cast<const pqxx::undefined_table*>(&e) != nullptr) {
    return "42P01";
  }
  if (dynamic_cast<const pqxx::undefined_column*>(&e) != nullptr) {
    return "42703";
  }
  if (dynamic_cast<const pqxx::undefined_function*>(&e) != nullptr) {
    return "42883";
  }
  if (dynamic_cast<const pqxx::syntax_error*>(&e) != nullptr) {
    return "42601";
  }
  return "";
}

}  // namespace

std::string build_session_conninfo(const std::string& url, const IntrospectOptions& options) {
  return build_session_conninfo(url, options, /*with_server_options=*/true);
}

std::string session_local_settings(const IntrospectOptions& options) {
  const long long statement_ms = timeout_ms(options);
  const long long lock_ms = std::min<long long>(statement_ms, 2000);
  // set_config(..., true) = SET LOCAL; it also takes the empty search_path that SET cannot.
  auto local = [](const char* name, const std::string& value) {
    return std::string("pg_catalog.set_config('") + name + "', '" + value + "', true)";
  };
  return "SELECT " + local("statement_timeout", std::to_string(statement_ms)) + ", " +
         local("lock_timeout", std::to_string(lock_ms)) + ", " +
         local("idle_in_transaction_session_timeout",
               std::to_string(std::max<long long>(statement_ms * 2, 10000))) +
         ", " + local("search_path", "");
}

std::string build_session_conninfo(const std::string& url, const IntrospectOptions& options,
                                   bool with_server_options) {
  const ParsedConninfo parsed = parse_conninfo(url);
  const long long statement_ms = timeout_ms(options);
  const long long lock_ms = std::min<long long>(statement_ms, 2000);
  // Server settings go in `options` so they apply before the first statement runs; later -c
  // flags win, so ours follow whatever the URL already asked for.
  std::string server_options = parsed.get("options");
  if (!server_options.empty()) {
    server_options += " ";
  }
  server_options += "-c default_transaction_read_only=on";
  server_options += " -c statement_timeout=" + std::to_string(statement_ms);
  server_options += " -c lock_timeout=" + std::to_string(lock_ms);
  // A crashed or wedged driftwatch must not keep its snapshot (and the AccessShareLocks that
  // pg_get_viewdef takes) open and make a migration wait behind it.
  server_options += " -c idle_in_transaction_session_timeout=" +
                    std::to_string(std::max<long long>(statement_ms * 2, 10000));
  // Empty search_path: pg_get_*def and format_type then qualify every non-catalog name, so the
  // output does not depend on the role's settings.
  server_options += " -c search_path=";

  std::string conninfo;
  for (const auto& [key, value] : parsed.values) {
    if (key == "options" || key == "application_name" || key == "connect_timeout" ||
        key == "fallback_application_name") {
      continue;
    }
    conninfo += key + "=" + quote_conninfo_value(value) + " ";
  }
  conninfo += "application_name=" + quote_conninfo_value(options.application_name);
  conninfo += " connect_timeout=" + std::to_string(connect_timeout_seconds(options));
  // A peer that vanishes (failover, dropped NAT entry, half-open connection) is noticed within
  // about the check's timeout by the kernel too, not after the two hours of default keepalive:
  // the watchdog abandons such a connection at the deadline, and these settings make the socket
  // (and a PQcancel sent to the same peer) give up soon after. The URL's own values win.
  const long long keepalive_s = std::max<long long>(1, (statement_ms + 2999) / 3000);
  const std::pair<const char*, std::string> transport[] = {
      {"keepalives", "1"},
      {"keepalives_idle", std::to_string(keepalive_s)},
      {"keepalives_interval", std::to_string(keepalive_s)},
      {"keepalives_count", "2"},
      {"tcp_user_timeout", std::to_string(statement_ms)},
  };
  for (const auto& [key, value] : transport) {
    if (parsed.get(key).empty()) {
      conninfo += std::string(" ") + key + "=" + value;
    }
  }
  if (with_server_options) {
    conninfo += " options=" + quote_conninfo_value(server_options);
  }
  return conninfo;
}

// ---------------------------------------------------------------------------------------------
// Deadline: the connection attempt polls libpq with the time left (libpq's connect_timeout has
// whole seconds, at least 2, and counts per address); once connected, a watchdog thread waits
// for the deadline and then cancels the running query (PQcancel) and cuts the socket
// (shutdown), so a query blocked on a peer that never answers returns at once.

// The check's deadline passed, the session is unusable.
class DeadlineWatchdog {
 public:
  DeadlineWatchdog(int socket, PGcancel* cancel, std::chrono::steady_clock::time_point deadline,
                   std::string endpoint)
      : socket_(socket), cancel_(cancel), deadline_(deadline), endpoint_(std::move(endpoint)) {}
  ~DeadlineWatchdog() {
    if (cancel_ != nullptr) {
      PQfreeCancel(cancel_);
    }
  }

  // Starts the (detached) thread; it holds `self` until it ends. False when no thread could be
  // started: statement_timeout and the keepalives are then the only bounds.
  static bool start(const std::shared_ptr<DeadlineWatchdog>& self) {
    try {
      std::thread([self] { self->run(); }).detach();
      return true;
    } catch (const std::system_error&) {
      return false;
    }
  }

  // Before the connection is closed (its socket number may be reused right after).
  void stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

  bool fired() const { return fired_.load(); }

 private:
  void run() {
    // Check workers may run as SCHED_IDLE (serve's background workers); the watchdog must not
    // wait for an idle CPU to fire. Best effort: RLIMIT_NICE may refuse it.
    sched_param normal{};
    sched_setscheduler(0, SCHED_OTHER, &normal);
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_until(lock, deadline_, [this] { return stopped_; })) {
      return;
    }
    fired_ = true;
    // The query's thread blocks in poll()/recv() on this socket: shutting it down wakes it with
    // an end of file now; the descriptor stays valid until the owner closes it (after stop()).
    ::shutdown(socket_, SHUT_RDWR);
    lock.unlock();
    // Ends the query on the server (it would otherwise run to statement_timeout). PQcancel has
    // no timeout: a peer that takes the cancel request and never closes holds this (detached)
    // thread for good. So at most one cancel per server is under way: while one hangs, later
    // deadlines on that server only cut their sockets, and a hung server cannot pile up threads.
    if (!begin_cancel(endpoint_)) {
      return;
    }
    char error[256];
    PQcancel(cancel_, error, sizeof error);
    end_cancel(endpoint_);
  }

  static std::mutex& cancels_mu() {
    static std::mutex mu;
    return mu;
  }
  static std::set<std::string>& cancels() {
    static std::set<std::string> under_way;
    return under_way;
  }
  static bool begin_cancel(const std::string& endpoint) {
    std::lock_guard<std::mutex> lock(cancels_mu());
    return cancels().insert(endpoint).second;
  }
  static void end_cancel(const std::string& endpoint) {
    std::lock_guard<std::mutex> lock(cancels_mu());
    cancels().erase(endpoint);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::atomic<bool> fired_{false};
  int socket_;
  PGcancel* cancel_;
  std::chrono::steady_clock::time_point deadline_;
  std::string endpoint_;  // host:port of the server the cancel goes to
};

namespace {

struct ConnectFailed : std::runtime_error {
  ConnectFailed(const std::string& message, std::string state, bool deadline)
      : std::runtime_error(message), sqlstate(std::move(state)), timed_out(deadline) {}
  std::string sqlstate;  // from the server's error, when it sent one
  bool timed_out;        // the deadline passed before the connection was up
};

// libpq resolves the host name inside PQconnectStart, with no timeout of its own (a stalled
// resolver would hold the check past its deadline). So a single host name is resolved here on
// a helper thread the check waits for until its deadline, and libpq gets the addresses as
// hostaddr, with host kept for TLS verification (verify-full, SNI) and the password file.
// Returns the conninfo to use: unchanged when there is nothing to resolve (an address, a
// socket directory, a host list, hostaddr given) or resolution failed (libpq then reports it).
// Throws ConnectFailed(timed_out) when the deadline passes first.
std::string with_resolved_host(const std::string& conninfo,
                               std::chrono::steady_clock::time_point deadline) {
  std::string host;
  std::string port;
  bool has_hostaddr = false;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), nullptr);
  if (parsed == nullptr) {
    return conninfo;
  }
  for (PQconninfoOption* option = parsed; option->keyword != nullptr; ++option) {
    const std::string keyword = option->keyword;
    const std::string value = option->val != nullptr ? option->val : "";
    if (keyword == "host") {
      host = value;
    } else if (keyword == "port") {
      port = value;
    } else if (keyword == "hostaddr") {
      has_hostaddr = !value.empty();
    }
  }
  PQconninfoFree(parsed);
  if (host.empty() || has_hostaddr || host[0] == '/' || host[0] == '@' ||
      host.find(',') != std::string::npos || port.find(',') != std::string::npos) {
    return conninfo;
  }
  unsigned char buffer[sizeof(in6_addr)];
  if (::inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
      ::inet_pton(AF_INET6, host.c_str(), buffer) == 1) {
    return conninfo;
  }
  struct Lookup {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::vector<std::string> addresses;
  };
  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host] {  // detached: a stalled resolver keeps only this thread
    std::vector<std::string> addresses;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* result = nullptr;
    if (::getaddrinfo(host.c_str(), nullptr, &hints, &result) == 0) {
      for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
        char text[INET6_ADDRSTRLEN] = {0};
        const void* address =
            ai->ai_family == AF_INET
                ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
                : static_cast<const void*>(
                      &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            ::inet_ntop(ai->ai_family, address, text, sizeof text) != nullptr &&
            std::find(addresses.begin(), addresses.end(), text) == addresses.end()) {
          addresses.emplace_back(text);
        }
      }
      ::freeaddrinfo(result);
    }
    std::lock_guard<std::mutex> lock(lookup->mu);
    lookup->addresses = std::move(addresses);
    lookup->done = true;
    lookup->cv.notify_all();
  })
      .detach();
  std::unique_lock<std::mutex> lock(lookup->mu);
  if (!lookup->cv.wait_until(lock, deadline, [&] { return lookup->done; })) {
    throw ConnectFailed("", "", true);
  }
  if (lookup->addresses.empty()) {
    return conninfo;  // libpq resolves again and reports the failure in its words
  }
  // Later keywords win; one entry of host per address (libpq pairs the lists), one port for
  // all.
  std::string hosts;
  std::string addresses;
  for (const auto& address : lookup->addresses) {
    hosts += (hosts.empty() ? "" : ",") + host;
    addresses += (addresses.empty() ? "" : ",") + address;
  }
  return conninfo + " host=" + quote_conninfo_value(hosts) +
         " hostaddr=" + quote_conninfo_value(addresses);
}

class DeadlineConnectPolicy : public pqxx::connectionpolicy {
 public:
  DeadlineConnectPolicy(const std::string& conninfo, std::chrono::steady_clock::time_point deadline)
      : pqxx::connectionpolicy(conninfo), deadline_(deadline) {}

  handle do_startconnect(handle orig) override {
    if (orig != nullptr) {
      return orig;
    }
    PGconn* conn = PQconnectStart(with_resolved_host(options(), deadline_).c_str());
    if (conn == nullptr) {
      throw std::bad_alloc();
    }
    // Server errors then carry their SQLSTATE: classified by code, not by (translated) text.
    PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
    PostgresPollingStatusType status =
        PQstatus(conn) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(
          deadline_ - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        PQfinish(conn);
        throw ConnectFailed("", "", true);
      }
      pollfd fd{};
      fd.fd = PQsocket(conn);
      fd.events = status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
      const int ready = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
      if (ready < 0 && errno != EINTR) {
        break;
      }
      if (ready > 0) {
        status = PQconnectPoll(conn);
      }
    }
    if (status != PGRES_POLLING_OK) {
      const std::string message = PQerrorMessage(conn);
      PQfinish(conn);
      throw ConnectFailed(message, sqlstate_in_verbose_message(message), false);
    }
    PQsetErrorVerbosity(conn, PQERRORS_DEFAULT);
    connected_ = conn;
    return conn;
  }

  PGconn* connected() const { return connected_; }

 private:
  std::chrono::steady_clock::time_point deadline_;
  PGconn* connected_ = nullptr;
};

// A libpqxx connection established through DeadlineConnectPolicy.
class DeadlineConnection : public pqxx::connection_base {
 public:
  DeadlineConnection(const std::string& conninfo, std::chrono::steady_clock::time_point deadline)
      : pqxx::connection_base(policy_), policy_(conninfo, deadline) {
    init();
  }
  ~DeadlineConnection() noexcept { close(); }
  PGconn* raw() const { return policy_.connected(); }

 private:
  DeadlineConnectPolicy policy_;
};

std::string seconds_text(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) {
    return std::to_string(duration.count() / 1000) + "s";
  }
  return std::to_string(duration.count()) + "ms";
}

}  // namespace

void PgSession::Impl::ConnectionDeleter::operator()(pqxx::connection_base* connection) const {
  delete static_cast<DeadlineConnection*>(connection);
}

PgSession::Impl::~Impl() {
  if (watchdog) {
    watchdog->stop();
  }
  try {
    transaction.reset();
  } catch (...) {
  }
  try {
    connection.reset();
  } catch (...) {
  }
}

bool PgSession::Impl::deadline_passed() const {
  return (watchdog && watchdog->fired()) || std::chrono::steady_clock::now() >= deadline;
}

void PgSession::Impl::begin_in_snapshot(const std::string& snapshot_id) {
  if (transaction) {
    throw Error(error_reason::kInternal, "begin_in_snapshot inside a transaction", target);
  }
  import_snapshot = snapshot_id;
  tx();
}

ReadTransaction& PgSession::Impl::tx() {
  if (!transaction) {
    constexpr const char* kBegin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; ";
    try {
      transaction = std::make_unique<ReadTransaction>(*connection, "driftwatch");
      ahead = kBegin;
      if (!import_snapshot.empty()) {
        // Must be the transaction's first statement; sent now, so that a snapshot that cannot
        // be imported fails here ("begin"), not in the middle of the reads.
        const std::string snapshot = std::exchange(import_snapshot, std::string());
        ++queries;
        ++round_trips;
        begun = true;
        transaction->exec(std::exchange(ahead, std::string()) + "SET TRANSACTION SNAPSHOT " +
                          transaction->quote(snapshot));
      }
      // Inside the transaction, so it works through PgBouncer's transaction pooling too (no
      // session state left on a shared server connection). Sent with the first statement.
      ahead += local_settings + "; ";
    } catch (...) {
      rethrow_mapped("begin");
    }
  }
  return *transaction;
}

void PgSession::Impl::end_read_transaction() noexcept {
  if (transaction && begun) {
    try {
      // Read only: nothing to commit. On a broken or cut connection this fails at once.
      ++round_trips;
      transaction->exec("ROLLBACK");
    } catch (...) {
    }
  }
  try {
    transaction.reset();
  } catch (...) {
  }
  begun = false;
  ahead.clear();
}

namespace {

// `sql` with $1..$n replaced by the quoted `params` (outside quoted literals, identifiers and
// comments), so that the statement can share a simple-protocol message with others. Our SQL
// constants only: no dollar quoting.
std::string inline_params(const std::string& sql, const std::vector<std::string>& params,
                          ReadTransaction& t) {
  std::string out;
  out.reserve(sql.size() + 64);
  const size_t n = sql.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      const size_t close = sql.find(c, i + 1);
      const size_t end = close == std::string::npos ? n : close + 1;
      out.append(sql, i, end - i);
      i = end - 1;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      const size_t eol = sql.find('\n', i);
      const size_t end = eol == std::string::npos ? n : eol;
      out.append(sql, i, end - i);
      i = end - 1;
    } else if (c == '$' && i + 1 < n && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
      size_t j = i + 1;
      size_t index = 0;
      while (j < n && std::isdigit(static_cast<unsigned char>(sql[j]))) {
        index = index * 10 + static_cast<size_t>(sql[j] - '0');
        ++j;
      }
      if (index < 1 || index > params.size()) {
        throw std::logic_error("statement parameter $" + std::to_string(index) + " not given");
      }
      out += t.quote(params[index - 1]);
      i = j - 1;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

pqxx::result PgSession::Impl::exec(const char* name, const std::string& sql,
                                   const std::vector<std::string>& params) {
  if (deadline_passed()) {
    throw Error(error_reason::kTimeout,
                "check did not finish within its timeout of " + seconds_text(timeout) + " (" +
                    name + " on " + endpoint + ")",
                target);
  }
  ReadTransaction& t = tx();
  ++queries;
  try {
    // One message (simple protocol; its result is the last statement's): what is due ahead of
    // this statement, then the statement with its parameters inlined.
    std::string message = std::exchange(ahead, std::string());
    message += params.empty() ? sql : inline_params(sql, params, t);
    begun = true;
    ++round_trips;
    return t.exec(message);
  } catch (...) {
    rethrow_mapped(name);
  }
}

pqxx::result PgSession::Impl::exec_released(const char* name, const std::string& sql) {
  pqxx::result rows = exec(name, "SAVEPOINT driftwatch_read; " + sql);
  // ROLLBACK TO releases the subtransaction's locks; RELEASE then leaves the savepoint. Sent
  // ahead of the next statement (the transaction's end releases them as well).
  ahead += "ROLLBACK TO SAVEPOINT driftwatch_read; RELEASE SAVEPOINT driftwatch_read; ";
  return rows;
}

void PgSession::Impl::rethrow_mapped(const char* name) {
  // The transaction is unusable after any failure: roll it back (nothing to undo).
  auto end = [this] { end_read_transaction(); };
  const std::string where = std::string(" (") + name + " on " + endpoint + ")";
  if (watchdog && watchdog->fired()) {
    // The watchdog cut the connection: whatever libpq says about it, the cause is the deadline.
    end();
    throw Error(error_reason::kTimeout,
                "check did not finish within its timeout of " + seconds_text(timeout) +
                    "; query cancelled and connection abandoned" + where,
                target);
  }
  try {
    throw;
  } catch (const pqxx::broken_connection& e) {
    end();
    throw Error(error_reason::kConnect,
                "connection to " + endpoint + " lost: " + clean_pg_message(e.what(), secret),
                target);
  } catch (const pqxx::sql_error& e) {
    end();
    const std::string state = sqlstate_of(e);
    std::string message = clean_pg_message(e.what(), secret);
    if (state == "57014" && message.find("statement timeout") != std::string::npos) {
      message = "statement timeout: " + message;
    }
    throw Error(reason_for_sqlstate(state), message + where, target, state);
  } catch (const Error&) {
    end();
    throw;
  } catch (const std::exception& e) {
    end();
    throw Error(error_reason::kQuery, clean_pg_message(e.what(), secret) + where, target);
  }
}

PgSession::PgSession(const std::string& url, const IntrospectOptions& options, std::string target)
    : impl_(std::make_unique<Impl>()) {
  impl_->target = std::move(target);
  impl_->timeout = options.timeout;
  impl_->deadline = options.deadline != std::chrono::steady_clock::time_point{}
                        ? options.deadline
                        : std::chrono::steady_clock::now() + options.timeout;
  impl_->local_settings = session_local_settings(options);
  std::string conninfo;
  ParsedConninfo parsed;
  try {
    conninfo = build_session_conninfo(url, options);
    parsed = parse_conninfo(url);
  } catch (const Error& error) {
    throw Error(error.reason(), error.what(), impl_->target);
  }
  impl_->endpoint = describe_endpoint(parsed);
  impl_->secret = parsed.get("password");
  impl_->url = url;
  DeadlineConnection* connection = nullptr;
  for (;;) {
    try {
      connection = new DeadlineConnection(conninfo, impl_->deadline);
      impl_->connection.reset(connection);
      break;
    } catch (const ConnectFailed& e) {
      if (e.timed_out) {
        throw Error(error_reason::kTimeout,
                    "connection to " + impl_->endpoint + " not established within the check's " +
                        "timeout of " + seconds_text(options.timeout),
                    impl_->target);
      }
      // PgBouncer refuses startup parameters it does not know ("unsupported startup parameter:
      // options", SQLSTATE 08P01): connect without them; the SET LOCAL statements at the start
      // of every transaction apply the same settings.
      if (e.sqlstate == "08P01" && impl_->startup_options) {
        impl_->startup_options = false;
        conninfo = build_session_conninfo(url, options, /*with_server_options=*/false);
        continue;
      }
      const ConnectFailure failure = describe_connect_failure(
          e.what(), impl_->endpoint, connect_timeout_seconds(options), impl_->secret);
      throw Error(failure.reason, failure.message, impl_->target, e.sqlstate);
    } catch (const std::exception& e) {
      throw Error(
          error_reason::kConnect,
          "cannot connect to " + impl_->endpoint + ": " + clean_pg_message(e.what(), impl_->secret),
          impl_->target);
    }
  }
  PGconn* raw = connection->raw();
  if (raw != nullptr) {
    auto watchdog =
        std::make_shared<DeadlineWatchdog>(PQsocket(raw), PQgetCancel(raw), impl_->deadline,
                                           std::string(PQhost(raw)) + ":" + PQport(raw));
    if (DeadlineWatchdog::start(watchdog)) {
      impl_->watchdog = std::move(watchdog);
    }
  }
}

PgSession::~PgSession() = default;

std::vector<PgSession::Row> PgSession::query(const std::string& sql) {
  const pqxx::result result = impl_->exec("query", sql);
  std::vector<Row> rows;
  rows.reserve(result.size());
  for (const auto& row : result) {
    Row out;
    out.reserve(row.size());
    for (const auto& field : row) {
      if (field.is_null()) {
        out.emplace_back(std::nullopt);
      } else {
        out.emplace_back(std::string(field.c_str(), field.size()));
      }
    }
    rows.push_back(std::move(out));
  }
  return rows;
}

void PgSession::end_transaction() {
  impl_->end_read_transaction();  // the rollback also releases a pending savepoint
  impl_->version_read.reset();    // it described the snapshot that just ended
}

int PgSession::query_count() const { return impl_->queries; }
int PgSession::round_trips() const { return impl_->round_trips; }
void PgSession::reset_query_count() { impl_->queries = 0; }
std::string PgSession::server_version() const {
  return format_server_version(server_version_num());
}
int PgSession::server_version_num() const { return impl_->connection->server_version(); }
int PgSession::backend_pid() const { return impl_->connection->backendpid(); }
const std::string& PgSession::target() const { return impl_->target; }
const std::string& PgSession::endpoint() const { return impl_->endpoint; }

}  // namespace driftwatch
