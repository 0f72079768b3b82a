// Alert policy: debounce, repeat, resolve, migrating, acks, findings changes, routing.
#include "driftwatch/alert_policy.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace driftwatch {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

const SystemTime kT0 = SystemTime(std::chrono::seconds(1'700'000'000));

Finding finding(const std::string& object, Severity severity, const std::string& kind = "extra",
                const std::string& attribute = "") {
  Finding f;
  f.kind = kind;
  f.object_type = ObjectType::kColumn;
  f.object = object;
  f.attribute = attribute;
  f.severity = severity;
  f.risk = severity == Severity::kCritical ? risk::kNotNullViolation : risk::kNone;
  f.message = "Column " + object + " is not expected.";
  f.fix_sql = "ALTER TABLE x DROP COLUMN y;";
  return f;
}

TargetResult ok(const std::string& name = "prod") {
  TargetResult r;
  r.name = name;
  r.status = check_status::kOk;
  r.revision.state = revision_state::kAtHead;
  r.revision.current = {"abc"};
  r.revision.expected_heads = {"abc"};
  return r;
}

TargetResult drift(std::vector<Finding> findings, const std::string& name = "prod") {
  TargetResult r = ok(name);
  r.status = check_status::kDrift;
  r.findings = std::move(findings);
  return r;
}

TargetResult migrating(const std::string& name = "prod") {
  TargetResult r = ok(name);
  r.status = check_status::kMigrating;
  r.revision.state = revision_state::kMigrating;
  return r;
}

TargetResult down(const std::string& name = "prod") {
  TargetResult r;
  r.name = name;
  r.status = check_status::kError;
  r.error = CheckError{error_reason::kConnect, "cannot connect to target prod"};
  return r;
}

AlertPolicyConfig config(int for_checks = 2) {
  AlertPolicyConfig c;
  c.for_checks = for_checks;
  c.repeat_interval = hours(4);
  c.status_page_url = "https://dw.example/";
  c.receivers = {{"slack", receiver_kind::kSlack, Severity::kWarning},
                 {"pagerduty", receiver_kind::kPagerDuty, Severity::kCritical}};
  return c;
}

std::vector<std::string> receivers_of(const std::vector<Notification>& out) {
  std::vector<std::string> names;
  for (const auto& n : out) names.push_back(n.receiver + ":" + n.state + ":" + n.reason);
  std::sort(names.begin(), names.end());
  return names;
}

const std::map<std::string, std::string> kNoLabels;

// Feeds a result and lets every receiver accept what it was sent (the normal case).
std::vector<Notification> observed(AlertPolicy& policy, const TargetResult& result,
                                   const std::map<std::string, std::string>& labels, SystemTime now,
                                   const std::string& migrations = "") {
  std::vector<Notification> out = policy.observe(result, labels, now, migrations);
  for (const Notification& n : out) policy.delivered(n);
  return out;
}

TEST_CASE("debounce: fires only after for_checks consecutive failing checks") {
  AlertPolicy policy(config(3));
  const auto bad = drift({finding("public.t.c", Severity::kCritical)});
  CHECK(observed(policy, bad, kNoLabels, kT0).empty());
  CHECK(observed(policy, bad, kNoLabels, kT0 + minutes(5)).empty());
  const auto out = observed(policy, bad, kNoLabels, kT0 + minutes(10));
  CHECK(receivers_of(out) == std::vector<std::string>{"pagerduty:firing:new", "slack:firing:new"});
  const Notification& n = out.at(0);
  CHECK(n.alertname == alertname::kSchemaDrift);
  CHECK(n.target == "prod");
  CHECK(n.severity == Severity::kCritical);
  CHECK(n.labels == std::map<std::string, std::string>{{"alertname", "DriftwatchSchemaDrift"},
                                                       {"target", "prod"},
                                                       {"severity", "critical"}});
  CHECK(n.starts_at == kT0);  // the first failing check, not the one that fired
  CHECK(n.dedup_key == "driftwatch/prod/DriftwatchSchemaDrift");
  CHECK(n.status_page_link == "https://dw.example/targets/prod");
  CHECK(n.top_findings.size() == 1);
  CHECK(n.annotations.at("findings").find("fix: ALTER TABLE") != std::string::npos);
  CHECK(n.annotations.at("runbook_url") == "docs/runbook.md#driftwatchschemadrift");
}

TEST_CASE("debounce: an ok check in between resets the count") {
  AlertPolicy policy(config(2));
  const auto bad = drift({finding("public.t.c", Severity::kCritical)});
  CHECK(observed(policy, bad, kNoLabels, kT0).empty());
  CHECK(observed(policy, ok(), kNoLabels, kT0 + minutes(5)).empty());
  CHECK(observed(policy, bad, kNoLabels, kT0 + minutes(10)).empty());
  CHECK(observed(policy, bad, kNoLabels, kT0 + minutes(15)).size() == 2);
}

TEST_CASE("for_checks per severity") {
  AlertPolicyConfig c = config(3);
  c.for_checks_by_severity[Severity::kCritical] = 1;
  AlertPolicy policy(c);
  CHECK(observed(policy, drift({finding("public.t.c", Severity::kCritical)}), kNoLabels, kT0)
            .size() == 2);
  AlertPolicy warning_policy(c);
  const auto warn = drift({finding("public.t.c", Severity::kWarning)});
  CHECK(observed(warning_policy, warn, kNoLabels, kT0).empty());
  CHECK(observed(warning_policy, warn, kNoLabels, kT0 + minutes(1)).empty());
  CHECK(receivers_of(observed(warning_policy, warn, kNoLabels, kT0 + minutes(2))) ==
        std::vector<std::string>{"slack:firing:new"});
}

TEST_CASE("repeat: still-firing alert is re-sent after repeat_interval, not before") {
  AlertPolicy policy(config(1));
  const auto bad = drift({finding("public.t.c", Severity::kCritical)});
  CHECK(observed(policy, bad, kNoLabels, kT0).size() == 2);
  CHECK(observed(policy, bad, kNoLabels, kT0 + minutes(5)).empty());
  CHECK(observed(policy, bad, kNoLabels, kT0 + hours(3)).empty());
  CHECK(receivers_of(observed(policy, bad, kNoLabels, kT0 + hours(4))) ==
        std::vector<std::string>{"pagerduty:firing:repeat", "slack:firing:repeat"});
  CHECK(observed(policy, bad, kNoLabels, kT0 + hours(5)).empty());
}

TEST_CASE("resolve: one resolution per notified receiver when the condition clears") {
  AlertPolicy policy(config(1));
  const auto bad = drift({finding("public.t.c", Severity::kCritical)});
  observed(policy, bad, kNoLabels, kT0);
  const auto out = observed(policy, ok(), kNoLabels, kT0 + minutes(5));
  CHECK(receivers_of(out) ==
        std::vector<std::string>{"pagerduty:resolved:resolved", "slack:resolved:resolved"});
  REQUIRE(out.at(0).ends_at.has_value());
  CHECK(*out.at(0).ends_at == kT0 + minutes(5));
  CHECK(out.at(0).dedup_key == "driftwatch/prod/DriftwatchSchemaDrift");
  CHECK(observed(policy, ok(), kNoLabels, kT0 + minutes(10)).empty());
  // Accepted (observed() delivers): nothing owed, the alert is forgotten.
  CHECK(policy.pending_deliveries().empty());
  CHECK(policy.state().alerts.empty());
}

TEST_CASE("an alert that never fired resolves silently") {
  AlertPolicy policy(config(3));
  const auto bad = drift({finding("public.t.c", Severity::kCritical)});
  observed(policy, bad, kNoLabels, kT0);
  CHECK(observed(policy, ok(), kNoLabels, kT0 + minutes(5)).empty());
  CHECK(policy.state().alerts.empty());
}

TEST_CASE("migrating: neither counts up, nor resets, nor resolves, nor sends") {
  AlertPolicy policy(config(2));
  const auto bad = drift({finding("public.t.c", Severity::kCritical)});
  CHECK(observed(policy, bad, kNoLabels, kT0).empty());
  CHECK(observed(policy, migrating(), kNoLabels, kT0 + minutes(1)).empty());
  // Still counts as the second consecutive failing check: migrating did not reset.
  CHECK(observed(policy, bad, kNoLabels, kT0 + minutes(2)).size() == 2);
  // Firing: migrating does not resolve it, even when repeat is due.
  CHECK(observed(policy, migrating(), kNoLabels, kT0 + hours(10)).empty());
  CHECK(policy.state().alerts.at({"prod", alertname::kSchemaDrift}).firing);
}

TEST_CASE("findings change: update with the same dedup key, not a new alert") {
  AlertPolicy policy(config(1));
  observed(policy, drift({finding("public.t.c", Severity::kCritical)}), kNoLabels, kT0);
  const auto out = observed(policy,
                            drift({finding("public.t.c", Severity::kCritical),
                                   finding("public.t.d", Severity::kCritical)}),
                            kNoLabels, kT0 + minutes(5));
  CHECK(receivers_of(out) ==
        std::vector<std::string>{"pagerduty:firing:update", "slack:firing:update"});
  CHECK(out.at(0).dedup_key == "driftwatch/prod/DriftwatchSchemaDrift");
  CHECK(out.at(0).starts_at == kT0);
  CHECK(policy.state().alerts.size() == 1);
  // Same findings in another order: no update.
  CHECK(policy
            .observe(drift({finding("public.t.d", Severity::kCritical),
                            finding("public.t.c", Severity::kCritical)}),
                     kNoLabels, kT0 + minutes(10))
            .empty());
}

TEST_CASE("severity drop: receivers above the new severity get a resolution") {
  AlertPolicy policy(config(1));
  observed(policy, drift({finding("public.t.c", Severity::kCritical)}), kNoLabels, kT0);
  const auto out = observed(policy, drift({finding("public.t.i", Severity::kWarning)}), kNoLabels,
                            kT0 + minutes(5));
  CHECK(receivers_of(out) ==
        std::vector<std::string>{"pagerduty:resolved:resolved", "slack:firing:update"});
  for (const auto& n : out) {
    if (n.receiver == "slack") {
      CHECK(n.severity == Severity::kWarning);
      REQUIRE(n.previous_severity.has_value());
      CHECK(*n.previous_severity == Severity::kCritical);
    }
  }
}

TEST_CASE("routing by min_severity") {
  AlertPolicyConfig c = config(1);
  c.receivers.push_back({"webhook", receiver_kind::kWebhook, Severity::kInfo});
  AlertPolicy policy(c);
  const auto warn = drift({finding("public.t.w", Severity::kWarning)});
  CHECK(receivers_of(policy.observe(warn, {{"team", "data"}}, kT0)) ==
        std::vector<std::string>{"slack:firing:new", "webhook:firing:new"});
  AlertPolicy policy2(c);
  const auto bad = drift({finding("public.t.c", Severity::kCritical)});
  CHECK(receivers_of(policy2.observe(bad, kNoLabels, kT0)) ==
        std::vector<std::string>{"pagerduty:firing:new", "slack:firing:new", "webhook:firing:new"});
}

TEST_CASE("revision and error conditions map to their alert names") {
  AlertPolicy policy(config(1));
  TargetResult behind = ok();
  behind.status = check_status::kDrift;
  behind.revision.state = revision_state::kBehind;
  behind.revision.behind_by = 2;
  behind.revision.pending = {"r2", "r3"};
  CHECK(observed(policy, behind, kNoLabels, kT0).empty());  // its grace period first
  auto out = observed(policy, behind, kNoLabels, kT0 + hours(2));
  REQUIRE(out.size() == 1);  // warning: slack only
  CHECK(out[0].alertname == alertname::kRevisionBehind);
  CHECK(out[0].annotations.at("summary") == "prod is 2 migration(s) behind head");

  // An error does not resolve the behind alert (it says nothing about the schema) but opens
  // TargetDown.
  out = observed(policy, down(), kNoLabels, kT0 + hours(2) + minutes(1));
  REQUIRE(out.size() == 1);
  CHECK(out[0].alertname == alertname::kTargetDown);
  CHECK(out[0].annotations.at("description") == "cannot connect to target prod");
  // Back up and at head: both resolve.
  out = observed(policy, ok(), kNoLabels, kT0 + hours(2) + minutes(2));
  std::vector<std::string> names;
  for (const auto& n : out) names.push_back(n.alertname + ":" + n.state);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"DriftwatchRevisionBehind:resolved",
                                          "DriftwatchTargetDown:resolved"});

  TargetResult heads = ok();
  heads.revision.expected_heads = {"a", "b"};
  CHECK(alert_conditions(heads).empty());  // the migrations source's, not the target's
  bool known = false;
  CHECK(source_conditions(heads, "warehouse", &known).at(0).alertname == alertname::kMultipleHeads);
  CHECK(known);
  TargetResult no_table = ok();
  no_table.revision.state = revision_state::kNoVersionTable;
  REQUIRE(alert_conditions(no_table).size() == 1);
  CHECK(alert_conditions(no_table).at(0).alertname == alertname::kVersionTableProblem);
  CHECK(alert_conditions(no_table).at(0).labels.at("state") == "no_version_table");
  TargetResult unknown = ok();
  unknown.revision.state = revision_state::kUnknownRevision;
  CHECK(alert_conditions(unknown).at(0).alertname == alertname::kUnknownRevision);
  CHECK(alert_conditions(migrating()).empty());
}

