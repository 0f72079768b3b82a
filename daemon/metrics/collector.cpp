#include "metrics/collector.hpp"

#include <prometheus/text_serializer.h>

#include <deque>
#include <iterator>
#include <sstream>

namespace driftwatch {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

const char* const kStates[] = {
    revision_state::kAtHead,          revision_state::kBehind,
    revision_state::kUnknownRevision, revision_state::kMultipleHeadsInDb,
    revision_state::kNoVersionTable,  revision_state::kEmptyVersionTable,
    revision_state::kMigrating,
};
const char* const kRisks[] = {
    risk::kNotNullViolation, risk::kUndefinedColumn, risk::kUndefinedTable, risk::kUndefinedObject,
    risk::kTypeMismatch,     risk::kUniqueViolation, risk::kNone,
};
const char* const kReasons[] = {
    error_reason::kConfig,         error_reason::kConnect, error_reason::kAuth,
    error_reason::kPermission,     error_reason::kTimeout, error_reason::kMigrations,
    error_reason::kExpectedSchema, error_reason::kQuery,   error_reason::kInternal,
};

double seconds(std::chrono::system_clock::time_point tp) {
  return std::chrono::duration<double>(tp.time_since_epoch()).count();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += ",";
    }
    out += item;
  }
  return out;
}

class Families {
 public:
  MetricFamily& family(const std::string& name, const std::string& help, MetricType type) {
    families_.push_back({"driftwatch_" + name, help, type, {}});
    return families_.back();
  }
  std::vector<MetricFamily> take() {
    return std::vector<MetricFamily>(std::make_move_iterator(families_.begin()),
                                     std::make_move_iterator(families_.end()));
  }

 private:
  std::deque<MetricFamily> families_;  // references to families stay valid while adding
};

void add(MetricFamily& family, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric metric;
  metric.label = std::move(labels);
  if (family.type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

}  // namespace

std::vector<MetricFamily> build_metric_families(const MetricsSnapshot& s) {
  Families f;
  const auto G = MetricType::Gauge;
  const auto C = MetricType::Counter;

  add(f.family("build_info", "driftwatch build information; the value is always 1.", G),
      {{"version", s.version}}, 1);

  auto& up = f.family("target_up",
                      "1 if the last check of the target completed, 0 if it failed (unreachable, "
                      "timeout, permission, ...).",
                      G);
  auto& drift = f.family("drift_detected",
                         "1 if the last check found schema drift or a revision not at head.", G);
  auto& findings = f.family("findings", "Number of findings of the last check by severity.", G);
  auto& by_risk =
      f.family("findings_by_risk", "Number of findings of the last check by application risk.", G);
  auto& at_head =
      f.family("revision_at_head", "1 if the target's alembic_version is at the head(s).", G);
  auto& behind = f.family("revision_behind",
                          "Number of migrations the target is behind the expected head(s).", G);
  auto& state = f.family("revision_state",
                         "Revision state of the target: 1 for the current state, 0 for others.", G);
  auto& info = f.family("revision_info",
                        "Current (alembic_version rows) and expected (heads) revisions of the "
                        "target, comma-separated; the value is always 1.",
                        G);
  auto& last_check =
      f.family("last_check_timestamp_seconds", "Unix time of the last check of the target.", G);
  auto& last_success = f.family("last_success_timestamp_seconds",
                                "Unix time of the last check of the target that did not fail.", G);
  auto& duration =
      f.family("check_duration_seconds", "Duration of the last check of the target.", G);
  auto& checks = f.family("checks_total", "Checks of the target run since start.", C);
  auto& errors =
      f.family("check_errors_total", "Failed checks of the target since start, by reason.", C);

  for (const auto& t : s.targets) {
    const std::string& name = t.config.name;
    add(checks, {{"target", name}}, static_cast<double>(t.checks_total));
    std::map<std::string, std::uint64_t> reasons;
    for (const char* reason : kReasons) {
      reasons[reason] = 0;
    }
    for (const auto& [reason, n] : t.errors_by_reason) {
      reasons[reason] = n;
    }
    for (const auto& [reason, n] : reasons) {
      add(errors, {{"target", name}, {"reason", reason}}, static_cast<double>(n));
    }
    if (t.last_success) {
      add(last_success, {{"target", name}}, seconds(*t.last_success));
    }
    if (!t.last_result) {
      continue;  // not checked yet: nothing known about it
    }
    const TargetResult& r = *t.last_result;
    const bool failed = r.status == check_status::kError;
    add(up, {{"target", name}}, failed ? 0 : 1);
    add(last_check, {{"target", name}}, seconds(r.checked_at));
    add(duration, {{"target", name}}, r.duration_seconds);
    // After a failed check nothing is known about drift: no stale "0" that would resolve
    // alerts; target_up says why.
    if (failed) {
      continue;
    }
    add(drift, {{"target", name}}, r.status == check_status::kDrift ? 1 : 0);
    std::map<std::string, int> severities = {{"critical", 0}, {"warning", 0}, {"info", 0}};
    std::map<std::string, int> risks;
    for (const char* risk : kRisks) {
      risks[risk] = 0;
    }
    for (const auto& finding : r.findings) {
      ++severities[to_string(finding.severity)];
      ++risks[finding.risk];
    }
    for (const auto& [severity, n] : severities) {
      add(findings, {{"target", name}, {"severity", severity}}, n);
    }
    for (const auto& [risk, n] : risks) {
      add(by_risk, {{"target", name}, {"risk", risk}}, n);
    }
    if (r.revision.state.empty()) {
      continue;
    }
    add(at_head, {{"target", name}}, r.revision.state == revision_state::kAtHead ? 1 : 0);
    add(behind, {{"target", name}}, r.revision.behind_by);
    for (const char* st : kStates) {
      add(state, {{"target", name}, {"state", st}}, r.revision.state == st ? 1 : 0);
    }
    add(info,
        {{"target", name},
         {"current", join(r.revision.current)},
         {"expected", join(r.revision.expected_heads)}},
        1);
  }

  auto& heads =
      f.family("migration_heads",
               "Number of heads of the migrations source (more than 1: branched history).", G);
  for (const auto& m : s.migrations) {
    add(heads, {{"migrations", m.name}}, static_cast<double>(m.heads.size()));
  }
  add(f.family("config_reload_success",
               "1 if the last load or reload of the configuration succeeded.", G),
      {}, s.config_reload_success ? 1 : 0);
  auto& reload_ts = f.family("config_last_reload_success_timestamp_seconds",
                             "Unix time of the last successful configuration load or reload.", G);
  if (s.last_reload_success) {
    add(reload_ts, {}, seconds(*s.last_reload_success));
  }
  add(f.family("shard_info", "Shard of this instance; the value is always 1.", G),
      {{"shard", s.shard}, {"shards", std::to_string(s.shards)}}, 1);
  auto& notifications = f.family("alert_notifications_total",
                                 "Alert notifications sent, by receiver and outcome.", C);
  for (const auto& [key, n] : s.alert_notifications) {
    add(notifications, {{"receiver", key.first}, {"outcome", key.second}}, static_cast<double>(n));
  }
  return f.take();
}

std::string render_metrics(const MetricsSnapshot& snapshot) {
  SnapshotCollectable collectable([&snapshot] { return snapshot; });
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, collectable.Collect());
  return out.str();
}

}  // namespace driftwatch
