// Metrics text built from scheduler state: families and HELP lines, per-target series, removed
// targets disappearing, label escaping.
#include "driftwatch/metrics.hpp"

#include <doctest/doctest.h>

#include <sstream>

using namespace driftwatch;

namespace {

// The scheduler shares results read-only; a test edits its own copy.
TargetResult& edit_result(TargetStatus& status) {
  auto copy = std::make_shared<TargetResult>(*status.last_result);
  status.last_result = copy;
  if (status.last_known) status.last_known = copy;
  return *copy;
}

Finding finding(Severity severity, const std::string& risk) {
  Finding f;
  f.kind = "extra";
  f.object = "public.t.c";
  f.object_type = ObjectType::kColumn;
  f.severity = severity;
  f.risk = risk;
  f.message = "column public.t.c is not expected";
  return f;
}

TargetStatus checked(const std::string& name, const std::string& status) {
  TargetStatus s;
  s.config.name = name;
  TargetResult r;
  r.name = name;
  r.status = status;
  r.checked_at = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  r.duration_seconds = 0.25;
  r.revision.state = "at_head";
  r.revision.current = {"a1"};
  r.revision.expected_heads = {"a1"};
  s.last_result = std::make_shared<const TargetResult>(r);
  if (status == "ok" || status == "drift") s.last_known = s.last_result;
  s.checks_total = 3;
  if (status != "error") s.last_success = r.checked_at;
  return s;
}

MetricsSnapshot fleet() {
  MetricsSnapshot snap;
  snap.version = "9.8.7";
  snap.targets.push_back(checked("prod", "ok"));
  auto dev = checked("dev", "drift");
  edit_result(dev).revision.state = "behind";
  edit_result(dev).revision.behind_by = 2;
  edit_result(dev).revision.current = {"a0", "b0"};
  edit_result(dev).revision.expected_heads = {"a1", "b1"};
  edit_result(dev).findings = {finding(Severity::kCritical, "not_null_violation"),
                               finding(Severity::kCritical, "not_null_violation"),
                               finding(Severity::kInfo, "none")};
  snap.targets.push_back(dev);
  auto down = checked("down", "error");
  edit_result(down).revision = {};
  edit_result(down).error = CheckError{"connect", "unreachable"};
  down.errors_by_reason["connect"] = 3;
  down.consecutive_failures = 3;
  snap.targets.push_back(down);
  TargetStatus fresh;
  fresh.config.name = "fresh";
  snap.targets.push_back(fresh);
  MigrationsStatus m;
  m.name = "warehouse";
  m.heads = {"a1", "b1"};
  snap.migrations.push_back(m);
  snap.last_reload_success =
      std::chrono::system_clock::time_point(std::chrono::seconds(1600000000));
  snap.shard = "1";
  snap.shards = 3;
  snap.alert_notifications[{"slack", "sent"}] = 5;
  snap.now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000060));
  return snap;
}

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (l == line) return true;
  }
  return false;
}

