#include "metrics/collector.hpp"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <map>
#include <memory>
#include <sstream>

#include "driftwatch/render_cache.hpp"

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
const char* const kMigrationsProblems[] = {
    migrations_problem::kParseError,     migrations_problem::kNoRevisions,
    migrations_problem::kNoHeadSnapshot, migrations_problem::kReferenceUnreachable,
    migrations_problem::kReplayFailed,
};
const char* const kDriftCauses[] = {
    drift_cause::kStampedNotMigrated,
    drift_cause::kPartiallyApplied,
    drift_cause::kRemovedMigration,
    drift_cause::kManualChange,
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

// Every family, in output order. Families up to kLastTargetFamily hold per-target series
// only; the others hold no per-target series.
struct FamilySpec {
  const char* name;
  const char* help;
  MetricType type;
};
enum Family : std::size_t {
  kBuildInfo,
  kTargetUp,
  kDrift,
  kFindings,
  kByRisk,
  kAtHead,
  kBehind,
  kState,
  kInfo,
  kLastCheck,
  kLastSuccess,
  kDuration,
  kChecks,
  kErrors,
  kHeads,
  kReloadSuccess,
  kReloadTimestamp,
  kShardInfo,
  kNotifications,
  kUndelivered,
  kResultAge,
  kConnectionsRejected,
  kMigrationsUp,
  kMigrationsProblem,
  kDriftCause,
  kPossiblyPending,
  kMigratingSince,
  kFamilyCount,
};
const FamilySpec kFamilies[kFamilyCount] = {
    {"build_info", "driftwatch build information; the value is always 1.", MetricType::Gauge},
    {"target_up",
     "1 if the last check of the target completed, 0 if it failed (unreachable, timeout, "
     "permission, ...).",
     MetricType::Gauge},
    {"drift_detected", "1 if the last check found schema drift or a revision not at head.",
     MetricType::Gauge},
    {"findings", "Number of findings of the last check by severity.", MetricType::Gauge},
    {"findings_by_risk", "Number of findings of the last check by application risk.",
     MetricType::Gauge},
    {"revision_at_head", "1 if the target's alembic_version is at the head(s).", MetricType::Gauge},
    {"revision_behind", "Number of migrations the target is behind the expected head(s).",
     MetricType::Gauge},
    {"revision_state", "Revision state of the target: 1 for the current state, 0 for others.",
     MetricType::Gauge},
    {"revision_info",
     "Current (alembic_version rows) and expected (heads) revisions of the target, "
     "comma-separated; the value is always 1.",
     MetricType::Gauge},
    {"last_check_timestamp_seconds", "Unix time of the last check of the target.",
     MetricType::Gauge},
    {"last_success_timestamp_seconds",
     "Unix time of the last check that reached the target (did not fail, or failed only on the "
     "expected side: reason migrations or expected_schema).",
     MetricType::Gauge},
    {"check_duration_seconds", "Duration of the last check of the target.", MetricType::Gauge},
    {"checks_total", "Checks of the target run since start.", MetricType::Counter},
    {"check_errors_total", "Failed checks of the target since start, by reason.",
     MetricType::Counter},
    {"migration_heads", "Number of heads of the migrations source (more than 1: branched history).",
     MetricType::Gauge},
    {"config_reload_success", "1 if the last load or reload of the configuration succeeded.",
     MetricType::Gauge},
    {"config_last_reload_success_timestamp_seconds",
     "Unix time of the last successful configuration load or reload.", MetricType::Gauge},
    {"shard_info", "Shard of this instance; the value is always 1.", MetricType::Gauge},
    {"alert_notifications_total", "Alert notifications sent, by receiver and outcome.",
     MetricType::Counter},
    {"alert_undelivered",
     "Alerts whose latest notification the receiver has not accepted yet (being retried).",
     MetricType::Gauge},
    {"last_result_age_seconds",
     "Age of the check result the drift, findings and revision series show: they keep the last "
     "known values while checks fail or the target migrates.",
     MetricType::Gauge},
    {"http_connections_rejected_total",
     "HTTP client connections refused because server.max_connections were open.",
     MetricType::Counter},
    {"migrations_up",
     "1 if the expected side of the migrations source can be had (migration files parse, "
     "snapshots load, the reference database or the replay answers), 0 if not.",
     MetricType::Gauge},
    {"migrations_problem",
     "Why the expected side of the migrations source cannot be had: 1 for the current reason, "
     "0 for the others.",
     MetricType::Gauge},
    {"drift_cause",
     "Diagnosed cause of the target's drift: 1 for the current cause, 0 for the others (all 0 "
     "when there is nothing to explain).",
     MetricType::Gauge},
    {"findings_possibly_pending",
     "Findings of the last check that may only be pending migrations: the target was compared "
     "with another revision's schema than its own (severity capped at warning).",
     MetricType::Gauge},
    {"migrating_since_timestamp_seconds",
     "Unix time since which a lock held by another session that is not a migration (an ETL's "
     "TRUNCATE, VACUUM FULL) has deferred every check of the target; absent otherwise.",
     MetricType::Gauge},
};

std::vector<MetricFamily> empty_families() {
  std::vector<MetricFamily> out;
  out.reserve(kFamilyCount);
  for (const auto& spec : kFamilies) {
    out.push_back({std::string("driftwatch_") + spec.name, spec.help, spec.type, {}});
  }
  return out;
}

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

// target_up is about reaching the target: a check that failed on the expected side (migration
// files, snapshots, reference database, replay) did reach it, and the migrations source has its
// own series (driftwatch_migrations_up) for that.
// drift_cause and findings_possibly_pending: what explains the findings.
void add_drift_cause(std::vector<MetricFamily>& f, const std::string& name, const TargetResult& r) {
  std::size_t possibly_pending = 0;
  for (const auto& finding : r.findings) possibly_pending += finding.possibly_pending ? 1 : 0;
  add(f[kPossiblyPending], {{"target", name}}, static_cast<double>(possibly_pending));
  for (const char* cause : kDriftCauses) {
    add(f[kDriftCause], {{"target", name}, {"cause", cause}},
        r.diagnosis && r.diagnosis->cause == cause ? 1 : 0);
  }
}

void add_migrations_health(std::vector<MetricFamily>& f, const MigrationsStatus& m) {
  add(f[kMigrationsUp], {{"migrations", m.name}}, m.problem.empty() ? 1 : 0);
  for (const char* problem : kMigrationsProblems) {
    add(f[kMigrationsProblem], {{"migrations", m.name}, {"reason", problem}},
        m.problem == problem ? 1 : 0);
  }
}

// The drift, findings and revision series of a target: from its last check that said
// something about the schema. A failed check or a running migration does not make them
// disappear (that would resolve alerts on "unknown"); driftwatch_last_result_age_seconds says
// how old they are, target_up and revision_state{state="migrating"} say why.
void add_known_result(std::vector<MetricFamily>& f, const TargetStatus& t) {
  const std::string& name = t.config.name;
  if (!t.last_known) {
    // Nothing known about its schema yet; a migration in progress is still worth showing.
    if (t.last_result && t.last_result->status == check_status::kMigrating) {
      for (const char* st : kStates) {
        add(f[kState], {{"target", name}, {"state", st}},
            t.last_result->revision.state == st ? 1 : 0);
      }
    }
    return;
  }
  const TargetResult& r = *t.last_known;
  const bool migrating = t.last_result && t.last_result->status == check_status::kMigrating;
  add(f[kDrift], {{"target", name}}, r.status == check_status::kDrift ? 1 : 0);
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
    add(f[kFindings], {{"target", name}, {"severity", severity}}, n);
  }
  for (const auto& [risk, n] : risks) {
    add(f[kByRisk], {{"target", name}, {"risk", risk}}, n);
  }
  add_drift_cause(f, name, r);
  // A running migration is never alerted on; a check deferred by any other lock holder is.
  if (r.migrating && !r.migrating->by_migration) {
    add(f[kMigratingSince], {{"target", name}}, seconds(r.migrating->since));
  }
  if (r.revision.state.empty()) {
    return;
  }
  add(f[kAtHead], {{"target", name}}, r.revision.state == revision_state::kAtHead ? 1 : 0);
  add(f[kBehind], {{"target", name}}, r.revision.behind_by);
  // The state is the current one while migrating: rules hold back new alerts during it.
  const std::string& state = migrating ? t.last_result->revision.state : r.revision.state;
  for (const char* st : kStates) {
    add(f[kState], {{"target", name}, {"state", st}}, state == st ? 1 : 0);
  }
  add(f[kInfo],
      {{"target", name},
       {"current", join(r.revision.current)},
       {"expected", join(r.revision.expected_heads)}},
      1);
}

