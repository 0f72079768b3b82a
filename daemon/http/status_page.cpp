#include "driftwatch/status_page.hpp"

#include <cstdio>
#include <ctime>
#include <sstream>

#include "driftwatch/render.hpp"

namespace driftwatch {

namespace {

std::string join(const std::vector<std::string>& items, const char* separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += separator;
    }
    out += item;
  }
  return out;
}

std::string format_time(std::chrono::system_clock::time_point tp) {
  const std::time_t t = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string format_age(std::chrono::system_clock::time_point tp,
                       std::chrono::system_clock::time_point now) {
  const long long s = std::chrono::duration_cast<std::chrono::seconds>(now - tp).count();
  if (s < 0) {
    return "just now";
  }
  if (s < 120) {
    return std::to_string(s) + " s ago";
  }
  if (s < 7200) {
    return std::to_string(s / 60) + " min ago";
  }
  return std::to_string(s / 3600) + " h ago";
}

std::string time_cell(const std::optional<std::chrono::system_clock::time_point>& tp,
                      std::chrono::system_clock::time_point now) {
  if (!tp) {
    return "never";
  }
  return "<time datetime=\"" + html_escape(format_rfc3339(*tp)) + "\">" +
         html_escape(format_time(*tp)) + "</time> (" + format_age(*tp, now) + ")";
}

// CSS class for the state cell; colours only add to the text, which says everything.
const char* state_class(const TargetStatus& status) {
  if (!status.last_result) {
    return "pending";
  }
  const TargetResult& r = *status.last_result;
  if (r.status == check_status::kError) {
    return "error";
  }
  if (r.status == check_status::kMigrating) {
    return "migrating";
  }
  for (const auto& f : r.findings) {
    if (f.severity == Severity::kCritical) {
      return "critical";
    }
  }
  if (r.status == check_status::kDrift) {
    return "drift";
  }
  return "ok";
}

const char* kStyle =
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}"
    "th{background:#f2f2f2}"
    "td.ok{background:#e6f4e6}td.drift{background:#fff4d6}td.critical{background:#fde0e0}"
    "td.error{background:#fde0e0}td.migrating{background:#e0ecfd}td.pending{color:#666}"
    "pre{margin:0;white-space:pre-wrap;font-size:.9em}code{font-size:.95em}";

