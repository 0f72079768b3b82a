// Configuration parsing/validation, durations, redaction and the validate-config subcommand.
#include "driftwatch/config.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "app/cmd_validate_config.hpp"
#include "app/snapshot_file.hpp"
#include "http/gzip.hpp"

namespace driftwatch {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

const fs::path kFixtures = DRIFTWATCH_FIXTURES_DIR;
const fs::path kConfigFixtures = kFixtures / "configs";
const fs::path kRepoConfigDir = kFixtures.parent_path().parent_path() / "config";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string all_errors(const ConfigParseResult& result) {
  std::string text;
  for (const ConfigError& error : result.errors) text += error.to_string() + "\n";
  return text;
}

// ---------------------------------------------------------------------------------------------
// Durations

TEST_CASE("parse_duration accepts unit sequences") {
  CHECK(parse_duration("30s") == milliseconds(30000));
  CHECK(parse_duration("5m") == milliseconds(300000));
  CHECK(parse_duration("1h") == milliseconds(3600000));
  CHECK(parse_duration("250ms") == milliseconds(250));
  CHECK(parse_duration("1h30m") == milliseconds(5400000));
  CHECK(parse_duration("1h2m3s4ms") == milliseconds(3723004));
  CHECK(parse_duration("0s") == milliseconds(0));
  CHECK(parse_duration("90m") == milliseconds(5400000));
}

TEST_CASE("parse_duration rejects anything else") {
  for (const char* text : {"", "5", "5x", "-1s", "+1s", " 5s", "5s ", "5 s", "1.5h", "s", "ms",
                           "5S", "1m1m", "30s1h", "5ms5s", "1d", "99999999999999999999s"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_duration(text).has_value());
  }
}

// ---------------------------------------------------------------------------------------------
// Redaction

TEST_CASE("redact_url masks passwords in URLs") {
  CHECK(redact_url("postgresql://user:secret@host/db") == "postgresql://user:***@host/db");
  CHECK(redact_url("postgres://user:secret@host:5432/db?sslmode=require") ==
        "postgres://user:***@host:5432/db?sslmode=require");
  // Unescaped '@' and ':' inside a password (libpq accepts them).
  CHECK(redact_url("postgresql://user:p@ss:w@host/db") == "postgresql://user:***@host/db");
  CHECK(redact_url("postgresql://user:pa/ss@host/db") == "postgresql://user:***@host/db");
  CHECK(redact_url("postgresql://user:secret@h1:5432,h2:5433/db") ==
        "postgresql://user:***@h1:5432,h2:5433/db");
  CHECK(redact_url("postgresql://user:secret@host") == "postgresql://user:***@host");
  CHECK(redact_url("postgresql://host/db?user=u&password=secret&sslmode=require") ==
        "postgresql://host/db?user=u&password=***&sslmode=require");
  CHECK(redact_url("postgresql:///db?password=secret") == "postgresql:///db?password=***");
  CHECK(redact_url("postgresql://u:one@h/db?password=two") ==
        "postgresql://u:***@h/db?password=***");
}

TEST_CASE("redact_url leaves URLs without a password unchanged") {
  for (const char* url :
       {"postgresql://user@host/db", "postgresql://host:5432/db", "postgres:///db",
        "postgresql://user@host:5432/db?sslmode=require&application_name=x",
        "postgresql://user:@host/db", "host=db user=app dbname=app", "", "plain text"}) {
    CAPTURE(url);
    CHECK(redact_url(url) == url);
  }
}

TEST_CASE("redact_url masks key=value conninfo passwords") {
  CHECK(redact_url("host=db user=app password=secret dbname=app") ==
        "host=db user=app password=*** dbname=app");
  CHECK(redact_url("password=secret") == "password=***");
  CHECK(redact_url("host=db password = 'se cret \\' x' dbname=app") ==
        "host=db password = *** dbname=app");
  CHECK(redact_url("host=db password='' dbname=app") == "host=db password=*** dbname=app");
  // Another key that merely ends in "password" is not the password.
  CHECK(redact_url("host=db passwordx=1") == "host=db passwordx=1");
}

TEST_CASE("UrlSource::describe never shows a secret") {
  UrlSource env;
  env.env = "PROD_DATABASE_URL";
  CHECK(env.describe() == "env PROD_DATABASE_URL");
  UrlSource file;
  file.file = "/run/x";
  CHECK(file.describe() == "file /run/x");
  UrlSource command;
  command.command = {"tofu", "output", "-raw", "token=abc"};
  CHECK(command.describe() == "command tofu (+3 args)");
  CHECK_FALSE(contains(command.describe(), "abc"));
  UrlSource pg;
  pg.url = "postgresql://u:secret@db/app";
  CHECK(pg.describe() == "url postgresql://u:***@db/app");
  UrlSource hook;
  hook.url = "https://hooks.slack.com/services/T0/B0/secret";
  CHECK(hook.describe() == "url https://hooks.slack.com/***");
  CHECK(UrlSource{}.describe() == "none");
}

// ---------------------------------------------------------------------------------------------
// Good configurations

TEST_CASE("the minimal config in config/ parses clean and gets defaults") {
  const ConfigParseResult result = load_config_file((kRepoConfigDir / "minimal.toml").string());
  INFO(all_errors(result));
  REQUIRE(result.errors.empty());
  REQUIRE(result.config.has_value());
  const Config& config = *result.config;
  REQUIRE(config.targets.size() == 1);
  CHECK(config.targets[0].name == "dev");
  CHECK(config.targets[0].migrations == "app");  // the only source is used by default
  CHECK(config.targets[0].url.env == "DATABASE_URL");
  CHECK(config.targets[0].schemas.empty());
  CHECK_FALSE(config.targets[0].interval.has_value());
  REQUIRE(config.migrations.count("app") == 1);
  CHECK(config.migrations.at("app").version_table == "alembic_version");
  CHECK(config.migrations.at("app").version_table_schema == "public");
  CHECK(
      config.migrations.at("app").versions ==
      std::vector<std::string>{(kRepoConfigDir / "alembic/versions").lexically_normal().string()});
  CHECK(config.check.interval == std::chrono::minutes(5));
  CHECK(config.check.timeout == std::chrono::seconds(30));
  CHECK(config.check.concurrency == 8);
  CHECK(config.server.listen == "127.0.0.1:9731");
  CHECK(config.server.shard_count == 1);
  CHECK(config.server.shard_index.empty());
  CHECK(config.alerts.for_checks == 2);
  CHECK(config.ignore.rules.empty());
}

TEST_CASE("the example config in config/ parses clean") {
  const ConfigParseResult result =
      load_config_file((kRepoConfigDir / "driftwatch.example.toml").string());
  INFO(all_errors(result));
  REQUIRE(result.errors.empty());
  REQUIRE(result.config.has_value());
  CHECK(result.config->targets.size() >= 2);
  CHECK(result.config->find_target("prod") != nullptr);
  CHECK(result.config->alerts.alertmanager.size() == 1);
  CHECK(result.config->alerts.slack.size() == 1);
  CHECK(result.config->alerts.pagerduty.size() == 1);
  CHECK(result.config->alerts.webhook.size() == 1);
}

TEST_CASE("good/full.toml: every key lands in the struct, paths resolve at the file's dir") {
  const fs::path file = kConfigFixtures / "good" / "full.toml";
  const fs::path dir = file.parent_path();
  auto at_dir = [&](const std::string& relative) {
    return (dir / relative).lexically_normal().string();
  };
  const ConfigParseResult result = load_config_file(file.string());
  INFO(all_errors(result));
  REQUIRE(result.config.has_value());
  const Config& config = *result.config;
  CHECK(config.path == file.string());

  CHECK(config.server.listen == "[::1]:9731");
  CHECK(config.server.admin_token_file == at_dir("secrets/token"));
  CHECK(config.server.shard_index == "auto");
  CHECK(config.server.shard_count == 3);
  CHECK(config.server.drain_timeout == std::chrono::seconds(90));
  CHECK(config.server.json_logs);

  CHECK(config.check.interval == milliseconds(5400000));
  CHECK(config.check.timeout == milliseconds(250));
  CHECK(config.check.concurrency == 1);
  CHECK(config.check.privileges);
  CHECK(config.check.comments);

  REQUIRE(config.migrations.size() == 2);
  const MigrationsConfig& warehouse = config.migrations.at("warehouse");
  CHECK(warehouse.name == "warehouse");
  CHECK(warehouse.versions ==
        std::vector<std::string>{at_dir("../../warehouse/versions"), "/abs/versions"});
  CHECK(warehouse.recursive);
  CHECK(warehouse.version_table == "alembic_version_wh");
  CHECK(warehouse.version_table_schema == "meta");
  CHECK(warehouse.snapshots == at_dir("snapshots/"));
  CHECK(warehouse.reference_url == "postgresql://ref:hunter2@ref-db/warehouse");
  CHECK(config.migrations.at("unused").reference_url_file == at_dir("ref-url"));

  REQUIRE(config.targets.size() == 4);
  const TargetConfig* prod = config.find_target("prod");
  REQUIRE(prod != nullptr);
  CHECK(prod->schemas == std::vector<std::string>{"public", "middleman"});
  CHECK(prod->url.env == "PROD_DATABASE_URL");
  CHECK(prod->url.url.empty());
  CHECK(prod->labels == std::map<std::string, std::string>{{"team", "data"}, {"tier", "1"}});
  CHECK(prod->interval == milliseconds(30000));
  REQUIRE(prod->ignore.rules.size() == 3);
  CHECK(prod->ignore.rules[0].object == "public.tmp_*");
  CHECK(prod->ignore.rules[1].kind == "extra");
  CHECK(prod->ignore.rules[2].object_type == "index");

  CHECK(config.find_target("staging.eu-1")->url.file == at_dir("urls/staging"));
  CHECK(config.find_target("dev_alice")->url.command ==
        std::vector<std::string>{at_dir("bin/get-url"), "dev_alice"});
  CHECK(config.find_target("ci")->url.url == "postgresql://ci@localhost/ci");
  CHECK(config.find_target("nope") == nullptr);

  // Global ignore: objects, object_types, kinds each become a one-field rule, then the tables.
  REQUIRE(config.ignore.rules.size() == 5);
  CHECK(config.ignore.rules[0].object == "*.backup_*");
  CHECK(config.ignore.rules[1].object_type == "privilege");
  CHECK(config.ignore.rules[2].object_type == "materialized_view");
  CHECK(config.ignore.rules[3].kind == "changed");
  CHECK(config.ignore.rules[4].object == "public.audit_*");
  CHECK(config.ignore.rules[4].object_type == "index");
  CHECK(config.ignore.rules[4].kind == "extra");

  CHECK(config.alerts.for_checks == 3);
  CHECK(config.alerts.repeat_interval == std::chrono::hours(12));
  CHECK(config.alerts.state_dir == at_dir("state"));
  CHECK(config.alerts.status_page_url == "https://driftwatch.example.internal");
  REQUIRE(config.alerts.alertmanager.size() == 1);
  CHECK(config.alerts.alertmanager[0].urls ==
        std::vector<std::string>{"http://am-0:9093", "http://am-1:9093"});
  REQUIRE(config.alerts.slack.size() == 1);
  CHECK(config.alerts.slack[0].webhook_url.file == at_dir("slack-url"));
  CHECK(config.alerts.slack[0].min_severity == Severity::kCritical);
  REQUIRE(config.alerts.pagerduty.size() == 1);
  CHECK(config.alerts.pagerduty[0].routing_key.env == "PD_ROUTING_KEY");
  CHECK(config.alerts.pagerduty[0].min_severity == Severity::kCritical);
  REQUIRE(config.alerts.webhook.size() == 1);
  CHECK(config.alerts.webhook[0].url.env == "HOOK_URL");
  CHECK(config.alerts.webhook[0].min_severity == Severity::kWarning);
}

TEST_CASE("every good/ fixture parses clean") {
  for (const auto& entry : fs::directory_iterator(kConfigFixtures / "good")) {
    CAPTURE(entry.path().string());
    const ConfigParseResult result = load_config_file(entry.path().string());
    INFO(all_errors(result));
    CHECK(result.errors.empty());
    CHECK(result.config.has_value());
  }
}

TEST_CASE("parse_config from text: relative paths stay relative, shard_index as integer") {
  const ConfigParseResult result = parse_config(R"(
[server]
shard_index = 1
shard_count = 2
[migrations.a]
versions = ["v"]
[migrations.b]
versions = ["w"]
[[targets]]
name = "t"
migrations = "b"
url = "postgresql://localhost/t"
)",
                                                "");
  INFO(all_errors(result));
  REQUIRE(result.config.has_value());
  CHECK(result.config->server.shard_index == "1");
  CHECK(result.config->migrations.at("a").versions == std::vector<std::string>{"v"});
  CHECK(result.config->targets[0].migrations == "b");
}