TEST_CASE("ack silences paging receivers until expiry") {
  AlertPolicyConfig c = config(1);
  c.receivers.push_back({"alertmanager", receiver_kind::kAlertmanager, Severity::kInfo});
  AlertPolicy policy(c);
  const auto bad = drift({finding("public.t.c", Severity::kCritical)});
  observed(policy, bad, kNoLabels, kT0);
  policy.acknowledge("prod", "alice", "fixing", kT0 + hours(8), kT0 + minutes(1));
  REQUIRE(policy.ack("prod", kT0 + minutes(2)).has_value());
  // Repeat due at 4h but acked: only the Alertmanager refresh, carrying the ack.
  auto out = observed(policy, bad, kNoLabels, kT0 + hours(5));
  CHECK(receivers_of(out) == std::vector<std::string>{"alertmanager:firing:refresh"});
  CHECK(out.at(0).annotations.at("ack_owner") == "alice");
  // Expired: paging resumes (repeat is overdue).
  out = observed(policy, bad, kNoLabels, kT0 + hours(8));
  CHECK(receivers_of(out) == std::vector<std::string>{"alertmanager:firing:refresh",
                                                      "pagerduty:firing:repeat",
                                                      "slack:firing:repeat"});
  CHECK_FALSE(policy.ack("prod", kT0 + hours(8)).has_value());
}

