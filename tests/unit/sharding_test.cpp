// Sharding: rendezvous hashing properties (coverage, balance, minimal movement), the pinned hash
// (a change reshuffles deployed fleets), and how the shard index is resolved.
#include "driftwatch/sharding.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "driftwatch/http_route.hpp"

namespace driftwatch {
namespace {

// Names shaped like real fleets: a common prefix and a counter, the hard case for a weak hash.
std::vector<std::string> fleet(int n, const char* pattern = "tenant-%04d") {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, pattern, i);
    names.emplace_back(buffer);
  }
  return names;
}

Config config_with(const std::vector<std::string>& names) {
  Config config;
  for (const auto& name : names) {
    TargetConfig target;
    target.name = name;
    target.migrations = "warehouse";
    config.targets.push_back(target);
  }
  return config;
}

ShardAssignment shard(int index, int count) {
  ShardAssignment s;
  s.index = index;
  s.count = count;
  return s;
}

TEST_CASE("hash functions match published test vectors") {
  // FNV-1a 64 vectors from the FNV reference (isthe.com/chongo/tech/comp/fnv).
  CHECK(fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ULL);
  // splitmix64 seeded with 0: its first two outputs are mix(gamma) and mix(2 * gamma).
  CHECK(splitmix64_mix(0x9e3779b97f4a7c15ULL) == 0xe220a8397b1dcdafULL);
  CHECK(splitmix64_mix(0x9e3779b97f4a7c15ULL * 2) == 0x6e789e6aa1b965f4ULL);
}

TEST_CASE("weight is the documented formula") {
  for (const std::string name : {"prod", "staging", "dev-alice", ""}) {
    for (int s = 0; s < 5; ++s) {
      const std::uint64_t salt = (static_cast<std::uint64_t>(s) + 1) * 0x9e3779b97f4a7c15ULL;
      CHECK(shard_weight(name, s) == splitmix64_mix(fnv1a64(name) ^ salt));
    }
  }
}

TEST_CASE("owner is the shard with the highest weight") {
  for (const auto& name : fleet(200)) {
    for (int count = 1; count <= 16; ++count) {
      const int owner = shard_owner(name, count);
      REQUIRE(owner >= 0);
      REQUIRE(owner < count);
      for (int s = 0; s < count; ++s) {
        if (s != owner) {
          CHECK(shard_weight(name, s) < shard_weight(name, owner));
        }
      }
    }
  }
  CHECK(shard_owner("anything", 0) == 0);
}

TEST_CASE("every target is owned by exactly one shard, for shard counts 1..16") {
  const auto names = fleet(1000);
  const Config config = config_with(names);
  for (int count = 1; count <= 16; ++count) {
    CAPTURE(count);
    std::map<std::string, int> owners;
    std::size_t total = 0;
    for (int index = 0; index < count; ++index) {
      const Config owned = owned_config(config, shard(index, count));
      total += owned.targets.size();
      for (const auto& target : owned.targets) {
        ++owners[target.name];
      }
    }
    CHECK(total == names.size());
    CHECK(owners.size() == names.size());
    // No structured bindings: doctest's macros capture in lambdas, which C++17 forbids for them.
    for (const auto& entry : owners) {
      CHECK_MESSAGE(entry.second == 1, entry.first);
    }
  }
}

TEST_CASE("owned_config keeps order and everything but the other shards' targets") {
  Config config = config_with(fleet(50));
  config.check.concurrency = 3;
  config.server.listen = "127.0.0.1:1";
  const Config owned = owned_config(config, shard(1, 3));
  CHECK(owned.check.concurrency == 3);
  CHECK(owned.server.listen == "127.0.0.1:1");
  std::vector<std::string> expected;
  for (const auto& t : config.targets) {
    if (shard_owner(t.name, 3) == 1) {
      expected.push_back(t.name);
    }
  }
  std::vector<std::string> got;
  for (const auto& t : owned.targets) {
    got.push_back(t.name);
  }
  CHECK(got == expected);
  CHECK(!got.empty());
  CHECK(got.size() < config.targets.size());
}

// Counts per shard of `names` for `count` shards.
std::vector<int> loads(const std::vector<std::string>& names, int count) {
  std::vector<int> load(static_cast<std::size_t>(count), 0);
  for (const auto& name : names) {
    ++load[static_cast<std::size_t>(shard_owner(name, count))];
  }
  return load;
}