// ---------------------------------------------------------------------------------------------
// Bad configurations: fixtures announce their errors in `# expect-error: TEXT` comments.

struct Expectation {
  int line;
  std::string text;
};

std::vector<Expectation> read_expectations(const fs::path& file) {
  std::vector<Expectation> out;
  std::ifstream stream(file);
  std::string line_text;
  const std::string marker = "expect-error:";
  for (int line = 1; std::getline(stream, line_text); ++line) {
    std::size_t pos = line_text.find(marker);
    while (pos != std::string::npos) {
      const std::size_t start = pos + marker.size();
      const std::size_t next = line_text.find(marker, start);
      std::string text = line_text.substr(start, next == std::string::npos ? next : next - start);
      text.erase(0, text.find_first_not_of(' '));
      text.erase(text.find_last_not_of(' ') + 1);
      out.push_back(Expectation{line, text});
      pos = next;
    }
  }
  return out;
}

TEST_CASE("every bad/ fixture reports exactly its announced errors, in file order") {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(kConfigFixtures / "bad")) {
    ++files;
    const std::string path = entry.path().string();
    CAPTURE(path);
    const std::vector<Expectation> expected = read_expectations(entry.path());
    REQUIRE_FALSE(expected.empty());
    const ConfigParseResult result = load_config_file(path);
    INFO(all_errors(result));
    CHECK_FALSE(result.config.has_value());
    CHECK(result.errors.size() == expected.size());
    // File order: lines never decrease.
    CHECK(
        std::is_sorted(result.errors.begin(), result.errors.end(),
                       [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; }));
    std::vector<bool> used(result.errors.size(), false);
    for (const Expectation& expectation : expected) {
      CAPTURE(expectation.line);
      CAPTURE(expectation.text);
      bool found = false;
      for (std::size_t i = 0; i < result.errors.size() && !found; ++i) {
        if (!used[i] && result.errors[i].line == expectation.line &&
            contains(result.errors[i].message, expectation.text)) {
          used[i] = true;
          found = true;
        }
      }
      CHECK(found);
    }
    for (const ConfigError& error : result.errors) {
      CHECK(error.file == path);
      CHECK(contains(error.to_string(), path + ":" + std::to_string(error.line) + ": "));
    }
  }
  CHECK(files >= 5);
}

