#include <cctype>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "driftwatch/config.hpp"
#include "driftwatch/http_route.hpp"
#include "driftwatch/render.hpp"
#include "driftwatch/status_page.hpp"
#include "http/gzip.hpp"

namespace driftwatch {

namespace {

using Json = nlohmann::json;

// Target names come from URLs and may be invalid UTF-8: never let dump() throw on them.
std::string dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Percent-decodes; nullopt on a bad escape or a decoded NUL / control character.
std::optional<std::string> percent_decode(const std::string& text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return std::nullopt;
    }
    out.push_back(c);
  }
  return out;
}

Json summary_json(const TargetStatus& status) {
  Json counts = {{"critical", 0}, {"warning", 0}, {"info", 0}};
  if (status.last_result) {
    for (const auto& finding : status.last_result->findings) {
      counts[to_string(finding.severity)] = counts[to_string(finding.severity)].get<int>() + 1;
    }
  }
  Json errors = Json::object();
  for (const auto& [reason, n] : status.errors_by_reason) {
    errors[reason] = n;
  }
  return {
      {"findings", counts},
      {"checks_total", status.checks_total},
      {"consecutive_failures", status.consecutive_failures},
      {"errors_by_reason", errors},
      {"last_success_at",
       status.last_success ? Json(format_rfc3339(*status.last_success)) : Json()},
      {"interval_seconds", std::chrono::duration<double>(status.interval).count()},
      {"checking", status.running},
  };
}

Json ack_json(const std::optional<Acknowledgement>& ack) {
  if (!ack) {
    return nullptr;
  }
  return {{"owner", ack->owner},
          {"reason", ack->reason},
          {"created_at", format_rfc3339(ack->created_at)},
          {"expires_at", format_rfc3339(ack->expires_at)}};
}

// The check JSON object of the target's last result plus a "summary" object; a target that was
// not checked yet has status "pending" and null result fields.
Json target_json(const TargetStatus& status) {
  Json out;
  if (status.last_result) {
    out = Json::parse(render_target_json(*status.last_result));
  } else {
    out = {{"name", status.config.name}, {"status", "pending"},       {"error", nullptr},
           {"revision", nullptr},        {"findings", Json::array()}, {"checked_at", nullptr},
           {"duration_seconds", nullptr}};
  }
  out["summary"] = summary_json(status);
  out["ack"] = ack_json(status.ack);
  return out;
}

HttpResponse json_response(int status, const Json& json) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = dump(json) + "\n";
  response.headers["Cache-Control"] = "no-store";
  return response;
}

std::string header(const HttpRequest& request, const std::string& name) {
  auto it = request.headers.find(name);
  return it == request.headers.end() ? "" : it->second;
}

// The large, cached bodies (/metrics, /api/v1/targets) may come gzip-compressed.
void set_body(HttpResponse& response, const ResponseBody& body) {
  response.shared_body = body.bytes;
  response.headers["Vary"] = "Accept-Encoding";
  if (body.gzip) {
    response.headers["Content-Encoding"] = "gzip";
  }
}

HttpResponse html_response(std::string body) {
  HttpResponse response;
  response.content_type = "text/html; charset=utf-8";
  response.body = std::move(body);
  response.headers["Cache-Control"] = "no-store";
  response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'";
  response.headers["X-Content-Type-Options"] = "nosniff";
  return response;
}

enum class Endpoint {
  kNone,
  kStatusPage,
  kTargetPage,
  kHealthz,
  kReadyz,
  kMetrics,
  kTargets,
  kTarget,
  kTargetCheck,
  kTargetAck,
  kTargetUnack,
  kMigrations,
};

struct Match {
  Endpoint endpoint = Endpoint::kNone;
  std::string name;  // target name for per-target endpoints
};

Match match(const std::vector<std::string>& s) {
  const std::size_t n = s.size();
  if (n == 0) {
    return {Endpoint::kStatusPage, ""};
  }
  if (n == 1 && s[0] == "healthz") {
    return {Endpoint::kHealthz, ""};
  }
  if (n == 1 && s[0] == "readyz") {
    return {Endpoint::kReadyz, ""};
  }
  if (n == 1 && s[0] == "metrics") {
    return {Endpoint::kMetrics, ""};
  }
  if (n == 2 && s[0] == "targets" && !s[1].empty()) {
    return {Endpoint::kTargetPage, s[1]};
  }
  if (n >= 3 && s[0] == "api" && s[1] == "v1") {
    if (n == 3 && s[2] == "targets") {
      return {Endpoint::kTargets, ""};
    }
    if (n == 3 && s[2] == "migrations") {
      return {Endpoint::kMigrations, ""};
    }
    if (n == 4 && s[2] == "targets" && !s[3].empty()) {
      return {Endpoint::kTarget, s[3]};
    }
    if (n == 5 && s[2] == "targets" && !s[3].empty() && s[4] == "check") {
      return {Endpoint::kTargetCheck, s[3]};
    }
    if (n == 5 && s[2] == "targets" && !s[3].empty() && s[4] == "ack") {
      return {Endpoint::kTargetAck, s[3]};
    }
    if (n == 5 && s[2] == "targets" && !s[3].empty() && s[4] == "unack") {
      return {Endpoint::kTargetUnack, s[3]};
    }
  }
  return {};
}

