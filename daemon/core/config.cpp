// Configuration: strict TOML parsing and validation. Every problem is collected (never the first
// only) with the line it is on, so an operator fixes a config file in one round.
//
// toml11's find/find_or helpers are deliberately not used: find_or swallows type errors and
// falls back to the default, which would let `concurrency = "8"` run with 8 silently replaced.
// Every table is walked by TableReader, which also reports the keys nobody asked for.
#include "driftwatch/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <toml.hpp>
#include <utility>

#include "driftwatch/bounded_read.hpp"
#include "driftwatch/utf8.hpp"

namespace driftwatch {

namespace {

using Value = toml::value;

int line_of(const Value& value) { return static_cast<int>(value.location().line()); }

const char* type_name(toml::value_t type) {
  switch (type) {
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a float";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::offset_datetime:
    case toml::value_t::local_datetime:
    case toml::value_t::local_date:
    case toml::value_t::local_time:
      return "a date/time";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    case toml::value_t::empty:
      break;
  }
  return "nothing";
}

std::string quote_text(const std::string& text) { return "\"" + text + "\""; }

bool is_name(const std::string& name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// Environment variable names and alert label names: [A-Za-z_][A-Za-z0-9_]*.
bool is_identifier(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool is_http_url(const std::string& url) {
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

// Table entries sorted by line then key, so errors come out in file order and deterministically
// (toml11 stores tables in an unordered_map).
std::vector<std::pair<std::string, const Value*>> sorted_entries(const Value& table) {
  std::vector<std::pair<std::string, const Value*>> out;
  for (const auto& [key, value] : table.as_table()) out.emplace_back(key, &value);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const int la = line_of(*a.second);
    const int lb = line_of(*b.second);
    return la != lb ? la < lb : a.first < b.first;
  });
  return out;
}

class Errors {
 public:
  void add(int line, std::string message) {
    errors_.push_back(ConfigError{"", line, std::move(message)});
  }
  void add(const Value& value, std::string message) { add(line_of(value), std::move(message)); }
  bool empty() const { return errors_.empty(); }
  std::vector<ConfigError> take(const std::string& file) {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
    for (ConfigError& error : errors_) error.file = file;
    return std::move(errors_);
  }

 private:
  std::vector<ConfigError> errors_;
};

struct StringItem {
  std::string text;
  int line = 0;
};

// Reads one TOML table with strict types, remembering which keys were read so report_unknown()
// can name the rest. `path` is the dotted name used in messages ("server", "targets[1]").
class TableReader {
 public:
  TableReader(const Value& table, std::string path, Errors& errors)
      : table_(table), path_(std::move(path)), errors_(errors) {}

  int line() const { return line_of(table_); }
  const std::string& path() const { return path_; }
  std::string key_path(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  const Value* get(const std::string& key) {
    known_.insert(key);
    const auto& table = table_.as_table();
    const auto it = table.find(key);
    return it == table.end() ? nullptr : &it->second;
  }

  void type_error(const Value& value, const std::string& key, const std::string& expected) {
    errors_.add(value,
                key_path(key) + ": expected " + expected + ", got " + type_name(value.type()));
  }

  std::optional<std::string> string(const std::string& key) {
    const Value* value = get(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) {
      type_error(*value, key, "a string");
      return std::nullopt;
    }
    return value->as_string().str;
  }

  // A string that must not be empty when present.
  std::optional<std::string> non_empty_string(const std::string& key) {
    auto text = string(key);
    if (text && text->empty()) {
      errors_.add(*get(key), key_path(key) + ": must not be empty");
      return std::nullopt;
    }
    return text;
  }

  std::optional<std::int64_t> integer(const std::string& key) {
    const Value* value = get(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_integer()) {
      type_error(*value, key, "an integer");
      return std::nullopt;
    }
    return value->as_integer();
  }

  // An integer in [min, max]; out of range is an error.
  std::optional<int> bounded_int(const std::string& key, std::int64_t min, std::int64_t max) {
    auto number = integer(key);
    if (!number) return std::nullopt;
    if (*number < min || *number > max) {
      errors_.add(*get(key), key_path(key) + ": must be between " + std::to_string(min) + " and " +
                                 std::to_string(max) + ", got " + std::to_string(*number));
      return std::nullopt;
    }
    return static_cast<int>(*number);
  }

  std::optional<bool> boolean(const std::string& key) {
    const Value* value = get(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_boolean()) {
      type_error(*value, key, "a boolean");
      return std::nullopt;
    }
    return value->as_boolean();
  }

  // Each non-string element is an error on its own line; the valid ones are returned.
  std::optional<std::vector<StringItem>> string_items(const std::string& key) {
    const Value* value = get(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_array()) {
      type_error(*value, key, "an array of strings");
      return std::nullopt;
    }
    std::vector<StringItem> items;
    std::size_t index = 0;
    for (const Value& element : value->as_array()) {
      const std::string element_path = key + "[" + std::to_string(index++) + "]";
      if (!element.is_string()) {
        type_error(element, element_path, "a string");
        continue;
      }
      if (element.as_string().str.empty()) {
        errors_.add(element, key_path(element_path) + ": must not be empty");
        continue;
      }
      items.push_back(StringItem{element.as_string().str, line_of(element)});
    }
    return items;
  }

  std::optional<std::vector<std::string>> string_array(const std::string& key) {
    auto items = string_items(key);
    if (!items) return std::nullopt;
    std::vector<std::string> out;
    for (auto& item : *items) out.push_back(std::move(item.text));
    return out;
  }

  // A duration string that must be > 0.
  std::optional<std::chrono::milliseconds> duration(const std::string& key,
                                                    bool allow_zero = false) {
    const Value* value = get(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) {
      type_error(*value, key, "a duration string such as \"30s\"");
      return std::nullopt;
    }
    const std::string& text = value->as_string().str;
    const auto parsed = parse_duration(text);
    if (!parsed) {
      errors_.add(*value, key_path(key) + ": invalid duration " + quote_text(text) +
                              " (use e.g. \"250ms\", \"30s\", \"5m\", \"1h30m\")");
      return std::nullopt;
    }
    if (!allow_zero && parsed->count() == 0) {
      errors_.add(*value, key_path(key) + ": must be greater than zero");
      return std::nullopt;
    }
    return parsed;
  }

  std::optional<Severity> severity(const std::string& key) {
    auto text = string(key);
    if (!text) return std::nullopt;
    const auto parsed = severity_from_string(*text);
    if (!parsed) {
      errors_.add(*get(key), key_path(key) + ": unknown severity " + quote_text(*text) +
                                 " (expected info, warning or critical)");
    }
    return parsed;
  }

  // A sub-table; a present value of another type is an error.
  const Value* table(const std::string& key) {
    const Value* value = get(key);
    if (value == nullptr) return nullptr;
    if (!value->is_table()) {
      type_error(*value, key, "a table");
      return nullptr;
    }
    return value;
  }

  // An array of tables ([[key]]); each non-table element is an error.
  std::vector<const Value*> table_array(const std::string& key) {
    std::vector<const Value*> out;
    const Value* value = get(key);
    if (value == nullptr) return out;
    if (!value->is_array()) {
      type_error(*value, key, "an array of tables ([[" + key_path(key) + "]])");
      return out;
    }
    std::size_t index = 0;
    for (const Value& element : value->as_array()) {
      if (element.is_table()) {
        out.push_back(&element);
      } else {
        type_error(element, key + "[" + std::to_string(index) + "]", "a table");
        out.push_back(nullptr);  // keep indexes aligned with the file
      }
      ++index;
    }
    return out;
  }

  void report_unknown() {
    for (const auto& [key, value] : sorted_entries(table_)) {
      if (known_.count(key) == 0) errors_.add(*value, "unknown key " + quote_text(key_path(key)));
    }
  }

 private:
  const Value& table_;
  std::string path_;
  Errors& errors_;
  std::set<std::string> known_;
};

// Key names of one URL source family, e.g. url / url_env / url_file / url_command.
struct UrlKeys {
  std::string literal;  // "" when a literal value is not allowed (secrets that must not be inline)
  std::string env;
  std::string file;
  std::string command;  // "" when not allowed
};

// toml11 parses arrays, inline tables and dotted keys recursively: a 16 KB file nested 8,000
// arrays deep overflows the stack. This pass reads TOML's lexical structure (strings, comments,
// brackets) without recursion and rejects input nested deeper than any real configuration,
// before toml11 sees it. Returns the problem (line, message) or nothing.
constexpr int kMaxTomlNesting = 64;           // arrays / inline tables inside each other
constexpr int kMaxTomlKeyDepth = 64;          // dotted key components on one line
constexpr std::size_t kMaxBinaryDigits = 62;  // 0b literals (toml11 3.7 overflows from 63 on)

std::string hex_byte(unsigned char byte) {
  static const char digits[] = "0123456789abcdef";
  return {digits[byte >> 4], digits[byte & 0xF]};
}

std::optional<ConfigError> prescan_toml(const std::string& text, const std::string& path) {
  if (text.size() > kMaxConfigFileBytes) {
    return ConfigError{path, 0,
                       "config is larger than " + std::to_string(kMaxConfigFileBytes) + " bytes"};
  }
  const std::size_t n = text.size();
  // TOML is UTF-8 throughout. toml11 3.7 reads past its buffer on a literal string with an
  // invalid sequence (its issue 199, fixed in 3.8), so nothing else may reach it.
  for (std::size_t i = 0, line = 1; i < n; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '\n') ++line;
    if (byte < 0x80) continue;
    const std::size_t length = utf8_sequence_length(text.data() + i, text.data() + n);
    if (length == 0) {
      return ConfigError{path, static_cast<int>(line),
                         "config is not valid UTF-8 (byte 0x" + hex_byte(byte) + " at offset " +
                             std::to_string(i) + ")"};
    }
    i += length - 1;
  }
  int line = 1;
  int depth = 0;
  int dots = 0;  // key separators on this line
  for (std::size_t i = 0; i < n; ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      dots = 0;
      continue;
    }
    if (c == '#') {
      while (i + 1 < n && text[i + 1] != '\n') ++i;
      continue;
    }
    if (c == '"' || c == '\'') {
      const bool triple = i + 2 < n && text[i + 1] == c && text[i + 2] == c;
      const bool basic = c == '"';
      i += triple ? 3 : 1;
      for (; i < n; ++i) {
        if (text[i] == '\n') {
          if (!triple) break;  // toml11 reports the unterminated string
          ++line;
        } else if (basic && text[i] == '\\') {
          if (i + 1 < n && text[i + 1] == '\n') ++line;
          ++i;
        } else if (text[i] == c &&
                   (!triple || (i + 2 < n && text[i + 1] == c && text[i + 2] == c))) {
          if (triple) i += 2;
          break;
        }
      }
      continue;
    }
    if (c == '0' && i + 1 < n && text[i + 1] == 'b' &&
        !(i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '_' ||
                    text[i - 1] == '-'))) {
      // toml11 3.7 computes a binary integer in a signed 64-bit value that overflows (undefined
      // behaviour) from the 63rd digit on, even when the value fits (fixed in 3.8).
      std::size_t digits = 0;
      std::size_t j = i + 2;
      for (; j < n && (text[j] == '0' || text[j] == '1' || text[j] == '_'); ++j) {
        if (text[j] != '_') ++digits;
      }
      if (digits > kMaxBinaryDigits) {
        return ConfigError{
            path, line,
            "binary integer with more than " + std::to_string(kMaxBinaryDigits) + " digits"};
      }
      i = j - 1;
      continue;
    }
    if (c == '[' || c == '{') {
      if (++depth > kMaxTomlNesting) {
        return ConfigError{
            path, line,
            "arrays or inline tables nested deeper than " + std::to_string(kMaxTomlNesting)};
      }
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    } else if (c == '.' && !(i > 0 && std::isdigit(static_cast<unsigned char>(text[i - 1])) &&
                             i + 1 < n && std::isdigit(static_cast<unsigned char>(text[i + 1])))) {
      if (++dots > kMaxTomlKeyDepth) {
        return ConfigError{
            path, line, "dotted key with more than " + std::to_string(kMaxTomlKeyDepth) + " parts"};
      }
    }
  }
  return std::nullopt;
}

class ConfigParser {
 public:
  explicit ConfigParser(const std::string& path) {
    if (!path.empty()) base_dir_ = std::filesystem::path(path).parent_path();
  }

