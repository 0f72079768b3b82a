// Generic JSON webhook sender; the payload ("driftwatch-alert/1") is documented in
// docs/alerts.md.
#include "alerts/senders.hpp"
#include "driftwatch/render.hpp"

namespace driftwatch {

namespace {

class WebhookSender : public Sender {
 public:
  WebhookSender(UrlSource url, std::chrono::milliseconds timeout)
      : url_(std::move(url)), timeout_(timeout) {}
  HttpPostResult send(const Notification& notification, SystemTime) override {
    std::string error;
    auto url = resolve_secret(url_, &error);
    if (!url) return HttpPostResult{0, "webhook URL: " + error, std::nullopt};
    return http_post_json(*url, webhook_payload(notification).dump(), timeout_);
  }

 private:
  UrlSource url_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

nlohmann::json webhook_payload(const Notification& n) {
  nlohmann::json findings = nlohmann::json::array();
  for (const Finding& f : n.top_findings) {
    findings.push_back(nlohmann::json::parse(finding_to_json_text(f)));
  }
  nlohmann::json ack;  // null
  if (n.ack) {
    ack = {{"owner", n.ack->owner},
           {"reason", n.ack->reason},
           {"created_at", format_rfc3339(n.ack->created_at)},
           {"expires_at", format_rfc3339(n.ack->expires_at)}};
  }
  return {
      {"version", "driftwatch-alert/1"},
      {"receiver", n.receiver},
      {"alertname", n.alertname},
      // A migrations source's alert names its source instead of a target.
      {"target", n.migrations.empty() ? nlohmann::json(n.target) : nlohmann::json()},
      {"migrations", n.migrations.empty() ? nlohmann::json() : nlohmann::json(n.migrations)},
      {"state", n.state},
      {"reason", n.reason},
      {"severity", to_string(n.severity)},
      {"previous_severity",
       n.previous_severity ? nlohmann::json(to_string(*n.previous_severity)) : nlohmann::json()},
      {"labels", n.labels},
      {"target_labels", n.target_labels},
      {"annotations", n.annotations},
      {"starts_at", format_rfc3339(n.starts_at)},
      {"ends_at", n.ends_at ? nlohmann::json(format_rfc3339(*n.ends_at)) : nlohmann::json()},
      {"dedup_key", n.dedup_key},
      {"fingerprint", n.fingerprint},
      {"findings_total", n.findings_total},
      {"findings", findings},
      {"status_page",
       n.status_page_link.empty() ? nlohmann::json() : nlohmann::json(n.status_page_link)},
      {"ack", ack}};
}

std::unique_ptr<Sender> make_webhook_sender(UrlSource url, std::chrono::milliseconds timeout) {
  return std::make_unique<WebhookSender>(std::move(url), timeout);
}

}  // namespace driftwatch
