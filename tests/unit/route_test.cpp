// HTTP routes as a pure function over a fake AppStateView, plus one loopback test of the Beast
// listener for what only the parser can do (413, 400 on a garbage request line, keep-alive).
#include <doctest/doctest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "driftwatch/http_route.hpp"
#include "http/server.hpp"

using namespace driftwatch;
using Json = nlohmann::json;

namespace {

TargetStatus make_status(const std::string& name, const std::string& status,
                         std::vector<Severity> severities = {}) {
  TargetStatus s;
  s.config.name = name;
  s.config.migrations = "warehouse";
  s.interval = std::chrono::minutes(5);
  TargetResult r;
  r.name = name;
  r.status = status;
  r.revision.state = status == "error" ? "" : "at_head";
  r.revision.current = {"abc"};
  r.revision.expected_heads = {"abc"};
  r.checked_at = std::chrono::system_clock::now();
  for (auto severity : severities) {
    Finding f;
    f.kind = "missing";
    f.object = "public.t";
    f.severity = severity;
    f.message = "table public.t is missing";
    r.findings.push_back(f);
  }
  if (status == "error") r.error = CheckError{"connect", "target " + name + " is unreachable"};
  s.last_result = std::make_shared<const TargetResult>(r);
  s.checks_total = 4;
  return s;
}

class FakeState : public AppStateView {
 public:
  bool loaded = true;
  bool first_round = true;
  bool is_draining = false;
  std::string token = "s3cret-token";
  std::vector<TargetStatus> statuses;
  mutable std::vector<std::string> checked;

  bool config_loaded() const override { return loaded; }
  bool first_round_done() const override { return first_round; }
  bool draining() const override { return is_draining; }
  std::vector<TargetStatus> targets() const override { return statuses; }
  std::optional<TargetStatus> target(const std::string& name) const override {
    for (const auto& s : statuses) {
      if (s.config.name == name) return s;
    }
    return std::nullopt;
  }
  std::vector<MigrationsStatus> migrations() const override {
    MigrationsStatus m;
    m.name = "warehouse";
    m.heads = {"h1", "h2"};
    m.revisions = 12;
    m.errors = {"versions/x.py:3: revision is not a literal"};
    return {m};
  }
  std::string metrics_text() const override { return "driftwatch_build_info{version=\"x\"} 1\n"; }
  std::string admin_token() const override { return token; }
  std::optional<TargetResult> check_now(const std::string& name) const override {
    auto s = target(name);
    if (!s || is_draining) return std::nullopt;
    checked.push_back(name);
    TargetResult r = *s->last_result;
    r.compared_against = "fresh";
    return r;
  }
};

HttpResponse get(const FakeState& state, const std::string& target,
                 const std::string& method = "GET") {
  HttpRequest request;
  request.method = method;
  request.target = target;
  return route(request, state);
}

HttpResponse post_check(const FakeState& state, const std::string& name,
                        std::optional<std::string> authorization) {
  HttpRequest request;
  request.method = "POST";
  request.target = "/api/v1/targets/" + name + "/check";
  if (authorization) request.headers["authorization"] = *authorization;
  return route(request, state);
}

std::string error_of(const HttpResponse& response) {
  CHECK(response.content_type == "application/json");
  return Json::parse(response.body).at("error").get<std::string>();
}

FakeState fleet() {
  FakeState state;
  state.statuses = {make_status("dev", "drift", {Severity::kCritical, Severity::kInfo}),
                    make_status("prod", "ok"), make_status("staging", "error")};
  TargetStatus pending;
  pending.config.name = "zz-new";
  state.statuses.push_back(pending);
  return state;
}

}  // namespace

TEST_CASE("healthz answers without touching state") {
  FakeState state;
  state.loaded = false;
  state.first_round = false;
  auto r = get(state, "/healthz");
  CHECK(r.status == 200);
  CHECK(r.body == "ok\n");
  CHECK(get(state, "/healthz", "HEAD").status == 200);
}

TEST_CASE("readyz follows config, first round and draining") {
  FakeState state;
  state.first_round = false;
  CHECK(get(state, "/readyz").status == 503);
  state.first_round = true;
  CHECK(get(state, "/readyz").status == 200);
  state.loaded = false;
  CHECK(get(state, "/readyz").status == 503);
  state.loaded = true;
  state.is_draining = true;
  auto r = get(state, "/readyz");
  CHECK(r.status == 503);
  CHECK(error_of(r) == "draining");
  CHECK(get(state, "/healthz").status == 200);  // alive while draining
}

TEST_CASE("metrics use the 0.0.4 text content type") {
  FakeState state;
  auto r = get(state, "/metrics");
  CHECK(r.status == 200);
  CHECK(r.content_type.find("version=0.0.4") != std::string::npos);
  CHECK(r.payload() == state.metrics_text());
}