  ConfigParseResult run(const std::string& text, const std::string& path) {
    ConfigParseResult result;
    const std::string file = path.empty() ? "<config>" : path;
    Value root;
    if (auto problem = prescan_toml(text, path)) {
      result.errors.push_back(*problem);
      return result;
    }
    try {
      std::istringstream stream(text);
      root = toml::parse(stream, file);
    } catch (const toml::syntax_error& error) {
      result.errors.push_back(ConfigError{path, static_cast<int>(error.location().line()),
                                          syntax_message(error.what())});
      return result;
    } catch (const std::exception& error) {
      result.errors.push_back(ConfigError{path, 0, syntax_message(error.what())});
      return result;
    }

    Config config;
    config.path = path;
    TableReader reader(root, "", errors_);
    if (const Value* server = reader.table("server")) parse_server(*server, config.server);
    if (const Value* check = reader.table("check")) parse_check(*check, config.check);
    if (const Value* migrations = reader.table("migrations")) {
      parse_migrations(*migrations, config.migrations);
    }
    if (const Value* ignore = reader.table("ignore"))
      config.ignore = parse_ignore(*ignore, "ignore");
    if (const Value* alerts = reader.table("alerts")) parse_alerts(*alerts, config.alerts);
    parse_targets(reader, config);
    reader.report_unknown();

    result.errors = errors_.take(path);
    if (result.errors.empty()) result.config = std::move(config);
    return result;
  }

