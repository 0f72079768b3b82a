// Configuration: plain structs, parsed from TOML text and validated before anything runs.
// See config/driftwatch.example.toml for every key.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "driftwatch/check.hpp"
#include "driftwatch/ignore.hpp"

namespace driftwatch {

struct ServerConfig {
  std::string listen = "127.0.0.1:9731";
  std::string admin_token_file;  // empty: POST endpoints answer 403 to everyone
  std::string shard_index;       // "" (no sharding), "N", or "auto"
  int shard_count = 1;
  std::chrono::seconds drain_timeout{20};
  bool json_logs = false;
};

// [check] timeout below this is a configuration error (a typo such as "1ms" for "1s").
inline constexpr std::chrono::milliseconds kMinCheckTimeout{100};

struct CheckConfig {
  std::chrono::milliseconds interval{std::chrono::minutes(5)};
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  // at least kMinCheckTimeout
  int concurrency = 8;
  bool privileges = false;  // compare GRANTs (object_type privilege)
  bool comments = false;    // compare COMMENTs (attribute comment)
};

struct MigrationsConfig {
  std::string name;
  std::vector<std::string> versions;  // directories, resolved relative to the config file
  bool recursive = false;
  std::string version_table = "alembic_version";
  std::string version_table_schema = "public";
  std::string snapshots;      // directory of snapshot files ("" = none)
  std::string reference_url;  // secret-bearing URL source for a reference DB
  std::string reference_url_env;
  std::string reference_url_file;
};

// Exactly one of url / url_env / url_file / url_command is set.
struct UrlSource {
  std::string url;
  std::string env;
  std::string file;
  std::vector<std::string> command;
  // Human description without secrets, e.g. "env PROD_DATABASE_URL", "file /run/x".
  std::string describe() const;
};

struct TargetConfig {
  std::string name;
  std::string migrations;            // name of a [migrations.NAME]
  std::vector<std::string> schemas;  // empty: all non-system schemas
  UrlSource url;
  std::map<std::string, std::string> labels;
  IgnoreRules ignore;  // per-target rules only (merge with global at use)
  std::optional<std::chrono::milliseconds> interval;  // overrides [check] interval
};

struct AlertmanagerReceiver {
  std::vector<std::string> urls;
};
struct SlackReceiver {
  UrlSource webhook_url;
  Severity min_severity = Severity::kWarning;
};
struct PagerDutyReceiver {
  UrlSource routing_key;  // url/env/file fields reused: routing_key_env / routing_key_file
  Severity min_severity = Severity::kCritical;
  // Events API v2 endpoint; "" = PagerDuty's documented https://events.pagerduty.com/v2/enqueue
  std::string events_url;
};
struct WebhookReceiver {
  UrlSource url;
  Severity min_severity = Severity::kInfo;
};

struct AlertsConfig {
  int for_checks = 2;
  // for_checks_critical / for_checks_warning / for_checks_info: override for_checks per severity
  std::map<Severity, int> for_checks_by_severity;
  std::chrono::milliseconds repeat_interval{std::chrono::hours(4)};
  std::string state_dir;
  std::string status_page_url;  // base URL used for links in notifications
  std::vector<AlertmanagerReceiver> alertmanager;
  std::vector<SlackReceiver> slack;
  std::vector<PagerDutyReceiver> pagerduty;
  std::vector<WebhookReceiver> webhook;
};

struct Config {
  std::string path;  // file it was loaded from ("" if from text)
  ServerConfig server;
  CheckConfig check;
  std::map<std::string, MigrationsConfig> migrations;
  std::vector<TargetConfig> targets;
  IgnoreRules ignore;  // global
  AlertsConfig alerts;

  const TargetConfig* find_target(const std::string& name) const;
};

struct ConfigError {
  std::string file;
  int line = 0;  // 0 if unknown
  std::string message;
  std::string to_string() const;  // "file:line: message"
};

struct ConfigParseResult {
  std::optional<Config> config;     // set only when errors is empty
  std::vector<ConfigError> errors;  // every problem found, in file order
};

// Parses and validates TOML text. `path` names the file in errors and anchors relative paths
// (versions, snapshots, url_file, state_dir) at its directory.
ConfigParseResult parse_config(const std::string& text, const std::string& path);
// Reads the file then parse_config; an unreadable file is one error.
ConfigParseResult load_config_file(const std::string& path);

// Parses "30s", "5m", "1h", "250ms", "1h30m". nullopt on anything else.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

// postgresql://user:secret@host/db -> postgresql://user:***@host/db ; also key=value
// conninfo strings (password=... -> password=***) and ?password= query parameters.
std::string redact_url(const std::string& url);

}  // namespace driftwatch
