// Alertmanager API v2 sender: POST /api/v2/alerts. One sender per configured URL, so each
// member of an HA pair gets every alert and a dead one does not hold up the other.
#include <cstdio>

#include "alerts/senders.hpp"
#include "driftwatch/render.hpp"

namespace driftwatch {

namespace {

// RFC 3339 with milliseconds: Alertmanager compares endsAt with its clock, and a resolution
// must not land in the future because of truncation to whole seconds.
std::string rfc3339_ms(SystemTime t) {
  std::string text = format_rfc3339(t);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms < 0 ? ms + 1000 : ms));
  if (!text.empty() && text.back() == 'Z') text.pop_back();
  return text + frac;
}

nlohmann::json one_alert(const Notification& n, const std::map<std::string, std::string>& labels,
                         SystemTime starts, SystemTime ends) {
  nlohmann::json alert = {{"labels", labels},
                          {"annotations", n.annotations},
                          {"startsAt", rfc3339_ms(starts)},
                          {"endsAt", rfc3339_ms(ends)}};
  if (!n.status_page_link.empty()) alert["generatorURL"] = n.status_page_link;
  return alert;
}

class AlertmanagerSender : public Sender {
 public:
  AlertmanagerSender(std::string base_url, std::chrono::milliseconds timeout)
      : url_(std::move(base_url)), timeout_(timeout) {
    while (!url_.empty() && url_.back() == '/') url_.pop_back();
    url_ += "/api/v2/alerts";
  }
  HttpPostResult send(const Notification& notification, SystemTime now) override {
    return http_post_json(url_, alertmanager_payload(notification, now).dump(), timeout_);
  }

 private:
  std::string url_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

nlohmann::json alertmanager_payload(const Notification& n, SystemTime now) {
  // The alert's identity labels as the policy set them (a target's: alertname, target,
  // severity; a migrations source's: alertname, migrations, reason, severity).
  std::map<std::string, std::string> labels = n.labels;
  if (labels.empty()) {
    labels = {
        {"alertname", n.alertname}, {"target", n.target}, {"severity", to_string(n.severity)}};
  }
  nlohmann::json alerts = nlohmann::json::array();
  if (n.state == "resolved") {
    alerts.push_back(one_alert(n, labels, n.starts_at, n.ends_at.value_or(now)));
    return alerts;
  }
  alerts.push_back(one_alert(n, labels, n.starts_at, now + n.alertmanager_validity));
  // Alertmanager identifies an alert by its label set: after a change of severity (or of a
  // source alert's reason) the old label set is another alert, resolved here.
  std::map<std::string, std::string> previous = n.previous_labels;
  if (previous.empty() && n.previous_severity && *n.previous_severity != n.severity) {
    previous = labels;
    previous["severity"] = to_string(*n.previous_severity);
  }
  if (!previous.empty() && previous != labels) {
    alerts.push_back(one_alert(n, previous, n.starts_at, now));
  }
  return alerts;
}

std::unique_ptr<Sender> make_alertmanager_sender(std::string base_url,
                                                 std::chrono::milliseconds timeout) {
  return std::make_unique<AlertmanagerSender>(std::move(base_url), timeout);
}

}  // namespace driftwatch