// Series computed at scrape time (not cached per target): ages, and delivery backlogs.
void add_alert_undelivered(std::vector<MetricFamily>& f, const MetricsSnapshot& s) {
  for (const auto& [receiver, n] : s.alert_undelivered) {
    add(f[kUndelivered], {{"receiver", receiver}}, static_cast<double>(n));
  }
}
void add_result_ages(std::vector<MetricFamily>& f, const MetricsSnapshot& s) {
  const auto now = s.now.value_or(std::chrono::system_clock::now());
  for (const auto& t : s.targets) {
    if (!t.last_known) continue;
    add(f[kResultAge], {{"target", t.config.name}},
        std::max(0.0, std::chrono::duration<double>(now - t.last_known->checked_at).count()));
  }
}

// The series of one target.
void add_target(std::vector<MetricFamily>& f, const TargetStatus& t) {
  const std::string& name = t.config.name;
  add(f[kChecks], {{"target", name}}, static_cast<double>(t.checks_total));
  std::map<std::string, std::uint64_t> reasons;
  for (const char* reason : kReasons) {
    reasons[reason] = 0;
  }
  for (const auto& [reason, n] : t.errors_by_reason) {
    reasons[reason] = n;
  }
  for (const auto& [reason, n] : reasons) {
    add(f[kErrors], {{"target", name}, {"reason", reason}}, static_cast<double>(n));
  }
  if (t.last_success) {
    add(f[kLastSuccess], {{"target", name}}, seconds(*t.last_success));
  }
  if (!t.last_result) {
    return;  // not checked yet: nothing known about it
  }
  const TargetResult& r = *t.last_result;
  add(f[kTargetUp], {{"target", name}}, target_reached(r) ? 1 : 0);
  add(f[kLastCheck], {{"target", name}}, seconds(r.checked_at));
  add(f[kDuration], {{"target", name}}, r.duration_seconds);
  add_known_result(f, t);
}

