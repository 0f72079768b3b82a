// libcurl POST shared by the senders, and secret resolution for receiver URLs and keys.
#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include "alerts/senders.hpp"

namespace driftwatch {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t discard_body(char*, size_t size, size_t count, void*) { return size * count; }

size_t read_header(char* data, size_t size, size_t count, void* user) {
  const std::string line(data, size * count);
  auto* retry_after = static_cast<std::optional<std::chrono::milliseconds>*>(user);
  const std::string name = "retry-after:";
  if (line.size() > name.size()) {
    std::string head = line.substr(0, name.size());
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (head == name) {
      // Only the delay-seconds form; an HTTP-date falls back to our own backoff.
      std::string value = line.substr(name.size());
      std::size_t i = 0;
      while (i < value.size() && value[i] == ' ') ++i;
      std::size_t j = i;
      while (j < value.size() && std::isdigit(static_cast<unsigned char>(value[j]))) ++j;
      if (j > i && j - i < 9)
        *retry_after = std::chrono::seconds(std::stol(value.substr(i, j - i)));
    }
  }
  return size * count;
}

std::string trim(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  return text.substr(start);
}

}  // namespace

HttpPostResult http_post_json(const std::string& url, const std::string& body,
                              std::chrono::milliseconds timeout) {
  global_init();
  HttpPostResult result;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    result.error = "curl_easy_init failed";
    return result;
  }
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "User-Agent: driftwatch/" DRIFTWATCH_VERSION);
  // Loopback never goes through a proxy from the environment (local receivers, sidecars).
  std::string no_proxy = "localhost,127.0.0.1,::1";
  for (const char* name : {"NO_PROXY", "no_proxy"}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') {
      no_proxy = std::string(value) + "," + no_proxy;
      break;
    }
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, no_proxy.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.retry_after);
  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  } else {
    // curl_easy_strerror names the failure class without echoing the URL (which may hold a
    // Slack token); the error buffer can contain the host name, which is not secret.
    result.error = curl_easy_strerror(code);
    if (error_buffer[0] != '\0' && code != CURLE_URL_MALFORMAT) {
      result.error += std::string(": ") + error_buffer;
    }
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return result;
}

bool is_success(const HttpPostResult& result) {
  return result.error.empty() && result.status >= 200 && result.status < 300;
}

bool is_retryable(const HttpPostResult& result) {
  if (!result.error.empty() || result.status == 0) return true;
  return result.status == 429 || result.status >= 500;
}

std::optional<std::string> resolve_secret(const UrlSource& source, std::string* error) {
  if (!source.url.empty()) return source.url;
  if (!source.env.empty()) {
    const char* value = std::getenv(source.env.c_str());
    if (value == nullptr || trim(value).empty()) {
      if (error) *error = "environment variable " + source.env + " is not set";
      return std::nullopt;
    }
    return trim(value);
  }
  if (!source.file.empty()) {
    std::ifstream in(source.file);
    std::stringstream buffer;
    if (in) buffer << in.rdbuf();
    std::string value = trim(buffer.str());
    if (!in || value.empty()) {
      if (error) *error = "cannot read " + source.file + " (missing or empty)";
      return std::nullopt;
    }
    return value;
  }
  if (error) *error = "no source configured";
  return std::nullopt;
}

}  // namespace driftwatch