 private:
  // toml11 messages are multi-line with an ASCII-art excerpt; the first line is the message.
  static std::string syntax_message(const std::string& what) {
    std::string message = what.substr(0, what.find('\n'));
    const std::string prefix = "[error] ";
    if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
    return "TOML syntax error: " + message;
  }

  std::string resolve_path(const std::string& path) const {
    if (path.empty() || base_dir_.empty()) return path;
    const std::filesystem::path p(path);
    if (p.is_absolute()) return path;
    return (base_dir_ / p).lexically_normal().string();
  }

  void parse_server(const Value& table, ServerConfig& server) {
    TableReader r(table, "server", errors_);
    if (auto listen = r.non_empty_string("listen")) {
      if (valid_listen(*listen)) {
        server.listen = *listen;
      } else {
        errors_.add(*r.get("listen"),
                    "server.listen: expected HOST:PORT (e.g. \"127.0.0.1:9731\" "
                    "or \"[::1]:9731\"), got " +
                        quote_text(*listen));
      }
    }
    if (auto token = r.non_empty_string("admin_token_file")) {
      server.admin_token_file = resolve_path(*token);
    }
    if (auto count = r.bounded_int("shard_count", 1, 1000000)) server.shard_count = *count;
    if (const Value* index = r.get("shard_index")) {
      if (index->is_integer()) {
        if (index->as_integer() < 0) {
          errors_.add(*index, "server.shard_index: must not be negative");
        } else {
          server.shard_index = std::to_string(index->as_integer());
        }
      } else if (index->is_string()) {
        const std::string& text = index->as_string().str;
        const bool digits =
            !text.empty() && text.size() <= 9 && std::all_of(text.begin(), text.end(), [](char c) {
              return std::isdigit(static_cast<unsigned char>(c));
            });
        if (text == "auto" || digits) {
          server.shard_index = digits ? std::to_string(std::stoll(text)) : text;
        } else {
          errors_.add(*index, "server.shard_index: expected an integer or \"auto\", got " +
                                  quote_text(text));
        }
      } else {
        r.type_error(*index, "shard_index", "an integer or \"auto\"");
      }
      if (!server.shard_index.empty() && server.shard_index != "auto" &&
          std::stoll(server.shard_index) >= server.shard_count) {
        errors_.add(*index, "server.shard_index: " + server.shard_index +
                                " is out of range for shard_count " +
                                std::to_string(server.shard_count));
      }
    }
    if (server.shard_count > 1 && server.shard_index.empty() && r.get("shard_index") == nullptr) {
      errors_.add(*r.get("shard_count"),
                  "server.shard_count: shard_index is required when shard_count > 1");
    }
    if (auto drain = r.duration("drain_timeout", /*allow_zero=*/true)) {
      server.drain_timeout = *drain;
    }
    if (auto json = r.boolean("json_logs")) server.json_logs = *json;
    if (auto max = r.bounded_int("max_connections", 1, 1000000)) server.max_connections = *max;
    if (auto timeout = r.duration("header_timeout")) server.header_timeout = *timeout;
    if (auto timeout = r.duration("idle_timeout")) server.idle_timeout = *timeout;
    if (auto timeout = r.duration("post_timeout")) server.post_timeout = *timeout;
    r.report_unknown();
  }

