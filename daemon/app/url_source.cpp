// URL sources: env, file and command resolution at check time.
#include "url_source.hpp"

#include <libpq-fe.h>

#include <cstdlib>
#include <vector>

#include "app/child_process.hpp"
#include "aws/rds_token.hpp"
#include "driftwatch/bounded_read.hpp"
#include "driftwatch/check.hpp"
#include "driftwatch/error.hpp"

namespace driftwatch {

namespace {

constexpr std::size_t kMaxOutputBytes = 1 << 20;

std::string trim(const std::string& text) {
  const char* whitespace = " \t\r\n\f\v";
  const std::size_t begin = text.find_first_not_of(whitespace);
  if (begin == std::string::npos) return "";
  const std::size_t end = text.find_last_not_of(whitespace);
  return text.substr(begin, end - begin + 1);
}

[[noreturn]] void fail(const UrlSource& source, const std::string& what) {
  throw Error(error_reason::kConfig, source.describe() + ": " + what);
}

std::string read_env(const UrlSource& source) {
  const char* value = std::getenv(source.env.c_str());
  if (value == nullptr) fail(source, "environment variable is not set");
  if (*value == '\0') fail(source, "environment variable is empty");
  return value;
}

std::string read_file(const UrlSource& source) {
  std::string text;
  std::string why;
  if (!read_regular_file(source.file, kMaxOutputBytes, text, why))
    fail(source, "cannot read: " + why);
  std::string value = trim(text);
  if (value.empty()) fail(source, "file is empty");
  return value;
}

std::string run_command(const UrlSource& source, std::chrono::milliseconds timeout) {
  ChildCommand command;
  command.argv = source.command;
  command.timeout = timeout;
  command.output_limit = kMaxOutputBytes;
  const ChildResult result = run_child(command);
  // The output is the secret: never part of a message.
  if (!result.ok()) fail(source, result.describe(command));
  std::string value = trim(result.output);
  if (value.empty()) fail(source, "printed nothing");
  return value;
}

}  // namespace

std::string resolve_url_source(const UrlSource& source, std::chrono::milliseconds timeout) {
  if (!source.env.empty()) return read_env(source);
  if (!source.file.empty()) return read_file(source);
  if (!source.command.empty()) return run_command(source, timeout);
  if (!source.url.empty()) return source.url;
  throw Error(error_reason::kConfig, "no URL source configured");
}

namespace {

std::string quote_conninfo(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

// Keywords given explicitly in a URL or key=value string, in libpq's order.
std::vector<std::pair<std::string, std::string>> conninfo_values(const std::string& url,
                                                                 const UrlSource& source) {
  std::vector<std::pair<std::string, std::string>> values;
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    if (error != nullptr) PQfreemem(error);
    // libpq's message may quote the URL: not repeated.
    throw Error(error_reason::kConfig, source.describe() + ": not a valid PostgreSQL URL");
  }
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val != nullptr) values.emplace_back(option->keyword, option->val);
  }
  PQconninfoFree(options);
  return values;
}

}  // namespace

std::string resolve_connection_url(const UrlSource& source, const DbAuthConfig& auth,
                                   std::chrono::milliseconds timeout) {
  const bool has_source =
      !source.url.empty() || !source.env.empty() || !source.file.empty() || !source.command.empty();
  if (!auth.rds_iam()) return resolve_url_source(source, timeout);
  std::vector<std::pair<std::string, std::string>> values;
  if (has_source) values = conninfo_values(resolve_url_source(source, timeout), source);
  auto get = [&](const std::string& key) {
    for (const auto& [k, v] : values) {
      if (k == key) return v;
    }
    return std::string();
  };
  const std::string host = auth.host.empty() ? get("host") : auth.host;
  const std::string port_text = auth.port != 0 ? std::to_string(auth.port) : get("port");
  const std::string user = auth.user.empty() ? get("user") : auth.user;
  const std::string database = auth.database.empty() ? get("dbname") : auth.database;
  if (host.empty() || host.front() == '/' || host.find(',') != std::string::npos) {
    throw Error(error_reason::kConfig,
                "RDS IAM: one host name is required (from host or the URL), not a socket "
                "directory or a list");
  }
  if (user.empty()) throw Error(error_reason::kConfig, "RDS IAM: no user (set user or the URL's)");
  int port = 5432;
  if (!port_text.empty()) {
    try {
      port = std::stoi(port_text);
    } catch (const std::exception&) {
      throw Error(error_reason::kConfig, "RDS IAM: invalid port " + port_text);
    }
  }
  std::string region = auth.region;
  if (region.empty()) region = aws::region_from_rds_host(host);
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (!region.empty()) break;
    if (const char* value = std::getenv(name); value != nullptr) region = value;
  }
  if (region.empty()) {
    throw Error(error_reason::kConfig, "RDS IAM for " + host +
                                           ": no region (set region, or AWS_REGION, or use the "
                                           "*.REGION.rds.amazonaws.com endpoint name)");
  }
  const std::string token = aws::rds_token_provider().token(
      aws::RdsTokenRequest{host, port, user, region, auth.role_arn});

  std::string conninfo;
  for (const auto& [key, value] : values) {
    // Replaced below; everything else the URL says (connect_timeout, options, ...) stays. A
    // hostaddr (connect to this IP, verify the certificate against host) stays unless host is
    // overridden, since it would then point at another server.
    if (key == "host" || key == "port" || key == "user" || key == "dbname" || key == "password" ||
        key == "passfile" || key == "sslmode" || key == "sslrootcert" ||
        (key == "hostaddr" && !auth.host.empty())) {
      continue;
    }
    conninfo += key + "=" + quote_conninfo(value) + " ";
  }
  conninfo += "host=" + quote_conninfo(host) + " port=" + std::to_string(port) +
              " user=" + quote_conninfo(user);
  if (!database.empty()) conninfo += " dbname=" + quote_conninfo(database);
  conninfo += " sslmode=verify-full";
  if (!auth.ca_bundle.empty()) conninfo += " sslrootcert=" + quote_conninfo(auth.ca_bundle);
  conninfo += " password=" + quote_conninfo(token);
  return conninfo;
}

}  // namespace driftwatch
