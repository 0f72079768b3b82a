#include "pg/session.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <memory>

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
  conninfo += " options=" + quote_conninfo_value(server_options);
  return conninfo;
}

ReadTransaction& PgSession::Impl::tx() {
  if (!transaction) {
    try {
      transaction = std::make_unique<ReadTransaction>(*connection, "driftwatch");
    } catch (...) {
      rethrow_mapped("begin");
    }
  }
  return *transaction;
}

pqxx::result PgSession::Impl::exec(const char* name, const std::string& sql,
                                   const std::vector<std::string>& params) {
  ReadTransaction& t = tx();
  ++queries;
  try {
    if (params.empty()) {
      return t.exec(sql);
    }
    return t.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
  } catch (...) {
    rethrow_mapped(name);
  }
}

void PgSession::Impl::rethrow_mapped(const char* name) {
  // The transaction is unusable after any failure; dropping it rolls back (nothing to undo).
  auto end = [this] {
    try {
      transaction.reset();
    } catch (...) {
    }
  };
  const std::string where = std::string(" (") + name + " on " + endpoint + ")";
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
  try {
    impl_->connection = std::make_unique<pqxx::connection>(conninfo);
  } catch (const pqxx::broken_connection& e) {
    const ConnectFailure failure = describe_connect_failure(
        e.what(), impl_->endpoint, connect_timeout_seconds(options), impl_->secret);
    throw Error(failure.reason, failure.message, impl_->target);
  } catch (const std::exception& e) {
    throw Error(
        error_reason::kConnect,
        "cannot connect to " + impl_->endpoint + ": " + clean_pg_message(e.what(), impl_->secret),
        impl_->target);
  }
}

PgSession::~PgSession() {
  if (!impl_) {
    return;
  }
  try {
    impl_->transaction.reset();
    impl_->connection.reset();
  } catch (...) {
  }
}

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
  try {
    // Explicit abort: nothing was written, and a read-only transaction has nothing to commit.
    if (impl_->transaction) {
      impl_->transaction->abort();
    }
  } catch (...) {
  }
  impl_->transaction.reset();
  impl_->version_read.reset();  // it described the snapshot that just ended
}

int PgSession::query_count() const { return impl_->queries; }
void PgSession::reset_query_count() { impl_->queries = 0; }
std::string PgSession::server_version() const {
  return format_server_version(server_version_num());
}
int PgSession::server_version_num() const { return impl_->connection->server_version(); }
int PgSession::backend_pid() const { return impl_->connection->backendpid(); }
const std::string& PgSession::target() const { return impl_->target; }
const std::string& PgSession::endpoint() const { return impl_->endpoint; }

}  // namespace driftwatch