  static bool valid_listen(const std::string& listen) {
    const std::size_t colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    const std::string port = listen.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    if (!std::all_of(port.begin(), port.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      return false;
    }
    if (std::stoi(port) > 65535) return false;
    const std::string host = listen.substr(0, colon);
    // IPv6 literals need brackets, otherwise "::1:80" is ambiguous.
    if (host.find(':') != std::string::npos) {
      return host.front() == '[' && host.back() == ']';
    }
    return true;
  }

  void parse_check(const Value& table, CheckConfig& check) {
    TableReader r(table, "check", errors_);
    if (auto interval = r.duration("interval")) check.interval = *interval;
    if (auto timeout = r.duration("timeout")) {
      // The deadline is enforced to the millisecond, but a smaller value is a typo ("1ms" for
      // "1s"), not a check that could ever finish: refuse it instead of rounding it.
      if (*timeout < kMinCheckTimeout) {
        errors_.add(*r.get("timeout"), "check.timeout: " + std::to_string(timeout->count()) +
                                           "ms is below the smallest supported check timeout (" +
                                           std::to_string(kMinCheckTimeout.count()) + "ms)");
      } else {
        check.timeout = *timeout;
      }
    }
    if (auto concurrency = r.bounded_int("concurrency", 1, 1024)) check.concurrency = *concurrency;
    if (auto privileges = r.boolean("privileges")) check.privileges = *privileges;
    if (auto comments = r.boolean("comments")) check.comments = *comments;
    r.report_unknown();
  }

  void parse_migrations(const Value& table, std::map<std::string, MigrationsConfig>& out) {
    for (const auto& [name, value] : sorted_entries(table)) {
      const std::string path = "migrations." + name;
      declared_migrations_.insert(name);
      if (!value->is_table()) {
        errors_.add(*value,
                    path + ": expected a table ([" + path + "]), got " + type_name(value->type()));
        continue;
      }
      if (!is_name(name)) {
        errors_.add(*value, path + ": invalid name " + quote_text(name) +
                                " (allowed characters: A-Z a-z 0-9 _ . -)");
      }
      MigrationsConfig source;
      source.name = name;
      TableReader r(*value, path, errors_);
      if (auto versions = r.string_array("versions")) {
        if (versions->empty()) {
          errors_.add(*r.get("versions"), path + ".versions: must list at least one directory");
        }
        for (const std::string& dir : *versions) source.versions.push_back(resolve_path(dir));
      } else if (r.get("versions") == nullptr) {
        errors_.add(*value, path + ": missing required key \"versions\"");
      }
      if (auto recursive = r.boolean("recursive")) source.recursive = *recursive;
      if (auto table_name = r.non_empty_string("version_table")) source.version_table = *table_name;
      if (auto schema = r.non_empty_string("version_table_schema")) {
        source.version_table_schema = *schema;
      }
      if (auto snapshots = r.non_empty_string("snapshots")) {
        source.snapshots = resolve_path(*snapshots);
      }
      const UrlSource reference = parse_url_source(
          r, UrlKeys{"reference_url", "reference_url_env", "reference_url_file", ""},
          /*required=*/false);
      source.reference_url = reference.url;
      source.reference_url_env = reference.env;
      source.reference_url_file = reference.file;
      source.reference_auth = parse_db_auth(r, "reference_");
      if (source.reference_auth.rds_iam() && reference.url.empty() && reference.env.empty() &&
          reference.file.empty() &&
          (source.reference_auth.host.empty() || source.reference_auth.user.empty())) {
        errors_.add(*value, path +
                                ": reference_auth = \"rds-iam\" needs reference_host and "
                                "reference_user (or a reference_url)");
      }
      if (const Value* replay = r.table("replay")) {
        source.replay = parse_replay(*replay, path + ".replay");
      }
      r.report_unknown();
      out[name] = std::move(source);
    }
  }

  // Reads the database login keys of one server, each name with `prefix` ("" for a target,
  // "reference_" for [migrations.NAME]): auth, host, port, user, database, region, role_arn,
  // ca_bundle. Every key but auth is only valid with auth = "rds-iam". Reusable for any
  // server a config names (e.g. a scratch server).
  DbAuthConfig parse_db_auth(TableReader& r, const std::string& prefix) {
    DbAuthConfig auth;
    const std::string auth_key = prefix + "auth";
    if (auto method = r.string(auth_key)) {
      if (*method == "rds-iam") {
        auth.method = *method;
      } else if (*method != "password") {
        errors_.add(*r.get(auth_key), r.key_path(auth_key) + ": unknown method " +
                                          quote_text(*method) +
                                          " (expected \"password\" or \"rds-iam\")");
      }
    }
    const bool declared_rds_iam = r.get(auth_key) != nullptr && r.get(auth_key)->is_string() &&
                                  r.get(auth_key)->as_string().str == "rds-iam";
    auto only_with_rds_iam = [&](const std::string& key) {
      const Value* value = r.get(prefix + key);
      if (value != nullptr && !declared_rds_iam) {
        errors_.add(*value,
                    r.key_path(prefix + key) + ": only valid with " + auth_key + " = \"rds-iam\"");
      }
    };
    for (const char* key :
         {"host", "port", "user", "database", "region", "role_arn", "ca_bundle"}) {
      only_with_rds_iam(key);
    }
    if (auto host = r.non_empty_string(prefix + "host")) auth.host = *host;
    if (auto port = r.bounded_int(prefix + "port", 1, 65535)) auth.port = *port;
    if (auto user = r.non_empty_string(prefix + "user")) auth.user = *user;
    if (auto database = r.non_empty_string(prefix + "database")) auth.database = *database;
    if (auto region = r.non_empty_string(prefix + "region")) {
      const bool valid = std::all_of(region->begin(), region->end(), [](char c) {
        return std::islower(static_cast<unsigned char>(c)) ||
               std::isdigit(static_cast<unsigned char>(c)) || c == '-';
      });
      if (valid) {
        auth.region = *region;
      } else {
        errors_.add(*r.get(prefix + "region"), r.key_path(prefix + "region") +
                                                   ": invalid AWS region " + quote_text(*region) +
                                                   " (e.g. \"eu-west-1\")");
      }
    }
    if (auto role = r.non_empty_string(prefix + "role_arn")) {
      if (role->rfind("arn:", 0) == 0 && role->find(":role/") != std::string::npos) {
        auth.role_arn = *role;
      } else {
        errors_.add(*r.get(prefix + "role_arn"),
                    r.key_path(prefix + "role_arn") + ": expected an IAM role ARN " +
                        "(arn:aws:iam::ACCOUNT:role/NAME), got " + quote_text(*role));
      }
    }
    if (auto bundle = r.non_empty_string(prefix + "ca_bundle")) {
      auth.ca_bundle = resolve_path(*bundle);
    }
    return auth;
  }

  ReplayConfig parse_replay(const Value& table, const std::string& path) {
    ReplayConfig replay;
    TableReader r(table, path, errors_);
    replay.scratch_auth = parse_db_auth(r, "scratch_");
    replay.scratch_url =
        parse_url_source(r, UrlKeys{"scratch_url", "scratch_url_env", "scratch_url_file", ""},
                         /*required=*/!replay.scratch_auth.rds_iam());
    if (replay.scratch_auth.rds_iam() && !replay.scratch_url.url.empty() &&
        redact_url(replay.scratch_url.url) != replay.scratch_url.url) {
      errors_.add(*r.get("scratch_url"), path +
                                             ".scratch_url: must not contain a password with "
                                             "scratch_auth = \"rds-iam\" (the token is the "
                                             "password)");
    }
    // With RDS IAM, scratch_host and scratch_user may replace the URL entirely.
    const bool has_url =
        r.get("scratch_url") || r.get("scratch_url_env") || r.get("scratch_url_file");
    if (replay.scratch_auth.rds_iam() && !has_url &&
        (replay.scratch_auth.host.empty() || replay.scratch_auth.user.empty())) {
      errors_.add(table, path +
                             ": scratch_auth = \"rds-iam\" needs scratch_host and scratch_user "
                             "(or one of scratch_url, scratch_url_env or scratch_url_file)");
    }
    if (auto command = r.string_array("command")) {
      if (command->empty()) {
        errors_.add(*r.get("command"), path + ".command: must not be empty");
      } else {
        replay.command = *command;
      }
    }
    if (auto timeout = r.duration("timeout")) replay.timeout = *timeout;
    r.report_unknown();
    return replay;
  }

  // Reads one family of URL keys; at most one may be set (exactly one when required).
  UrlSource parse_url_source(TableReader& r, const UrlKeys& keys, bool required) {
    UrlSource source;
    std::vector<std::pair<std::string, const Value*>> present;
    auto note = [&](const std::string& key) {
      if (const Value* value = r.get(key)) present.emplace_back(key, value);
    };
    if (!keys.literal.empty()) {
      note(keys.literal);
      // Never echo the value: a literal URL may carry a password.
      if (auto url = r.non_empty_string(keys.literal)) source.url = *url;
    }
    note(keys.env);
    if (auto env = r.non_empty_string(keys.env)) {
      if (is_identifier(*env)) {
        source.env = *env;
      } else {
        errors_.add(
            *r.get(keys.env),
            r.key_path(keys.env) + ": invalid environment variable name " + quote_text(*env));
      }
    }
    note(keys.file);
    if (auto file = r.non_empty_string(keys.file)) source.file = resolve_path(*file);
    if (!keys.command.empty()) {
      note(keys.command);
      if (auto command = r.string_array(keys.command)) {
        if (command->empty()) {
          errors_.add(*r.get(keys.command),
                      r.key_path(keys.command) + ": must name a program to run");
        } else {
          // A relative program path ("./bin/get-url") is relative to the config file, like other
          // paths; a bare name ("tofu") is looked up in PATH.
          if (command->front().find('/') != std::string::npos) {
            command->front() = resolve_path(command->front());
          }
          source.command = std::move(*command);
        }
      }
    }

    std::vector<std::string> names;
    for (const std::string* key : {&keys.literal, &keys.env, &keys.file, &keys.command}) {
      if (!key->empty()) names.push_back(*key);
    }
    std::string alternatives;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i > 0) alternatives += i + 1 == names.size() ? " or " : ", ";
      alternatives += names[i];
    }
    if (present.empty() && required) {
      errors_.add(r.line(), r.path() + ": one of " + alternatives + " is required");
    } else if (present.size() > 1) {
      std::sort(present.begin(), present.end(), [](const auto& a, const auto& b) {
        return line_of(*a.second) < line_of(*b.second);
      });
      errors_.add(*present[1].second, r.path() + ": only one of " + alternatives +
                                          " may be set (found " + present[0].first + " and " +
                                          present[1].first + ")");
    }
    return source;
  }