std::string page_head(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<title>" +
         html_escape(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
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
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string url_encode_segment(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string describe_state(const TargetStatus& status) {
  if (!status.last_result) {
    return "not checked yet";
  }
  const TargetResult& r = *status.last_result;
  if (r.status == check_status::kError) {
    return "error (" + (r.error ? r.error->reason : std::string("unknown")) + ")";
  }
  if (r.status == check_status::kMigrating) {
    return "migrating";
  }
  std::vector<std::string> parts;
  const std::string& state = r.revision.state;
  if (state == revision_state::kBehind) {
    parts.push_back("behind " + std::to_string(r.revision.behind_by));
  } else if (!state.empty() && state != revision_state::kAtHead) {
    std::string text = state;
    for (char& c : text) {
      if (c == '_') {
        c = ' ';
      }
    }
    parts.push_back(text);
  }
  if (!r.findings.empty()) {
    int counts[3] = {0, 0, 0};
    for (const auto& f : r.findings) {
      ++counts[static_cast<int>(f.severity)];
    }
    parts.push_back("drift: " + std::to_string(counts[2]) + " critical, " +
                    std::to_string(counts[1]) + " warning, " + std::to_string(counts[0]) + " info");
  }
  if (parts.empty()) {
    return "at head";
  }
  return join(parts, "; ");
}

namespace {

// The diagnosed cause, the revision the schema matches, and the evidence as a list.
std::string diagnosis_html(const Diagnosis& d) {
  std::string out = "<strong>" + html_escape(d.cause) + "</strong>";
  if (d.matches_revision) {
    out += " (schema matches revision <code>" + html_escape(*d.matches_revision) + "</code>)";
  }
  if (!d.evidence.empty()) {
    out += "<ul>";
    for (const auto& e : d.evidence) out += "<li>" + html_escape(e) + "</li>";
    out += "</ul>";
  }
  return out;
}

}  // namespace

std::string render_status_page(const std::vector<TargetStatus>& targets, bool ready, bool draining,
                               std::chrono::system_clock::time_point now) {
  std::ostringstream html;
  html << page_head("driftwatch");
  html << "<header>\n<h1>driftwatch</h1>\n<p>" << targets.size() << " target"
       << (targets.size() == 1 ? "" : "s") << " &middot; "
       << (draining ? "draining"
           : ready  ? "ready"
                    : "starting (first round of checks running)")
       << " &middot; generated " << html_escape(format_time(now))
       << " &middot; <a href=\"/api/v1/targets\">JSON</a> &middot; <a href=\"/metrics\">metrics</a>"
       << " &middot; <a href=\"/api/v1/migrations\">migrations</a></p>\n</header>\n<main>\n";
  html << "<table>\n<caption>Targets</caption>\n<thead><tr><th scope=\"col\">Target</th>"
          "<th scope=\"col\">State</th><th scope=\"col\">Last check</th>"
          "<th scope=\"col\">Expected revision</th><th scope=\"col\">Current revision</th>"
          "<th scope=\"col\">JSON</th></tr></thead>\n<tbody>\n";
  for (const auto& status : targets) {
    const std::string& name = status.config.name;
    const std::string link = url_encode_segment(name);
    html << "<tr><th scope=\"row\"><a href=\"/targets/" << link << "\">" << html_escape(name)
         << "</a></th>";
    html << "<td class=\"" << state_class(status) << "\">" << html_escape(describe_state(status));
    if (status.last_result && status.last_result->error) {
      html << "<br><small>" << html_escape(status.last_result->error->message) << "</small>";
    }
    html << "</td>";
    std::optional<std::chrono::system_clock::time_point> checked;
    if (status.last_result) {
      checked = status.last_result->checked_at;
    }
    html << "<td>" << time_cell(checked, now) << "</td>";
    if (status.last_result) {
      html << "<td><code>" << html_escape(join(status.last_result->revision.expected_heads))
           << "</code></td><td><code>" << html_escape(join(status.last_result->revision.current))
           << "</code></td>";
    } else {
      html << "<td></td><td></td>";
    }
    html << "<td><a href=\"/api/v1/targets/" << link << "\">json</a></td></tr>\n";
  }
  html << "</tbody>\n</table>\n</main>\n</body>\n</html>\n";
  return html.str();
}

std::string render_target_page(const TargetStatus& status,
                               std::chrono::system_clock::time_point now) {
  const std::string& name = status.config.name;
  std::ostringstream html;
  html << page_head("driftwatch: " + name);
  html << "<nav><a href=\"/\">&larr; all targets</a></nav>\n<main>\n<h1>" << html_escape(name)
       << "</h1>\n";
  html << "<table>\n<caption>Summary</caption>\n<tbody>\n";
  auto row = [&html](const std::string& key, const std::string& value_html) {
    html << "<tr><th scope=\"row\">" << html_escape(key) << "</th><td>" << value_html
         << "</td></tr>\n";
  };
  row("State", "<span class=\"" + std::string(state_class(status)) + "\">" +
                   html_escape(describe_state(status)) + "</span>");
  row("Migrations source", html_escape(status.config.migrations));
  std::optional<std::chrono::system_clock::time_point> checked;
  if (status.last_result) {
    checked = status.last_result->checked_at;
  }
  row("Last check", time_cell(checked, now));
  row("Last success", time_cell(status.last_success, now));
  row("Checks", std::to_string(status.checks_total) + " (" +
                    std::to_string(status.consecutive_failures) + " consecutive failures)");
  if (status.ack) {
    row("Acknowledged", html_escape(status.ack->owner) + " until " +
                            html_escape(format_rfc3339(status.ack->expires_at)) + ": " +
                            html_escape(status.ack->reason));
  }
  if (status.last_result) {
    const TargetResult& r = *status.last_result;
    char duration[32];
    std::snprintf(duration, sizeof duration, "%.3f s", r.duration_seconds);
    row("Duration", duration);
    if (r.error) {
      row("Error", html_escape(r.error->reason) + ": " + html_escape(r.error->message));
    }
    row("Revision state", html_escape(r.revision.state.empty() ? "unknown" : r.revision.state));
    row("Expected heads", "<code>" + html_escape(join(r.revision.expected_heads)) + "</code>");
    row("Current revision", "<code>" + html_escape(join(r.revision.current)) + "</code>");
    if (!r.revision.pending.empty()) {
      row("Pending (" + std::to_string(r.revision.behind_by) + ")",
          "<code>" + html_escape(join(r.revision.pending)) + "</code>");
    }
    if (!r.compared_against.empty()) {
      row("Compared against", html_escape(r.compared_against));
    }
    if (r.diagnosis) row("Diagnosis", diagnosis_html(*r.diagnosis));
    if (r.migrating) {
      std::string evidence = "since " + html_escape(format_rfc3339(r.migrating->since)) + "<ul>";
      for (const auto& e : r.migrating->evidence) evidence += "<li>" + html_escape(e) + "</li>";
      row("Migrating", evidence + "</ul>");
    }
  }
  row("JSON", "<a href=\"/api/v1/targets/" + url_encode_segment(name) + "\">/api/v1/targets/" +
                  html_escape(name) + "</a>");
  html << "</tbody>\n</table>\n";

  if (status.last_result && !status.last_result->findings.empty()) {
    const auto& findings = status.last_result->findings;
    html << "<h2>Findings (" << findings.size() << ")</h2>\n<table>\n<thead><tr>"
         << "<th scope=\"col\">Severity</th><th scope=\"col\">Risk</th>"
            "<th scope=\"col\">Object</th><th scope=\"col\">Message</th>"
            "<th scope=\"col\">Fix SQL</th></tr></thead>\n<tbody>\n";
    for (const auto& f : findings) {
      html << "<tr><td class=\""
           << (f.severity == Severity::kCritical  ? "critical"
               : f.severity == Severity::kWarning ? "drift"
                                                  : "ok")
           << "\">" << to_string(f.severity) << "</td><td>" << html_escape(f.risk) << "</td><td>"
           << html_escape(f.kind) << " " << to_string(f.object_type) << " <code>"
           << html_escape(f.object) << "</code>";
      if (!f.attribute.empty()) {
        html << " (" << html_escape(f.attribute) << ")";
      }
      html << "</td><td>" << html_escape(f.message);
      if (f.expected || f.actual) {
        html << "<br><small>expected: <code>" << html_escape(f.expected.value_or("(none)"))
             << "</code>, actual: <code>" << html_escape(f.actual.value_or("(none)"))
             << "</code></small>";
      }
      html << "</td><td>";
      if (f.fix_sql) {
        html << "<pre>" << html_escape(*f.fix_sql) << "</pre>";
      }
      html << "</td></tr>\n";
    }
    html << "</tbody>\n</table>\n";
  } else if (status.last_result && status.last_result->status != check_status::kError) {
    html << "<p>No schema differences found.</p>\n";
  }
  html << "</main>\n</body>\n</html>\n";
  return html.str();
}

}  // namespace driftwatch
