// [migrations.NAME.replay]: parsing, defaults and errors.
#include <doctest/doctest.h>

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
  std::string all;
  for (const auto& e : result.errors) all += e.to_string() + "\n";
  CHECK(all.find("migrations.warehouse.replay.command: must not be empty") != std::string::npos);
  CHECK(all.find("scratch") != std::string::npos);
}

}  // namespace driftwatch