  IgnoreRules parse_ignore(const Value& table, const std::string& path) {
    IgnoreRules rules;
    TableReader r(table, path, errors_);
    if (auto objects = r.string_array("objects")) {
      for (std::string& object : *objects) rules.rules.push_back(IgnoreRule{object, "", ""});
    }
    if (auto types = r.string_items("object_types")) {
      for (const StringItem& item : *types) {
        if (check_object_type(item.text, item.line, path + ".object_types")) {
          rules.rules.push_back(IgnoreRule{"", item.text, ""});
        }
      }
    }
    if (auto kinds = r.string_items("kinds")) {
      for (const StringItem& item : *kinds) {
        if (check_kind(item.text, item.line, path + ".kinds")) {
          rules.rules.push_back(IgnoreRule{"", "", item.text});
        }
      }
    }
    std::size_t index = 0;
    for (const Value* rule_table : r.table_array("rules")) {
      const std::string rule_path = path + ".rules[" + std::to_string(index++) + "]";
      if (rule_table == nullptr) continue;
      TableReader rule_reader(*rule_table, rule_path, errors_);
      IgnoreRule rule;
      bool valid = true;
      if (auto object = rule_reader.non_empty_string("object")) rule.object = *object;
      if (auto type = rule_reader.non_empty_string("object_type")) {
        if (check_object_type(*type, line_of(*rule_reader.get("object_type")),
                              rule_path + ".object_type")) {
          rule.object_type = *type;
        } else {
          valid = false;
        }
      }
      if (auto kind = rule_reader.non_empty_string("kind")) {
        if (check_kind(*kind, line_of(*rule_reader.get("kind")), rule_path + ".kind")) {
          rule.kind = *kind;
        } else {
          valid = false;
        }
      }
      const bool any_key = rule_reader.get("object") != nullptr ||
                           rule_reader.get("object_type") != nullptr ||
                           rule_reader.get("kind") != nullptr;
      rule_reader.report_unknown();
      if (!any_key) {
        // An empty rule would hide every finding.
        errors_.add(*rule_table,
                    rule_path + ": a rule needs at least one of object, object_type, kind");
        continue;
      }
      if (valid && !(rule.object.empty() && rule.object_type.empty() && rule.kind.empty())) {
        rules.rules.push_back(rule);
      }
    }
    r.report_unknown();
    return rules;
  }

