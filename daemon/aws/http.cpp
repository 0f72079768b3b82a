// libcurl client for the credential endpoints.
#include "aws/http.hpp"

#include <curl/curl.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>

namespace driftwatch::aws {

namespace {

constexpr std::size_t kMaxBody = 1 << 20;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
  std::string body;
  bool too_large = false;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  if (sink->body.size() + size * count > kMaxBody) {
    sink->too_large = true;
    return 0;  // aborts the transfer
  }
  sink->body.append(data, size * count);
  return size * count;
}

}  // namespace

UrlParts split_url(const std::string& url) {
  UrlParts parts;
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos || scheme_end == 0) return parts;
  const std::size_t authority_begin = scheme_end + 3;
  const std::size_t path_begin = url.find_first_of("/?#", authority_begin);
  parts.authority =
      url.substr(authority_begin, path_begin == std::string::npos ? std::string::npos
                                                                  : path_begin - authority_begin);
  if (parts.authority.empty()) return parts;
  parts.scheme = url.substr(0, scheme_end);
  parts.path = path_begin == std::string::npos ? "/" : url.substr(path_begin);
  if (parts.path.front() != '/') parts.path = "/" + parts.path;
  std::string host = parts.authority;
  if (const std::size_t at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else if (const std::size_t colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  parts.host = host;
  return parts;
}

HttpResponse http_request(const HttpRequest& request) {
  global_init();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) throw std::runtime_error("curl_easy_init failed");
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    std::string line = name;
    line.append(": ").append(value);
    headers = curl_slist_append(headers, line.c_str());
  }
  headers = curl_slist_append(headers, "User-Agent: driftwatch/" DRIFTWATCH_VERSION);
  headers = curl_slist_append(headers, "Expect:");
  std::string no_proxy = "localhost,127.0.0.1,::1,169.254.169.254,169.254.170.2,169.254.170.23";
  for (const char* name : {"NO_PROXY", "no_proxy"}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') {
      no_proxy.insert(0, std::string(value) + ",");
      break;
    }
  }
  Sink sink;
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, no_proxy.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  const CURLcode code = curl_easy_perform(curl);
  HttpResponse response;
  if (code == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (sink.too_large) throw std::runtime_error("answer larger than 1 MiB");
  if (code != CURLE_OK) {
    std::string what = curl_easy_strerror(code);
    if (code == CURLE_OPERATION_TIMEDOUT) {
      what = "timed out after " + std::to_string(request.timeout.count()) + " ms";
    } else if (error_buffer[0] != '\0' && code != CURLE_URL_MALFORMAT) {
      what += std::string(": ") + error_buffer;
    }
    throw std::runtime_error(what);
  }
  response.body = std::move(sink.body);
  return response;
}

}  // namespace driftwatch::aws