// A perfect random assignment puts Binomial(n, 1/count) targets on each shard, whose spread
// relative to the mean grows with the shard count: for 1,000 targets +-20% is >= 3 standard
// deviations up to 5 shards but only 2.6 at 7 and 1.6 at 16, where even an ideal hash fails
// the bound by chance. Hence 1,000 targets up to 5 shards and 10,000 (+-20% >= 5 sd) beyond.
void check_balance(const std::string& pattern, int targets, int min_count, int max_count) {
  const auto names = fleet(targets, pattern.c_str());
  for (int count = min_count; count <= max_count; ++count) {
    CAPTURE(pattern);
    CAPTURE(count);
    const double mean = static_cast<double>(targets) / count;
    for (int n : loads(names, count)) {
      CHECK(n >= 0.8 * mean);
      CHECK(n <= 1.2 * mean);
    }
  }
}

TEST_CASE("1,000 targets are balanced within +-20% across 2..5 shards") {
  for (const char* pattern : {"tenant-%04d", "db%d", "%d.prod.example.internal"}) {
    check_balance(pattern, 1000, 2, 5);
  }
}

TEST_CASE("10,000 targets are balanced within +-20% across 6..16 shards") {
  for (const char* pattern : {"tenant-%05d", "warehouse-%d"}) {
    check_balance(pattern, 10000, 6, 16);
  }
}

TEST_CASE("growing from N to N+1 shards moves at most 1.5/(N+1) of targets, all to the new one") {
  const auto names = fleet(1000);
  for (int n = 1; n <= 15; ++n) {
    CAPTURE(n);
    int moved = 0;
    for (const auto& name : names) {
      const int before = shard_owner(name, n);
      const int after = shard_owner(name, n + 1);
      if (before != after) {
        ++moved;
        CHECK_MESSAGE(after == n, name);  // only to the new shard
      }
    }
    CHECK(moved <= 1.5 * 1000.0 / (n + 1));
    CHECK(moved > 0);  // the new shard gets work
  }
}

TEST_CASE("shrinking by one shard moves only the removed shard's targets") {
  const auto names = fleet(1000);
  for (int n = 2; n <= 16; ++n) {
    for (const auto& name : names) {
      const int before = shard_owner(name, n);
      if (before != n - 1) {
        CHECK(shard_owner(name, n - 1) == before);
      }
    }
  }
}

TEST_CASE("assignments are pinned: a change here reshuffles deployed fleets") {
  // Computed by an independent Python implementation of the formula in sharding.hpp; if this
  // fails the hash changed, which must not happen silently (a rolling upgrade would then check
  // some targets twice and others not at all).
  CHECK(shard_weight("prod", 0) == 0xfbc08d647c24ea42ULL);
  CHECK(shard_weight("prod", 1) == 0x30d37dac47f5fdc6ULL);
  const std::map<std::string, std::vector<int>> owners = {
      // name -> owner for 2, 3, 5, 8 shards
      {"prod", {0, 0, 0, 0}},    {"staging", {1, 1, 1, 6}}, {"dev-alice", {0, 0, 4, 4}},
      {"eu-prod", {1, 1, 1, 1}}, {"us-prod", {0, 2, 2, 6}},
  };
  for (const auto& entry : owners) {
    const std::string& name = entry.first;
    CAPTURE(name);
    CHECK(std::vector<int>{shard_owner(name, 2), shard_owner(name, 3), shard_owner(name, 5),
                           shard_owner(name, 8)} == entry.second);
  }
}

TEST_CASE("ordinal_from_name") {
  CHECK(ordinal_from_name("driftwatch-0") == 0);
  CHECK(ordinal_from_name("driftwatch-12") == 12);
  CHECK(ordinal_from_name("drift-watch-3") == 3);
  CHECK(ordinal_from_name("driftwatch-2.driftwatch.monitoring.svc.cluster.local") == 2);
  CHECK_FALSE(ordinal_from_name("driftwatch"));
  CHECK_FALSE(ordinal_from_name("driftwatch-"));
  CHECK_FALSE(ordinal_from_name("-3"));
  CHECK_FALSE(ordinal_from_name("driftwatch-7d9f8b6c4-x2x9q"));  // a Deployment pod
  CHECK_FALSE(ordinal_from_name("driftwatch-1a"));
  CHECK_FALSE(ordinal_from_name("driftwatch-99999999999999999999"));
  CHECK_FALSE(ordinal_from_name(""));
}

ServerConfig server(const std::string& index, int count) {
  ServerConfig s;
  s.shard_index = index;
  s.shard_count = count;
  return s;
}