bool mentions(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("every family has HELP and TYPE") {
  const std::string text = render_metrics(fleet());
  const std::vector<std::pair<std::string, std::string>> families = {
      {"build_info", "gauge"},
      {"target_up", "gauge"},
      {"drift_detected", "gauge"},
      {"findings", "gauge"},
      {"findings_by_risk", "gauge"},
      {"revision_at_head", "gauge"},
      {"revision_behind", "gauge"},
      {"revision_state", "gauge"},
      {"revision_info", "gauge"},
      {"migration_heads", "gauge"},
      {"last_check_timestamp_seconds", "gauge"},
      {"last_success_timestamp_seconds", "gauge"},
      {"check_duration_seconds", "gauge"},
      {"checks_total", "counter"},
      {"check_errors_total", "counter"},
      {"config_reload_success", "gauge"},
      {"config_last_reload_success_timestamp_seconds", "gauge"},
      {"shard_info", "gauge"},
      {"alert_notifications_total", "counter"},
      {"alert_undelivered", "gauge"},
      {"last_result_age_seconds", "gauge"},
  };
  for (const auto& [name, type] : families) {
    CHECK_MESSAGE(mentions(text, "# HELP driftwatch_" + name + " "), name);
    CHECK_MESSAGE(has_line(text, "# TYPE driftwatch_" + name + " " + type), name);
  }
}

TEST_CASE("per-target series reflect the last results") {
  const std::string text = render_metrics(fleet());
  CHECK(has_line(text, "driftwatch_build_info{version=\"9.8.7\"} 1"));
  CHECK(has_line(text, "driftwatch_target_up{target=\"prod\"} 1"));
  CHECK(has_line(text, "driftwatch_target_up{target=\"down\"} 0"));
  CHECK(has_line(text, "driftwatch_drift_detected{target=\"prod\"} 0"));
  CHECK(has_line(text, "driftwatch_drift_detected{target=\"dev\"} 1"));
  CHECK(has_line(text, "driftwatch_findings{target=\"dev\",severity=\"critical\"} 2"));
  CHECK(has_line(text, "driftwatch_findings{target=\"dev\",severity=\"warning\"} 0"));
  CHECK(has_line(text, "driftwatch_findings{target=\"dev\",severity=\"info\"} 1"));
  CHECK(has_line(text, "driftwatch_findings{target=\"prod\",severity=\"critical\"} 0"));
  CHECK(
      has_line(text, "driftwatch_findings_by_risk{target=\"dev\",risk=\"not_null_violation\"} 2"));
  CHECK(has_line(text, "driftwatch_findings_by_risk{target=\"dev\",risk=\"type_mismatch\"} 0"));
  CHECK(has_line(text, "driftwatch_revision_at_head{target=\"dev\"} 0"));
  CHECK(has_line(text, "driftwatch_revision_at_head{target=\"prod\"} 1"));
  CHECK(has_line(text, "driftwatch_revision_behind{target=\"dev\"} 2"));
  CHECK(has_line(text, "driftwatch_revision_state{target=\"dev\",state=\"behind\"} 1"));
  CHECK(has_line(text, "driftwatch_revision_state{target=\"dev\",state=\"at_head\"} 0"));
  CHECK(has_line(text, "driftwatch_revision_state{target=\"dev\",state=\"migrating\"} 0"));
  CHECK(has_line(
      text, "driftwatch_revision_info{target=\"dev\",current=\"a0,b0\",expected=\"a1,b1\"} 1"));
  CHECK(has_line(text, "driftwatch_migration_heads{migrations=\"warehouse\"} 2"));
  CHECK(has_line(text, "driftwatch_last_check_timestamp_seconds{target=\"prod\"} 1700000000"));
  CHECK(has_line(text, "driftwatch_last_success_timestamp_seconds{target=\"prod\"} 1700000000"));
  CHECK(has_line(text, "driftwatch_check_duration_seconds{target=\"prod\"} 0.25"));
  CHECK(has_line(text, "driftwatch_checks_total{target=\"dev\"} 3"));
  CHECK(has_line(text, "driftwatch_checks_total{target=\"fresh\"} 0"));
  CHECK(has_line(text, "driftwatch_check_errors_total{target=\"down\",reason=\"connect\"} 3"));
  CHECK(has_line(text, "driftwatch_check_errors_total{target=\"down\",reason=\"timeout\"} 0"));
  CHECK(has_line(text, "driftwatch_config_reload_success 1"));
  CHECK(has_line(text, "driftwatch_config_last_reload_success_timestamp_seconds 1600000000"));
  CHECK(has_line(text, "driftwatch_shard_info{shard=\"1\",shards=\"3\"} 1"));
  CHECK(has_line(text,
                 "driftwatch_alert_notifications_total{receiver=\"slack\",outcome=\"sent\"} 5"));
}

TEST_CASE("every revision state is listed, exactly one is 1") {
  const std::string text = render_metrics(fleet());
  int ones = 0;
  int zeros = 0;
  for (const char* state : {"at_head", "behind", "unknown_revision", "multiple_heads_in_db",
                            "no_version_table", "empty_version_table", "migrating"}) {
    const std::string prefix =
        std::string("driftwatch_revision_state{target=\"prod\",state=\"") + state + "\"} ";
    if (has_line(text, prefix + "1")) ++ones;
    if (has_line(text, prefix + "0")) ++zeros;
  }
  CHECK(ones == 1);
  CHECK(zeros == 6);
}

TEST_CASE("failed and unchecked targets report no stale drift values") {
  const std::string text = render_metrics(fleet());
  CHECK_FALSE(mentions(text, "driftwatch_drift_detected{target=\"down\"}"));
  CHECK_FALSE(mentions(text, "driftwatch_findings{target=\"down\""));
  CHECK_FALSE(mentions(text, "driftwatch_revision_state{target=\"down\""));
  CHECK_FALSE(mentions(text, "driftwatch_last_success_timestamp_seconds{target=\"down\"}"));
  CHECK_FALSE(mentions(text, "driftwatch_target_up{target=\"fresh\"}"));
  CHECK(mentions(text, "driftwatch_check_errors_total{target=\"fresh\",reason=\"connect\"} 0"));
}

TEST_CASE("a removed target's series disappear on the next scrape") {
  MetricsSnapshot snap = fleet();
  CHECK(mentions(render_metrics(snap), "target=\"dev\""));
  snap.targets.erase(snap.targets.begin() + 1);
  const std::string text = render_metrics(snap);
  CHECK_FALSE(mentions(text, "target=\"dev\""));
  CHECK(mentions(text, "target=\"prod\""));
}

TEST_CASE("label values are escaped") {
  MetricsSnapshot snap;
  snap.version = "1";
  snap.targets.push_back(checked("we\"ird\\name\nx", "ok"));
  const std::string text = render_metrics(snap);
  CHECK(has_line(text, "driftwatch_target_up{target=\"we\\\"ird\\\\name\\nx\"} 1"));
}

TEST_CASE("reload failure and alert counters") {
  MetricsSnapshot snap;
  snap.version = "1";
  snap.config_reload_success = false;
  AlertNotificationCounters counters;
  counters.record("pagerduty", "failed");
  counters.record("pagerduty", "failed");
  counters.record("pagerduty", "sent");
  snap.alert_notifications = counters.snapshot();
  const std::string text = render_metrics(snap);
  CHECK(has_line(text, "driftwatch_config_reload_success 0"));
  CHECK(has_line(
      text, "driftwatch_alert_notifications_total{receiver=\"pagerduty\",outcome=\"failed\"} 2"));
  CHECK(has_line(
      text, "driftwatch_alert_notifications_total{receiver=\"pagerduty\",outcome=\"sent\"} 1"));
  CHECK_FALSE(mentions(text, "\ndriftwatch_config_last_reload_success_timestamp_seconds "));
}

TEST_CASE("MetricsRenderer reuses unchanged targets and always equals render_metrics") {
  MetricsSnapshot snap = fleet();
  std::uint64_t revision = 10;
  for (auto& t : snap.targets) t.revision = ++revision;
  MetricsRenderer renderer;
  CHECK(renderer.render(snap) == render_metrics(snap));
  CHECK(renderer.render(snap) == render_metrics(snap));

  // A new result for "dev" with a new revision shows; the others are reused.
  TargetResult& dev = edit_result(snap.targets[1]);
  dev.findings.clear();
  dev.status = "ok";
  snap.targets[1].revision = ++revision;
  snap.targets[1].checks_total = 4;
  std::string text = renderer.render(snap);
  CHECK(text == render_metrics(snap));
  CHECK(has_line(text, "driftwatch_drift_detected{target=\"dev\"} 0"));

  // Added and removed targets, and global series changing.
  snap.targets.erase(snap.targets.begin());
  auto added = checked("zeta", "drift");
  added.revision = ++revision;
  snap.targets.push_back(added);
  snap.config_reload_success = false;
  text = renderer.render(snap);
  CHECK(text == render_metrics(snap));
  CHECK_FALSE(mentions(text, "target=\"prod\""));
  CHECK(has_line(text, "driftwatch_drift_detected{target=\"zeta\"} 1"));

  // The cache is keyed by revision: a changed status under the same revision would be stale,
  // which is why the scheduler gives every change a new one. Revision 0 is never reused.
  for (auto& t : snap.targets) t.revision = 0;
  renderer.render(snap);
  edit_result(snap.targets[0]).status = "drift";
  CHECK(renderer.render(snap) == render_metrics(snap));
}

TEST_CASE("unknown is not resolved: a failed or migrating check keeps the last known series") {
  MetricsSnapshot snap = fleet();
  *snap.now += std::chrono::seconds(540);
  snap.alert_undelivered = {{"pagerduty", 2}, {"slack", 0}};
  // dev had drift; its next check fails, then the one after finds it migrating.
  TargetStatus& dev = snap.targets.at(1);
  TargetResult failed;
  failed.name = "dev";
  failed.status = "error";
  failed.error = CheckError{"connect", "unreachable"};
  failed.checked_at = std::chrono::system_clock::time_point(std::chrono::seconds(1700000300));
  dev.last_result = std::make_shared<const TargetResult>(failed);
  std::string text = render_metrics(snap);
  CHECK(has_line(text, "driftwatch_target_up{target=\"dev\"} 0"));
  CHECK(has_line(text, "driftwatch_drift_detected{target=\"dev\"} 1"));
  CHECK(has_line(text, "driftwatch_findings{target=\"dev\",severity=\"critical\"} 2"));
  CHECK(has_line(text, "driftwatch_revision_behind{target=\"dev\"} 2"));
  CHECK(has_line(text, "driftwatch_revision_state{target=\"dev\",state=\"behind\"} 1"));
  // Age of what those series show: the drift check at 1700000000, scraped at 1700000600.
  CHECK(has_line(text, "driftwatch_last_result_age_seconds{target=\"dev\"} 600"));
  CHECK(has_line(text, "driftwatch_last_result_age_seconds{target=\"prod\"} 600"));
  CHECK_FALSE(mentions(text, "driftwatch_last_result_age_seconds{target=\"down\"}"));
  CHECK(has_line(text, "driftwatch_alert_undelivered{receiver=\"pagerduty\"} 2"));
  CHECK(has_line(text, "driftwatch_alert_undelivered{receiver=\"slack\"} 0"));

  TargetResult moving = failed;
  moving.status = "migrating";
  moving.error.reset();
  moving.revision.state = "migrating";
  dev.last_result = std::make_shared<const TargetResult>(moving);
  text = render_metrics(snap);
  CHECK(has_line(text, "driftwatch_target_up{target=\"dev\"} 1"));
  CHECK(has_line(text, "driftwatch_findings{target=\"dev\",severity=\"critical\"} 2"));
  CHECK(has_line(text, "driftwatch_revision_behind{target=\"dev\"} 2"));
  // The state is the current one, so rules can tell a migration from a finished check.
  CHECK(has_line(text, "driftwatch_revision_state{target=\"dev\",state=\"migrating\"} 1"));
  CHECK(has_line(text, "driftwatch_revision_state{target=\"dev\",state=\"behind\"} 0"));
}
