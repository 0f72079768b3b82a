// gzip bodies and Accept-Encoding negotiation, at the route level and in the codec.
#include "http/gzip.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "driftwatch/http_route.hpp"

using namespace driftwatch;

TEST_CASE("gzip round trip") {
  std::string text;
  for (int i = 0; i < 5000; ++i)
    text += "driftwatch_target_up{target=\"db" + std::to_string(i) + "\"} 1\n";
  const std::string packed = gzip_compress(text);
  CHECK(packed.size() < text.size() / 5);
  CHECK(static_cast<unsigned char>(packed[0]) == 0x1f);  // gzip magic
  CHECK(static_cast<unsigned char>(packed[1]) == 0x8b);
  CHECK(gzip_decompress(packed) == text);
  CHECK(gzip_decompress(gzip_compress("")).empty());
  CHECK_THROWS(gzip_decompress("not gzip at all"));
}

TEST_CASE("Accept-Encoding negotiation") {
  CHECK(accepts_gzip("gzip"));
  CHECK(accepts_gzip("GZIP"));
  CHECK(accepts_gzip("deflate, gzip;q=0.5"));
  CHECK(accepts_gzip("br, *"));
  CHECK(accepts_gzip("x-gzip"));
  CHECK_FALSE(accepts_gzip(""));
  CHECK_FALSE(accepts_gzip("identity"));
  CHECK_FALSE(accepts_gzip("br, deflate"));
  CHECK_FALSE(accepts_gzip("gzip;q=0"));
  CHECK_FALSE(accepts_gzip("gzip; q=0.0, *"));  // an explicit refusal beats the wildcard
  CHECK_FALSE(accepts_gzip("*;q=0"));
  CHECK_FALSE(accepts_gzip("gzipx"));
}

namespace {

// A state whose bodies come gzip-compressed when the client accepts it (as `serve`'s do).
class GzipState : public AppStateView {
 public:
  bool config_loaded() const override { return true; }
  bool first_round_done() const override { return true; }
  bool draining() const override { return false; }
  std::vector<TargetStatus> targets() const override {
    TargetStatus s;
    s.config.name = "prod";
    return {s};
  }
  std::optional<TargetStatus> target(const std::string&) const override { return std::nullopt; }
  std::vector<MigrationsStatus> migrations() const override { return {}; }
  std::string metrics_text() const override { return "driftwatch_build_info{version=\"x\"} 1\n"; }
  ResponseBody metrics_body(bool accept_gzip) const override {
    const std::string text = metrics_text();
    return {std::make_shared<const std::string>(accept_gzip ? gzip_compress(text) : text),
            accept_gzip};
  }
  ResponseBody targets_body(const TargetRender& render, bool accept_gzip) const override {
    ResponseBody plain = AppStateView::targets_body(render, false);
    if (!accept_gzip) return plain;
    return {std::make_shared<const std::string>(gzip_compress(*plain.bytes)), true};
  }
  std::string admin_token() const override { return ""; }
  std::optional<TargetResult> check_now(const std::string&) const override { return std::nullopt; }
};

HttpResponse get(const AppStateView& state, const std::string& target,
                 const std::string& accept_encoding) {
  HttpRequest request;
  request.method = "GET";
  request.target = target;
  if (!accept_encoding.empty()) request.headers["accept-encoding"] = accept_encoding;
  return route(request, state);
}

}  // namespace

TEST_CASE("/metrics and /api/v1/targets are gzip-compressed only when the client accepts it") {
  GzipState state;
  for (const std::string path : {"/metrics", "/api/v1/targets"}) {
    CAPTURE(path);
    const HttpResponse plain = get(state, path, "");
    const HttpResponse packed = get(state, path, "gzip");
    const HttpResponse refused = get(state, path, "gzip;q=0");
    REQUIRE(plain.status == 200);
    REQUIRE(packed.status == 200);
    CHECK(plain.headers.count("Content-Encoding") == 0);
    CHECK(refused.headers.count("Content-Encoding") == 0);
    CHECK(packed.headers.at("Content-Encoding") == "gzip");
    CHECK(packed.headers.at("Vary") == "Accept-Encoding");
    CHECK(plain.headers.at("Vary") == "Accept-Encoding");
    CHECK(gzip_decompress(packed.payload()) == plain.payload());
    CHECK(refused.payload() == plain.payload());
  }
  const auto doc = nlohmann::json::parse(get(state, "/api/v1/targets", "").payload());
  CHECK(doc.at("targets").at(0).at("name") == "prod");
  CHECK(doc.at("targets").at(0).at("status") == "pending");
}