TEST_CASE("many_errors.toml: every error at once, not just the first") {
  const ConfigParseResult result =
      load_config_file((kConfigFixtures / "bad" / "many_errors.toml").string());
  CHECK(result.errors.size() >= 30);
}

TEST_CASE("errors about secret-bearing keys never print the secret") {
  const ConfigParseResult result =
      load_config_file((kConfigFixtures / "bad" / "secrets.toml").string());
  REQUIRE(result.errors.size() == 3);
  CHECK_FALSE(contains(all_errors(result), "Sup3rS3cret"));
}

TEST_CASE("a TOML syntax error is one error with toml11's line") {
  const ConfigParseResult result =
      parse_config("[check]\ninterval = \"5m\nconcurrency = 2\n", "x.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 2);
  CHECK(contains(result.errors[0].message, "TOML syntax error"));
  CHECK_FALSE(contains(result.errors[0].message, "\n"));
  CHECK(result.errors[0].to_string().rfind("x.toml:2: TOML syntax error", 0) == 0);
}

TEST_CASE("a config without targets is an error without a line") {
  const ConfigParseResult result = parse_config("[migrations.a]\nversions = [\"v\"]\n", "c.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 0);
  CHECK(result.errors[0].to_string() == "c.toml: no targets configured (add a [[targets]] table)");
}

TEST_CASE("several migrations sources: a target must name one") {
  const ConfigParseResult result = parse_config(R"([migrations.a]
versions = ["v"]
[migrations.b]
versions = ["w"]
[[targets]]
name = "t"
url_env = "T_URL"
)",
                                                "c.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 5);
  CHECK(contains(result.errors[0].message, "missing key \"migrations\""));
}

TEST_CASE("server.drain_timeout is exact below a second (not rounded to whole seconds)") {
  const ConfigParseResult result = parse_config(R"([server]
drain_timeout = "1500ms"
[migrations.a]
versions = ["v"]
[[targets]]
name = "t"
migrations = "a"
url = "postgresql://localhost/t"
)",
                                                "c.toml");
  INFO(all_errors(result));
  REQUIRE(result.config.has_value());
  CHECK(result.config->server.drain_timeout == std::chrono::milliseconds(1500));
}

TEST_CASE("shard_count > 1 needs a shard_index") {
  const ConfigParseResult result = parse_config(R"([server]
shard_count = 4
[migrations.a]
versions = ["v"]
[[targets]]
name = "t"
url_env = "T_URL"
)",
                                                "c.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 2);
  CHECK(contains(result.errors[0].message, "shard_index is required"));
}

TEST_CASE("alerts: per-severity for_checks and pagerduty events_url") {
  const std::string base = R"([migrations.a]
versions = ["v"]
[[targets]]
name = "t"
url_env = "T_URL"
)";
  const ConfigParseResult good = parse_config(base + R"([alerts]
for_checks = 3
for_checks_critical = 1
[[alerts.pagerduty]]
routing_key_env = "PD_KEY"
events_url = "http://127.0.0.1:8080/v2/enqueue"
)",
                                              "c.toml");
  INFO(all_errors(good));
  REQUIRE(good.config.has_value());
  CHECK(good.config->alerts.for_checks == 3);
  CHECK(good.config->alerts.for_checks_by_severity ==
        std::map<Severity, int>{{Severity::kCritical, 1}});
  CHECK(good.config->alerts.pagerduty.at(0).events_url == "http://127.0.0.1:8080/v2/enqueue");

  const ConfigParseResult bad = parse_config(base + R"([alerts]
for_checks_warning = 0
[[alerts.pagerduty]]
routing_key_env = "PD_KEY"
events_url = "events.pagerduty.com"
)",
                                             "c.toml");
  REQUIRE(bad.errors.size() == 2);
  CHECK(bad.errors[0].line == 7);
  CHECK(bad.errors[1].line == 10);
  CHECK(contains(bad.errors[1].message, "events_url"));
}

