// RDS IAM token provider: credentials cache + signing + token cache.
#include "aws/rds_token.hpp"

#include <cstdlib>

#include "driftwatch/check.hpp"
#include "driftwatch/error.hpp"

namespace driftwatch::aws {

RdsTokenProvider::RdsTokenProvider(Clock clock, BaseCredentials base, AssumeRole assume)
    : clock_(std::move(clock)),
      base_(std::move(base)),
      assume_(std::move(assume)),
      credentials_(clock_) {}

RdsTokenProvider::Clock RdsTokenProvider::default_clock() {
  const char* fixed = std::getenv("DRIFTWATCH_AWS_SIGNING_TIME");
  if (fixed != nullptr && *fixed != '\0') {
    const auto time = parse_iso8601(fixed);
    if (!time) {
      throw Error(error_reason::kConfig,
                  "DRIFTWATCH_AWS_SIGNING_TIME: expected YYYY-MM-DDTHH:MM:SSZ");
    }
    return [t = *time] { return t; };
  }
  return [] { return std::chrono::system_clock::now(); };
}

std::string RdsTokenProvider::token(const RdsTokenRequest& request) {
  if (request.region.empty()) {
    throw Error(error_reason::kConfig, "RDS IAM token for " + request.host + ": no region");
  }
  const std::string key = request.host + "\n" + std::to_string(request.port) + "\n" + request.user +
                          "\n" + request.region + "\n" + request.role_arn;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = tokens_.find(key);
    if (it != tokens_.end() && clock_() < it->second.valid_until) return it->second.token;
  }
  Credentials credentials =
      credentials_.get("default\n" + request.region, [&] { return base_(request.region); });
  if (!request.role_arn.empty()) {
    credentials = credentials_.get("role\n" + request.role_arn + "\n" + request.region, [&] {
      return assume_(credentials, request.role_arn, request.region);
    });
  }
  const auto now = clock_();
  CachedToken cached;
  cached.token =
      rds_auth_token(request.host, request.port, request.user, request.region, credentials, now);
  cached.valid_until = now + kRdsTokenLifetime - kReuseMargin;
  if (credentials.expiration && *credentials.expiration - kReuseMargin < cached.valid_until) {
    cached.valid_until = *credentials.expiration - kReuseMargin;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  tokens_[key] = cached;
  return cached.token;
}

RdsTokenProvider& rds_token_provider() {
  static RdsTokenProvider provider;
  return provider;
}

}  // namespace driftwatch::aws