HttpResponse unknown_target(const std::string& name) {
  return json_error(404, "unknown target: " + name);
}

// 401/403 for a missing or wrong bearer token; nullopt when the request may proceed.
std::optional<HttpResponse> check_bearer(const HttpRequest& request, const AppStateView& state) {
  auto auth = request.headers.find("authorization");
  static const std::string kBearer = "Bearer ";
  if (auth == request.headers.end() || auth->second.size() < kBearer.size() ||
      auth->second.compare(0, kBearer.size(), kBearer) != 0) {
    HttpResponse response = json_error(401, "missing bearer token");
    response.headers["WWW-Authenticate"] = "Bearer realm=\"driftwatch\"";
    return response;
  }
  const std::string token = state.admin_token();
  const std::string presented = auth->second.substr(kBearer.size());
  // No configured token: nobody may trigger checks. Compare anyway to keep timing uniform.
  const bool match = constant_time_equals(presented, token);
  if (token.empty() || !match) {
    return json_error(403, "invalid token");
  }
  return std::nullopt;
}

// "2024-05-01T12:00:00Z" (UTC, optional fraction) or with a +hh:mm / -hh:mm offset.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  std::size_t i = 19;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      ++i;
    }
  }
  long offset = 0;
  const std::string zone = text.substr(i);
  if (zone == "Z" || zone == "z") {
    offset = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
             std::isdigit(static_cast<unsigned char>(zone[1])) &&
             std::isdigit(static_cast<unsigned char>(zone[2])) &&
             std::isdigit(static_cast<unsigned char>(zone[4])) &&
             std::isdigit(static_cast<unsigned char>(zone[5]))) {
    offset = (std::stol(zone.substr(1, 2)) * 60 + std::stol(zone.substr(4, 2))) * 60;
    if (zone[0] == '-') {
      offset = -offset;
    }
  } else {
    return std::nullopt;
  }
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const std::time_t t = timegm(&tm);
  return std::chrono::system_clock::from_time_t(t - offset);
}

// POST /api/v1/targets/{name}/ack {"owner", "reason", "expires_in": "2h" | "expires_at": RFC3339}
// silences the target's alert notifications until expiry or until its findings change.
HttpResponse handle_ack(const HttpRequest& request, const std::string& name,
                        const AppStateView& state) {
  if (auto denied = check_bearer(request, state)) {
    return *denied;
  }
  if (!state.target(name)) {
    return unknown_target(name);
  }
  Json body;
  try {
    body = Json::parse(request.body);
  } catch (const std::exception&) {
    return json_error(400, "request body must be a JSON object");
  }
  if (!body.is_object()) {
    return json_error(400, "request body must be a JSON object");
  }
  auto text_field = [&body](const char* key) -> std::optional<std::string> {
    auto it = body.find(key);
    if (it == body.end() || !it->is_string() || it->get<std::string>().empty()) {
      return std::nullopt;
    }
    return it->get<std::string>();
  };
  const auto owner = text_field("owner");
  const auto reason = text_field("reason");
  if (!owner || !reason) {
    return json_error(400, "\"owner\" and \"reason\" are required non-empty strings");
  }
  if (owner->size() > 200 || reason->size() > 2000) {
    return json_error(400, "\"owner\" or \"reason\" is too long");
  }
  const auto expires_in = text_field("expires_in");
  const auto expires_at_text = text_field("expires_at");
  if (expires_in.has_value() == expires_at_text.has_value()) {
    return json_error(400, "give exactly one of \"expires_in\" (e.g. \"2h\") or \"expires_at\"");
  }
  const auto now = std::chrono::system_clock::now();
  std::chrono::system_clock::time_point expires_at;
  if (expires_in) {
    auto duration = parse_duration(*expires_in);
    if (!duration) {
      return json_error(400, "\"expires_in\": not a duration like \"30m\" or \"2h\"");
    }
    expires_at = now + *duration;
  } else {
    auto parsed = parse_rfc3339(*expires_at_text);
    if (!parsed) {
      return json_error(400, "\"expires_at\": not an RFC 3339 time");
    }
    expires_at = *parsed;
  }
  if (expires_at <= now) {
    return json_error(400, "the acknowledgement would expire in the past");
  }
  if (expires_at - now > std::chrono::hours(24 * 30)) {
    return json_error(400, "an acknowledgement may last at most 30 days");
  }
  auto ack = state.acknowledge(name, *owner, *reason, expires_at);
  if (!ack) {
    return json_error(503, "acknowledgements are not available");
  }
  return json_response(200, {{"target", name}, {"ack", ack_json(ack)}});
}

