// PagerDuty Events API v2 sender: trigger / resolve with a stable dedup_key per target and
// alert name. The routing key is a secret (env or file only).
#include "alerts/senders.hpp"
#include "driftwatch/render.hpp"

namespace driftwatch {

namespace {

class PagerDutySender : public Sender {
 public:
  PagerDutySender(UrlSource key, std::string events_url, std::chrono::milliseconds timeout)
      : key_(std::move(key)),
        url_(events_url.empty() ? kPagerDutyEventsUrl : std::move(events_url)),
        timeout_(timeout) {}
  HttpPostResult send(const Notification& notification, SystemTime) override {
    std::string error;
    auto key = resolve_secret(key_, &error);
    if (!key) return HttpPostResult{0, "PagerDuty routing key: " + error, std::nullopt};
    return http_post_json(url_, pagerduty_payload(notification, *key).dump(), timeout_);
  }

 private:
  UrlSource key_;
  std::string url_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

nlohmann::json pagerduty_payload(const Notification& n, const std::string& routing_key) {
  nlohmann::json event = {{"routing_key", routing_key},
                          {"dedup_key", n.dedup_key},
                          {"event_action", n.state == "resolved" ? "resolve" : "trigger"}};
  if (n.state == "resolved") return event;
  auto summary_it = n.annotations.find("summary");
  std::string summary = summary_it == n.annotations.end() ? n.alertname : summary_it->second;
  if (summary.size() > 1024) summary = summary.substr(0, 1021) + "...";  // API limit
  nlohmann::json findings = nlohmann::json::array();
  for (const Finding& f : n.top_findings) {
    findings.push_back({{"severity", to_string(f.severity)},
                        {"object", f.object},
                        {"message", f.message},
                        {"risk", f.risk},
                        {"fix_sql", f.fix_sql ? nlohmann::json(*f.fix_sql) : nlohmann::json()}});
  }
  // A migrations source's alert is about the source, not about a target.
  const bool source = !n.migrations.empty();
  const std::string subject = source ? "migrations/" + n.migrations : n.target;
  nlohmann::json details = {{source ? "migrations" : "target", source ? n.migrations : n.target},
                            {"alertname", n.alertname},
                            {"reason", n.reason},
                            {"annotations", n.annotations},
                            {"target_labels", n.target_labels},
                            {"findings_total", n.findings_total},
                            {"top_findings", findings}};
  event["payload"] = {{"summary", summary},
                      {"source", "driftwatch/" + subject},
                      {"severity", to_string(n.severity)},
                      {"component", source ? n.migrations : n.target},
                      {"group", "driftwatch"},
                      {"class", n.alertname},
                      {"timestamp", format_rfc3339(n.starts_at)},
                      {"custom_details", details}};
  event["client"] = "driftwatch";
  if (!n.status_page_link.empty()) {
    event["client_url"] = n.status_page_link;
    event["links"] = {{{"href", n.status_page_link}, {"text", "driftwatch status page"}}};
  }
  return event;
}

std::unique_ptr<Sender> make_pagerduty_sender(UrlSource routing_key, std::string events_url,
                                              std::chrono::milliseconds timeout) {
  return std::make_unique<PagerDutySender>(std::move(routing_key), std::move(events_url), timeout);
}

}  // namespace driftwatch