TEST_CASE("ConfigError::to_string and load_config_file of a missing file") {
  CHECK(ConfigError{"a.toml", 7, "boom"}.to_string() == "a.toml:7: boom");
  CHECK(ConfigError{"a.toml", 0, "boom"}.to_string() == "a.toml: boom");
  CHECK(ConfigError{"", 3, "boom"}.to_string() == "<config>:3: boom");
  const ConfigParseResult result = load_config_file("/nonexistent/driftwatch.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 0);
  CHECK(contains(result.errors[0].to_string(), "/nonexistent/driftwatch.toml: cannot read"));
  CHECK_FALSE(result.config.has_value());
}

// ---------------------------------------------------------------------------------------------
// validate-config

TEST_CASE("run_validate_config: exit 0 and a summary for a valid file") {
  std::ostringstream out, err;
  const int code = run_validate_config(
      {"--config", (kConfigFixtures / "good" / "full.toml").string(), "--offline"}, out, err);
  CHECK(code == 0);
  CHECK(out.str() ==
        "config OK: 4 targets, 2 migrations sources (offline: files, variables and programs not "
        "checked)\n");
  CHECK(err.str().empty());

  std::ostringstream out2, err2;
  CHECK(run_validate_config({"--config=" + (kRepoConfigDir / "minimal.toml").string(), "--offline"},
                            out2, err2) == 0);
  CHECK(contains(out2.str(), "config OK: 1 targets, 1 migrations sources"));
}

TEST_CASE("run_validate_config: exit 2 with every error as file:line: message") {
  const std::string path = (kConfigFixtures / "bad" / "many_errors.toml").string();
  std::ostringstream out, err;
  CHECK(run_validate_config({"--config", path}, out, err) == 2);
  CHECK(out.str().empty());
  const std::string text = err.str();
  const std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  CHECK(lines == load_config_file(path).errors.size());
  CHECK(contains(text, path + ":2: unknown key \"colour\"\n"));
  CHECK(contains(text, path + ":12: check.interval: invalid duration \"5\""));
}

TEST_CASE("run_validate_config: usage errors exit 2") {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {}, {"--config"}, {"--bogus", "x"}, {"file.toml"}, {"--config", "a", "--config", "b"}}) {
    std::ostringstream out, err;
    CHECK(run_validate_config(args, out, err) == 2);
    CHECK(contains(err.str(), "usage: driftwatch validate-config --config FILE"));
  }
  std::ostringstream out, err;
  CHECK(run_validate_config({"--config", "/nonexistent/x.toml"}, out, err) == 2);
  CHECK(contains(err.str(), "/nonexistent/x.toml: cannot read config file"));
}

