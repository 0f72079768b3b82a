#include "pg/scratch.hpp"

#include <pqxx/pqxx>

#include "driftwatch/check.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"
#include "pg/errors.hpp"

namespace driftwatch {

std::string url_with_database(const std::string& url, const std::string& dbname) {
  const bool uri = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  if (!uri) return url + " dbname='" + dbname + "'";
  const std::size_t authority = url.find("://") + 3;
  const std::size_t query = url.find('?', authority);
  const std::size_t path = url.find('/', authority);
  const std::string tail = query == std::string::npos ? "" : url.substr(query);
  const std::size_t end_of_authority =
      path != std::string::npos && (query == std::string::npos || path < query) ? path
      : query == std::string::npos                                              ? url.size()
                                                                                : query;
  return url.substr(0, end_of_authority) + "/" + dbname + tail;
}

namespace {

std::string quote_identifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// `url` with one more connection parameter (URI query parameter or conninfo keyword).
std::string with_parameter(const std::string& url, const std::string& key,
                           const std::string& value) {
  if (url.find("://") == std::string::npos) return url + " " + key + "=" + value;
  return url + (url.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
}

}  // namespace

ScratchServer::ScratchServer(std::string url, std::chrono::milliseconds timeout)
    : url_(std::move(url)), timeout_(timeout) {}

void ScratchServer::execute(const std::string& sql) const {
  try {
    const long long seconds = std::max<long long>(1, (timeout_.count() + 999) / 1000);
    pqxx::connection connection(
        with_parameter(with_parameter(url_, "connect_timeout", std::to_string(seconds)),
                       "application_name", "driftwatch-replay"));
    pqxx::nontransaction work(connection);
    work.exec("SET statement_timeout = " +
              std::to_string(std::max<long long>(1, timeout_.count())));
    work.exec(sql);
  } catch (const pqxx::broken_connection& e) {
    throw Error(error_reason::kConnect,
                "scratch server " + redact_url(url_) + ": " + clean_pg_message(e.what(), ""));
  } catch (const pqxx::sql_error& e) {
    throw Error(reason_for_sqlstate(e.sqlstate()),
                "scratch server " + redact_url(url_) + ": " + clean_pg_message(e.what(), ""));
  }
}

void ScratchServer::create_database(const std::string& name,
                                    const std::string& template_name) const {
  execute("CREATE DATABASE " + quote_identifier(name) + " TEMPLATE " +
          quote_identifier(template_name.empty() ? std::string("template0") : template_name));
}

std::string ScratchServer::drop_database(const std::string& name) const {
  try {
    execute("DROP DATABASE IF EXISTS " + quote_identifier(name) + " WITH (FORCE)");
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::string ScratchServer::url_for(const std::string& name) const {
  return url_with_database(url_, name);
}

}  // namespace driftwatch
