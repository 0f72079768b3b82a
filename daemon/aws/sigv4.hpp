// AWS Signature Version 4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv4.html)
// and the Amazon RDS IAM authentication token built on it. Pure functions: no clock, no I/O; the
// caller passes the time and the credentials.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace driftwatch::aws {

// One set of AWS credentials. `expiration` is set for temporary credentials (STS, container,
// instance metadata); `source` names where they came from ("environment", "profile prod", ...).
struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // "" for long-term keys
  std::optional<std::chrono::system_clock::time_point> expiration;
  std::string source;
};

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(const std::string& data);
// Raw HMAC-SHA256 (32 bytes).
std::string hmac_sha256(const std::string& key, const std::string& data);
std::string hex(const std::string& bytes);

// RFC 3986 percent-encoding as SigV4 requires: unreserved characters (A-Z a-z 0-9 - _ . ~) stay,
// everything else becomes %XY (upper-case hex); '/' stays when encode_slash is false (paths).
std::string uri_encode(const std::string& text, bool encode_slash = true);

// "20150830T123600Z" and "20150830".
std::string amz_date(std::chrono::system_clock::time_point time);
std::string amz_day(std::chrono::system_clock::time_point time);

// One request to sign. Header names may have any case; values are trimmed and inner runs of
// spaces collapsed, as SigV4 specifies. `payload_hash` empty = SHA-256 of `payload`.
struct Request {
  std::string method = "GET";
  std::string path = "/";
  QueryParams query;  // unencoded names and values
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload;
};

struct Scope {
  std::string region;
  std::string service;
};

// The SigV4 steps, exposed so tests can compare each against published vectors.
std::string canonical_query(const QueryParams& query);
std::string canonical_request(const Request& request, std::string* signed_headers = nullptr);
std::string string_to_sign(const std::string& canonical_request,
                           std::chrono::system_clock::time_point time, const Scope& scope);
std::string signing_key(const std::string& secret_access_key,
                        std::chrono::system_clock::time_point time, const Scope& scope);
std::string signature(const std::string& secret_access_key, const std::string& string_to_sign,
                      std::chrono::system_clock::time_point time, const Scope& scope);

// Signs `request` in place with an Authorization header (adds X-Amz-Date and, with a session
// token, X-Amz-Security-Token). `request.headers` must contain Host.
void sign_headers(Request& request, const Credentials& credentials, const Scope& scope,
                  std::chrono::system_clock::time_point time);

// Presigns `request` (a GET whose only signed header is Host): returns the query string with the
// X-Amz-* parameters and X-Amz-Signature, in the order botocore prints them.
std::string presign_query(const Request& request, const Credentials& credentials,
                          const Scope& scope, std::chrono::system_clock::time_point time,
                          std::chrono::seconds expires);

// How long an RDS IAM token is valid (fixed by RDS).
inline constexpr std::chrono::seconds kRdsTokenLifetime{900};

// The RDS IAM authentication token: the presigned `connect` request for DBUser=user on
// host:port, without the scheme, exactly as `aws rds generate-db-auth-token` prints it.
std::string rds_auth_token(const std::string& host, int port, const std::string& user,
                           const std::string& region, const Credentials& credentials,
                           std::chrono::system_clock::time_point time);

// Region of an RDS endpoint name ("db.abc.eu-west-1.rds.amazonaws.com" -> "eu-west-1"), or "".
std::string region_from_rds_host(const std::string& host);

}  // namespace driftwatch::aws