// DELETE /api/v1/targets/{name}/ack or POST /api/v1/targets/{name}/unack.
HttpResponse handle_unack(const HttpRequest& request, const std::string& name,
                          const AppStateView& state) {
  if (auto denied = check_bearer(request, state)) {
    return *denied;
  }
  if (!state.target(name)) {
    return unknown_target(name);
  }
  const bool removed = state.unacknowledge(name);
  return json_response(200, {{"target", name}, {"removed", removed}, {"ack", nullptr}});
}

HttpResponse handle_check(const HttpRequest& request, const std::string& name,
                          const AppStateView& state) {
  if (auto denied = check_bearer(request, state)) {
    return *denied;
  }
  if (!state.target(name)) {
    return unknown_target(name);
  }
  if (state.draining()) {
    return json_error(503, "draining: no new checks are accepted");
  }
  auto result = state.check_now(name);
  if (!result) {
    // Removed by a reload or draining started while we waited.
    if (!state.target(name)) {
      return unknown_target(name);
    }
    return json_error(503, "draining: no new checks are accepted");
  }
  auto status = state.target(name);
  Json json = Json::parse(render_target_json(*result));
  if (status) {
    json["summary"] = summary_json(*status);
  }
  return json_response(200, json);
}

HttpResponse handle(const Match& m, const HttpRequest& request, const AppStateView& state) {
  switch (m.endpoint) {
    case Endpoint::kHealthz: {
      HttpResponse response;
      response.body = "ok\n";
      return response;
    }
    case Endpoint::kReadyz: {
      if (state.draining()) {
        return json_error(503, "draining");
      }
      if (!state.config_loaded()) {
        return json_error(503, "configuration not loaded");
      }
      if (!state.first_round_done()) {
        return json_error(503, "first round of checks not done");
      }
      HttpResponse response;
      response.body = "ready\n";
      return response;
    }
    case Endpoint::kMetrics: {
      HttpResponse response;
      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
      set_body(response, state.metrics_body(accepts_gzip(header(request, "accept-encoding"))));
      return response;
    }
    case Endpoint::kTargets: {
      HttpResponse response = json_response(200, Json::object());
      set_body(response, state.targets_body(
                             [](const TargetStatus& status) { return dump(target_json(status)); },
                             accepts_gzip(header(request, "accept-encoding"))));
      return response;
    }
    case Endpoint::kTarget: {
      auto status = state.target(m.name);
      if (!status) {
        return unknown_target(m.name);
      }
      return json_response(200, target_json(*status));
    }
    case Endpoint::kTargetCheck:
      return handle_check(request, m.name, state);
    case Endpoint::kTargetAck:
      return request.method == "DELETE" ? handle_unack(request, m.name, state)
                                        : handle_ack(request, m.name, state);
    case Endpoint::kTargetUnack:
      return handle_unack(request, m.name, state);
    case Endpoint::kMigrations: {
      Json sources = Json::array();
      for (const auto& source : state.migrations()) {
        sources.push_back(
            {{"name", source.name},
             {"versions", source.versions},
             {"heads", source.heads},
             {"revisions", source.revisions},
             {"errors", source.errors},
             {"warnings", source.warnings},
             {"snapshot_revisions", source.snapshot_revisions},
             {"up", source.problem.empty()},
             {"problem", source.problem.empty() ? Json(nullptr)
                                                : Json{{"reason", source.problem},
                                                       {"message", source.problem_message}}}});
      }
      return json_response(200, {{"sources", sources}});
    }
    case Endpoint::kStatusPage: {
      const bool ready = state.config_loaded() && state.first_round_done() && !state.draining();
      return html_response(render_status_page(state.targets(), ready, state.draining(),
                                              std::chrono::system_clock::now()));
    }
    case Endpoint::kTargetPage: {
      auto status = state.target(m.name);
      if (!status) {
        return unknown_target(m.name);
      }
      return html_response(render_target_page(*status, std::chrono::system_clock::now()));
    }
    case Endpoint::kNone:
      break;
  }
  return json_error(404, "not found");
}

}  // namespace