TEST_CASE("[alerts] retry_initial and retry_max: defaults, values, order") {
  const std::string base =
      "[migrations.a]\nversions = [\"v\"]\n[[targets]]\nname = \"t\"\nurl = \"postgresql://h/d\"\n";
  ConfigParseResult result = parse_config(base, "c.toml");
  REQUIRE(result.config.has_value());
  CHECK(result.config->alerts.retry_initial == std::chrono::seconds(5));
  CHECK(result.config->alerts.retry_max == std::chrono::minutes(5));
  result = parse_config(base + "[alerts]\nretry_initial = \"1s\"\nretry_max = \"30s\"\n", "c.toml");
  INFO(all_errors(result));
  REQUIRE(result.config.has_value());
  CHECK(result.config->alerts.retry_initial == std::chrono::seconds(1));
  CHECK(result.config->alerts.retry_max == std::chrono::seconds(30));
  result = parse_config(base + "[alerts]\nretry_initial = \"1m\"\nretry_max = \"30s\"\n", "c.toml");
  CHECK_FALSE(result.config.has_value());
  CHECK(contains(all_errors(result), "alerts.retry_max: must not be shorter"));
}

// Issue 15: "validate-config only parses: a wrong versions path passes CI and then fails every
// target." Without --offline it checks the machine and lists every problem.
TEST_CASE("run_validate_config checks the world: paths, variables, programs, snapshots") {
  const fs::path dir = fs::temp_directory_path() / ("dw-validate-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "versions");
  fs::create_directories(dir / "snapshots");
  {
    std::ofstream(dir / "versions" / "a1.py") << "revision = 'a1'\ndown_revision = None\n";
    std::ofstream(dir / "snapshots" / "bad.json") << "{\"format\": 1";
    std::ofstream(dir / "url") << "postgresql://app@db/x\n";
  }
  auto write_config = [&](const std::string& name, const std::string& versions,
                          const std::string& target) {
    std::ofstream(dir / name) << "[migrations.w]\nversions = [\"" << versions
                              << "\"]\nsnapshots = \"snapshots\"\n\n[[targets]]\nname = \"t\"\n"
                              << "migrations = \"w\"\n"
                              << target << "\n";
    return (dir / name).string();
  };
  const std::string broken =
      write_config("broken.toml", "no-such-versions",
                   "url_env = \"DW_VALIDATE_SURELY_UNSET\"\n\n[[targets]]\nname = \"u\"\n"
                   "migrations = \"w\"\nurl_command = [\"no-such-program-dw\"]\n\n[[targets]]\n"
                   "name = \"v\"\nmigrations = \"w\"\nurl_file = \"missing.url\"");
  std::ostringstream out, err;
  CHECK(run_validate_config({"--config", broken}, out, err) == 2);
  const std::string text = err.str();
  CAPTURE(text);
  CHECK(contains(text, "migrations.w.versions: " + (dir / "no-such-versions").string() +
                           " is not a directory"));
  CHECK(contains(text, "targets.t: environment variable DW_VALIDATE_SURELY_UNSET is not set"));
  CHECK(contains(text, "targets.u: url_command program no-such-program-dw is not an executable"));
  CHECK(contains(text, "targets.v: cannot read " + (dir / "missing.url").string()));
  CHECK(contains(text, "bad.json"));
  CHECK(contains(text, "5 problem(s) on this machine"));
  // --offline: the file alone is fine.
  std::ostringstream out2, err2;
  CHECK(run_validate_config({"--config", broken, "--offline"}, out2, err2) == 0);

  fs::remove(dir / "snapshots" / "bad.json");
  const std::string good = write_config("good.toml", "versions", "url_file = \"url\"");
  std::ostringstream out3, err3;
  CHECK(run_validate_config({"--config", good}, out3, err3) == 0);
  CHECK(err3.str().empty());
  fs::remove_all(dir);
}

// Regression: validate-config parsed the *.json snapshots only; *.json.gz, which every other
// command reads, passed unchecked.
TEST_CASE("run_validate_config reads and parses .json.gz snapshots too, names redacted") {
  const fs::path dir = fs::temp_directory_path() / ("dw-validate-gz-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "versions");
  // A URL pasted as the snapshots directory (it exists here, so its files are read): the
  // password in the names must not be printed.
  const fs::path snapshots = dir / "postgresql:" / "u:hunter2@h" / "snaps";
  fs::create_directories(snapshots);
  std::ofstream(dir / "versions" / "a1.py") << "revision = 'a1'\ndown_revision = None\n";
  SchemaSnapshot good;
  good.alembic_version = {"a1"};
  REQUIRE(write_snapshot_file((snapshots / "a1.json.gz").string(), good).empty());
  std::ofstream(snapshots / "bad.json.gz", std::ios::binary) << gzip_compress("{\"format\": 1");
  std::ofstream(snapshots / "other.json.gz", std::ios::binary) << gzip_compress("not json");
  std::ofstream(dir / "url") << "postgresql://app@db/x\n";
  std::ofstream(dir / "dw.toml") << "[migrations.w]\nversions = [\"versions\"]\n"
                                 << "snapshots = \"postgresql://u:hunter2@h/snaps\"\n\n"
                                 << "[[targets]]\nname = \"t\"\n"
                                 << "migrations = \"w\"\nurl_file = \"url\"\n";
  std::ostringstream out, err;
  CHECK(run_validate_config({"--config", (dir / "dw.toml").string()}, out, err) == 2);
  const std::string text = err.str();
  CAPTURE(text);
  CHECK(contains(text, "migrations.w.snapshots: "));
  CHECK(contains(text, "/snaps/bad.json.gz: not valid JSON"));
  CHECK(contains(text, "/snaps/other.json.gz: not valid JSON"));
  CHECK_FALSE(contains(text, "hunter2"));
  CHECK_FALSE(contains(text, "a1.json.gz"));
  CHECK(contains(text, "2 problem(s) on this machine"));
  fs::remove_all(dir);
}

TEST_CASE("check.timeout below 100ms is an error, not silently rounded") {
  auto parse_with_timeout = [](const std::string& timeout) {
    return parse_config(R"(
[check]
timeout = ")" + timeout + R"("
[migrations.a]
versions = ["v"]
[[targets]]
name = "t"
migrations = "a"
url = "postgresql://localhost/t"
)",
                        "");
  };
  const ConfigParseResult tiny = parse_with_timeout("1ms");
  REQUIRE_FALSE(tiny.config.has_value());
  CHECK(contains(all_errors(tiny),
                 "check.timeout: 1ms is below the smallest supported check timeout (100ms)"));
  const ConfigParseResult small = parse_with_timeout("100ms");
  INFO(all_errors(small));
  REQUIRE(small.config.has_value());
  CHECK(small.config->check.timeout == std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace driftwatch