TEST_CASE("ack is broken by a change of findings") {
  AlertPolicy policy(config(1));
  observed(policy, drift({finding("public.t.c", Severity::kCritical)}), kNoLabels, kT0);
  const Acknowledgement ack = policy.acknowledge("prod", "bob", "known", kT0 + hours(24), kT0);
  CHECK_FALSE(ack.findings_fingerprint.empty());
  // Same findings: silenced, even a new alert opening on the target.
  CHECK(observed(policy, drift({finding("public.t.c", Severity::kCritical)}), kNoLabels,
                 kT0 + hours(5))
            .empty());
  const auto out = observed(policy,
                            drift({finding("public.t.c", Severity::kCritical),
                                   finding("public.t.x", Severity::kCritical)}),
                            kNoLabels, kT0 + hours(6));
  CHECK(receivers_of(out) ==
        std::vector<std::string>{"pagerduty:firing:update", "slack:firing:update"});
  CHECK_FALSE(policy.ack("prod", kT0 + hours(6)).has_value());
}

TEST_CASE("an alert opened while acked pages once the ack expires; resolutions are not silenced") {
  AlertPolicy policy(config(1));
  observed(policy, ok(), kNoLabels, kT0);
  policy.acknowledge("prod", "carol", "maintenance", kT0 + hours(1), kT0);
  // Findings changed from none to some: that breaks the ack, the alert pages.
  CHECK(
      policy
          .observe(drift({finding("public.t.c", Severity::kCritical)}), kNoLabels, kT0 + minutes(1))
          .size() == 2);
  // Ack the firing alert; resolution still goes out.
  policy.acknowledge("prod", "carol", "maintenance", kT0 + hours(1), kT0 + minutes(2));
  CHECK(receivers_of(observed(policy, ok(), kNoLabels, kT0 + minutes(3))) ==
        std::vector<std::string>{"pagerduty:resolved:resolved", "slack:resolved:resolved"});
}

TEST_CASE("findings_fingerprint is order-free and ignores messages") {
  Finding a = finding("public.t.a", Severity::kCritical);
  Finding b = finding("public.t.b", Severity::kWarning, "changed", "nullable");
  CHECK(findings_fingerprint({a, b}) == findings_fingerprint({b, a}));
  Finding a2 = a;
  a2.message = "other words";
  a2.severity = Severity::kInfo;
  CHECK(findings_fingerprint({a2, b}) == findings_fingerprint({a, b}));
  Finding b2 = b;
  b2.attribute = "type";
  CHECK(findings_fingerprint({a, b2}) != findings_fingerprint({a, b}));
  CHECK(findings_fingerprint({}).empty());
}