std::optional<RequestTarget> parse_request_target(const std::string& target) {
  if (target.empty() || target[0] != '/' || target.size() > 8192) {
    return std::nullopt;
  }
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '#') {
      return std::nullopt;
    }
  }
  RequestTarget out;
  const std::size_t q = target.find('?');
  const std::string path = target.substr(0, q);
  if (path != "/") {
    std::size_t start = 1;
    for (;;) {
      const std::size_t slash = path.find('/', start);
      const std::string raw =
          path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      const bool last = slash == std::string::npos;
      if (raw.empty() && !last) {
        return std::nullopt;  // "//"
      }
      auto segment = percent_decode(raw, false);
      if (!segment || *segment == "." || *segment == ".." ||
          segment->find('/') != std::string::npos) {
        return std::nullopt;
      }
      out.segments.push_back(*segment);
      if (last) {
        break;
      }
      start = slash + 1;
    }
  }
  if (q != std::string::npos) {
    const std::string query = target.substr(q + 1);
    std::size_t start = 0;
    while (start <= query.size()) {
      std::size_t amp = query.find('&', start);
      if (amp == std::string::npos) {
        amp = query.size();
      }
      const std::string pair = query.substr(start, amp - start);
      if (!pair.empty()) {
        const std::size_t eq = pair.find('=');
        auto key = percent_decode(pair.substr(0, eq), true);
        auto value = percent_decode(eq == std::string::npos ? "" : pair.substr(eq + 1), true);
        if (!key || !value) {
          return std::nullopt;
        }
        out.query[*key] = *value;
      }
      start = amp + 1;
    }
  }
  return out;
}

bool constant_time_equals(const std::string& a, const std::string& b) {
  // Walk the presented string fully whatever the lengths; only the length of `b` leaks.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char other = b.empty() ? '\0' : b[i % b.size()];
    diff |= static_cast<unsigned char>(a[i] ^ other);
  }
  return diff == 0;
}

HttpResponse json_error(int status, const std::string& message) {
  return json_response(status, {{"error", message}});
}

namespace {

bool is_post_only(Endpoint endpoint) {
  return endpoint == Endpoint::kTargetCheck || endpoint == Endpoint::kTargetUnack ||
         endpoint == Endpoint::kTargetAck;
}

}  // namespace

std::optional<HttpResponse> admit(const HttpRequest& request, const AppStateView& state) {
  auto parsed = parse_request_target(request.target);
  if (!parsed) {
    return route(request, state);
  }
  const Match m = match(parsed->segments);
  if (m.endpoint == Endpoint::kNone || !is_post_only(m.endpoint) ||
      (request.method != "POST" && request.method != "DELETE")) {
    return route(request, state);  // cheap: nothing but POST/DELETE endpoints waits
  }
  if (!m.name.empty() && state.owner_shard(m.name)) {
    return route(request, state);  // 421
  }
  return check_bearer(request, state);
}

bool waits_for_check(const HttpRequest& request) {
  auto parsed = parse_request_target(request.target);
  return parsed && request.method == "POST" &&
         match(parsed->segments).endpoint == Endpoint::kTargetCheck;
}

HttpResponse route(const HttpRequest& request, const AppStateView& state) {
  auto parsed = parse_request_target(request.target);
  if (!parsed) {
    return json_error(400, "malformed request target");
  }
  const Match m = match(parsed->segments);
  if (m.endpoint == Endpoint::kNone) {
    return json_error(404, "not found");
  }
  const bool post_only = m.endpoint == Endpoint::kTargetCheck ||
                         m.endpoint == Endpoint::kTargetUnack || m.endpoint == Endpoint::kTargetAck;
  const bool is_get = request.method == "GET" || request.method == "HEAD";
  const bool is_ack_delete = m.endpoint == Endpoint::kTargetAck && request.method == "DELETE";
  const bool allowed = post_only ? request.method == "POST" || is_ack_delete : is_get;
  if (!allowed) {
    HttpResponse response = json_error(405, "method " + request.method + " not allowed");
    response.headers["Allow"] = m.endpoint == Endpoint::kTargetAck ? "POST, DELETE"
                                : post_only                        ? "POST"
                                                                   : "GET, HEAD";
    return response;
  }
  try {
    // Sharding: a target another replica checks gets 421 Misdirected Request naming the owner on
    // every per-target endpoint, before authentication (GET /api/v1/targets/{name} tells anyone
    // the same), so clients go to the right shard instead of mistaking it for a typo (404).
    if (!m.name.empty()) {
      if (auto owner = state.owner_shard(m.name)) {
        return json_response(421, {{"error", "target " + m.name + " is checked by shard " +
                                                 std::to_string(owner->shard) + " of " +
                                                 std::to_string(owner->shards)},
                                   {"owner_shard", owner->shard},
                                   {"shards", owner->shards}});
      }
    }
    return handle(m, request, state);
  } catch (const std::exception& e) {
    return json_error(500, std::string("internal error: ") + e.what());
  }
}

}  // namespace driftwatch