// The series that are not about one target.
void add_global(std::vector<MetricFamily>& f, const MetricsSnapshot& s) {
  add(f[kBuildInfo], {{"version", s.version}}, 1);
  for (const auto& m : s.migrations) {
    add(f[kHeads], {{"migrations", m.name}}, static_cast<double>(m.heads.size()));
    add_migrations_health(f, m);
  }
  add(f[kReloadSuccess], {}, s.config_reload_success ? 1 : 0);
  if (s.last_reload_success) {
    add(f[kReloadTimestamp], {}, seconds(*s.last_reload_success));
  }
  add(f[kShardInfo], {{"shard", s.shard}, {"shards", std::to_string(s.shards)}}, 1);
  for (const auto& [key, n] : s.alert_notifications) {
    add(f[kNotifications], {{"receiver", key.first}, {"outcome", key.second}},
        static_cast<double>(n));
  }
  add_alert_undelivered(f, s);
  add_result_ages(f, s);
  add(f[kConnectionsRejected], {}, static_cast<double>(s.http_connections_rejected));
}

std::string serialize(const std::vector<MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

// Per family, the text TextSerializer writes for it: the "# HELP" and "# TYPE" lines (the
// header), then the samples.
std::vector<std::string> serialize_each(const std::vector<MetricFamily>& families,
                                        bool with_header) {
  std::vector<std::string> out;
  out.reserve(families.size());
  for (const auto& family : families) {
    std::string text = serialize({family});
    if (!with_header) {
      std::size_t cut = 0;
      for (int line = 0; line < 2 && cut != std::string::npos; ++line) {
        cut = text.find('\n', cut);
        cut = cut == std::string::npos ? cut : cut + 1;
      }
      text.erase(0, cut == std::string::npos ? text.size() : cut);
    }
    out.push_back(std::move(text));
  }
  return out;
}

}  // namespace

std::vector<MetricFamily> build_metric_families(const MetricsSnapshot& s) {
  std::vector<MetricFamily> f = empty_families();
  add_global(f, s);
  for (const auto& t : s.targets) {
    add_target(f, t);
  }
  return f;
}

std::string render_metrics(const MetricsSnapshot& snapshot) {
  return serialize(build_metric_families(snapshot));
}

struct MetricsRenderer::Impl {
  std::vector<std::string> headers = serialize_each(empty_families(), true);
  PartCache<std::vector<std::string>> targets;  // per target: its samples per family
};

MetricsRenderer::MetricsRenderer() : impl_(std::make_unique<Impl>()) {}
MetricsRenderer::~MetricsRenderer() = default;

std::string MetricsRenderer::render(const MetricsSnapshot& snapshot) {
  std::vector<MetricFamily> global = empty_families();
  add_global(global, snapshot);
  const std::vector<std::string> global_text = serialize_each(global, false);
  std::vector<const std::vector<std::string>*> parts;
  parts.reserve(snapshot.targets.size());
  std::size_t size = 0;
  for (const auto& t : snapshot.targets) {
    const std::string key = t.revision == 0 ? "" : std::to_string(t.revision);
    const auto& part = impl_->targets.get(t.config.name, key, [&t] {
      std::vector<MetricFamily> f = empty_families();
      add_target(f, t);
      return serialize_each(f, false);
    });
    for (const auto& text : part) size += text.size();
    parts.push_back(&part);
  }
  std::string out;
  out.reserve(size + 8192);
  for (std::size_t i = 0; i < kFamilyCount; ++i) {
    out += impl_->headers[i];
    out += global_text[i];
    for (const auto* part : parts) out += (*part)[i];
  }
  impl_->targets.finish();
  return out;
}

}  // namespace driftwatch
