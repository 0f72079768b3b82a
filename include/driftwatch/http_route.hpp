// The HTTP API of `driftwatch serve` as a pure function: request in, response out. The Beast
// listener (daemon/http/server.hpp) only moves bytes; every status code decision is here.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "driftwatch/serve_state.hpp"

namespace driftwatch {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // request-target as sent: path plus optional "?query"
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Instead of `body`: a cached body shared with other responses (large answers are not copied
  // per request).
  std::shared_ptr<const std::string> shared_body;
  std::map<std::string, std::string> headers;  // extra headers (Allow, WWW-Authenticate, ...)

  const std::string& payload() const { return shared_body ? *shared_body : body; }
};

// Request bodies above this size are answered 413 by the listener before routing.
inline constexpr std::size_t kMaxRequestBody = std::size_t{64} * 1024;

HttpResponse route(const HttpRequest& request, const AppStateView& state);

// The listener's first look at a request, on its I/O thread, before anything is queued: the
// final response for every request that cannot wait for a check (GETs, and POST/DELETE
// requests that fail routing, method, shard or bearer-token checks: 400/404/405/421/401/403),
// or nullopt for an authenticated POST/DELETE, which the listener then hands to route() on
// its worker threads.
std::optional<HttpResponse> admit(const HttpRequest& request, const AppStateView& state);
// Whether route() of this request waits for a database check (POST .../check).
bool waits_for_check(const HttpRequest& request);

// A parsed origin-form request target: percent-decoded path segments and query parameters.
struct RequestTarget {
  std::vector<std::string> segments;  // "/api/v1/targets/x" -> {"api","v1","targets","x"}
  std::map<std::string, std::string> query;
};
// nullopt for anything that is not a clean origin-form target (no leading '/', control
// characters, bad percent escapes, "." / ".." segments, empty segments inside the path, an
// encoded '/' or NUL).
std::optional<RequestTarget> parse_request_target(const std::string& target);

// Compares in time independent of where the strings differ (the token is a secret).
bool constant_time_equals(const std::string& a, const std::string& b);

// {"error": message} with the given status.
HttpResponse json_error(int status, const std::string& message);

}  // namespace driftwatch