TEST_CASE("target list has check JSON objects with summaries, pending targets included") {
  FakeState state = fleet();
  auto r = get(state, "/api/v1/targets");
  REQUIRE(r.status == 200);
  CHECK(r.content_type == "application/json");
  Json doc = Json::parse(r.payload());
  auto& list = doc.at("targets");
  REQUIRE(list.size() == 4);
  CHECK(list[0]["name"] == "dev");
  CHECK(list[0]["status"] == "drift");
  CHECK(list[0]["findings"].size() == 2);
  CHECK(list[0]["revision"]["state"] == "at_head");
  CHECK(list[0]["summary"]["findings"]["critical"] == 1);
  CHECK(list[0]["summary"]["findings"]["warning"] == 0);
  CHECK(list[0]["summary"]["findings"]["info"] == 1);
  CHECK(list[0]["summary"]["checks_total"] == 4);
  CHECK(list[2]["status"] == "error");
  CHECK(list[2]["error"]["reason"] == "connect");
  CHECK(list[3]["name"] == "zz-new");
  CHECK(list[3]["status"] == "pending");
  CHECK(list[3]["checked_at"].is_null());
}

TEST_CASE("one target's check JSON; unknown target is a JSON 404") {
  FakeState state = fleet();
  auto r = get(state, "/api/v1/targets/prod");
  REQUIRE(r.status == 200);
  Json doc = Json::parse(r.body);
  CHECK(doc["name"] == "prod");
  CHECK(doc["status"] == "ok");
  CHECK(doc["revision"]["current"] == Json::array({"abc"}));
  auto missing = get(state, "/api/v1/targets/nope");
  CHECK(missing.status == 404);
  CHECK(error_of(missing) == "unknown target: nope");
  // Percent-encoded names are decoded.
  FakeState odd;
  odd.statuses = {make_status("dev alice", "ok")};
  auto encoded = get(odd, "/api/v1/targets/dev%20alice");
  REQUIRE(encoded.status == 200);
  CHECK(Json::parse(encoded.body)["name"] == "dev alice");
}

TEST_CASE("on-demand check needs the bearer token") {
  FakeState state = fleet();
  auto none = post_check(state, "prod", std::nullopt);
  CHECK(none.status == 401);
  CHECK(none.headers.count("WWW-Authenticate") == 1);
  CHECK(post_check(state, "prod", std::string("Basic czNjcmV0")).status == 401);
  CHECK(post_check(state, "prod", std::string("Bearer wrong")).status == 403);
  CHECK(post_check(state, "prod", std::string("Bearer s3cret-token-and-more")).status == 403);
  CHECK(post_check(state, "prod", std::string("Bearer s3cret-toke")).status == 403);
  CHECK(post_check(state, "prod", std::string("Bearer ")).status == 403);
  CHECK(state.checked.empty());
  auto ok = post_check(state, "prod", std::string("Bearer s3cret-token"));
  REQUIRE(ok.status == 200);
  CHECK(Json::parse(ok.body)["compared_against"] == "fresh");
  CHECK(state.checked == std::vector<std::string>{"prod"});
  // The token never appears in any answer.
  CHECK(ok.body.find("s3cret") == std::string::npos);
  CHECK(post_check(state, "nope", std::string("Bearer s3cret-token")).status == 404);
  state.is_draining = true;
  CHECK(post_check(state, "prod", std::string("Bearer s3cret-token")).status == 503);
}

TEST_CASE("without a configured token nobody may trigger checks") {
  FakeState state = fleet();
  state.token = "";
  CHECK(post_check(state, "prod", std::string("Bearer ")).status == 403);
  CHECK(post_check(state, "prod", std::string("Bearer x")).status == 403);
  CHECK(state.checked.empty());
}

TEST_CASE("wrong method on a known path is 405 with Allow") {
  FakeState state = fleet();
  auto r = get(state, "/healthz", "POST");
  CHECK(r.status == 405);
  CHECK(r.headers.at("Allow") == "GET, HEAD");
  error_of(r);
  auto c = get(state, "/api/v1/targets/prod/check", "GET");
  CHECK(c.status == 405);
  CHECK(c.headers.at("Allow") == "POST");
  CHECK(get(state, "/api/v1/targets", "DELETE").status == 405);
  CHECK(get(state, "/", "PUT").status == 405);
}

TEST_CASE("unknown paths are JSON 404") {
  FakeState state = fleet();
  for (const char* path : {"/nope", "/api/v2/targets", "/api/v1/targets/prod/check/x",
                           "/api/v1/targets/", "/targets", "/metrics/x"}) {
    auto r = get(state, path);
    CHECK_MESSAGE(r.status == 404, path);
    error_of(r);
  }
}

