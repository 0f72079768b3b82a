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
  std::chrono::milliseconds drain_timeout{20000};  // exact: "1500ms" is 1.5 s
  bool json_logs = false;
  // HTTP resource limits: connections beyond max_connections are refused at accept (and never
  // more than half the process's descriptor limit, so checks always have descriptors); a
  // request's headers must arrive within header_timeout, a keep-alive connection may idle
  // idle_timeout between requests; a POST is answered (503 if its check is still running or
  // queued) within post_timeout.
  int max_connections = 512;
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds post_timeout{std::chrono::seconds(120)};
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

// How driftwatch logs in to a PostgreSQL server (a target, the reference database, a replay
// scratch server). Default: the password in the URL. With method "rds-iam" the password is an
// Amazon RDS IAM token signed with AWS credentials, and the connection uses sslmode=verify-full.
// The keys (with an optional prefix, e.g. "reference_") are read by one parser function in
// config.cpp (parse_db_auth) and applied by resolve_connection_url (daemon/app/url_source.hpp).
struct DbAuthConfig {
  std::string method;     // "" (password in the URL) or "rds-iam"
  std::string host;       // override the URL's host ("" = from the URL)
  int port = 0;           // 0 = from the URL, else 5432
  std::string user;       // "" = from the URL
  std::string database;   // "" = from the URL, else the user name
  std::string region;     // "" = from an *.REGION.rds.amazonaws.com host, else AWS_REGION
  std::string role_arn;   // "" = the default credentials chain's identity
  std::string ca_bundle;  // sslrootcert ("" = libpq's default ~/.postgresql/root.crt)
  bool rds_iam() const { return method == "rds-iam"; }
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

// [migrations.NAME.replay]: build a missing revision's expected schema on demand by replaying
// the migrations into a scratch database (created and dropped on the scratch server).
struct ReplayConfig {
  UrlSource scratch_url;      // scratch_url / scratch_url_env / scratch_url_file
  DbAuthConfig scratch_auth;  // scratch_auth, scratch_host, ... (rds-iam)
  // argv, run without a shell; "{revision}" is substituted; DATABASE_URL = the scratch database.
  std::vector<std::string> command = {"alembic", "upgrade", "{revision}"};
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};  // per command run
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
  DbAuthConfig reference_auth;         // reference_auth, reference_host, ... (rds-iam)
  std::optional<ReplayConfig> replay;  // [migrations.NAME.replay]
  // A reference database is named: by a URL source, or by rds-iam host and user alone.
  bool has_reference() const {
    return !reference_url.empty() || !reference_url_env.empty() || !reference_url_file.empty() ||
           reference_auth.rds_iam();
  }
};

struct TargetConfig {
  std::string name;
  std::string migrations;            // name of a [migrations.NAME]
  std::vector<std::string> schemas;  // empty: all non-system schemas
  UrlSource url;
  std::map<std::string, std::string> labels;
  IgnoreRules ignore;  // per-target rules only (merge with global at use)
  std::optional<std::chrono::milliseconds> interval;  // overrides [check] interval
  DbAuthConfig auth;                                  // auth, host, port, ... (rds-iam)
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
  // Undelivered notifications are retried after retry_initial, doubling up to retry_max.
  std::chrono::milliseconds retry_initial{std::chrono::seconds(5)};
  std::chrono::milliseconds retry_max{std::chrono::minutes(5)};
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
// Masks the password wherever a URL (any scheme) appears in `url`, with the userinfo read as
// normalize_database_url reads it, so the password libpq gets is exactly what is masked.
std::string redact_url(const std::string& url);

// True for postgresql:// and postgres:// URLs in any letter case, also SQLAlchemy's
// dialect+driver form (postgresql+psycopg2://).
bool is_database_url(const std::string& text);
// A database URL as libpq reads it: scheme `postgresql://`, and the userinfo split at the last
// '@' before the path's query with user and password percent-encoded (an unescaped '@', '/',
// ':', space or a '%' that is no valid escape then means itself). Other text is returned as is.
std::string normalize_database_url(const std::string& url);

}  // namespace driftwatch
