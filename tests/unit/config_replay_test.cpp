// [migrations.NAME.replay]: parsing, defaults and errors.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/cmd_validate_config.hpp"
#include "driftwatch/config.hpp"

namespace driftwatch {

namespace {

const char* kBase = R"([migrations.warehouse]
versions = ["versions"]
snapshots = "snapshots"
[[targets]]
name = "prod"
url = "postgresql://u@h/db"
)";

// Every error of a parse, one per line.
std::string all_errors(const ConfigParseResult& result) {
  std::string all;
  for (const auto& e : result.errors) all += e.to_string() + "\n";
  return all;
}

}  // namespace

TEST_CASE("replay table: scratch URL source, command argv, timeout") {
  auto result = parse_config(std::string(kBase) + R"([migrations.warehouse.replay]
scratch_url_env = "SCRATCH_URL"
command = ["alembic", "-c", "alembic.ini", "upgrade", "{revision}"]
timeout = "2m"
)",
                             "/etc/dw/driftwatch.toml");
  REQUIRE(result.errors.empty());
  const auto& replay = result.config->migrations.at("warehouse").replay;
  REQUIRE(replay.has_value());
  CHECK(replay->scratch_url.env == "SCRATCH_URL");
  CHECK(replay->command ==
        std::vector<std::string>{"alembic", "-c", "alembic.ini", "upgrade", "{revision}"});
  CHECK(replay->timeout == std::chrono::minutes(2));
}

TEST_CASE("replay table: defaults, and no replay without the table") {
  auto result = parse_config(std::string(kBase) + R"([migrations.warehouse.replay]
scratch_url_file = "scratch-url"
)",
                             "/etc/dw/driftwatch.toml");
  REQUIRE(result.errors.empty());
  const auto& replay = result.config->migrations.at("warehouse").replay;
  REQUIRE(replay.has_value());
  CHECK(replay->scratch_url.file == "/etc/dw/scratch-url");
  CHECK(replay->command == std::vector<std::string>{"alembic", "upgrade", "{revision}"});
  CHECK(replay->timeout == std::chrono::minutes(10));
  auto without = parse_config(kBase, "x.toml");
  REQUIRE(without.errors.empty());
  CHECK_FALSE(without.config->migrations.at("warehouse").replay.has_value());
}

TEST_CASE("replay table: missing scratch URL, empty command, unknown key are errors") {
  auto result = parse_config(std::string(kBase) + R"([migrations.warehouse.replay]
command = []
scratch = "x"
)",
                             "x.toml");
  REQUIRE(result.errors.size() == 3);  // no scratch URL source, empty command, unknown key
  const std::string all = all_errors(result);
  CHECK(all.find("migrations.warehouse.replay.command: must not be empty") != std::string::npos);
  CHECK(all.find("scratch") != std::string::npos);
}

TEST_CASE("replay table: scratch server with rds-iam, scratch_* auth keys") {
  auto result = parse_config(std::string(kBase) + R"([migrations.warehouse.replay]
scratch_auth = "rds-iam"
scratch_host = "scratch.abc.eu-west-1.rds.amazonaws.com"
scratch_port = 5433
scratch_user = "driftwatch_replay"
scratch_database = "postgres"
scratch_region = "eu-west-1"
scratch_role_arn = "arn:aws:iam::123456789012:role/driftwatch-replay"
scratch_ca_bundle = "rds-ca.pem"
)",
                             "/etc/dw/driftwatch.toml");
  REQUIRE_MESSAGE(result.errors.empty(), all_errors(result));
  const auto& replay = result.config->migrations.at("warehouse").replay;
  REQUIRE(replay.has_value());
  const DbAuthConfig& auth = replay->scratch_auth;
  CHECK(auth.rds_iam());
  CHECK(auth.host == "scratch.abc.eu-west-1.rds.amazonaws.com");
  CHECK(auth.port == 5433);
  CHECK(auth.user == "driftwatch_replay");
  CHECK(auth.database == "postgres");
  CHECK(auth.region == "eu-west-1");
  CHECK(auth.role_arn == "arn:aws:iam::123456789012:role/driftwatch-replay");
  CHECK(auth.ca_bundle == "/etc/dw/rds-ca.pem");
  // No URL needed with host and user; the default stays the password in the URL.
  CHECK(replay->scratch_url.url.empty());
  CHECK(replay->scratch_url.env.empty());
  auto plain = parse_config(std::string(kBase) +
                                "[migrations.warehouse.replay]\n"
                                "scratch_url_env = \"S\"\n",
                            "x.toml");
  REQUIRE(plain.errors.empty());
  CHECK_FALSE(plain.config->migrations.at("warehouse").replay->scratch_auth.rds_iam());
}

TEST_CASE("replay table: scratch_* auth errors") {
  auto result = parse_config(std::string(kBase) + R"([migrations.warehouse.replay]
scratch_auth = "rds-iam"
scratch_host = "h"
scratch_region = "EU West"
)",
                             "x.toml");
  std::string all = all_errors(result);
  CHECK(all.find("x.toml:7: migrations.warehouse.replay: scratch_auth = \"rds-iam\" needs "
                 "scratch_host and scratch_user") != std::string::npos);
  CHECK(all.find("x.toml:10: migrations.warehouse.replay.scratch_region: invalid AWS region") !=
        std::string::npos);

  result = parse_config(std::string(kBase) + R"([migrations.warehouse.replay]
scratch_url_env = "S"
scratch_user = "u"
)",
                        "x.toml");
  all = all_errors(result);
  CHECK(all.find("migrations.warehouse.replay.scratch_user: only valid with scratch_auth = "
                 "\"rds-iam\"") != std::string::npos);

  result = parse_config(std::string(kBase) + R"([migrations.warehouse.replay]
scratch_auth = "rds-iam"
scratch_url = "postgresql://u:hunter2@h/postgres"
)",
                        "x.toml");
  all = all_errors(result);
  CHECK(all.find("replay.scratch_url: must not contain a password") != std::string::npos);
  CHECK(all.find("hunter2") == std::string::npos);
}

TEST_CASE("validate-config checks the replay scratch URL source and the scratch CA bundle") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("dw-replay-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "versions");
  std::ofstream(dir / "versions" / "a1.py") << "revision = 'a1'\ndown_revision = None\n";
  std::ofstream(dir / "url") << "postgresql://app@db/x\n";
  std::ofstream(dir / "dw.toml")
      << "[migrations.w]\nversions = [\"versions\"]\n"
      << "[migrations.w.replay]\nscratch_url_env = \"DW_SURELY_UNSET_S\"\n"
      << "scratch_auth = \"rds-iam\"\nscratch_ca_bundle = \"no-ca.pem\"\n"
      << "[[targets]]\nname = \"t\"\nurl_file = \"url\"\n";
  std::ostringstream out, err;
  CHECK(run_validate_config({"--config", (dir / "dw.toml").string()}, out, err) == 2);
  const std::string text = err.str();
  CAPTURE(text);
  CHECK(text.find("migrations.w.replay: environment variable DW_SURELY_UNSET_S is not set") !=
        std::string::npos);
  CHECK(text.find("migrations.w.replay.scratch_ca_bundle: cannot read " +
                  (dir / "no-ca.pem").string()) != std::string::npos);
  fs::remove_all(dir);
}

}  // namespace driftwatch
