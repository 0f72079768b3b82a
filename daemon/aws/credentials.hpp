// AWS credentials from the sources a host or pod really has, in the AWS SDKs' default order:
//   1. environment        AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//   2. shared files       AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), AWS_CONFIG_FILE
//                         (~/.aws/config), profile AWS_PROFILE (default "default"): static keys,
//                         or role_arn with source_profile / web_identity_token_file /
//                         credential_source (STS AssumeRole, signed with the source's keys)
//   3. web identity       AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (EKS IRSA):
//                         STS AssumeRoleWithWebIdentity
//   4. container endpoint AWS_CONTAINER_CREDENTIALS_FULL_URI (or _RELATIVE_URI) with
//                         AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE / _TOKEN (EKS Pod Identity, ECS)
//   5. instance metadata  EC2 IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the address,
//                         AWS_EC2_METADATA_DISABLED=true skips it)
// STS is https://sts.REGION.amazonaws.com unless AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL says
// otherwise. Timeouts: STS 10 s; container and instance metadata AWS_METADATA_SERVICE_TIMEOUT
// seconds (default 1). Failures throw driftwatch::Error with reason "auth", naming the source
// and why; no message contains a key, token or session token.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "aws/sigv4.hpp"

namespace driftwatch::aws {

// Resolves credentials through the default chain, without caching. `region` is used for STS
// when AWS_REGION / AWS_DEFAULT_REGION are unset.
Credentials default_chain_credentials(const std::string& region);

// STS AssumeRole with `base` credentials (session name "driftwatch").
Credentials assume_role(const Credentials& base, const std::string& role_arn,
                        const std::string& region);

// Caches credentials per key and fetches again when they expire within kRefreshWindow; long-term
// keys (no expiration) are read again after kRereadInterval, so rotated files are picked up. If
// a refresh fails while the cached credentials are still valid for a minute, they are used.
class CredentialsCache {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  using Fetch = std::function<Credentials()>;
  static constexpr std::chrono::minutes kRefreshWindow{10};
  static constexpr std::chrono::minutes kRereadInterval{15};

  explicit CredentialsCache(Clock clock = [] { return std::chrono::system_clock::now(); })
      : clock_(std::move(clock)) {}

  Credentials get(const std::string& key, const Fetch& fetch);

 private:
  Clock clock_;
  std::mutex mutex_;
  struct Entry {
    Credentials credentials;
    std::chrono::system_clock::time_point fetched;
  };
  std::map<std::string, Entry> cache_;
};

// Parsers, exposed for tests. They throw std::runtime_error with a message free of secrets.
// STS AssumeRole* XML answer (or its ErrorResponse).
Credentials parse_sts_answer(const std::string& xml);
// Container endpoint / instance metadata JSON (AccessKeyId, SecretAccessKey, Token, Expiration).
Credentials parse_credentials_json(const std::string& json);
// "2026-12-04T19:00:00Z", with optional fractional seconds or a +00:00 offset.
std::optional<std::chrono::system_clock::time_point> parse_iso8601(const std::string& text);
// INI as the AWS CLI writes it: section -> key -> value (keys lower-cased).
using IniFile = std::map<std::string, std::map<std::string, std::string>>;
IniFile parse_ini(const std::string& text);

}  // namespace driftwatch::aws
