#include "driftwatch/render.hpp"

#include <ctime>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "driftwatch/config.hpp"

namespace driftwatch {
namespace {

using Json = nlohmann::json;

Json optional_json(const std::optional<std::string>& value) {
  return value ? Json(*value) : Json(nullptr);
}

Json finding_json(const Finding& f) {
  Json j = Json::object();
  j["kind"] = f.kind;
  j["object_type"] = to_string(f.object_type);
  j["object"] = f.object;
  j["attribute"] = f.attribute.empty() ? Json(nullptr) : Json(f.attribute);
  j["severity"] = to_string(f.severity);
  j["risk"] = f.risk;
  j["expected"] = optional_json(f.expected);
  j["actual"] = optional_json(f.actual);
  j["message"] = f.message;
  j["fix_sql"] = optional_json(f.fix_sql);
  if (f.possibly_pending) j["possibly_pending"] = true;
  return j;
}

Json findings_json(const std::vector<Finding>& findings) {
  Json list = Json::array();
  for (const Finding& f : findings) list.push_back(finding_json(f));
  return list;
}

Json diagnosis_json(const std::optional<Diagnosis>& d) {
  if (!d) return nullptr;
  return Json{{"cause", d->cause},
              {"matches_revision", optional_json(d->matches_revision)},
              {"evidence", d->evidence}};
}

Json target_json(const TargetResult& r) {
  Json j = Json::object();
  j["name"] = r.name;
  j["status"] = r.status;
  if (r.error) {
    j["error"] = Json{{"reason", r.error->reason}, {"message", r.error->message}};
  } else {
    j["error"] = nullptr;
  }
  Json revision = Json::object();
  revision["state"] = r.revision.state.empty() ? Json(nullptr) : Json(r.revision.state);
  revision["current"] = r.revision.current;
  revision["expected_heads"] = r.revision.expected_heads;
  revision["pending"] = r.revision.pending;
  revision["behind_by"] = r.revision.behind_by;
  j["revision"] = std::move(revision);
  j["findings"] = findings_json(r.findings);
  j["diagnosis"] = diagnosis_json(r.diagnosis);
  j["migrating"] = r.migrating ? Json{{"since", format_rfc3339(r.migrating->since)},
                                      {"by_migration", r.migrating->by_migration},
                                      {"evidence", r.migrating->evidence}}
                               : Json(nullptr);
  j["compared_against"] = r.compared_against;
  j["checked_at"] = r.checked_at == std::chrono::system_clock::time_point{}
                        ? Json(nullptr)
                        : Json(format_rfc3339(r.checked_at));
  j["duration_seconds"] = r.duration_seconds;
  return j;
}

std::string dump(const Json& j, int indent) {
  // Catalog text is not guaranteed UTF-8: replace rather than fail the whole report.
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// ---- text ---------------------------------------------------------------------------------

struct Palette {
  bool on;
  std::string paint(const std::string& text, const char* code) const {
    return on ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
  }
};

const char* severity_color(Severity s) {
  switch (s) {
    case Severity::kCritical:
      return "1;31";
    case Severity::kWarning:
      return "33";
    case Severity::kInfo:
      return "36";
  }
  return "0";
}

const char* status_color(const std::string& status) {
  if (status == check_status::kOk) return "32";
  if (status == check_status::kDrift) return "1;33";
  if (status == check_status::kError) return "1;31";
  return "34";
}

std::string join(const std::vector<std::string>& items, size_t limit = 0) {
  std::string out;
  size_t shown = limit == 0 ? items.size() : std::min(limit, items.size());
  for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + items[i];
  if (shown < items.size()) out += ", ... " + std::to_string(items.size() - shown) + " more";
  return out;
}

std::string revision_text(const RevisionReport& r) {
  const std::string& s = r.state;
  if (s == revision_state::kAtHead) {
    return "at head" + (r.current.empty() ? "" : " (" + join(r.current) + ")");
  }
  if (s == revision_state::kBehind) {
    return "behind by " + std::to_string(r.behind_by) + " (pending: " + join(r.pending, 5) + ")";
  }
  if (s == revision_state::kUnknownRevision) {
    return "unknown revision " + join(r.current) + " (heads: " + join(r.expected_heads) + ")";
  }
  if (s == revision_state::kMultipleHeadsInDb) {
    return "multiple revisions in alembic_version: " + join(r.current);
  }
  if (s == revision_state::kNoVersionTable) return "no alembic_version table";
  if (s == revision_state::kEmptyVersionTable) return "alembic_version is empty";
  if (s == revision_state::kMigrating) return "migration in progress";
  return "not determined";
}

std::string counts_text(const std::vector<Finding>& findings) {
  if (findings.empty()) return "none";
  int counts[3] = {0, 0, 0};
  for (const Finding& f : findings) ++counts[static_cast<int>(f.severity)];
  std::string out;
  for (Severity s : {Severity::kCritical, Severity::kWarning, Severity::kInfo}) {
    int n = counts[static_cast<int>(s)];
    if (n == 0) continue;
    out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + to_string(s);
  }
  return out;
}

std::string indent_lines(const std::string& text, const std::string& first,
                         const std::string& rest) {
  std::string out;
  std::istringstream in(text);
  std::string line;
  bool is_first = true;
  while (std::getline(in, line)) {
    out += (is_first ? first : rest) + line + "\n";
    is_first = false;
  }
  return out;
}

void append_findings_text(std::string& out, const std::vector<Finding>& findings, const Palette& p,
                          const std::string& margin) {
  const std::string pad = margin + std::string(10, ' ');
  for (const Finding& f : findings) {
    std::string tag = to_string(f.severity);
    for (char& c : tag) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    tag.resize(8, ' ');
    out += margin + p.paint(tag, severity_color(f.severity)) + "  " + to_string(f.object_type) +
           " " + f.object + (f.attribute.empty() ? "" : " (" + f.attribute + ")") + " [" + f.kind +
           "]\n";
    out += indent_lines(f.message, pad, pad);
    if (f.risk != risk::kNone) out += pad + "risk: " + f.risk + "\n";
    if (f.fix_sql) {
      out += indent_lines(*f.fix_sql, pad + "fix:  ", pad + "      ");
    }
  }
}

std::string duration_text(double seconds) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(seconds < 10 ? 2 : 1) << seconds << "s";
  return s.str();
}

}  // namespace

std::string format_rfc3339(std::chrono::system_clock::time_point time) {
  std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string finding_to_json_text(const Finding& finding) { return dump(finding_json(finding), -1); }

std::string render_findings_json(const std::vector<Finding>& findings) {
  return dump(findings_json(findings), -1);
}

std::string render_target_json(const TargetResult& result) { return dump(target_json(result), -1); }

std::string render_check_json(const std::vector<TargetResult>& results) {
  Json targets = Json::array();
  for (const TargetResult& r : results) targets.push_back(target_json(r));
  return dump(Json{{"targets", std::move(targets)}}, 2) + "\n";
}

std::string render_diff_json(const std::string& expected_source, const std::string& actual_source,
                             const std::vector<Finding>& findings) {
  Json doc = Json::object();
  doc["expected"] = redact_url(expected_source);
  doc["actual"] = redact_url(actual_source);
  doc["findings"] = findings_json(findings);
  return dump(doc, 2) + "\n";
}

std::string render_check_text(const std::vector<TargetResult>& results, bool color) {
  Palette p{color};
  std::string out;
  std::map<std::string, int> by_status;
  for (const TargetResult& r : results) {
    ++by_status[r.status];
    out += p.paint(r.name, "1") + "  " + p.paint(r.status, status_color(r.status)) +
           "  revision: " + revision_text(r.revision) + "  findings: " + counts_text(r.findings) +
           "  (" + duration_text(r.duration_seconds) + ")\n";
    if (r.error) {
      out += "  " + p.paint("error", "1;31") + " (" + r.error->reason + "): " + r.error->message +
             "\n";
    }
    if (!r.compared_against.empty()) out += "  compared against " + r.compared_against + "\n";
    if (r.migrating) {
      out += "  migrating since " + format_rfc3339(r.migrating->since) + "\n";
      for (const std::string& e : r.migrating->evidence) out += "    - " + e + "\n";
    }
    if (r.diagnosis) {
      out += "  diagnosis: " + p.paint(r.diagnosis->cause, "1") +
             (r.diagnosis->matches_revision
                  ? " (schema matches revision " + *r.diagnosis->matches_revision + ")"
                  : std::string()) +
             "\n";
      for (const std::string& e : r.diagnosis->evidence) out += "    - " + e + "\n";
    }
    append_findings_text(out, r.findings, p, "  ");
    out += "\n";
  }
  out += std::to_string(results.size()) + (results.size() == 1 ? " target" : " targets") + ":";
  bool first = true;
  for (const char* status :
       {check_status::kOk, check_status::kDrift, check_status::kError, check_status::kMigrating}) {
    auto it = by_status.find(status);
    // ok/drift/error are always shown so the line reads the same every time.
    if (it == by_status.end() && std::string(status) == check_status::kMigrating) continue;
    out += std::string(first ? " " : ", ") +
           std::to_string(it == by_status.end() ? 0 : it->second) + " " + status;
    first = false;
  }
  return out + "\n";
}

std::string render_findings_text(const std::vector<Finding>& findings, bool color) {
  Palette p{color};
  std::string out;
  append_findings_text(out, findings, p, "");
  out += std::to_string(findings.size()) + (findings.size() == 1 ? " finding" : " findings") +
         (findings.empty() ? "" : ": " + counts_text(findings)) + "\n";
  return out;
}

int exit_code_for(const std::vector<TargetResult>& results) {
  bool drift = false;
  for (const TargetResult& r : results) {
    if (r.status == check_status::kError) return 3;
    // A migration running right now is expected to leave the schema half-way: it is neither
    // drift nor failure, and a cron/CI gate must not page on deploys. The next check decides.
    if (r.status == check_status::kMigrating) continue;
    if (r.status == check_status::kDrift || !r.findings.empty()) drift = true;
    if (!r.revision.state.empty() && r.revision.state != revision_state::kAtHead) drift = true;
  }
  return drift ? 1 : 0;
}

}  // namespace driftwatch
