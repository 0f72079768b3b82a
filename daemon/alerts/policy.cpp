#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <tuple>

#include "driftwatch/alert_policy.hpp"
#include "driftwatch/render.hpp"

namespace driftwatch {

namespace {

// FNV-1a: stable across processes and versions, so fingerprints can be persisted.
std::string fnv1a_hex(const std::string& text) {
  std::uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(hash));
  return out;
}

std::string join(const std::vector<std::string>& items, const char* separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string encode_segment(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Marks an ack taken before the target's first result: it adopts the next fingerprint seen.
constexpr const char* kAdoptFingerprint = "*";

const char* const kAllAlertnames[] = {alertname::kSchemaDrift, alertname::kRevisionBehind,
                                      alertname::kUnknownRevision, alertname::kVersionTableProblem,
                                      alertname::kTargetDown};

std::string findings_text(const std::vector<Finding>& findings, std::size_t limit) {
  std::string out;
  std::size_t n = 0;
  for (const Finding& f : findings) {
    if (n++ == limit) break;
    out += std::string("- [") + to_string(f.severity) + "] " + f.message;
    if (f.risk != risk::kNone) out += " (risk: " + f.risk + ")";
    if (f.fix_sql) out += "\n  fix: " + *f.fix_sql;
    out += "\n";
  }
  if (findings.size() > limit) {
    out += "... and " + std::to_string(findings.size() - limit) + " more\n";
  }
  return out;
}

// The labels that identify an alert (in Alertmanager), as the Prometheus rules set them.
std::map<std::string, std::string> identity_labels(const OpenAlert& alert) {
  std::map<std::string, std::string> labels = alert.labels;
  labels["alertname"] = alert.alertname;
  if (alert.migrations.empty()) {
    labels["target"] = alert.target;
  } else {
    labels["migrations"] = alert.migrations;
  }
  labels["severity"] = to_string(alert.severity);
  return labels;
}

}  // namespace

int AlertPolicyConfig::for_checks_for(Severity severity) const {
  auto it = for_checks_by_severity.find(severity);
  return std::max(1, it == for_checks_by_severity.end() ? for_checks : it->second);
}

AlertPolicyConfig alert_policy_config(const AlertsConfig& alerts) {
  AlertPolicyConfig config;
  config.for_checks = alerts.for_checks;
  config.for_checks_by_severity = alerts.for_checks_by_severity;
  config.repeat_interval = alerts.repeat_interval;
  config.status_page_url = alerts.status_page_url;
  auto name = [](const char* kind, std::size_t index) {
    return index == 0 ? std::string(kind) : std::string(kind) + "_" + std::to_string(index);
  };
  for (std::size_t i = 0; i < alerts.alertmanager.size(); ++i) {
    // Alertmanager does its own routing, so it gets every alert.
    config.receivers.push_back(
        {name(receiver_kind::kAlertmanager, i), receiver_kind::kAlertmanager, Severity::kInfo});
  }
  for (std::size_t i = 0; i < alerts.slack.size(); ++i) {
    config.receivers.push_back(
        {name(receiver_kind::kSlack, i), receiver_kind::kSlack, alerts.slack[i].min_severity});
  }
  for (std::size_t i = 0; i < alerts.pagerduty.size(); ++i) {
    config.receivers.push_back({name(receiver_kind::kPagerDuty, i), receiver_kind::kPagerDuty,
                                alerts.pagerduty[i].min_severity});
  }
  for (std::size_t i = 0; i < alerts.webhook.size(); ++i) {
    config.receivers.push_back({name(receiver_kind::kWebhook, i), receiver_kind::kWebhook,
                                alerts.webhook[i].min_severity});
  }
  return config;
}

std::string findings_fingerprint(const std::vector<Finding>& findings) {
  if (findings.empty()) return "";
  std::vector<std::string> keys;
  keys.reserve(findings.size());
  for (const Finding& f : findings) {
    // NUL-separated so no field value can imitate a boundary.
    keys.push_back(f.kind + '\0' + to_string(f.object_type) + '\0' + f.object + '\0' + f.attribute);
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::string all;
  for (const auto& k : keys) all += k + '\n';
  return fnv1a_hex(all);
}

std::string dedup_key(const std::string& target, const std::string& alertname) {
  return "driftwatch/" + target + "/" + alertname;
}

std::string migrations_dedup_key(const std::string& migrations, const std::string& alertname) {
  return "driftwatch/migrations/" + migrations + "/" + alertname;
}

std::string source_alert_key(const std::string& migrations) { return "migrations/" + migrations; }

bool expected_side_error(const TargetResult& result) {
  return result.status == check_status::kError && result.error && target_reached(result);
}

std::vector<AlertCondition> alert_conditions(const TargetResult& r) {
  std::vector<AlertCondition> out;
  if (r.status == check_status::kMigrating || expected_side_error(r)) return out;
  if (r.status == check_status::kError) {
    const std::string reason = r.error ? r.error->reason : error_reason::kInternal;
    out.push_back({alertname::kTargetDown,
                   Severity::kWarning,
                   fnv1a_hex("down\n" + reason),
                   "driftwatch cannot check " + r.name + " (" + reason + ")",
                   r.error ? r.error->message : "The check of " + r.name + " failed.",
                   {}});
    return out;
  }
  int counts[3] = {0, 0, 0};
  Severity worst = Severity::kInfo;
  bool possibly_pending = false;
  for (const Finding& f : r.findings) {
    ++counts[static_cast<int>(f.severity)];
    worst = std::max(worst, f.severity);
    possibly_pending = possibly_pending || f.possibly_pending;
  }
  // As the rules: critical findings page; warning ones only when they are not possibly pending
  // migrations (compared with another revision's schema: DriftwatchRevisionBehind and
  // DriftwatchUnknownRevision speak for those); info-only drift is for the dashboard.
  if (worst == Severity::kCritical || (worst == Severity::kWarning && !possibly_pending)) {
    std::string summary = "Schema drift on " + r.name + ": " + std::to_string(counts[2]) +
                          " critical, " + std::to_string(counts[1]) + " warning, " +
                          std::to_string(counts[0]) + " info finding(s)";
    std::string description =
        "The live schema of target " + r.name + " differs from what the Alembic migrations expect";
    if (!r.compared_against.empty()) description += " (compared with " + r.compared_against + ")";
    description += ".";
    out.push_back({alertname::kSchemaDrift,
                   worst,
                   findings_fingerprint(r.findings),
                   summary,
                   description,
                   {}});
  }
  const RevisionReport& rev = r.revision;
  const std::string revisions =
      "current [" + join(rev.current) + "], expected heads [" + join(rev.expected_heads) + "]";
  if (rev.state == revision_state::kBehind) {
    out.push_back({alertname::kRevisionBehind,
                   Severity::kWarning,
                   fnv1a_hex("behind\n" + join(rev.current) + "\n" + join(rev.expected_heads)),
                   r.name + " is " + std::to_string(rev.behind_by) + " migration(s) behind head",
                   "Target " + r.name + " has pending migrations: " + join(rev.pending) + " (" +
                       revisions + ").",
                   {},
                   alert_grace::kRevisionBehind});
  }
  if (rev.state == revision_state::kUnknownRevision) {
    out.push_back({alertname::kUnknownRevision,
                   Severity::kWarning,
                   fnv1a_hex("unknown\n" + join(rev.current)),
                   r.name + " records a revision unknown to the migrations",
                   "The alembic_version of target " + r.name +
                       " names a revision the migrations do not have (" + revisions + ").",
                   {},
                   alert_grace::kUnknownRevision});
  }
  if (rev.state == revision_state::kNoVersionTable ||
      rev.state == revision_state::kEmptyVersionTable ||
      rev.state == revision_state::kMultipleHeadsInDb) {
    out.push_back({alertname::kVersionTableProblem,
                   Severity::kWarning,
                   fnv1a_hex("version table\n" + rev.state + "\n" + join(rev.current)),
                   "alembic_version of " + r.name + " is in state " + rev.state,
                   "driftwatch cannot tell which migration target " + r.name +
                       " is at: its alembic_version table is in state " + rev.state + " (" +
                       revisions + ").",
                   {{"state", rev.state}},
                   alert_grace::kVersionTableProblem});
  }
  return out;
}

std::vector<AlertCondition> source_conditions(const TargetResult& r, const std::string& migrations,
                                              bool* known) {
  std::vector<AlertCondition> out;
  // Only a check that reached the target and had the expected side (ok, drift), or found it
  // broken (the engine names the source's problem: an expected schema still being built by
  // replay is none yet), says something about the source.
  const bool broken = expected_side_error(r) && !r.error->migrations_problem.empty();
  *known = broken || (r.status != check_status::kError && r.status != check_status::kMigrating);
  if (broken) {
    const std::string& problem = r.error->migrations_problem;
    out.push_back({alertname::kMigrationsBroken,
                   Severity::kWarning,
                   fnv1a_hex("migrations\n" + problem),
                   "Expected schema of migrations " + migrations + " unavailable (" + problem + ")",
                   "driftwatch cannot tell what schema the migrations source " + migrations +
                       " expects, so its targets are not compared for drift: " + r.error->message,
                   {{"reason", problem}}});
  }
  const std::vector<std::string>& heads = r.revision.expected_heads;
  if (!broken && *known && heads.size() > 1) {
    out.push_back({alertname::kMultipleHeads,
                   Severity::kWarning,
                   fnv1a_hex("heads\n" + join(heads)),
                   "Migrations " + migrations + " have " + std::to_string(heads.size()) + " heads",
                   "The Alembic history of migrations source " + migrations +
                       " is branched (heads " + join(heads) +
                       "). Create a merge revision (alembic merge heads).",
                   {}});
  }
  return out;
}

AlertPolicy::AlertPolicy(AlertPolicyConfig config, AlertState state)
    : config_(std::move(config)), state_(std::move(state)) {
  // State files written before the outbox existed list owed resolutions only by receiver.
  for (auto& [key, alert] : state_.alerts) {
    if (!alert.resolved_at) continue;
    for (const ReceiverRoute& route : config_.receivers) {
      if (alert.pending_resolution.count(route.name) == 0 ||
          state_.outbox.count({alert.target, alert.alertname, route.name}) > 0) {
        continue;
      }
      Notification n = make(alert, nullptr, route, nullptr, alert.target_labels, std::nullopt,
                            *alert.resolved_at);
      enqueue(n);
    }
  }
}

Notification& AlertPolicy::enqueue(Notification& n) {
  n.seq = state_.next_seq++;
  const DeliveryKey key{n.target, n.alertname, n.receiver};
  // A refresh of an alert the receiver already has is not kept when nothing else is pending:
  // the next check sends another, and the state file is not rewritten twice per check for
  // every firing alert.
  if (n.reason == "refresh" && state_.outbox.count(key) == 0) return n;
  state_.outbox.insert_or_assign(key, n);
  return n;
}

std::set<std::string> AlertPolicy::told(const OpenAlert& alert) const {
  std::set<std::string> out = alert.notified;
  for (auto it = state_.outbox.lower_bound({alert.target, alert.alertname, ""});
       it != state_.outbox.end() && std::get<0>(it->first) == alert.target &&
       std::get<1>(it->first) == alert.alertname;
       ++it) {
    if (it->second.state == "firing") out.insert(std::get<2>(it->first));
  }
  return out;
}

void AlertPolicy::resolve_to(OpenAlert& alert, const std::set<std::string>& receivers,
                             const std::vector<ReceiverRoute>& routes, SystemTime now,
                             std::vector<Notification>& out) {
  alert.resolved_at = now;
  alert.consecutive = 0;
  alert.firing = false;
  for (const ReceiverRoute& route : routes) {
    if (receivers.count(route.name) == 0) continue;
    Notification n = make(alert, nullptr, route, nullptr, alert.target_labels, std::nullopt, now);
    out.push_back(enqueue(n));
    alert.pending_resolution.insert(route.name);
  }
  alert.notified.clear();
}

Notification AlertPolicy::make(const OpenAlert& alert, const AlertCondition* condition,
                               const ReceiverRoute& route, const TargetResult* result,
                               const std::map<std::string, std::string>& target_labels,
                               const std::optional<Acknowledgement>& ack, SystemTime now) const {
  Notification n;
  n.receiver = route.name;
  n.receiver_kind = route.kind;
  n.alertname = alert.alertname;
  n.target = alert.target;
  n.severity = alert.severity;
  n.migrations = alert.migrations;
  n.labels = identity_labels(alert);
  n.target_labels = target_labels;
  n.starts_at = alert.starts_at;
  n.dedup_key = alert.migrations.empty() ? dedup_key(alert.target, alert.alertname)
                                         : migrations_dedup_key(alert.migrations, alert.alertname);
  n.fingerprint = alert.fingerprint;
  n.ack = ack;
  if (!config_.status_page_url.empty() && alert.migrations.empty()) {
    std::string base = config_.status_page_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    n.status_page_link = base + "/targets/" + encode_segment(alert.target);
    n.annotations["status_page"] = n.status_page_link;
  }
  n.annotations["runbook_url"] = "docs/runbook.md#" + lower(alert.alertname);
  n.annotations["summary"] = condition ? condition->summary : alert.summary;
  if (condition) n.annotations["description"] = condition->description;
  if (result != nullptr && alert.alertname == std::string(alertname::kSchemaDrift)) {
    const std::size_t limit = std::min(config_.top_findings, result->findings.size());
    n.top_findings.assign(result->findings.begin(),
                          result->findings.begin() + static_cast<std::ptrdiff_t>(limit));
    n.findings_total = result->findings.size();
    n.annotations["findings"] = findings_text(result->findings, config_.top_findings);
  }
  if (condition == nullptr && !alert.resolved_at) {
    // A refresh without a fresh result: the details of the last check that had them.
    if (!alert.description.empty()) n.annotations["description"] = alert.description;
    if (!alert.findings_text.empty()) n.annotations["findings"] = alert.findings_text;
  }
  for (const auto& [key, value] : target_labels) n.annotations["target_label_" + key] = value;
  if (ack) {
    n.annotations["ack_owner"] = ack->owner;
    n.annotations["ack_reason"] = ack->reason;
    n.annotations["ack_expires_at"] = format_rfc3339(ack->expires_at);
  }
  if (alert.resolved_at) {
    n.state = "resolved";
    n.reason = "resolved";
    n.ends_at = alert.resolved_at;
    n.annotations["summary"] = "Resolved: " + alert.summary;
  }
  (void)now;
  return n;
}

std::vector<Notification> AlertPolicy::observe(
    const TargetResult& result, const std::map<std::string, std::string>& target_labels,
    SystemTime now, const std::string& migrations) {
  std::vector<Notification> out;
  const std::string& target = result.name;
  const bool error = result.status == check_status::kError;
  const bool migrating = result.status == check_status::kMigrating;

  // Acks: expiry, and the end of an ack when the findings it covered changed.
  if (!error && !migrating) {
    const std::string fp = findings_fingerprint(result.findings);
    state_.findings_fingerprints[target] = fp;
    auto ack_it = state_.acks.find(target);
    if (ack_it != state_.acks.end()) {
      if (ack_it->second.findings_fingerprint == kAdoptFingerprint) {
        ack_it->second.findings_fingerprint = fp;
      } else if (ack_it->second.findings_fingerprint != fp) {
        state_.acks.erase(ack_it);
      }
    }
  }
  const std::optional<Acknowledgement> ack = this->ack(target, now);
  if (!ack) state_.acks.erase(target);

  const std::vector<AlertCondition> conditions = alert_conditions(result);
  for (const char* name : kAllAlertnames) {
    // An error says nothing about the schema and a migration is a moment in between: neither
    // resolves nor counts. An error of the target itself feeds DriftwatchTargetDown; one on the
    // expected side means the target was reached, so it ends DriftwatchTargetDown.
    const bool unknown = migrating || (error && name != std::string(alertname::kTargetDown));
    const AlertCondition* condition = nullptr;
    for (const auto& c : conditions) {
      if (c.alertname == name) condition = &c;
    }
    advance({target, name}, unknown, condition, result, target_labels, ack, now, out);
  }
  // An open alert of the target under a name it no longer has (from the state file of an older
  // version, e.g. a per-target DriftwatchMultipleHeads) ends at the next check that knows.
  std::vector<std::string> retired;
  for (auto it = state_.alerts.lower_bound({target, ""});
       it != state_.alerts.end() && it->first.first == target; ++it) {
    if (std::find(std::begin(kAllAlertnames), std::end(kAllAlertnames), it->first.second) ==
        std::end(kAllAlertnames)) {
      retired.push_back(it->first.second);
    }
  }
  for (const auto& name : retired) {
    advance({target, name}, error || migrating, nullptr, result, target_labels, ack, now, out);
  }

  if (!migrations.empty()) {
    // The migrations source's alerts. Target labels and acks are the targets', not its.
    bool known = false;
    const std::vector<AlertCondition> source = source_conditions(result, migrations, &known);
    for (const char* name : {alertname::kMigrationsBroken, alertname::kMultipleHeads}) {
      const AlertCondition* condition = nullptr;
      for (const auto& c : source) {
        if (c.alertname == name) condition = &c;
      }
      advance({source_alert_key(migrations), name}, !known, condition, result, {}, std::nullopt,
              now, out);
    }
  }
  return out;
}

void AlertPolicy::advance(const std::pair<std::string, std::string>& key, bool unknown,
                          const AlertCondition* condition, const TargetResult& result,
                          const std::map<std::string, std::string>& target_labels,
                          const std::optional<Acknowledgement>& ack, SystemTime now,
                          std::vector<Notification>& out) {
  const std::string source_prefix = source_alert_key("");
  const bool source_alert = key.first.rfind(source_prefix, 0) == 0;
  auto it = state_.alerts.find(key);
  if (unknown) {
    // Alertmanager keeps getting what fires, or it would expire the alert at endsAt.
    if (it == state_.alerts.end() || !it->second.firing || it->second.resolved_at) return;
    OpenAlert& alert = it->second;
    for (const ReceiverRoute& route : config_.receivers) {
      if (route.kind != std::string(receiver_kind::kAlertmanager)) continue;
      if (alert.severity < route.min_severity) continue;
      Notification n = make(alert, nullptr, route, nullptr, alert.target_labels, ack, now);
      n.reason = alert.notified.count(route.name) ? "refresh" : "new";
      out.push_back(enqueue(n));
    }
    return;
  }

  if (condition == nullptr) {
    if (it == state_.alerts.end() || it->second.resolved_at) return;
    OpenAlert& alert = it->second;
    if (source_alert) alert.consecutive_by_target.erase(result.name);
    if (key.second == std::string(alertname::kMigrationsBroken)) {
      // The expected side is broken while any target still finds it so: targets may need
      // different expected schemas (one has the snapshot of its own revision, another needs the
      // head's). A branched history, by contrast, is the same for every target.
      if (!alert.consecutive_by_target.empty()) {
        alert.consecutive = 0;
        for (const auto& [name, count] : alert.consecutive_by_target) {
          alert.consecutive = std::max(alert.consecutive, count);
        }
        return;
      }
    }
    const std::set<std::string> receivers = alert.firing ? told(alert) : std::set<std::string>{};
    if (receivers.empty()) {
      state_.alerts.erase(it);
      return;
    }
    resolve_to(alert, receivers, config_.receivers, now, out);
    if (alert.pending_resolution.empty()) state_.alerts.erase(it);
    return;
  }

  if (it == state_.alerts.end() || it->second.resolved_at) {
    // A new episode; a resolution still owed from the previous one is superseded by it.
    OpenAlert fresh;
    fresh.target = key.first;
    fresh.alertname = key.second;
    if (source_alert) fresh.migrations = key.first.substr(source_prefix.size());
    fresh.starts_at = now;
    it = state_.alerts.insert_or_assign(key, fresh).first;
  }
  OpenAlert& alert = it->second;
  const bool was_firing = alert.firing;
  const bool details_changed = was_firing && alert.fingerprint != condition->fingerprint;
  const std::optional<Severity> previous = was_firing && alert.severity != condition->severity
                                               ? std::optional(alert.severity)
                                               : std::nullopt;
  const std::map<std::string, std::string> previous_labels = identity_labels(alert);
  // Counting stops once it fires, so a long drift does not rewrite the state file on
  // every check. A source counts per target (capped, for the same reason): the checks of several
  // targets in one round (which share one reading of the expected side) are one observation, not
  // several; and the targets that still show the condition are known while it fires.
  if (source_alert) {
    int& count = alert.consecutive_by_target[result.name];
    count = std::min(count + 1, config_.for_checks_for(condition->severity));
    if (!alert.firing) alert.consecutive = std::max(alert.consecutive, count);
  } else if (!alert.firing) {
    ++alert.consecutive;
  }
  alert.severity = condition->severity;
  alert.fingerprint = condition->fingerprint;
  alert.summary = condition->summary;
  alert.description = condition->description;
  alert.labels = condition->labels;
  alert.findings_text = alert.alertname == std::string(alertname::kSchemaDrift)
                            ? findings_text(result.findings, config_.top_findings)
                            : "";
  alert.target_labels = target_labels;
  const bool due = condition->grace.count() > 0
                       ? now - alert.starts_at >= condition->grace
                       : alert.consecutive >= config_.for_checks_for(alert.severity);
  if (!alert.firing && due) alert.firing = true;
  if (!alert.firing) return;

  const bool repeat_due = !alert.last_sent || now - *alert.last_sent >= config_.repeat_interval;
  const bool labels_changed = was_firing && identity_labels(alert) != previous_labels;
  const std::set<std::string> receivers_told = told(alert);
  bool paged = false;
  for (const ReceiverRoute& route : config_.receivers) {
    const bool paging = route.kind != std::string(receiver_kind::kAlertmanager);
    const bool notified = alert.notified.count(route.name) > 0;
    if (alert.severity < route.min_severity) {
      if (receivers_told.count(route.name) > 0) {
        // Severity fell below what this receiver takes: close what it was told.
        OpenAlert closed = alert;
        closed.resolved_at = now;
        Notification n = make(closed, condition, route, &result, target_labels, ack, now);
        out.push_back(enqueue(n));
        alert.notified.erase(route.name);
      }
      continue;
    }
    if (paging && ack) continue;
    Notification n = make(alert, condition, route, &result, target_labels, ack, now);
    if (!notified) {
      // Also while an earlier "new" is still undelivered: this one supersedes it.
      n.reason = "new";
    } else if (details_changed || previous || labels_changed) {
      n.reason = "update";
      n.previous_severity = previous;
      if (labels_changed) n.previous_labels = previous_labels;
    } else if (!paging) {
      n.reason = "refresh";
    } else if (repeat_due) {
      n.reason = "repeat";
    } else {
      continue;
    }
    if (paging) paged = true;
    out.push_back(enqueue(n));
  }
  if (paged || !alert.last_sent) alert.last_sent = now;
}

std::vector<Notification> AlertPolicy::pending_deliveries() const {
  std::vector<Notification> out;
  for (const auto& [key, n] : state_.outbox) out.push_back(n);
  std::sort(out.begin(), out.end(),
            [](const Notification& a, const Notification& b) { return a.seq < b.seq; });
  return out;
}

void AlertPolicy::delivered(const Notification& n) {
  auto entry = state_.outbox.find({n.target, n.alertname, n.receiver});
  if (entry != state_.outbox.end() && entry->second.seq == n.seq) state_.outbox.erase(entry);
  auto it = state_.alerts.find({n.target, n.alertname});
  if (it == state_.alerts.end()) return;
  OpenAlert& alert = it->second;
  if (n.state == "firing") {
    // A firing notification accepted after the alert resolved is covered by the resolution,
    // which is in the outbox already.
    if (alert.firing && !alert.resolved_at) alert.notified.insert(n.receiver);
    return;
  }
  if (!alert.resolved_at) return;  // a "closed" for a receiver below the severity
  alert.pending_resolution.erase(n.receiver);
  if (alert.pending_resolution.empty()) state_.alerts.erase(it);
}

std::vector<Notification> AlertPolicy::resolve_removed(const std::set<std::string>& targets,
                                                       const std::set<std::string>& receivers_gone,
                                                       SystemTime now,
                                                       const std::set<std::string>& sources) {
  std::vector<Notification> out;
  for (auto it = state_.alerts.begin(); it != state_.alerts.end();) {
    OpenAlert& alert = it->second;
    const bool target_gone = alert.migrations.empty() ? targets.count(alert.target) == 0
                                                      : sources.count(alert.migrations) == 0;
    if (alert.resolved_at) {
      // Owed resolutions to a receiver that is gone cannot be delivered any more.
      for (const auto& name : receivers_gone) alert.pending_resolution.erase(name);
    } else if (target_gone) {
      std::set<std::string> receivers = alert.firing ? told(alert) : std::set<std::string>{};
      resolve_to(alert, receivers, config_.receivers, now, out);
    } else {
      std::set<std::string> receivers;
      if (alert.firing) {
        for (const auto& name : told(alert)) {
          if (receivers_gone.count(name)) receivers.insert(name);
        }
      }
      if (!receivers.empty()) {
        OpenAlert closed = alert;
        std::vector<Notification> resolutions;
        resolve_to(closed, receivers, config_.receivers, now, resolutions);
        out.insert(out.end(), resolutions.begin(), resolutions.end());
        for (const auto& name : receivers) alert.notified.erase(name);
      }
    }
    for (const auto& name : receivers_gone) alert.pending_resolution.erase(name);
    for (auto c = alert.consecutive_by_target.begin(); c != alert.consecutive_by_target.end();) {
      c = targets.count(c->first) ? std::next(c) : alert.consecutive_by_target.erase(c);
    }
    const bool done = alert.resolved_at ? alert.pending_resolution.empty() : target_gone;
    it = done ? state_.alerts.erase(it) : std::next(it);
  }
  // The outbox keeps nothing for a receiver that is gone (what it still had to be told is in
  // `out`, for the caller to hand to its last delivery queue) nor for an alert that is gone.
  for (auto it = state_.outbox.begin(); it != state_.outbox.end();) {
    const bool keep = receivers_gone.count(std::get<2>(it->first)) == 0 &&
                      state_.alerts.count({std::get<0>(it->first), std::get<1>(it->first)}) > 0;
    it = keep ? std::next(it) : state_.outbox.erase(it);
  }
  for (auto it = state_.acks.begin(); it != state_.acks.end();) {
    it = targets.count(it->first) ? std::next(it) : state_.acks.erase(it);
  }
  for (auto it = state_.findings_fingerprints.begin(); it != state_.findings_fingerprints.end();) {
    it = targets.count(it->first) ? std::next(it) : state_.findings_fingerprints.erase(it);
  }
  return out;
}

Acknowledgement AlertPolicy::acknowledge(const std::string& target, const std::string& owner,
                                         const std::string& reason, SystemTime expires_at,
                                         SystemTime now) {
  Acknowledgement ack{target, owner, reason, now, expires_at, kAdoptFingerprint};
  auto fp = state_.findings_fingerprints.find(target);
  if (fp != state_.findings_fingerprints.end()) ack.findings_fingerprint = fp->second;
  state_.acks[target] = ack;
  return ack;
}

bool AlertPolicy::unacknowledge(const std::string& target) { return state_.acks.erase(target) > 0; }

std::optional<Acknowledgement> AlertPolicy::ack(const std::string& target, SystemTime now) const {
  auto it = state_.acks.find(target);
  if (it == state_.acks.end() || now >= it->second.expires_at) return std::nullopt;
  return it->second;
}

}  // namespace driftwatch
