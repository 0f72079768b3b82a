// Connection strings: one reading of a URL's userinfo, used both to hand libpq exactly the
// password the user wrote (normalize_database_url) and to mask exactly that password wherever
// a URL is printed (redact_url); and secret-free descriptions of URL sources.
#include <cctype>
#include <string>

#include "driftwatch/config.hpp"

namespace driftwatch {

namespace {

constexpr const char* kMask = "***";

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool is_scheme_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '.' || c == '-';
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// Where the parts of a URI sit in a text: `scheme:` at scheme_begin, the authority after the
// ':' and up to two slashes. With userinfo (user[:password]@), `at` is the '@' ending it and
// `colon` the ':' before the password (npos without one).
struct UriLayout {
  std::size_t scheme_begin = 0;
  std::size_t scheme_end = 0;  // the ':'
  std::size_t authority = 0;
  std::size_t at = std::string::npos;
  std::size_t colon = std::string::npos;
};

// The userinfo ends at the last '@' before the query: passwords may hold unescaped '@', ':',
// '/' (libpq would split at the first '@' and report the rest of the password as the host).
// The query starts at the first '?' or '#' after the first '/' that follows the first '@'.
void find_userinfo(const std::string& text, UriLayout& uri) {
  if (uri.authority >= text.size() || text[uri.authority] == '/') return;  // no authority
  const std::size_t first_at = text.find('@', uri.authority);
  if (first_at == std::string::npos) return;
  const std::size_t slash = text.find('/', first_at);
  const std::size_t query =
      slash == std::string::npos ? std::string::npos : text.find_first_of("?#", slash);
  const std::size_t at = text.rfind('@', query == std::string::npos ? std::string::npos : query);
  uri.at = at;
  const std::size_t colon = text.find(':', uri.authority);
  if (colon < at) uri.colon = colon;
}

// The next URI in `text` at or after `from` ("scheme:/..." with a scheme starting with a
// letter); false if there is none.
bool next_uri(const std::string& text, std::size_t from, UriLayout& uri) {
  for (std::size_t p = text.find(":/", from); p != std::string::npos; p = text.find(":/", p + 1)) {
    std::size_t begin = p;
    while (begin > from && is_scheme_char(text[begin - 1])) --begin;
    while (begin < p && !std::isalpha(static_cast<unsigned char>(text[begin]))) ++begin;
    if (begin == p) continue;
    uri = UriLayout{};
    uri.scheme_begin = begin;
    uri.scheme_end = p;
    uri.authority = p + 1;
    for (int slashes = 0; slashes < 2 && uri.authority < text.size() && text[uri.authority] == '/';
         ++slashes) {
      ++uri.authority;
    }
    find_userinfo(text, uri);
    return true;
  }
  return false;
}

std::string mask_uri_passwords(std::string text) {
  UriLayout uri;
  std::size_t from = 0;
  while (next_uri(text, from, uri)) {
    from = uri.authority;
    if (uri.colon != std::string::npos && uri.colon + 1 < uri.at) {
      text.replace(uri.colon + 1, uri.at - uri.colon - 1, kMask);
      from = uri.colon + 1 + std::string(kMask).size() + 1;
    }
  }
  return text;
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// `password=VALUE` as a URI query parameter (?/& before it: the value ends at '&' or '#') or
// as a conninfo keyword (start or whitespace before it, spaces around '=' allowed, the value
// quoted with '...' or ending at whitespace).
std::string mask_password_parameters(std::string text) {
  static const std::string kKey = "password";
  for (std::size_t pos = 0; pos + kKey.size() <= text.size(); ++pos) {
    bool match = true;
    for (std::size_t k = 0; k < kKey.size() && match; ++k) match = lower(text[pos + k]) == kKey[k];
    if (!match) continue;
    const char before = pos == 0 ? ' ' : text[pos - 1];
    const bool query = before == '?' || before == '&';
    if (!query && !is_space(before)) continue;
    std::size_t p = pos + kKey.size();
    if (!query) {
      while (p < text.size() && is_space(text[p])) ++p;
    }
    if (p >= text.size() || text[p] != '=') continue;
    ++p;
    if (!query) {
      while (p < text.size() && is_space(text[p])) ++p;
    }
    const std::size_t value_start = p;
    if (query) {
      while (p < text.size() && text[p] != '&' && text[p] != '#') ++p;
    } else if (p < text.size() && text[p] == '\'') {
      for (++p; p < text.size() && text[p] != '\''; ++p) {
        if (text[p] == '\\' && p + 1 < text.size()) ++p;
      }
      if (p < text.size()) ++p;  // closing quote
    } else {
      for (; p < text.size() && !is_space(text[p]); ++p) {
        if (text[p] == '\\' && p + 1 < text.size()) ++p;
      }
    }
    if (p > value_start) text.replace(value_start, p - value_start, kMask);
    pos = value_start;
  }
  return text;
}

// Percent-encodes what RFC 3986 does not allow in userinfo; valid %XX escapes stay.
std::string encode_userinfo_part(const std::string& part) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < part.size(); ++i) {
    const char c = part[i];
    const auto u = static_cast<unsigned char>(c);
    const bool unreserved = std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~';
    const bool escape =
        c == '%' && i + 2 < part.size() && is_hex(part[i + 1]) && is_hex(part[i + 2]);
    const bool sub_delim = std::string("!$&'()*+,;=").find(c) != std::string::npos;
    if (unreserved || escape || sub_delim) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

}  // namespace

bool is_database_url(const std::string& text) {
  UriLayout uri;
  if (!next_uri(text, 0, uri) || uri.scheme_begin != 0) return false;
  if (text.compare(uri.scheme_end, 3, "://") != 0) return false;
  std::string scheme;
  for (std::size_t i = 0; i < uri.scheme_end; ++i) scheme += lower(text[i]);
  // SQLAlchemy's dialect+driver form: postgresql+psycopg2://, postgresql+asyncpg://, ...
  const std::size_t plus = scheme.find('+');
  if (plus != std::string::npos) scheme.resize(plus);
  return scheme == "postgresql" || scheme == "postgres";
}

std::string normalize_database_url(const std::string& url) {
  if (!is_database_url(url)) return url;
  UriLayout uri;
  next_uri(url, 0, uri);
  std::string out = "postgresql://";
  std::size_t rest = uri.authority;
  if (uri.at != std::string::npos) {
    const std::size_t user_end = uri.colon != std::string::npos ? uri.colon : uri.at;
    out += encode_userinfo_part(url.substr(uri.authority, user_end - uri.authority));
    if (uri.colon != std::string::npos) {
      out += ':';
      out += encode_userinfo_part(url.substr(uri.colon + 1, uri.at - uri.colon - 1));
    }
    out += '@';
    rest = uri.at + 1;
  }
  return out + url.substr(rest);
}

std::string redact_url(const std::string& url) {
  return mask_password_parameters(mask_uri_passwords(url));
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
    UriLayout uri;
    if (!next_uri(url, 0, uri) || uri.scheme_begin != 0 || is_database_url(url)) {
      return "url " + redact_url(url);
    }
    // Webhook URLs (Slack, generic) carry their secret in the path: show scheme and host only.
    std::size_t host_start = uri.at != std::string::npos ? uri.at + 1 : uri.authority;
    std::size_t host_end = url.find_first_of("/?#", host_start);
    if (host_end == std::string::npos) host_end = url.size();
    return "url " + url.substr(0, uri.scheme_end) + "://" +
           url.substr(host_start, host_end - host_start) + (host_end < url.size() ? "/***" : "");
  }
  return "none";
}

}  // namespace driftwatch