  bool check_object_type(const std::string& text, int line, const std::string& path) {
    if (object_type_from_string(text)) return true;
    std::string known;
    for (ObjectType type : all_object_types()) {
      known += known.empty() ? "" : ", ";
      known += to_string(type);
    }
    errors_.add(line, path + ": unknown object type " + quote_text(text) + " (expected one of " +
                          known + ")");
    return false;
  }

  bool check_kind(const std::string& text, int line, const std::string& path) {
    if (text == "missing" || text == "extra" || text == "changed") return true;
    errors_.add(line, path + ": unknown kind " + quote_text(text) +
                          " (expected missing, extra or changed)");
    return false;
  }

  void parse_alerts(const Value& table, AlertsConfig& alerts) {
    TableReader r(table, "alerts", errors_);
    if (auto for_checks = r.bounded_int("for_checks", 1, 1000000)) alerts.for_checks = *for_checks;
    for (Severity severity : {Severity::kCritical, Severity::kWarning, Severity::kInfo}) {
      const std::string key = std::string("for_checks_") + to_string(severity);
      if (auto n = r.bounded_int(key, 1, 1000000)) alerts.for_checks_by_severity[severity] = *n;
    }
    if (auto repeat = r.duration("repeat_interval")) alerts.repeat_interval = *repeat;
    if (auto retry = r.duration("retry_initial")) alerts.retry_initial = *retry;
    if (auto retry = r.duration("retry_max")) alerts.retry_max = *retry;
    if (alerts.retry_max < alerts.retry_initial) {
      errors_.add(r.get("retry_max") ? *r.get("retry_max") : table,
                  "alerts.retry_max: must not be shorter than alerts.retry_initial");
    }
    if (auto state_dir = r.non_empty_string("state_dir"))
      alerts.state_dir = resolve_path(*state_dir);
    if (auto status = r.non_empty_string("status_page_url")) {
      if (is_http_url(*status)) {
        alerts.status_page_url = *status;
      } else {
        errors_.add(*r.get("status_page_url"),
                    "alerts.status_page_url: must start with http:// or https://");
      }
    }
    std::size_t index = 0;
    for (const Value* receiver : r.table_array("alertmanager")) {
      const std::string path = "alerts.alertmanager[" + std::to_string(index++) + "]";
      if (receiver == nullptr) continue;
      TableReader rr(*receiver, path, errors_);
      AlertmanagerReceiver am;
      if (auto urls = rr.string_items("urls")) {
        if (urls->empty()) errors_.add(*rr.get("urls"), path + ".urls: must list at least one URL");
        for (const StringItem& url : *urls) {
          if (is_http_url(url.text)) {
            am.urls.push_back(url.text);
          } else {
            errors_.add(url.line, path + ".urls: must start with http:// or https://");
          }
        }
      } else if (rr.get("urls") == nullptr) {
        errors_.add(*receiver, path + ": missing required key \"urls\"");
      }
      rr.report_unknown();
      alerts.alertmanager.push_back(std::move(am));
    }
    index = 0;
    for (const Value* receiver : r.table_array("slack")) {
      const std::string path = "alerts.slack[" + std::to_string(index++) + "]";
      if (receiver == nullptr) continue;
      TableReader rr(*receiver, path, errors_);
      SlackReceiver slack;
      slack.webhook_url = parse_url_source(
          rr, UrlKeys{"webhook_url", "webhook_url_env", "webhook_url_file", ""}, true);
      if (auto severity = rr.severity("min_severity")) slack.min_severity = *severity;
      rr.report_unknown();
      alerts.slack.push_back(std::move(slack));
    }
    index = 0;
    for (const Value* receiver : r.table_array("pagerduty")) {
      const std::string path = "alerts.pagerduty[" + std::to_string(index++) + "]";
      if (receiver == nullptr) continue;
      TableReader rr(*receiver, path, errors_);
      PagerDutyReceiver pagerduty;
      // No literal routing_key: it is a secret and does not belong in a config file.
      pagerduty.routing_key =
          parse_url_source(rr, UrlKeys{"", "routing_key_env", "routing_key_file", ""}, true);
      if (auto severity = rr.severity("min_severity")) pagerduty.min_severity = *severity;
      if (auto events_url = rr.non_empty_string("events_url")) {
        if (is_http_url(*events_url)) {
          pagerduty.events_url = *events_url;
        } else {
          errors_.add(*rr.get("events_url"),
                      path + ".events_url: must start with http:// or https://");
        }
      }
      rr.report_unknown();
      alerts.pagerduty.push_back(std::move(pagerduty));
    }
    index = 0;
    for (const Value* receiver : r.table_array("webhook")) {
      const std::string path = "alerts.webhook[" + std::to_string(index++) + "]";
      if (receiver == nullptr) continue;
      TableReader rr(*receiver, path, errors_);
      WebhookReceiver webhook;
      webhook.url = parse_url_source(rr, UrlKeys{"url", "url_env", "url_file", ""}, true);
      if (!webhook.url.url.empty() && !is_http_url(webhook.url.url)) {
        errors_.add(*rr.get("url"), path + ".url: must start with http:// or https://");
      }
      if (auto severity = rr.severity("min_severity")) webhook.min_severity = *severity;
      rr.report_unknown();
      alerts.webhook.push_back(std::move(webhook));
    }
    r.report_unknown();
  }