TEST_CASE("garbage request targets are 400") {
  FakeState state = fleet();
  for (const char* target :
       {"", "*", "healthz", "http://host/healthz", "/a//b", "/%zz", "/%4", "/api/v1/targets/..",
        "/./healthz", "/api/v1/targets/a%2Fb", "/api/v1/targets/a%00b", "/a b", "/a\tb", "/\x7f",
        "/x#frag", "/healthz?x=%g0"}) {
    auto r = get(state, target);
    CHECK_MESSAGE(r.status == 400, target);
  }
  CHECK(get(state, "/healthz?verbose=1&x").status == 200);
}

TEST_CASE("parse_request_target decodes segments and query") {
  auto t = parse_request_target("/api/v1/targets/dev%2Dalice?format=json&a=b+c");
  REQUIRE(t);
  CHECK(t->segments == std::vector<std::string>{"api", "v1", "targets", "dev-alice"});
  CHECK(t->query.at("format") == "json");
  CHECK(t->query.at("a") == "b c");
  auto root = parse_request_target("/");
  REQUIRE(root);
  CHECK(root->segments.empty());
}

TEST_CASE("migrations endpoint lists sources") {
  FakeState state;
  auto r = get(state, "/api/v1/migrations");
  REQUIRE(r.status == 200);
  Json doc = Json::parse(r.body);
  REQUIRE(doc["sources"].size() == 1);
  CHECK(doc["sources"][0]["name"] == "warehouse");
  CHECK(doc["sources"][0]["heads"] == Json::array({"h1", "h2"}));
  CHECK(doc["sources"][0]["revisions"] == 12);
  CHECK(doc["sources"][0]["errors"].size() == 1);
}

TEST_CASE("status pages are HTML; unknown target page is 404") {
  FakeState state = fleet();
  auto page = get(state, "/");
  REQUIRE(page.status == 200);
  CHECK(page.content_type.rfind("text/html", 0) == 0);
  CHECK(page.body.find(">staging</a>") != std::string::npos);
  CHECK(page.headers.count("Content-Security-Policy") == 1);
  auto target = get(state, "/targets/dev");
  REQUIRE(target.status == 200);
  CHECK(target.body.find("table public.t is missing") != std::string::npos);
  CHECK(get(state, "/targets/nope").status == 404);
}

TEST_CASE("constant_time_equals") {
  CHECK(constant_time_equals("abc", "abc"));
  CHECK_FALSE(constant_time_equals("abc", "abd"));
  CHECK_FALSE(constant_time_equals("abc", "abcd"));
  CHECK_FALSE(constant_time_equals("abcd", "abc"));
  CHECK_FALSE(constant_time_equals("", "abc"));
  CHECK_FALSE(constant_time_equals("abc", ""));
  CHECK(constant_time_equals("", ""));
}

// ---------------------------------------------------------------------------------------------
// Loopback: the Beast listener on port 0.

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct RunningServer {
  net::io_context io;
  FakeState state = fleet();
  std::unique_ptr<HttpServer> server;
  std::thread thread;

  RunningServer() {
    server = std::make_unique<HttpServer>(
        io, "127.0.0.1:0", [this](const HttpRequest& request) { return route(request, state); });
    server->start();
    thread = std::thread([this] { io.run(); });
  }
  ~RunningServer() {
    server->stop();
    io.stop();
    thread.join();
  }
  unsigned short port() const { return server->local_endpoint().port(); }
};

