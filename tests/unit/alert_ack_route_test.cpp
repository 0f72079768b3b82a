// POST/DELETE /api/v1/targets/{name}/ack and /unack through the pure route function.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "driftwatch/http_route.hpp"

namespace driftwatch {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::system_clock;

class AckState : public AppStateView {
 public:
  std::vector<TargetStatus> statuses;
  mutable std::optional<Acknowledgement> stored;

  AckState() {
    TargetStatus s;
    s.config.name = "prod";
    statuses.push_back(s);
  }
  bool config_loaded() const override { return true; }
  bool first_round_done() const override { return true; }
  bool draining() const override { return false; }
  std::vector<TargetStatus> targets() const override {
    auto out = statuses;
    for (auto& s : out) s.ack = stored;
    return out;
  }
  std::optional<TargetStatus> target(const std::string& name) const override {
    for (auto s : targets()) {
      if (s.config.name == name) return s;
    }
    return std::nullopt;
  }
  std::vector<MigrationsStatus> migrations() const override { return {}; }
  std::string metrics_text() const override { return ""; }
  std::string admin_token() const override { return "tok"; }
  std::optional<TargetResult> check_now(const std::string&) const override { return std::nullopt; }
  std::optional<Acknowledgement> acknowledge(const std::string& name, const std::string& owner,
                                             const std::string& reason,
                                             Clock::time_point expires_at) const override {
    stored = Acknowledgement{name, owner, reason, Clock::now(), expires_at, "fp"};
    return stored;
  }
  bool unacknowledge(const std::string&) const override {
    const bool had = stored.has_value();
    stored.reset();
    return had;
  }
};

HttpResponse request(const AppStateView& state, const std::string& method,
                     const std::string& target, const std::string& body,
                     const std::string& token = "tok") {
  HttpRequest r;
  r.method = method;
  r.target = target;
  r.body = body;
  if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
  return route(r, state);
}

TEST_CASE("ack: bearer token required like the check endpoint") {
  AckState state;
  const std::string body = R"({"owner":"alice","reason":"r","expires_in":"2h"})";
  CHECK(request(state, "POST", "/api/v1/targets/prod/ack", body, "").status == 401);
  CHECK(request(state, "POST", "/api/v1/targets/prod/ack", body, "bad").status == 403);
  CHECK_FALSE(state.stored.has_value());
  CHECK(request(state, "POST", "/api/v1/targets/nope/ack", body).status == 404);
  CHECK(request(state, "GET", "/api/v1/targets/prod/ack", "").status == 405);
}

TEST_CASE("ack: expires_in sets an expiry that is shown in the target JSON") {
  AckState state;
  const auto before = Clock::now();
  const HttpResponse r = request(state, "POST", "/api/v1/targets/prod/ack",
                                 R"({"owner":"alice","reason":"on it","expires_in":"2h"})");
  REQUIRE(r.status == 200);
  REQUIRE(state.stored.has_value());
  CHECK(state.stored->expires_at >= before + std::chrono::hours(2));
  CHECK(state.stored->expires_at <= Clock::now() + std::chrono::hours(2));
  CHECK(Json::parse(r.body)["ack"]["owner"] == "alice");
  const Json target = Json::parse(request(state, "GET", "/api/v1/targets/prod", "").body);
  CHECK(target["ack"]["reason"] == "on it");
  const Json list = Json::parse(request(state, "GET", "/api/v1/targets", "").payload());
  CHECK(list["targets"][0]["ack"]["owner"] == "alice");
}

TEST_CASE("ack: expires_at in RFC 3339 with Z or an offset") {
  AckState state;
  const auto future = Clock::now() + std::chrono::hours(48);
  const std::time_t t = Clock::to_time_t(future);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char utc[32];
  std::strftime(utc, sizeof utc, "%Y-%m-%dT%H:%M:%SZ", &tm);
  REQUIRE(request(state, "POST", "/api/v1/targets/prod/ack",
                  std::string(R"({"owner":"a","reason":"r","expires_at":")") + utc + "\"}")
              .status == 200);
  CHECK(Clock::to_time_t(state.stored->expires_at) == t);
  // The same instant written two hours ahead of UTC.
  std::tm local = tm;
  local.tm_hour += 2;
  const std::time_t shifted = timegm(&local);
  gmtime_r(&shifted, &local);
  char plus2[40];
  std::strftime(plus2, sizeof plus2, "%Y-%m-%dT%H:%M:%S.250+02:00", &local);
  REQUIRE(request(state, "POST", "/api/v1/targets/prod/ack",
                  std::string(R"({"owner":"a","reason":"r","expires_at":")") + plus2 + "\"}")
              .status == 200);
  CHECK(Clock::to_time_t(state.stored->expires_at) == t);
}

TEST_CASE("ack: bad bodies are 400 and store nothing") {
  AckState state;
  for (const char* body : {
           "not json",
           "[]",
           R"({"reason":"r","expires_in":"2h"})",
           R"({"owner":"","reason":"r","expires_in":"2h"})",
           R"({"owner":"a","reason":"r"})",
           R"({"owner":"a","reason":"r","expires_in":"2h","expires_at":"2030-01-01T00:00:00Z"})",
           R"({"owner":"a","reason":"r","expires_in":"soon"})",
           R"({"owner":"a","reason":"r","expires_at":"2001-01-01T00:00:00Z"})",
           R"({"owner":"a","reason":"r","expires_at":"tomorrow"})",
           R"({"owner":"a","reason":"r","expires_in":"1000h"})",
       }) {
    CAPTURE(body);
    const HttpResponse r = request(state, "POST", "/api/v1/targets/prod/ack", body);
    CHECK(r.status == 400);
    CHECK(Json::parse(r.body).contains("error"));
  }
  CHECK_FALSE(state.stored.has_value());
}

TEST_CASE("unack: DELETE on ack or POST on unack removes it") {
  AckState state;
  const std::string body = R"({"owner":"a","reason":"r","expires_in":"1h"})";
  REQUIRE(request(state, "POST", "/api/v1/targets/prod/ack", body).status == 200);
  HttpResponse r = request(state, "DELETE", "/api/v1/targets/prod/ack", "");
  CHECK(r.status == 200);
  CHECK(Json::parse(r.body)["removed"] == true);
  CHECK_FALSE(state.stored.has_value());
  r = request(state, "POST", "/api/v1/targets/prod/unack", "");
  CHECK(Json::parse(r.body)["removed"] == false);
  CHECK(request(state, "POST", "/api/v1/targets/prod/unack", "", "").status == 401);
}

}  // namespace
}  // namespace driftwatch
