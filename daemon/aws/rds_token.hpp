// Amazon RDS IAM authentication tokens for connecting: credentials from the default chain
// (optionally a role assumed with them), signed, cached until shortly before they expire.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "aws/credentials.hpp"

namespace driftwatch::aws {

struct RdsTokenRequest {
  std::string host;
  int port = 5432;
  std::string user;
  std::string region;
  std::string role_arn;  // "" = the default chain's identity
};

class RdsTokenProvider {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  // Base credentials for a region (default: the default chain) and role assumption (default:
  // STS AssumeRole); replaceable for tests.
  using BaseCredentials = std::function<Credentials(const std::string& region)>;
  using AssumeRole = std::function<Credentials(const Credentials& base, const std::string& role,
                                               const std::string& region)>;
  // A token is reused until this long before it (or the credentials that signed it) expires.
  static constexpr std::chrono::minutes kReuseMargin{2};

  explicit RdsTokenProvider(Clock clock = default_clock(),
                            BaseCredentials base = default_chain_credentials,
                            AssumeRole assume = assume_role);

  // Throws driftwatch::Error (reason "auth") when no credentials can be had.
  std::string token(const RdsTokenRequest& request);

  // The clock used for signing: now, or the time in DRIFTWATCH_AWS_SIGNING_TIME (a test hook,
  // "YYYY-MM-DDTHH:MM:SSZ", so a test can compute the same token independently). The same clock
  // drives the token and credentials caches, so with a fixed time nothing is refreshed.
  static Clock default_clock();

 private:
  struct CachedToken {
    std::string token;
    std::chrono::system_clock::time_point valid_until;
  };
  Clock clock_;
  BaseCredentials base_;
  AssumeRole assume_;
  CredentialsCache credentials_;
  std::mutex mutex_;
  std::map<std::string, CachedToken> tokens_;
};

// The process-wide provider used for connections and `driftwatch rds-token`.
RdsTokenProvider& rds_token_provider();

}  // namespace driftwatch::aws