std::string raw_exchange(unsigned short port, const std::string& bytes) {
  net::io_context io;
  tcp::socket socket(io);
  socket.connect({net::ip::make_address("127.0.0.1"), port});
  beast::error_code ec;
  // The server may answer (413) and stop reading before all bytes are sent: a failed write is
  // fine, the answer is still there to read.
  net::write(socket, net::buffer(bytes), ec);
  std::string out;
  char buf[4096];
  for (;;) {
    const std::size_t n = socket.read_some(net::buffer(buf), ec);
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

}  // namespace

TEST_CASE("listener: keep-alive, 413 for large bodies, 400 for garbage") {
  RunningServer running;
  CHECK(running.port() != 0);
  CHECK(running.server->local_address() == "127.0.0.1:" + std::to_string(running.port()));

  {
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), running.port()));
    for (const char* path : {"/healthz", "/api/v1/targets/prod", "/nope"}) {
      http::request<http::string_body> req{http::verb::get, path, 11};
      req.set(http::field::host, "localhost");
      http::write(stream, req);
      beast::flat_buffer buffer;
      http::response<http::string_body> res;
      http::read(stream, buffer, res);
      CHECK(res.keep_alive());
      if (std::string(path) == "/healthz") {
        CHECK(res.result_int() == 200);
        CHECK(res.body() == "ok\n");
      } else if (std::string(path) == "/nope") {
        CHECK(res.result_int() == 404);
      } else {
        CHECK(res.result_int() == 200);
        CHECK(Json::parse(res.body())["name"] == "prod");
      }
    }
  }

  const std::string big(100 * 1024, 'x');
  auto too_large = raw_exchange(running.port(),
                                "POST /api/v1/targets/prod/check HTTP/1.1\r\nHost: x\r\n"
                                "Content-Length: " +
                                    std::to_string(big.size()) + "\r\n\r\n" + big);
  CHECK(too_large.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(running.state.checked.empty());

  auto garbage = raw_exchange(running.port(), "HELLO THERE\r\n\r\n");
  CHECK(garbage.rfind("HTTP/1.1 400", 0) == 0);

  auto bad_target = raw_exchange(running.port(),
                                 "GET /a//b HTTP/1.1\r\nHost: x\r\n"
                                 "Connection: close\r\n\r\n");
  CHECK(bad_target.rfind("HTTP/1.1 400", 0) == 0);

  auto head = raw_exchange(running.port(),
                           "HEAD /healthz HTTP/1.1\r\nHost: x\r\n"
                           "Connection: close\r\n\r\n");
  CHECK(head.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(head.find("Content-Length: 3") != std::string::npos);
  CHECK(head.substr(head.size() - 4) == "\r\n\r\n");  // no body after the headers

  auto post = raw_exchange(running.port(),
                           "POST /api/v1/targets/prod/check HTTP/1.1\r\nHost: x\r\n"
                           "Authorization: Bearer s3cret-token\r\nConnection: close\r\n"
                           "Content-Length: 0\r\n\r\n");
  CHECK(post.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(running.state.checked == std::vector<std::string>{"prod"});

  // Every answered request (including POSTs run on the blocking pool) is accounted for.
  running.server->stop();
  CHECK(running.server->wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(1)));
}

TEST_CASE("listener rejects a bad listen address") {
  net::io_context io;
  auto handler = [](const HttpRequest&) { return HttpResponse{}; };
  CHECK_THROWS(HttpServer(io, "nonsense", handler));
  CHECK_THROWS(HttpServer(io, "127.0.0.1:99999", handler));
  CHECK_THROWS(HttpServer(io, "127.0.0.1:", handler));
}

TEST_CASE("listener stop closes idle keep-alive connections") {
  RunningServer running;
  net::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), running.port()));
  http::request<http::string_body> req{http::verb::get, "/healthz", 11};
  req.set(http::field::host, "localhost");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  CHECK(res.result_int() == 200);
  running.server->stop();
  // The idle connection is closed by the server: the next read sees EOF, not a hang.
  stream.expires_after(std::chrono::seconds(5));
  beast::error_code ec;
  http::response<http::string_body> res2;
  http::async_read(stream, buffer, res2, [&ec](beast::error_code e, std::size_t) { ec = e; });
  io.run();
  CHECK(ec);
  CHECK(ec != beast::error::timeout);
}

// Issue 15 point 3: a POST is authenticated before it queues. admit() answers everything that
// will be refused on the I/O thread; only authenticated POST/DELETE requests go to a worker.
TEST_CASE("admit answers refusals at once and admits only authenticated writes") {
  FakeState state;
  state.statuses = {make_status("prod", "ok")};
  auto request = [](const std::string& method, const std::string& target,
                    std::optional<std::string> authorization = std::nullopt) {
    HttpRequest r;
    r.method = method;
    r.target = target;
    if (authorization) r.headers["authorization"] = *authorization;
    return r;
  };
  auto no_auth = admit(request("POST", "/api/v1/targets/prod/check"), state);
  REQUIRE(no_auth.has_value());
  CHECK(no_auth->status == 401);
  auto wrong = admit(request("POST", "/api/v1/targets/prod/check", "Bearer nope"), state);
  REQUIRE(wrong.has_value());
  CHECK(wrong->status == 403);
  CHECK(state.checked.empty());  // nothing ran
  CHECK_FALSE(admit(request("POST", "/api/v1/targets/prod/check", "Bearer s3cret-token"), state));
  CHECK_FALSE(admit(request("DELETE", "/api/v1/targets/prod/ack", "Bearer s3cret-token"), state));
  CHECK(admit(request("GET", "/api/v1/targets/prod/check"), state)->status == 405);
  CHECK(admit(request("POST", "/nope"), state)->status == 404);
  CHECK(admit(request("POST", "/%zz"), state)->status == 400);
  CHECK(admit(request("GET", "/healthz"), state)->status == 200);
  CHECK(waits_for_check(request("POST", "/api/v1/targets/prod/check")));
  CHECK_FALSE(waits_for_check(request("POST", "/api/v1/targets/prod/ack")));
}