  void parse_targets(TableReader& root, Config& config) {
    const Value* targets_value = root.get("targets");
    const std::vector<const Value*> tables = root.table_array("targets");
    if (targets_value == nullptr || tables.empty()) {
      errors_.add(targets_value == nullptr ? 0 : line_of(*targets_value),
                  "no targets configured (add a [[targets]] table)");
      return;
    }
    std::map<std::string, int> first_line_by_name;
    std::size_t index = 0;
    for (const Value* table : tables) {
      const std::string path = "targets[" + std::to_string(index++) + "]";
      if (table == nullptr) continue;
      TableReader r(*table, path, errors_);
      TargetConfig target;
      if (auto name = r.string("name")) {
        const Value& name_value = *r.get("name");
        if (!is_name(*name)) {
          errors_.add(name_value, path + ".name: invalid target name " + quote_text(*name) +
                                      " (allowed characters: A-Z a-z 0-9 _ . -)");
        } else {
          const auto [it, inserted] = first_line_by_name.emplace(*name, line_of(name_value));
          if (!inserted) {
            errors_.add(name_value, path + ".name: duplicate target name " + quote_text(*name) +
                                        " (first defined on line " + std::to_string(it->second) +
                                        ")");
          }
        }
        target.name = *name;
      } else if (r.get("name") == nullptr) {
        errors_.add(*table, path + ": missing required key \"name\"");
      }

      if (auto migrations = r.non_empty_string("migrations")) {
        if (declared_migrations_.count(*migrations) == 0) {
          errors_.add(*r.get("migrations"), path + ".migrations: unknown migrations source " +
                                                quote_text(*migrations) + " (no [migrations." +
                                                *migrations + "] table)");
        }
        target.migrations = *migrations;
      } else if (r.get("migrations") == nullptr) {
        if (declared_migrations_.size() == 1) {
          target.migrations = *declared_migrations_.begin();
        } else if (declared_migrations_.empty()) {
          errors_.add(*table, path +
                                  ": no migrations source is configured (add a "
                                  "[migrations.NAME] table)");
        } else {
          errors_.add(*table, path +
                                  ": missing key \"migrations\" (required when several "
                                  "migrations sources exist)");
        }
      }

      if (auto schemas = r.string_array("schemas")) target.schemas = std::move(*schemas);
      target.auth = parse_db_auth(r, "");
      target.url = parse_url_source(r, UrlKeys{"url", "url_env", "url_file", "url_command"},
                                    /*required=*/!target.auth.rds_iam());
      // With RDS IAM, host and user may replace the URL entirely.
      const bool has_url =
          r.get("url") || r.get("url_env") || r.get("url_file") || r.get("url_command");
      if (target.auth.rds_iam() && !target.url.url.empty() &&
          redact_url(target.url.url) != target.url.url) {
        errors_.add(*r.get("url"), path +
                                       ".url: must not contain a password with auth = "
                                       "\"rds-iam\" (the token is the password)");
      }
      if (target.auth.rds_iam() && !has_url &&
          (target.auth.host.empty() || target.auth.user.empty())) {
        errors_.add(*table, path +
                                ": auth = \"rds-iam\" needs host and user (or one of url, "
                                "url_env, url_file or url_command)");
      }
      if (const Value* labels = r.table("labels")) {
        for (const auto& [key, value] : sorted_entries(*labels)) {
          const std::string label_path = path + ".labels." + key;
          if (!is_identifier(key)) {
            errors_.add(*value, label_path + ": invalid label name (use [A-Za-z_][A-Za-z0-9_]*)");
          } else if (!value->is_string()) {
            errors_.add(*value,
                        label_path + ": expected a string, got " + type_name(value->type()));
          } else {
            target.labels[key] = value->as_string().str;
          }
        }
      }
      if (const Value* ignore = r.table("ignore")) {
        target.ignore = parse_ignore(*ignore, path + ".ignore");
      }
      target.interval = r.duration("interval");
      r.report_unknown();
      config.targets.push_back(std::move(target));
    }
  }

  std::filesystem::path base_dir_;
  Errors errors_;
  // Every [migrations.NAME] key, even one that failed to parse, so a target naming it does not
  // get a second, misleading "unknown source" error.
  std::set<std::string> declared_migrations_;
};

}  // namespace

const TargetConfig* Config::find_target(const std::string& name) const {
  for (const TargetConfig& target : targets) {
    if (target.name == name) return &target;
  }
  return nullptr;
}

std::string ConfigError::to_string() const {
  const std::string where = file.empty() ? "<config>" : file;
  if (line <= 0) return where + ": " + message;
  return where + ":" + std::to_string(line) + ": " + message;
}

ConfigParseResult parse_config(const std::string& text, const std::string& path) {
  return ConfigParser(path).run(text, path);
}

ConfigParseResult load_config_file(const std::string& path) {
  std::string text;
  std::string why;
  if (!read_regular_file(path, kMaxConfigFileBytes, text, why)) {
    ConfigParseResult result;
    result.errors.push_back(ConfigError{path, 0, "cannot read config file: " + why});
    return result;
  }
  return parse_config(text, path);
}

}  // namespace driftwatch
