// The HTTP request path after Beast: request-target parsing, admission (authentication before
// queueing) and routing, with method, target, headers and body taken from the input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "driftwatch/http_route.hpp"
#include "driftwatch/serve_state.hpp"

namespace {

class FuzzState : public driftwatch::AppStateView {
 public:
  bool config_loaded() const override { return true; }
  bool first_round_done() const override { return true; }
  bool draining() const override { return false; }
  std::vector<driftwatch::TargetStatus> targets() const override { return {status()}; }
  std::optional<driftwatch::TargetStatus> target(const std::string& name) const override {
    if (name == "prod") return status();
    return std::nullopt;
  }
  std::vector<driftwatch::MigrationsStatus> migrations() const override { return {}; }
  std::string metrics_text() const override { return "driftwatch_build_info 1\n"; }
  std::string admin_token() const override { return "token"; }
  std::optional<driftwatch::TargetResult> check_now(const std::string& name) const override {
    if (name != "prod") return std::nullopt;
    driftwatch::TargetResult result;
    result.name = name;
    return result;
  }

 private:
  static driftwatch::TargetStatus status() {
    driftwatch::TargetStatus s;
    s.config.name = "prod";
    return s;
  }
};

// Splits the input at NUL bytes: method, target, authorization, body.
std::string field(const std::string& text, std::size_t& pos) {
  const std::size_t end = text.find('\0', pos);
  std::string out = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
  pos = end == std::string::npos ? text.size() : end + 1;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::size_t pos = 0;
  driftwatch::HttpRequest request;
  request.method = field(text, pos);
  request.target = field(text, pos);
  const std::string authorization = field(text, pos);
  if (!authorization.empty()) request.headers["authorization"] = authorization;
  request.headers["accept-encoding"] = "gzip";
  request.body = text.substr(pos);
  static const FuzzState state;
  (void)driftwatch::parse_request_target(request.target);
  if (!driftwatch::admit(request, state)) {
    (void)driftwatch::route(request, state);
  }
  (void)driftwatch::waits_for_check(request);
  return 0;
}
