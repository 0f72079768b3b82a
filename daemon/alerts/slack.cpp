// Slack incoming-webhook sender: a readable message (target, state, top findings with risk
// and fix SQL, link to the status page). The webhook URL is a secret (env or file).
#include "alerts/senders.hpp"
#include "driftwatch/render.hpp"

namespace driftwatch {

namespace {

// Slack mrkdwn needs only &, < and > escaped.
std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Section text is limited to 3000 characters by Slack.
std::string clip(std::string text, std::size_t limit = 2900) {
  if (text.size() > limit) text = text.substr(0, limit) + "…";
  return text;
}

std::string annotation(const Notification& n, const char* key) {
  auto it = n.annotations.find(key);
  return it == n.annotations.end() ? "" : it->second;
}

class SlackSender : public Sender {
 public:
  SlackSender(UrlSource url, std::chrono::milliseconds timeout)
      : url_(std::move(url)), timeout_(timeout) {}
  HttpPostResult send(const Notification& notification, SystemTime) override {
    std::string error;
    auto url = resolve_secret(url_, &error);
    if (!url) return HttpPostResult{0, "Slack webhook URL: " + error, std::nullopt};
    return http_post_json(*url, slack_payload(notification).dump(), timeout_);
  }

 private:
  UrlSource url_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

nlohmann::json slack_payload(const Notification& n) {
  const bool resolved = n.state == "resolved";
  std::string state = resolved ? "RESOLVED" : "FIRING";
  if (!resolved && n.reason == "update") state = "UPDATED";
  if (!resolved && n.reason == "repeat") state = "STILL FIRING";
  const std::string icon = resolved                            ? ":white_check_mark:"
                           : n.severity == Severity::kCritical ? ":red_circle:"
                                                               : ":warning:";
  const std::string summary = annotation(n, "summary");
  const std::string subject = n.migrations.empty() ? n.target : "migrations " + n.migrations;
  const std::string text = icon + " [" + state + ":" + to_string(n.severity) + "] " + n.alertname +
                           " on " + subject + ": " + summary;

  nlohmann::json blocks = nlohmann::json::array();
  blocks.push_back(
      {{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", clip(escape(text))}}}});
  nlohmann::json fields = nlohmann::json::array();
  fields.push_back({{"type", "mrkdwn"},
                    {"text", n.migrations.empty() ? "*Target*\n" + escape(n.target)
                                                  : "*Migrations*\n" + escape(n.migrations)}});
  fields.push_back({{"type", "mrkdwn"}, {"text", "*State*\n" + state}});
  fields.push_back(
      {{"type", "mrkdwn"}, {"text", std::string("*Severity*\n") + to_string(n.severity)}});
  fields.push_back({{"type", "mrkdwn"}, {"text", "*Since*\n" + format_rfc3339(n.starts_at)}});
  blocks.push_back({{"type", "section"}, {"fields", fields}});
  const std::string description = annotation(n, "description");
  if (!resolved && !description.empty()) {
    blocks.push_back(
        {{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", clip(escape(description))}}}});
  }
  if (!resolved) {
    for (const Finding& f : n.top_findings) {
      std::string line = std::string("*") + to_string(f.severity) + "* " + escape(f.message);
      if (f.risk != risk::kNone) line += "\nrisk: `" + f.risk + "`";
      if (f.fix_sql) line += "\nfix:\n```" + escape(*f.fix_sql) + "```";
      blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", clip(line)}}}});
    }
    if (n.findings_total > n.top_findings.size()) {
      blocks.push_back(
          {{"type", "context"},
           {"elements",
            {{{"type", "mrkdwn"},
              {"text", "… and " + std::to_string(n.findings_total - n.top_findings.size()) +
                           " more finding(s)"}}}}});
    }
  }
  nlohmann::json context = nlohmann::json::array();
  if (!n.status_page_link.empty()) {
    context.push_back(
        {{"type", "mrkdwn"}, {"text", "<" + n.status_page_link + "|driftwatch status page>"}});
  }
  if (n.ack) {
    context.push_back(
        {{"type", "mrkdwn"},
         {"text", "acknowledged by " + escape(n.ack->owner) + " until " +
                      format_rfc3339(n.ack->expires_at) + ": " + escape(n.ack->reason)}});
  }
  if (!context.empty()) blocks.push_back({{"type", "context"}, {"elements", context}});
  return {{"text", text}, {"blocks", blocks}};
}

std::unique_ptr<Sender> make_slack_sender(UrlSource webhook_url,
                                          std::chrono::milliseconds timeout) {
  return std::make_unique<SlackSender>(std::move(webhook_url), timeout);
}

}  // namespace driftwatch