TEST_CASE("resolve_shard: config, flags and their errors") {
  SUBCASE("no sharding") {
    auto r = resolve_shard(server("", 1), {}, {});
    REQUIRE(r.assignment);
    CHECK(r.error.empty());
    CHECK(r.assignment->index == 0);
    CHECK(r.assignment->count == 1);
    CHECK_FALSE(r.assignment->sharded());
    CHECK(r.assignment->owns("anything"));
  }
  SUBCASE("from config") {
    auto r = resolve_shard(server("2", 3), {}, {});
    REQUIRE(r.assignment);
    CHECK(r.assignment->index == 2);
    CHECK(r.assignment->count == 3);
    CHECK(r.assignment->sharded());
    CHECK(r.assignment->source == "config");
  }
  SUBCASE("flags override config") {
    auto r = resolve_shard(server("2", 3), {std::string("4"), std::string("5")}, {});
    REQUIRE(r.assignment);
    CHECK(r.assignment->index == 4);
    CHECK(r.assignment->count == 5);
    CHECK(r.assignment->source == "--shard-index");
  }
  SUBCASE("flags alone") {
    auto r = resolve_shard(server("", 1), {std::string("1"), std::string("2")}, {});
    REQUIRE(r.assignment);
    CHECK(r.assignment->index == 1);
    CHECK(r.assignment->count == 2);
  }
  SUBCASE("count flag leaves a config index out of range") {
    auto r = resolve_shard(server("2", 3), {std::nullopt, std::string("2")}, {});
    CHECK_FALSE(r.assignment);
    CHECK(r.error.find("out of range") != std::string::npos);
  }
  SUBCASE("bad flag values") {
    for (const char* bad : {"-1", "x", "", " 1", "1.5"}) {
      CAPTURE(bad);
      auto r = resolve_shard(server("", 1), {std::string(bad), std::string("3")}, {});
      CHECK_FALSE(r.assignment);
      CHECK(r.error.find("--shard-index") != std::string::npos);
    }
    for (const char* bad : {"0", "-2", "three", "", "10000001"}) {
      CAPTURE(bad);
      auto r = resolve_shard(server("", 1), {std::string("0"), std::string(bad)}, {});
      CHECK_FALSE(r.assignment);
      CHECK(r.error.find("--shard-count") != std::string::npos);
    }
  }
  SUBCASE("count > 1 without an index") {
    auto r = resolve_shard(server("", 1), {std::nullopt, std::string("3")}, {});
    CHECK_FALSE(r.assignment);
    CHECK(r.error.find("no shard index") != std::string::npos);
  }
}

TEST_CASE("resolve_shard: auto from the StatefulSet pod name") {
  SUBCASE("POD_NAME first") {
    auto r = resolve_shard(server("auto", 3), {}, {"driftwatch-1", "driftwatch-2", "host-0"});
    REQUIRE(r.assignment);
    CHECK(r.assignment->index == 1);
    CHECK(r.assignment->source == "POD_NAME=driftwatch-1");
  }
  SUBCASE("HOSTNAME when POD_NAME is unset") {
    auto r = resolve_shard(server("auto", 3), {}, {"", "driftwatch-2", "host-0"});
    REQUIRE(r.assignment);
    CHECK(r.assignment->index == 2);
  }
  SUBCASE("system host name last") {
    auto r = resolve_shard(server("auto", 3), {}, {"", "", "driftwatch-0.example"});
    REQUIRE(r.assignment);
    CHECK(r.assignment->index == 0);
  }
  SUBCASE("--shard-index auto") {
    auto r =
        resolve_shard(server("", 1), {std::string("auto"), std::string("4")}, {"dw-3", "", ""});
    REQUIRE(r.assignment);
    CHECK(r.assignment->index == 3);
    CHECK(r.assignment->count == 4);
  }
  SUBCASE("a name without an ordinal is an error, not a fallback") {
    auto r = resolve_shard(server("auto", 3), {}, {"", "laptop", "driftwatch-1"});
    CHECK_FALSE(r.assignment);
    CHECK(r.error.find("laptop") != std::string::npos);
  }
  SUBCASE("nothing set") {
    auto r = resolve_shard(server("auto", 3), {}, {"", "", ""});
    CHECK_FALSE(r.assignment);
    CHECK(r.error.find("auto") != std::string::npos);
  }
  SUBCASE("one shard: no ordinal needed, but an ordinal >= 1 is still an error") {
    auto r = resolve_shard(server("auto", 1), {}, {"", "3f4e2a1b9c0d", ""});
    REQUIRE(r.assignment);
    CHECK(r.assignment->index == 0);
    CHECK(r.assignment->count == 1);
    auto second = resolve_shard(server("auto", 1), {}, {"driftwatch-1", "", ""});
    CHECK_FALSE(second.assignment);
    CHECK(second.error.find("out of range") != std::string::npos);
  }
  SUBCASE("ordinal beyond the shard count (replicas raised, shard_count not)") {
    auto r = resolve_shard(server("auto", 3), {}, {"driftwatch-3", "", ""});
    CHECK_FALSE(r.assignment);
    CHECK(r.error.find("out of range") != std::string::npos);
  }
}

}  // namespace
}  // namespace driftwatch