TEST_CASE("alert_policy_config names receivers by kind and index") {
  AlertsConfig alerts;
  alerts.for_checks = 4;
  alerts.for_checks_by_severity[Severity::kCritical] = 1;
  alerts.alertmanager.push_back({{"http://a:9093"}});
  alerts.slack.resize(2);
  alerts.slack[1].min_severity = Severity::kCritical;
  alerts.pagerduty.resize(1);
  const AlertPolicyConfig c = alert_policy_config(alerts);
  std::vector<std::string> names;
  for (const auto& r : c.receivers) names.push_back(r.name);
  CHECK(names == std::vector<std::string>{"alertmanager", "slack", "slack_1", "pagerduty"});
  CHECK(c.receivers[2].min_severity == Severity::kCritical);
  CHECK(c.for_checks_for(Severity::kCritical) == 1);
  CHECK(c.for_checks_for(Severity::kWarning) == 4);
}

}  // namespace
}  // namespace driftwatch

namespace driftwatch {
namespace {

AlertPolicyConfig with_alertmanager(int for_checks = 1) {
  AlertPolicyConfig c = config(for_checks);
  c.receivers.push_back({"alertmanager", receiver_kind::kAlertmanager, Severity::kInfo});
  return c;
}

TEST_CASE("delivery: a page counts only once accepted; until then each check supersedes it") {
  AlertPolicy policy(config(1));
  const auto bad = drift({finding("public.t.c", Severity::kCritical)});
  const auto first = policy.observe(bad, kNoLabels, kT0);
  CHECK(receivers_of(first) ==
        std::vector<std::string>{"pagerduty:firing:new", "slack:firing:new"});
  CHECK(policy.pending_deliveries().size() == 2);
  CHECK(policy.state().alerts.at({"prod", alertname::kSchemaDrift}).notified.empty());
  // Not accepted: the next check sends it again (same key: it replaces the pending one).
  const auto second = policy.observe(bad, kNoLabels, kT0 + minutes(5));
  CHECK(receivers_of(second) ==
        std::vector<std::string>{"pagerduty:firing:new", "slack:firing:new"});
  CHECK(policy.pending_deliveries().size() == 2);
  // The older notification accepted late: the receiver counts as told, the newer stays owed.
  policy.delivered(first.at(0));
  CHECK(policy.state()
            .alerts.at({"prod", alertname::kSchemaDrift})
            .notified.count(first.at(0).receiver) == 1);
  CHECK(policy.pending_deliveries().size() == 2);
  for (const auto& n : second) policy.delivered(n);
  CHECK(policy.pending_deliveries().empty());
  // Accepted: no repeat before repeat_interval.
  CHECK(policy.observe(bad, kNoLabels, kT0 + minutes(10)).empty());
}

TEST_CASE("delivery: a resolution goes to receivers whose page is still pending") {
  AlertPolicy policy(config(1));
  policy.observe(drift({finding("public.t.c", Severity::kCritical)}), kNoLabels, kT0);
  const auto out = policy.observe(ok(), kNoLabels, kT0 + minutes(5));
  CHECK(receivers_of(out) ==
        std::vector<std::string>{"pagerduty:resolved:resolved", "slack:resolved:resolved"});
  // The resolutions superseded the pages in the outbox.
  const auto pending = policy.pending_deliveries();
  REQUIRE(pending.size() == 2);
  for (const auto& n : pending) CHECK(n.state == "resolved");
  for (const auto& n : out) policy.delivered(n);
  CHECK(policy.state().alerts.empty());
  CHECK(policy.pending_deliveries().empty());
}

TEST_CASE("unknown is not resolved: errors and migrations keep Alertmanager refreshed") {
  AlertPolicy policy(with_alertmanager(1));
  const auto bad = drift({finding("public.t.c", Severity::kCritical)});
  CHECK(observed(policy, bad, kNoLabels, kT0).size() == 3);
  for (int i = 1; i <= 3; ++i) {
    const auto out =
        observed(policy, i == 2 ? migrating() : down(), kNoLabels, kT0 + minutes(5 * i));
    // Only Alertmanager gets the drift alert again (refresh, never resolved); the paging
    // receivers hear nothing new about the drift.
    std::vector<std::string> drift_notifications;
    for (const auto& n : out) {
      if (n.alertname == alertname::kSchemaDrift) {
        drift_notifications.push_back(n.receiver + ":" + n.state + ":" + n.reason);
        CHECK(n.annotations.at("findings").find("public.t.c") != std::string::npos);
        CHECK(n.annotations.at("description").find("differs") != std::string::npos);
      }
    }
    CHECK(drift_notifications == std::vector<std::string>{"alertmanager:firing:refresh"});
  }
  const OpenAlert& alert = policy.state().alerts.at({"prod", alertname::kSchemaDrift});
  CHECK(alert.firing);
  CHECK_FALSE(alert.resolved_at.has_value());
  // Back with the same drift: nothing new for the paging receivers.
  std::vector<Notification> back;
  for (const auto& n : observed(policy, bad, kNoLabels, kT0 + minutes(30))) {
    if (n.alertname == alertname::kSchemaDrift) back.push_back(n);
  }
  CHECK(receivers_of(back) == std::vector<std::string>{"alertmanager:firing:refresh"});
}

TEST_CASE("reload: a removed target's open alerts are resolved to every receiver that had them") {
  AlertPolicy policy(config(1));
  observed(policy, drift({finding("public.t.c", Severity::kCritical)}), kNoLabels, kT0);
  observed(policy, drift({finding("public.t.c", Severity::kWarning)}, "staging"), kNoLabels, kT0);
  const auto out = policy.resolve_removed({"staging"}, {}, kT0 + minutes(1), {});
  CHECK(receivers_of(out) ==
        std::vector<std::string>{"pagerduty:resolved:resolved", "slack:resolved:resolved"});
  for (const auto& n : out) CHECK(n.target == "prod");
  CHECK(policy.pending_deliveries().size() == 2);  // owed until accepted
  for (const auto& n : out) policy.delivered(n);
  CHECK(policy.state().alerts.count({"prod", alertname::kSchemaDrift}) == 0);
  CHECK(policy.state().alerts.count({"staging", alertname::kSchemaDrift}) == 1);
}

TEST_CASE("reload: a removed receiver gets the resolutions of what it had, then nothing") {
  AlertPolicy policy(config(1));
  observed(policy, drift({finding("public.t.c", Severity::kCritical)}), kNoLabels, kT0);
  const auto out = policy.resolve_removed({"prod"}, {"pagerduty"}, kT0 + minutes(1), {});
  CHECK(receivers_of(out) == std::vector<std::string>{"pagerduty:resolved:resolved"});
  // Not kept in the outbox: the receiver will not exist after the reload.
  CHECK(policy.pending_deliveries().empty());
  const OpenAlert& alert = policy.state().alerts.at({"prod", alertname::kSchemaDrift});
  CHECK(alert.firing);
  CHECK(alert.notified == std::set<std::string>{"slack"});
}

TEST_CASE("outbox: at most one pending notification per alert and receiver, newest wins") {
  AlertPolicy policy(with_alertmanager(1));
  const auto bad = drift({finding("public.t.c", Severity::kCritical)});
  for (int i = 0; i < 5; ++i) policy.observe(bad, kNoLabels, kT0 + minutes(i));
  policy.observe(drift({finding("public.t.c", Severity::kWarning)}, "staging"), kNoLabels, kT0);
  const auto pending = policy.pending_deliveries();
  // prod: slack, pagerduty, alertmanager; staging: slack (warning), alertmanager.
  CHECK(pending.size() == 5);
  std::uint64_t last = 0;
  for (const auto& n : pending) {
    CHECK(n.seq > last);  // oldest first
    last = n.seq;
  }
}

// An error on the expected side (the migrations source): the target was reached.
TargetResult migrations_broken(const std::string& name = "prod") {
  TargetResult r;
  r.name = name;
  r.status = check_status::kError;
  r.error = CheckError{error_reason::kMigrations,
                       "migration files have errors: versions/0002_b.py:3: revision is not a "
                       "literal",
                       migrations_problem::kParseError};
  return r;
}

TEST_CASE("expected-side errors never raise DriftwatchTargetDown") {
  AlertPolicy policy(with_alertmanager(1));
  std::vector<Notification> all;
  for (int i = 0; i < 3; ++i) {
    for (const char* target : {"prod", "staging"}) {
      const auto out = observed(policy, migrations_broken(target), kNoLabels, kT0 + minutes(i));
      all.insert(all.end(), out.begin(), out.end());
    }
  }
  for (const auto& n : all) CHECK(n.alertname != std::string(alertname::kTargetDown));
  CHECK(policy.state().alerts.count({"prod", alertname::kTargetDown}) == 0);
}

TargetResult reference_down(const std::string& name = "prod") {
  TargetResult r;
  r.name = name;
  r.status = check_status::kError;
  r.error = CheckError{error_reason::kExpectedSchema,
                       "reference database of migrations 'warehouse': cannot connect",
                       migrations_problem::kReferenceUnreachable};
  return r;
}

std::vector<std::string> of_alert(const std::vector<Notification>& out, const char* name) {
  std::vector<Notification> picked;
  for (const auto& n : out) {
    if (n.alertname == name) picked.push_back(n);
  }
  return receivers_of(picked);
}

TEST_CASE("expected-side errors: one DriftwatchMigrationsBroken per source, labelled as the rule") {
  AlertPolicy policy(with_alertmanager(2));
  // Round 1: both targets of the source see the broken file; one check each is not enough.
  CHECK(observed(policy, migrations_broken("prod"), kNoLabels, kT0, "warehouse").empty());
  CHECK(observed(policy, migrations_broken("staging"), kNoLabels, kT0, "warehouse").empty());
  // Round 2: the second check of prod fires it, once for the source.
  const auto fired =
      observed(policy, migrations_broken("prod"), kNoLabels, kT0 + minutes(5), "warehouse");
  CHECK(receivers_of(fired) ==
        std::vector<std::string>{"alertmanager:firing:new", "slack:firing:new"});
  for (const auto& n : fired) {
    CHECK(n.alertname == std::string(alertname::kMigrationsBroken));
    CHECK(n.migrations == "warehouse");
    CHECK(n.labels ==
          std::map<std::string, std::string>{{"alertname", alertname::kMigrationsBroken},
                                             {"migrations", "warehouse"},
                                             {"reason", migrations_problem::kParseError},
                                             {"severity", "warning"}});
    CHECK(n.dedup_key == "driftwatch/migrations/warehouse/DriftwatchMigrationsBroken");
    CHECK(n.annotations.at("description").find("0002_b.py:3") != std::string::npos);
    CHECK(n.annotations.at("runbook_url") == "docs/runbook.md#driftwatchmigrationsbroken");
  }
  // The other target's check is the same incident: nothing new for the paging receivers.
  CHECK(receivers_of(observed(policy, migrations_broken("staging"), kNoLabels, kT0 + minutes(5),
                              "warehouse")) ==
        std::vector<std::string>{"alertmanager:firing:refresh"});
  CHECK(policy.state().alerts.size() == 1);
  CHECK(policy.state().alerts.count({"migrations/warehouse", alertname::kMigrationsBroken}) == 1);

  // A target-side error is the target's (DriftwatchTargetDown counts) and says nothing about
  // the source: its alert keeps firing (refreshed at Alertmanager), not resolved.
  const auto target_down =
      observed(policy, down("prod"), kNoLabels, kT0 + minutes(10), "warehouse");
  CHECK(of_alert(target_down, alertname::kMigrationsBroken) ==
        std::vector<std::string>{"alertmanager:firing:refresh"});
  CHECK(policy.state().alerts.at({"prod", alertname::kTargetDown}).consecutive == 1);

  // Fixed: once every target that found it broken has had the expected schema again, it
  // resolves, once per receiver told.
  CHECK(of_alert(observed(policy, ok("staging"), kNoLabels, kT0 + minutes(15), "warehouse"),
                 alertname::kMigrationsBroken)
            .empty());
  const auto fixed = observed(policy, ok("prod"), kNoLabels, kT0 + minutes(15), "warehouse");
  CHECK(of_alert(fixed, alertname::kMigrationsBroken) ==
        std::vector<std::string>{"alertmanager:resolved:resolved", "slack:resolved:resolved"});
  CHECK(policy.state().alerts.count({"migrations/warehouse", alertname::kMigrationsBroken}) == 0);
}

TEST_CASE("expected-side error ends DriftwatchTargetDown; drift keeps firing through both errors") {
  AlertPolicy policy(with_alertmanager(1));
  const auto bad = drift({finding("public.t.c", Severity::kWarning)});
  CHECK(of_alert(observed(policy, bad, kNoLabels, kT0, "warehouse"), alertname::kSchemaDrift) ==
        std::vector<std::string>{"alertmanager:firing:new", "slack:firing:new"});
  // The target itself fails: TargetDown, drift only refreshed.
  const auto unreachable = observed(policy, down(), kNoLabels, kT0 + minutes(5), "warehouse");
  CHECK(of_alert(unreachable, alertname::kTargetDown) ==
        std::vector<std::string>{"alertmanager:firing:new", "slack:firing:new"});
  CHECK(of_alert(unreachable, alertname::kSchemaDrift) ==
        std::vector<std::string>{"alertmanager:firing:refresh"});
  // Reached again, but the reference database is down: the target is up (TargetDown resolves),
  // the source is broken, and the drift is still unknown (refreshed, never resolved).
  const auto expected_down =
      observed(policy, reference_down(), kNoLabels, kT0 + minutes(10), "warehouse");
  CHECK(of_alert(expected_down, alertname::kTargetDown) ==
        std::vector<std::string>{"alertmanager:resolved:resolved", "slack:resolved:resolved"});
  CHECK(of_alert(expected_down, alertname::kSchemaDrift) ==
        std::vector<std::string>{"alertmanager:firing:refresh"});
  CHECK(of_alert(expected_down, alertname::kMigrationsBroken) ==
        std::vector<std::string>{"alertmanager:firing:new", "slack:firing:new"});
  for (const auto& n : expected_down) {
    if (n.alertname == std::string(alertname::kMigrationsBroken)) {
      CHECK(n.labels.at("reason") == migrations_problem::kReferenceUnreachable);
    }
  }
  const OpenAlert& still = policy.state().alerts.at({"prod", alertname::kSchemaDrift});
  CHECK(still.firing);
  CHECK_FALSE(still.resolved_at.has_value());
  CHECK(policy.state().alerts.count({"prod", alertname::kTargetDown}) == 0);
}

TEST_CASE("a source alert whose reason changes is updated; Alertmanager gets the old labels") {
  AlertPolicy policy(with_alertmanager(1));
  observed(policy, migrations_broken(), kNoLabels, kT0, "warehouse");
  const auto changed = observed(policy, reference_down(), kNoLabels, kT0 + minutes(5), "warehouse");
  CHECK(receivers_of(changed) ==
        std::vector<std::string>{"alertmanager:firing:update", "slack:firing:update"});
  for (const auto& n : changed) {
    CHECK(n.labels.at("reason") == migrations_problem::kReferenceUnreachable);
    CHECK(n.previous_labels.at("reason") == migrations_problem::kParseError);
  }
}

TEST_CASE("the reason of DriftwatchMigrationsBroken is the engine's problem, not its wording") {
  // The engine's messages begin with "target '<name>': " and may be reworded at any time: the
  // label comes from CheckError::migrations_problem alone.
  const std::pair<const char*, const char*> cases[] = {
      {error_reason::kMigrations, migrations_problem::kNoRevisions},
      {error_reason::kMigrations, migrations_problem::kParseError},
      {error_reason::kExpectedSchema, migrations_problem::kNoHeadSnapshot},
      {error_reason::kExpectedSchema, migrations_problem::kReplayFailed},
      {error_reason::kExpectedSchema, migrations_problem::kReferenceUnreachable},
  };
  for (const auto& [reason, problem] : cases) {
    CAPTURE(problem);
    TargetResult r;
    r.name = "prod";
    r.status = check_status::kError;
    // Words that would mislead any reading of the text (another problem's wording).
    r.error = CheckError{reason,
                         "target 'prod': reference database unreachable; no migration "
                         "files found; no snapshot of head revision abc",
                         problem};
    AlertPolicy policy(with_alertmanager(1));
    const auto out = observed(policy, r, kNoLabels, kT0, "warehouse");
    REQUIRE(of_alert(out, alertname::kMigrationsBroken) ==
            std::vector<std::string>{"alertmanager:firing:new", "slack:firing:new"});
    CHECK(out.at(0).labels.at("reason") == problem);
    CHECK(out.at(0).annotations.at("summary").find(problem) != std::string::npos);
  }
  CHECK(expected_side_error(reference_down()));
  CHECK_FALSE(expected_side_error(down()));
  CHECK_FALSE(expected_side_error(ok()));
}

TEST_CASE("an expected-side error without a problem of the source says nothing about it") {
  // The head's schema is still being built by replay: the engine names no problem (nor does
  // driftwatch_migrations_problem), so the source alert neither counts nor resolves.
  AlertPolicy policy(with_alertmanager(1));
  TargetResult building;
  building.name = "prod";
  building.status = check_status::kError;
  building.error = CheckError{error_reason::kExpectedSchema,
                              "target 'prod': no expected schema of head revision abc: the schema "
                              "of revision abc is being built by replay"};
  CHECK(observed(policy, building, kNoLabels, kT0, "warehouse").empty());
  CHECK(policy.state().alerts.empty());
  observed(policy, migrations_broken(), kNoLabels, kT0 + minutes(1), "warehouse");
  REQUIRE(policy.state().alerts.count({"migrations/warehouse", alertname::kMigrationsBroken}) == 1);
  CHECK(of_alert(observed(policy, building, kNoLabels, kT0 + minutes(2), "warehouse"),
                 alertname::kMigrationsBroken) ==
        std::vector<std::string>{"alertmanager:firing:refresh"});
}

TEST_CASE("reload: a source without targets any more resolves its alert") {
  AlertPolicy policy(config(1));
  observed(policy, migrations_broken(), kNoLabels, kT0, "warehouse");
  CHECK(policy.resolve_removed({"prod"}, {}, kT0 + minutes(1), {"warehouse"}).empty());
  const auto out = policy.resolve_removed({"prod"}, {}, kT0 + minutes(2), {"billing"});
  CHECK(receivers_of(out) == std::vector<std::string>{"slack:resolved:resolved"});
  CHECK(out.at(0).migrations == "warehouse");
}

TEST_CASE("a branched history is one DriftwatchMultipleHeads per migrations source") {
  AlertPolicy policy(with_alertmanager(1));
  std::vector<Notification> all;
  for (int round = 0; round < 2; ++round) {
    for (const char* name : {"prod", "staging"}) {
      TargetResult branched = ok(name);
      branched.revision.expected_heads = {"a", "b"};
      const auto out = observed(policy, branched, kNoLabels, kT0 + minutes(round), "warehouse");
      all.insert(all.end(), out.begin(), out.end());
    }
  }
  std::vector<Notification> heads;
  for (const auto& n : all) {
    if (n.alertname == alertname::kMultipleHeads) heads.push_back(n);
  }
  std::vector<std::string> paged;
  for (const auto& n : heads) {
    if (n.receiver == "slack") paged.push_back(n.state + ":" + n.reason);
    CHECK(n.labels == std::map<std::string, std::string>{{"alertname", alertname::kMultipleHeads},
                                                         {"migrations", "warehouse"},
                                                         {"severity", "warning"}});
  }
  CHECK(paged == std::vector<std::string>{"firing:new"});  // once, not once per target
  // Merged: resolved once.
  const auto merged = observed(policy, ok("staging"), kNoLabels, kT0 + minutes(5), "warehouse");
  CHECK(of_alert(merged, alertname::kMultipleHeads) ==
        std::vector<std::string>{"alertmanager:resolved:resolved", "slack:resolved:resolved"});
}

TEST_CASE("alembic_version problems: DriftwatchVersionTableProblem with the state label") {
  AlertPolicy policy(with_alertmanager(1));
  TargetResult missing = ok();
  missing.status = check_status::kDrift;
  missing.revision.state = revision_state::kNoVersionTable;
  missing.revision.current.clear();
  CHECK(observed(policy, missing, kNoLabels, kT0, "warehouse").empty());  // grace period
  const auto fired = observed(policy, missing, kNoLabels, kT0 + minutes(30), "warehouse");
  REQUIRE(of_alert(fired, alertname::kVersionTableProblem) ==
          std::vector<std::string>{"alertmanager:firing:new", "slack:firing:new"});
  CHECK(fired.at(0).labels ==
        std::map<std::string, std::string>{{"alertname", alertname::kVersionTableProblem},
                                           {"target", "prod"},
                                           {"state", "no_version_table"},
                                           {"severity", "warning"}});
  TargetResult empty = missing;
  empty.revision.state = revision_state::kEmptyVersionTable;
  const auto changed = observed(policy, empty, kNoLabels, kT0 + minutes(35), "warehouse");
  REQUIRE(of_alert(changed, alertname::kVersionTableProblem) ==
          std::vector<std::string>{"alertmanager:firing:update", "slack:firing:update"});
  CHECK(changed.at(0).previous_labels.at("state") == "no_version_table");
}

TEST_CASE("an open alert under a name the target no longer has ends at its next check") {
  AlertState state;
  OpenAlert legacy;  // a per-target DriftwatchMultipleHeads of an older version's state file
  legacy.target = "prod";
  legacy.alertname = alertname::kMultipleHeads;
  legacy.firing = true;
  legacy.notified = {"slack"};
  state.alerts[{"prod", legacy.alertname}] = legacy;
  AlertPolicy policy(config(1), state);
  CHECK(observed(policy, down(), kNoLabels, kT0, "warehouse").size() == 1);  // TargetDown only
  CHECK(of_alert(observed(policy, ok(), kNoLabels, kT0 + minutes(1), "warehouse"),
                 alertname::kMultipleHeads) == std::vector<std::string>{"slack:resolved:resolved"});
  CHECK(policy.state().alerts.count({"prod", alertname::kMultipleHeads}) == 0);
}

TEST_CASE("a source stays broken while one of its targets cannot get its expected schema") {
  // staging has the snapshot of its own revision; prod needs the head's, which is missing.
  AlertPolicy policy(with_alertmanager(2));
  TargetResult no_head;
  no_head.name = "prod";
  no_head.status = check_status::kError;
  no_head.error = CheckError{error_reason::kExpectedSchema,
                             "no snapshot of head revision abc in snapshots/; write them",
                             migrations_problem::kNoHeadSnapshot};
  std::vector<Notification> all;
  for (int round = 0; round < 3; ++round) {
    for (const auto& result : {no_head, ok("staging")}) {
      const auto out = observed(policy, result, kNoLabels, kT0 + minutes(round), "warehouse");
      all.insert(all.end(), out.begin(), out.end());
    }
  }
  CHECK(of_alert(all, alertname::kMigrationsBroken) ==
        std::vector<std::string>{"alertmanager:firing:new", "alertmanager:firing:refresh",
                                 "slack:firing:new"});
  // prod gets its snapshot: nothing is broken any more.
  const auto fixed = observed(policy, ok("prod"), kNoLabels, kT0 + minutes(5), "warehouse");
  CHECK(of_alert(fixed, alertname::kMigrationsBroken) ==
        std::vector<std::string>{"alertmanager:resolved:resolved", "slack:resolved:resolved"});
}

TargetResult with_state(const char* state) {
  TargetResult r = ok();
  r.status = check_status::kDrift;
  r.revision.state = state;
  if (state == std::string(revision_state::kBehind)) r.revision.behind_by = 1;
  if (state == std::string(revision_state::kNoVersionTable)) r.revision.current.clear();
  return r;
}

TEST_CASE("revision-state alerts fire after their rule's grace period, however many checks") {
  const std::pair<const char*, std::chrono::milliseconds> cases[] = {
      {revision_state::kBehind, hours(2)},
      {revision_state::kUnknownRevision, minutes(30)},
      {revision_state::kNoVersionTable, minutes(30)},
  };
  for (const auto& [state, grace] : cases) {
    CAPTURE(state);
    AlertPolicy policy(with_alertmanager(1));  // for_checks = 1: one check would do for drift
    const TargetResult result = with_state(state);
    // A check a minute, up to just before the grace period ends: nothing.
    for (auto t = minutes(0); t < grace; t += minutes(1)) {
      REQUIRE(observed(policy, result, kNoLabels, kT0 + t).empty());
    }
    const auto fired = observed(policy, result, kNoLabels, kT0 + grace);
    CHECK(receivers_of(fired) ==
          std::vector<std::string>{"alertmanager:firing:new", "slack:firing:new"});
    CHECK(fired.at(0).starts_at == kT0);
  }
}

TEST_CASE("grace period: a check without the condition restarts it, an error does not") {
  AlertPolicy policy(config(1));
  const TargetResult behind = with_state(revision_state::kBehind);
  CHECK(observed(policy, behind, kNoLabels, kT0).empty());
  CHECK(observed(policy, ok(), kNoLabels, kT0 + hours(1)).empty());  // upgraded: restarts
  CHECK(observed(policy, behind, kNoLabels, kT0 + hours(2)).empty());
  // Unreachable for a while: unknown, the condition is taken to last (as the rule, which sees
  // the last known revision series); only DriftwatchTargetDown.
  const auto unreachable = observed(policy, down(), kNoLabels, kT0 + hours(3));
  CHECK(of_alert(unreachable, alertname::kRevisionBehind).empty());
  CHECK(of_alert(observed(policy, behind, kNoLabels, kT0 + hours(4)), alertname::kRevisionBehind) ==
        std::vector<std::string>{"slack:firing:new"});
}

TargetResult possibly_pending(std::vector<Finding> findings) {
  TargetResult r = drift(std::move(findings));
  r.revision.state = revision_state::kBehind;
  for (Finding& f : r.findings) f.possibly_pending = true;
  return r;
}

TEST_CASE("as the rules: no drift alert for info-only or possibly-pending findings") {
  AlertPolicyConfig c = with_alertmanager(1);
  c.receivers.push_back({"webhook", receiver_kind::kWebhook, Severity::kInfo});
  AlertPolicy policy(c);
  const auto info_only = drift({finding("public.t.i", Severity::kInfo)});
  CHECK(observed(policy, info_only, kNoLabels, kT0).empty());
  CHECK(observed(policy, info_only, kNoLabels, kT0 + minutes(5)).empty());
  // Compared with head because the target's own revision had no schema: the findings may be
  // the pending migrations (DriftwatchRevisionBehind speaks for those, after its grace).
  const auto pending = possibly_pending({finding("public.t.w", Severity::kWarning)});
  CHECK(of_alert(observed(policy, pending, kNoLabels, kT0 + minutes(10)), alertname::kSchemaDrift)
            .empty());
  CHECK(policy.state().alerts.count({"prod", alertname::kSchemaDrift}) == 0);
  // Warning drift at the target's own revision, and info findings beside it: alerted, warning.
  const auto warn =
      drift({finding("public.t.w", Severity::kWarning), finding("public.t.i", Severity::kInfo)});
  const auto fired = observed(policy, warn, kNoLabels, kT0 + minutes(15));
  CHECK(of_alert(fired, alertname::kSchemaDrift) ==
        std::vector<std::string>{"alertmanager:firing:new", "slack:firing:new",
                                 "webhook:firing:new"});
  CHECK(fired.at(0).severity == Severity::kWarning);
  // Down to info only: resolved, as the rule stops firing.
  CHECK(of_alert(observed(policy, info_only, kNoLabels, kT0 + minutes(20)),
                 alertname::kSchemaDrift) ==
        std::vector<std::string>{"alertmanager:resolved:resolved", "slack:resolved:resolved",
                                 "webhook:resolved:resolved"});
  // A critical finding pages whatever else there is.
  CHECK(of_alert(observed(policy,
                          drift({finding("public.t.c", Severity::kCritical),
                                 finding("public.t.i", Severity::kInfo)}),
                          kNoLabels, kT0 + minutes(25)),
                 alertname::kSchemaDrift) ==
        std::vector<std::string>{"alertmanager:firing:new", "pagerduty:firing:new",
                                 "slack:firing:new", "webhook:firing:new"});
}

}  // namespace
}  // namespace driftwatch
