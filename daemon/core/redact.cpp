// Secret redaction for connection strings, and secret-free descriptions of URL sources.
#include <cctype>
#include <string>

#include "driftwatch/config.hpp"

namespace driftwatch {

namespace {

constexpr const char* kMask = "***";

bool starts_with_ci(const std::string& text, std::size_t pos, const std::string& prefix) {
  if (text.size() - pos < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[pos + i])) != prefix[i]) return false;
  }
  return true;
}

// Masks the value of every `password=` query parameter of a URL, from `query_start` on.
std::string redact_query_password(std::string url, std::size_t query_start) {
  std::size_t pos = query_start;
  while (pos < url.size()) {
    const char sep = url[pos];
    if ((sep == '?' || sep == '&') && starts_with_ci(url, pos + 1, "password=")) {
      const std::size_t value_start = pos + 1 + std::string("password=").size();
      std::size_t value_end = url.find_first_of("&#", value_start);
      if (value_end == std::string::npos) value_end = url.size();
      if (value_end > value_start) url.replace(value_start, value_end - value_start, kMask);
      pos = value_start;
    }
    ++pos;
  }
  return url;
}

std::string redact_uri(const std::string& url, std::size_t scheme_end) {
  const std::size_t authority_start = scheme_end + 3;  // after "://"
  std::string out = url;
  std::size_t query_from = authority_start;
  const std::size_t first_at = url.find('@', authority_start);
  if (first_at != std::string::npos) {
    // A password may contain an unescaped '@' (libpq accepts it): the userinfo ends at the last
    // '@' before the path, which begins at the first '/' after the first '@'.
    std::size_t path_start = url.find_first_of("/?#", first_at);
    if (path_start == std::string::npos) path_start = url.size();
    const std::size_t userinfo_end = url.rfind('@', path_start - 1);
    const std::size_t colon = url.find(':', authority_start);
    if (colon != std::string::npos && colon + 1 < userinfo_end) {
      out.replace(colon + 1, userinfo_end - colon - 1, kMask);
      query_from = colon + 1 + std::string(kMask).size();
    }
  }
  const std::size_t query = out.find('?', query_from);
  if (query == std::string::npos) return out;
  return redact_query_password(out, query);
}

// libpq key=value conninfo: `host=h password=secret` or `password = 'se cret'`.
std::string redact_conninfo(const std::string& conninfo) {
  std::string out;
  std::size_t pos = 0;
  const std::size_t n = conninfo.size();
  while (pos < n) {
    // Copy whitespace.
    while (pos < n && std::isspace(static_cast<unsigned char>(conninfo[pos])))
      out += conninfo[pos++];
    if (pos >= n) break;
    const std::size_t key_start = pos;
    while (pos < n && conninfo[pos] != '=' &&
           !std::isspace(static_cast<unsigned char>(conninfo[pos])))
      ++pos;
    const std::string key = conninfo.substr(key_start, pos - key_start);
    out += key;
    while (pos < n && std::isspace(static_cast<unsigned char>(conninfo[pos])))
      out += conninfo[pos++];
    if (pos >= n || conninfo[pos] != '=') continue;  // not key=value: copied verbatim
    out += conninfo[pos++];
    while (pos < n && std::isspace(static_cast<unsigned char>(conninfo[pos])))
      out += conninfo[pos++];
    const std::size_t value_start = pos;
    if (pos < n && conninfo[pos] == '\'') {
      ++pos;
      while (pos < n && conninfo[pos] != '\'') {
        if (conninfo[pos] == '\\' && pos + 1 < n) ++pos;
        ++pos;
      }
      if (pos < n) ++pos;  // closing quote
    } else {
      while (pos < n && !std::isspace(static_cast<unsigned char>(conninfo[pos]))) {
        if (conninfo[pos] == '\\' && pos + 1 < n) ++pos;
        ++pos;
      }
    }
    if (key == "password" && pos > value_start) {
      out += kMask;
    } else {
      out += conninfo.substr(value_start, pos - value_start);
    }
  }
  return out;
}

}  // namespace

std::string redact_url(const std::string& url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end != std::string::npos) return redact_uri(url, scheme_end);
  if (url.find('=') != std::string::npos) return redact_conninfo(url);
  return url;
}

std::string UrlSource::describe() const {
  if (!env.empty()) return "env " + env;
  if (!file.empty()) return "file " + file;
  if (!command.empty()) {
    // Arguments may carry tokens; the program name is enough to tell sources apart.
    std::string text = "command " + command.front();
    if (command.size() > 1) text += " (+" + std::to_string(command.size() - 1) + " args)";
    return text;
  }
  if (!url.empty()) {
    const std::size_t scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return "url " + redact_url(url);
    const std::string scheme = url.substr(0, scheme_end);
    if (scheme == "postgresql" || scheme == "postgres") return "url " + redact_url(url);
    // Webhook URLs (Slack, generic) carry their secret in the path: show scheme and host only.
    const std::size_t host_start = scheme_end + 3;
    std::size_t host_end = url.find_first_of("/?#", host_start);
    if (host_end == std::string::npos) host_end = url.size();
    std::string host = url.substr(host_start, host_end - host_start);
    const std::size_t at = host.rfind('@');
    if (at != std::string::npos) host = host.substr(at + 1);
    return "url " + scheme + "://" + host + (host_end < url.size() ? "/***" : "");
  }
  return "none";
}

}  // namespace driftwatch