// Routes of a sharded instance: owned targets answer as usual, targets another shard owns
// answer 421 with the owner, unknown names stay 404.
namespace driftwatch {
namespace {

class ShardedState : public AppStateView {
 public:
  ShardedState(std::vector<std::string> names, ShardAssignment shard)
      : names_(std::move(names)), shard_(std::move(shard)) {}

  bool config_loaded() const override { return true; }
  bool first_round_done() const override { return true; }
  bool draining() const override { return false; }
  std::vector<TargetStatus> targets() const override {
    std::vector<TargetStatus> out;
    for (const auto& target : owned_config(config_with(names_), shard_).targets) {
      TargetStatus status;
      status.config = target;
      out.push_back(status);
    }
    return out;
  }
  std::optional<TargetStatus> target(const std::string& name) const override {
    for (const auto& status : targets()) {
      if (status.config.name == name) {
        return status;
      }
    }
    return std::nullopt;
  }
  std::vector<MigrationsStatus> migrations() const override { return {}; }
  std::string metrics_text() const override { return ""; }
  std::string admin_token() const override { return "secret-token"; }
  std::optional<TargetResult> check_now(const std::string&) const override { return std::nullopt; }
  // The same rule as cmd_serve's ServeState.
  std::optional<ShardLocation> owner_shard(const std::string& name) const override {
    const Config config = config_with(names_);
    if (!shard_.sharded() || config.find_target(name) == nullptr || shard_.owns(name)) {
      return std::nullopt;
    }
    return ShardLocation{shard_owner(name, shard_.count), shard_.count};
  }

 private:
  std::vector<std::string> names_;
  ShardAssignment shard_;
};

HttpResponse get(const AppStateView& state, const std::string& path,
                 const std::string& method = "GET") {
  HttpRequest request;
  request.method = method;
  request.target = path;
  return route(request, state);
}

TEST_CASE("routes of a sharded instance") {
  const auto names = fleet(30, "t%d");
  const ShardedState state(names, shard(1, 3));
  const auto listed = nlohmann::json::parse(get(state, "/api/v1/targets").payload())["targets"];
  std::set<std::string> listed_names;
  for (const auto& t : listed) {
    listed_names.insert(t["name"].get<std::string>());
  }
  int elsewhere = 0;
  for (const auto& name : names) {
    CAPTURE(name);
    const int owner = shard_owner(name, 3);
    CHECK(listed_names.count(name) == (owner == 1 ? 1u : 0u));
    for (const std::string& path : {"/api/v1/targets/" + name, "/targets/" + name}) {
      const HttpResponse response = get(state, path);
      if (owner == 1) {
        CHECK(response.status == 200);
        continue;
      }
      ++elsewhere;
      CHECK(response.status == 421);
      CHECK(response.content_type == "application/json");
      const auto body = nlohmann::json::parse(response.body);
      CHECK(body["owner_shard"] == owner);
      CHECK(body["shards"] == 3);
      CHECK(body["error"].get<std::string>().find(name) != std::string::npos);
    }
    if (owner != 1) {
      // POST without a token still learns the owner (GET tells anyone the same).
      CHECK(get(state, "/api/v1/targets/" + name + "/check", "POST").status == 421);
      // A wrong method is still 405, not a redirect.
      CHECK(get(state, "/api/v1/targets/" + name + "/check", "GET").status == 405);
    }
  }
  CHECK(elsewhere > 0);
  CHECK(get(state, "/api/v1/targets/not-configured").status == 404);
}

TEST_CASE("routes of an unsharded instance never answer 421") {
  const auto names = fleet(10, "t%d");
  const ShardedState state(names, shard(0, 1));
  for (const auto& name : names) {
    CHECK(get(state, "/api/v1/targets/" + name).status == 200);
  }
}

}  // namespace
}  // namespace driftwatch
