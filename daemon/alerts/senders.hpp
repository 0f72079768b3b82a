// Senders of the direct notifiers, one per file (alertmanager.cpp, slack.cpp, pagerduty.cpp,
// webhook.cpp): a pure payload builder each (tested on its JSON) plus the HTTP POST.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "driftwatch/alert_policy.hpp"
#include "driftwatch/config.hpp"

namespace driftwatch {

struct HttpPostResult {
  long status = 0;    // HTTP status; 0 when no response arrived
  std::string error;  // transport error (never contains the URL: it may be a secret)
  std::optional<std::chrono::milliseconds> retry_after;  // Retry-After header, seconds form
};

// POST application/json with a total timeout (connect + transfer). Never throws.
HttpPostResult http_post_json(const std::string& url, const std::string& body,
                              std::chrono::milliseconds timeout);
// 429, 5xx and transport errors are worth another attempt; other statuses are final.
bool is_retryable(const HttpPostResult& result);
bool is_success(const HttpPostResult& result);

// Value of a secret-bearing source: url as is, env variable, or file contents (trimmed).
// nullopt with *error (naming the source, not the value) when unset or unreadable.
std::optional<std::string> resolve_secret(const UrlSource& source, std::string* error);

class Sender {
 public:
  virtual ~Sender() = default;
  // One attempt. `now` is the send time (Alertmanager endsAt is computed from it).
  virtual HttpPostResult send(const Notification& notification, SystemTime now) = 0;
};

// Alertmanager API v2: POST <url>/api/v2/alerts with a JSON array of alerts. Labels are the
// notification's (those of the Prometheus rules: alertname, target or migrations, severity,
// and state / reason where the rule has them); details (and the target's config labels, as
// target_label_<key>) are annotations. Firing: endsAt = now + alertmanager_validity;
// resolved: endsAt = resolve time. An update that changed a label (severity, state, reason)
// also resolves the alert under the old label set.
nlohmann::json alertmanager_payload(const Notification& notification, SystemTime now);
std::unique_ptr<Sender> make_alertmanager_sender(std::string base_url,
                                                 std::chrono::milliseconds timeout);

// Slack incoming webhook: {"text", "blocks"}.
nlohmann::json slack_payload(const Notification& notification);
std::unique_ptr<Sender> make_slack_sender(UrlSource webhook_url, std::chrono::milliseconds timeout);

// PagerDuty Events API v2: {"routing_key", "event_action": trigger|resolve, "dedup_key",
// "payload", "links"}.
inline constexpr const char* kPagerDutyEventsUrl = "https://events.pagerduty.com/v2/enqueue";
nlohmann::json pagerduty_payload(const Notification& notification, const std::string& routing_key);
std::unique_ptr<Sender> make_pagerduty_sender(UrlSource routing_key, std::string events_url,
                                              std::chrono::milliseconds timeout);

// Generic webhook, payload documented in docs/alerts.md ("driftwatch-alert/1").
nlohmann::json webhook_payload(const Notification& notification);
std::unique_ptr<Sender> make_webhook_sender(UrlSource url, std::chrono::milliseconds timeout);

}  // namespace driftwatch
