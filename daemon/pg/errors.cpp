#include "pg/errors.hpp"

#include <cctype>
#include <sstream>
#include <vector>

#include "driftwatch/check.hpp"
#include "driftwatch/config.hpp"

namespace driftwatch {
namespace {

bool contains(const std::string& text, const char* needle) {
  return text.find(needle) != std::string::npos;
}

std::string strip(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) {
    return "";
  }
  const auto end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    line = strip(line);
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  return lines;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  if (from.empty()) {
    return text;
  }
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

// The part after the last "FATAL:  " / "ERROR:  " marker: libpq prefixes server messages with
// "connection to server at ..., port ... failed: ".
std::string server_part(const std::string& line) {
  for (const char* marker : {"FATAL:  ", "ERROR:  ", "FATAL: ", "ERROR: "}) {
    const auto pos = line.rfind(marker);
    if (pos != std::string::npos) {
      return line.substr(pos + std::string(marker).size());
    }
  }
  return line;
}

std::string quoted_host(const std::string& line) {
  // could not translate host name "db.example" to address: ...
  const auto open = line.find('"');
  if (open == std::string::npos) {
    return "";
  }
  const auto close = line.find('"', open + 1);
  if (close == std::string::npos) {
    return "";
  }
  return line.substr(open + 1, close - open - 1);
}

// Replaces the password wherever it occurs; a password shorter than 4 characters only where it
// stands alone (not inside a longer word), so that ordinary words are not mangled.
std::string mask_secret(std::string text, const std::string& secret) {
  if (secret.empty()) {
    return text;
  }
  if (secret.size() >= 4) {
    return replace_all(text, secret, "***");
  }
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + 1)) {
    const auto end = pos + secret.size();
    const bool alone = (pos == 0 || !word_char(text[pos - 1]) || !word_char(secret.front())) &&
                       (end == text.size() || !word_char(text[end]) || !word_char(secret.back()));
    if (alone) {
      text.replace(pos, secret.size(), "***");
      pos += 2;
    }
  }
  return text;
}

}  // namespace

const char* reason_for_sqlstate(const std::string& sqlstate) {
  if (sqlstate == "28P01" || sqlstate == "28000") {
    return error_reason::kAuth;
  }
  if (sqlstate == "42501") {
    return error_reason::kPermission;
  }
  if (sqlstate == "57014" || sqlstate == "55P03") {
    return error_reason::kTimeout;
  }
  if (sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" ||
      sqlstate == "57P03") {
    return error_reason::kConnect;
  }
  return error_reason::kQuery;
}

std::string clean_pg_message(const std::string& text, const std::string& secret) {
  std::string line;
  for (const auto& candidate : lines_of(text)) {
    // Skip libpq's hints ("Is the server running ...") and LINE/caret context.
    if (candidate.rfind("Is the server", 0) == 0 || candidate.rfind("LINE ", 0) == 0 ||
        candidate.rfind("^", 0) == 0) {
      continue;
    }
    line = candidate;
    break;
  }
  line = server_part(line);
  line = redact_url(line);
  return mask_secret(line, secret);
}

std::string sqlstate_in_verbose_message(const std::string& message) {
  std::string found;
  for (auto pos = message.find(":  "); pos != std::string::npos;
       pos = message.find(":  ", pos + 1)) {
    const auto code = pos + 3;
    if (code + 7 > message.size() || message[code + 5] != ':' || message[code + 6] != ' ') {
      continue;
    }
    bool valid = true;
    for (auto i = code; i < code + 5; ++i) {
      const char c = message[i];
      valid = valid && ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'));
    }
    if (valid) {
      found = message.substr(code, 5);
    }
  }
  return found;
}

ConnectFailure describe_connect_failure(const std::string& libpq_message,
                                        const std::string& endpoint, int connect_timeout_seconds,
                                        const std::string& secret) {
  const std::string sqlstate = sqlstate_in_verbose_message(libpq_message);
  if (!sqlstate.empty()) {
    // The server's own words after the code (translated by its lc_messages; shown, never parsed).
    const std::string token = ":  " + sqlstate + ": ";
    const auto at = libpq_message.rfind(token);
    const auto start = at + token.size();
    const auto stop = libpq_message.find('\n', start);
    const std::string text = clean_pg_message(
        libpq_message.substr(start, stop == std::string::npos ? stop : stop - start), secret);
    if (sqlstate.rfind("28", 0) == 0) {
      return {error_reason::kAuth, text, sqlstate};
    }
    if (sqlstate == "42501") {
      return {error_reason::kPermission, text + " on " + endpoint, sqlstate};
    }
    return {error_reason::kConnect, text + " on " + endpoint, sqlstate};
  }
  const std::vector<std::string> lines = lines_of(libpq_message);
  // With several addresses (localhost -> ::1, 127.0.0.1) libpq reports each attempt; an
  // authentication or server-side answer is more telling than a refusal from another address.
  for (const auto& line : lines) {
    if (contains(line, "password authentication failed") ||
        contains(line, "no password supplied") || contains(line, "authentication failed") ||
        contains(line, "pg_hba.conf") || contains(line, "is not permitted to log in") ||
        (contains(line, "role \"") && contains(line, "does not exist"))) {
      return {error_reason::kAuth, clean_pg_message(line, secret), ""};
    }
  }
  for (const auto& line : lines) {
    if (contains(line, "database \"") && contains(line, "does not exist")) {
      return {error_reason::kConnect, clean_pg_message(line, secret) + " on " + endpoint, ""};
    }
    if (contains(line, "could not translate host name")) {
      const std::string host = quoted_host(line);
      return {error_reason::kConnect,
              "unknown host " + (host.empty() ? endpoint : clean_pg_message(host, secret)), ""};
    }
    if (contains(line, "Connection refused")) {
      return {error_reason::kConnect, "connection to " + endpoint + " refused", ""};
    }
    if (contains(line, "timeout expired")) {
      return {error_reason::kConnect,
              "connection to " + endpoint + " timed out after " +
                  std::to_string(connect_timeout_seconds) + "s",
              ""};
    }
    if (contains(line, "No such file or directory")) {
      return {error_reason::kConnect, "no PostgreSQL socket at " + endpoint, ""};
    }
    if (contains(line, "No route to host") || contains(line, "Network is unreachable")) {
      return {error_reason::kConnect, "no route to " + endpoint, ""};
    }
  }
  const std::string detail = clean_pg_message(libpq_message, secret);
  return {error_reason::kConnect,
          "cannot connect to " + endpoint + (detail.empty() ? "" : ": " + detail), ""};
}

}  // namespace driftwatch
