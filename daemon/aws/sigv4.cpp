// SigV4 signing with OpenSSL's SHA-256 and HMAC.
#include "aws/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <stdexcept>

namespace driftwatch::aws {

namespace {

constexpr const char* kAlgorithm = "AWS4-HMAC-SHA256";

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Trims and collapses runs of spaces, as the canonical header value requires.
std::string canonical_header_value(const std::string& value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string format_time(std::chrono::system_clock::time_point time, const char* format) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, format, &utc);
  return buffer;
}

std::string credential_scope(std::chrono::system_clock::time_point time, const Scope& scope) {
  return amz_day(time) + "/" + scope.region + "/" + scope.service + "/aws4_request";
}

}  // namespace

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0xf];
  }
  return out;
}

std::string sha256_hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  return hex(std::string(reinterpret_cast<const char*>(digest), length));
}

std::string hmac_sha256(const std::string& key, const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest,
           &length) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string uri_encode(const std::string& text, bool encode_slash) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (c == '/' && !encode_slash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 0xf];
    }
  }
  return out;
}

std::string amz_date(std::chrono::system_clock::time_point time) {
  return format_time(time, "%Y%m%dT%H%M%SZ");
}

std::string amz_day(std::chrono::system_clock::time_point time) {
  return format_time(time, "%Y%m%d");
}

std::string canonical_query(const QueryParams& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  for (const auto& [name, value] : query) encoded.emplace_back(uri_encode(name), uri_encode(value));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out.append(name).append("=").append(value);
  }
  return out;
}

std::string canonical_request(const Request& request, std::string* signed_headers_out) {
  // Headers: lower-case names, sorted; repeated names joined with commas in their order.
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [name, value] : request.headers) {
    headers.emplace_back(lower(name), canonical_header_value(value));
  }
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers;
  std::string signed_headers;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.pop_back();  // the '\n'
      canonical_headers += "," + headers[i].second + "\n";
      continue;
    }
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += headers[i].first;
  }
  if (signed_headers_out != nullptr) *signed_headers_out = signed_headers;
  return request.method + "\n" + uri_encode(request.path, /*encode_slash=*/false) + "\n" +
         canonical_query(request.query) + "\n" + canonical_headers + "\n" + signed_headers + "\n" +
         sha256_hex(request.payload);
}

std::string string_to_sign(const std::string& canonical_request,
                           std::chrono::system_clock::time_point time, const Scope& scope) {
  return std::string(kAlgorithm) + "\n" + amz_date(time) + "\n" + credential_scope(time, scope) +
         "\n" + sha256_hex(canonical_request);
}

std::string signing_key(const std::string& secret_access_key,
                        std::chrono::system_clock::time_point time, const Scope& scope) {
  const std::string date_key = hmac_sha256("AWS4" + secret_access_key, amz_day(time));
  const std::string region_key = hmac_sha256(date_key, scope.region);
  const std::string service_key = hmac_sha256(region_key, scope.service);
  return hmac_sha256(service_key, "aws4_request");
}

std::string signature(const std::string& secret_access_key, const std::string& string_to_sign,
                      std::chrono::system_clock::time_point time, const Scope& scope) {
  return hex(hmac_sha256(signing_key(secret_access_key, time, scope), string_to_sign));
}

void sign_headers(Request& request, const Credentials& credentials, const Scope& scope,
                  std::chrono::system_clock::time_point time) {
  request.headers.emplace_back("X-Amz-Date", amz_date(time));
  if (!credentials.session_token.empty()) {
    request.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  std::string signed_headers;
  const std::string canonical = canonical_request(request, &signed_headers);
  const std::string sig =
      signature(credentials.secret_access_key, string_to_sign(canonical, time, scope), time, scope);
  request.headers.emplace_back(
      "Authorization", std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                           credential_scope(time, scope) + ", SignedHeaders=" + signed_headers +
                           ", Signature=" + sig);
}

std::string presign_query(const Request& request, const Credentials& credentials,
                          const Scope& scope, std::chrono::system_clock::time_point time,
                          std::chrono::seconds expires) {
  Request presigned = request;
  presigned.query.emplace_back("X-Amz-Algorithm", kAlgorithm);
  presigned.query.emplace_back("X-Amz-Credential",
                               credentials.access_key_id + "/" + credential_scope(time, scope));
  presigned.query.emplace_back("X-Amz-Date", amz_date(time));
  presigned.query.emplace_back("X-Amz-Expires", std::to_string(expires.count()));
  std::string signed_headers;
  canonical_request(presigned, &signed_headers);
  presigned.query.emplace_back("X-Amz-SignedHeaders", signed_headers);
  if (!credentials.session_token.empty()) {
    presigned.query.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  const std::string canonical = canonical_request(presigned);
  const std::string sig =
      signature(credentials.secret_access_key, string_to_sign(canonical, time, scope), time, scope);
  std::string out;
  for (const auto& [name, value] : presigned.query) {
    if (!out.empty()) out += '&';
    out += uri_encode(name) + "=" + uri_encode(value);
  }
  return out + "&X-Amz-Signature=" + sig;
}

std::string rds_auth_token(const std::string& host, int port, const std::string& user,
                           const std::string& region, const Credentials& credentials,
                           std::chrono::system_clock::time_point time) {
  const std::string endpoint = host + ":" + std::to_string(port);
  Request request;
  request.method = "GET";
  request.path = "/";
  request.query = {{"Action", "connect"}, {"DBUser", user}};
  request.headers = {{"host", endpoint}};
  return endpoint + "/?" +
         presign_query(request, credentials, Scope{region, "rds-db"}, time, kRdsTokenLifetime);
}

std::string region_from_rds_host(const std::string& host) {
  std::string name = lower(host);
  for (const std::string suffix : {".rds.amazonaws.com", ".rds.amazonaws.com.cn"}) {
    if (name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    name.resize(name.size() - suffix.size());
    const std::size_t dot = name.rfind('.');
    return dot == std::string::npos ? "" : name.substr(dot + 1);
  }
  return "";
}

}  // namespace driftwatch::aws
