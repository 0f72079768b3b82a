// A small blocking HTTP client (libcurl) for the AWS credential endpoints: STS, the container
// credentials endpoint and EC2 instance metadata.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace driftwatch::aws {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};  // whole request, connect included
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

// Performs the request. Throws std::runtime_error with curl's description (never headers or
// body, which may carry tokens) when no HTTP answer arrives; any HTTP status is returned.
// Answers larger than 1 MiB are an error. Proxies from the environment are honoured except for
// loopback and link-local metadata addresses.
HttpResponse http_request(const HttpRequest& request);

// "http://127.0.0.1:8080/x?y" -> {"http", "127.0.0.1:8080", "/x?y"}; empty scheme if malformed.
struct UrlParts {
  std::string scheme;
  std::string authority;
  std::string host;  // authority without port and brackets
  std::string path;  // "/" when absent
};
UrlParts split_url(const std::string& url);

}  // namespace driftwatch::aws
