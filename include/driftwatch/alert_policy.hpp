// Alert policy of the direct notifiers: which notifications one check result causes. Pure (no
// I/O, no clock: time is passed in), so debounce, repeat, resolve, acknowledgements and routing
// are tested without a network.
//
// The alerts and labels of the Prometheus rules (deploy/prometheus), so both paths deduplicate
// in Alertmanager. Per target and alert name (DriftwatchSchemaDrift, DriftwatchRevisionBehind,
// DriftwatchUnknownRevision, DriftwatchVersionTableProblem with label state,
// DriftwatchTargetDown), and per migrations source (DriftwatchMigrationsBroken with label reason,
// DriftwatchMultipleHeads; label migrations instead of target: one bad commit is one alert, not
// one per target of the source):
// - an alert fires after N consecutive checks with its condition (for_checks, per severity;
//   for a source: N consecutive checks of one of its targets; it lasts while any target
//   still shows it); the revision-state alerts instead once their condition has lasted the
//   grace period of their rule (alert_grace), since the first check that showed it;
// - as the rules: drift pages for critical findings, and for warning ones unless they may be
//   pending migrations (possibly_pending); info-only drift is not alerted;
// - a `migrating` result changes nothing (no count, no reset, no resolution, nothing sent);
//   an `error` of the target itself (connect, auth, timeout, ...) only feeds
//   DriftwatchTargetDown; an `error` on the expected side (reason migrations / expected_schema:
//   the target was reached) only feeds its source's DriftwatchMigrationsBroken and ends
//   DriftwatchTargetDown. Neither says anything about the schema;
// - a firing alert is repeated every repeat_interval to paging receivers and re-posted on every
//   check to Alertmanager (whose alerts expire at endsAt);
// - a changed findings fingerprint (kind/object_type/object/attribute) sends an update with the
//   same dedup key instead of opening a new alert;
// - when the condition clears, one resolution goes to each receiver that was told it fired (or
//   still has its firing notification pending);
// - an `error` or `migrating` result never resolves an alert: Alertmanager keeps getting its
//   firing alerts re-posted (refresh), so they do not expire at endsAt while nothing is known;
// - a notification counts once a receiver accepted it (delivered()): until then it stays in the
//   outbox (persisted in the state file) and is retried, unless a newer notification for the
//   same alert and receiver supersedes it;
// - a target or receiver removed by a reload resolves its open alerts first (resolve_removed);
// - an acknowledgement silences the target's paging receivers (Slack, PagerDuty, webhook) until
//   it expires or the target's findings change; Alertmanager keeps the alert (with the ack in
//   its annotations) because an alert that stopped being posted would look resolved there.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "driftwatch/check.hpp"
#include "driftwatch/config.hpp"

namespace driftwatch {

using SystemTime = std::chrono::system_clock::time_point;

namespace alertname {
inline constexpr const char* kSchemaDrift = "DriftwatchSchemaDrift";
inline constexpr const char* kRevisionBehind = "DriftwatchRevisionBehind";
inline constexpr const char* kUnknownRevision = "DriftwatchUnknownRevision";
// alembic_version missing, empty, or with several rows that are not the heads (label state).
inline constexpr const char* kVersionTableProblem = "DriftwatchVersionTableProblem";
// Per migrations source: branched history.
inline constexpr const char* kMultipleHeads = "DriftwatchMultipleHeads";
inline constexpr const char* kTargetDown = "DriftwatchTargetDown";
// Per migrations source (OpenAlert::migrations), not per target.
inline constexpr const char* kMigrationsBroken = "DriftwatchMigrationsBroken";
}  // namespace alertname

// Grace periods of the revision-state alerts: the `for:` of their Prometheus rules. A deploy
// may ship code before it runs `alembic upgrade`, so these conditions are normal for a while.
namespace alert_grace {
inline constexpr std::chrono::hours kRevisionBehind{2};
inline constexpr std::chrono::minutes kUnknownRevision{30};
inline constexpr std::chrono::minutes kVersionTableProblem{30};
}  // namespace alert_grace

namespace receiver_kind {
inline constexpr const char* kAlertmanager = "alertmanager";
inline constexpr const char* kSlack = "slack";
inline constexpr const char* kPagerDuty = "pagerduty";
inline constexpr const char* kWebhook = "webhook";
}  // namespace receiver_kind

// One configured receiver as the policy routes to it.
struct ReceiverRoute {
  std::string name;  // unique; the `receiver` metric label: "slack", "slack_1", ...
  std::string kind;  // one of receiver_kind::*
  Severity min_severity = Severity::kInfo;
};

struct AlertPolicyConfig {
  int for_checks = 2;
  std::map<Severity, int> for_checks_by_severity;  // overrides for_checks per severity
  std::chrono::milliseconds repeat_interval{std::chrono::hours(4)};
  std::string status_page_url;  // base URL for links ("" = no link)
  std::vector<ReceiverRoute> receivers;
  std::size_t top_findings = 5;  // findings carried in a notification

  int for_checks_for(Severity severity) const;
};

// Builds routes (names "<kind>", then "<kind>_1", ...) and policy settings from [alerts].
AlertPolicyConfig alert_policy_config(const AlertsConfig& alerts);

struct Acknowledgement {
  std::string target;
  std::string owner;
  std::string reason;
  SystemTime created_at{};
  SystemTime expires_at{};
  // findings_fingerprint of the target when acknowledged; the ack ends when it changes.
  std::string findings_fingerprint;
};

// One open (counting, firing, or resolved but not yet delivered) alert.
struct OpenAlert {
  // The target; for an alert of a migrations source source_alert_key(source) (no target name
  // has a '/'). AlertState::alerts is keyed by (target, alertname).
  std::string target;
  std::string alertname;
  std::string migrations;  // set for an alert of a migrations source
  // Identity labels besides alertname, target / migrations and severity: `reason` of
  // DriftwatchMigrationsBroken, `state` of DriftwatchVersionTableProblem.
  std::map<std::string, std::string> labels;
  // Of a source alert: consecutive checks with the condition (capped at for_checks) of each of
  // its targets that still shows it; it ends when none does.
  std::map<std::string, int> consecutive_by_target;
  Severity severity = Severity::kWarning;
  std::string fingerprint;  // of the details the alert is about
  std::string summary;      // of the last check with the condition
  std::map<std::string, std::string> target_labels;
  int consecutive = 0;                  // consecutive checks with the condition
  bool firing = false;                  // reached for_checks
  SystemTime starts_at{};               // first check with the condition
  std::optional<SystemTime> last_sent;  // last notification to paging receivers
  std::set<std::string> notified;       // receivers that accepted a firing notification
  std::string description;              // of the last check with the condition (refreshes)
  std::string findings_text;            // findings annotation of that check ("" for none)
  std::optional<SystemTime> resolved_at;
  // Receivers still owed the resolution (kept across restarts until delivered).
  std::set<std::string> pending_resolution;
};

struct Notification {
  std::string receiver;       // ReceiverRoute::name
  std::string receiver_kind;  // receiver_kind::*
  std::string alertname;
  std::string target;      // OpenAlert::target (source_alert_key(source) for a source alert)
  std::string migrations;  // set for an alert of a migrations source
  Severity severity = Severity::kWarning;
  // Set on an update whose severity changed (Alertmanager identifies alerts by labels, so the
  // alert under the old severity label has to be resolved).
  std::optional<Severity> previous_severity;
  // Set on an update that changed the alert's labels (severity, or a source alert's reason):
  // the old label set, which Alertmanager has to get resolved.
  std::map<std::string, std::string> previous_labels;
  std::string state = "firing";  // "firing" | "resolved"
  // Why it is sent: "new", "update" (details changed), "repeat" (repeat_interval),
  // "refresh" (Alertmanager keep-alive), "resolved".
  std::string reason = "new";
  // alertname, target, severity (a source alert: alertname, migrations, reason, severity).
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> target_labels;  // [[targets]] labels
  // summary, description, status_page, runbook_url, findings (text), ack_* when acknowledged.
  std::map<std::string, std::string> annotations;
  std::vector<Finding> top_findings;  // most severe first, at most top_findings
  std::size_t findings_total = 0;
  SystemTime starts_at{};
  std::optional<SystemTime> ends_at;  // resolution time; unset while firing
  std::string dedup_key;              // "driftwatch/<target>/<alertname>"
  std::string fingerprint;
  std::optional<Acknowledgement> ack;
  std::string status_page_link;  // "" when no status_page_url
  // How long Alertmanager keeps a firing alert without a refresh (endsAt = send time + this).
  std::chrono::milliseconds alertmanager_validity{std::chrono::minutes(15)};
  // Order of creation (AlertState::next_seq): tells a delivered notification from the newer one
  // that superseded it.
  std::uint64_t seq = 0;
};

// (target, alertname, receiver): one alert's notification stream to one receiver.
using DeliveryKey = std::tuple<std::string, std::string, std::string>;

// What survives a restart (alerts-state.json).
struct AlertState {
  std::map<std::pair<std::string, std::string>, OpenAlert> alerts;  // (target, alertname)
  std::map<std::string, Acknowledgement> acks;                      // by target
  std::map<std::string, std::string> findings_fingerprints;         // target -> last seen
  // Notifications not yet accepted by their receiver; a newer one for the same key replaces
  // (supersedes) the older.
  std::map<DeliveryKey, Notification> outbox;
  std::uint64_t next_seq = 1;  // Notification::seq of the next notification
};

// Fingerprint over the (kind, object_type, object, attribute) set of findings, order-free.
// "" for no findings.
std::string findings_fingerprint(const std::vector<Finding>& findings);
std::string dedup_key(const std::string& target, const std::string& alertname);
// "driftwatch/migrations/<source>/<alertname>".
std::string migrations_dedup_key(const std::string& migrations, const std::string& alertname);
// "migrations/<source>": OpenAlert::target of a migrations source's alert.
std::string source_alert_key(const std::string& migrations);

// Whether the result is an error on the expected side (reason migrations / expected_schema):
// the target was reached. Its CheckError::migrations_problem (the engine's, as exported on
// driftwatch_migrations_problem{reason}) is DriftwatchMigrationsBroken's `reason` label.
bool expected_side_error(const TargetResult& result);

// A condition the result shows, before debouncing.
struct AlertCondition {
  std::string alertname;
  Severity severity = Severity::kWarning;
  std::string fingerprint;
  std::string summary;
  std::string description;
  std::map<std::string, std::string> labels;  // OpenAlert::labels
  // > 0: the alert fires once the condition has lasted this long (since OpenAlert::starts_at)
  // instead of after for_checks consecutive checks (alert_grace).
  std::chrono::milliseconds grace{0};
};
// Conditions of the target's own alerts a result shows (empty for ok and migrating results,
// and for an error on the expected side, which is its migrations source's).
std::vector<AlertCondition> alert_conditions(const TargetResult& result);
// Conditions of the alerts of the target's migrations source `migrations` a result shows, and
// whether it says anything about them (an error of the target or a migration does not).
std::vector<AlertCondition> source_conditions(const TargetResult& result,
                                              const std::string& migrations, bool* known);

class AlertPolicy {
 public:
  explicit AlertPolicy(AlertPolicyConfig config, AlertState state = {});

  // Feeds one check result of a target of migrations source `migrations`; returns the
  // notifications to send now. Without `migrations` an expected-side error raises nothing.
  std::vector<Notification> observe(const TargetResult& result,
                                    const std::map<std::string, std::string>& target_labels,
                                    SystemTime now, const std::string& migrations = "");

  // Notifications not yet accepted (the outbox), oldest first: sent again after a restart or
  // to a receiver rebuilt by a reload.
  std::vector<Notification> pending_deliveries() const;
  // A receiver accepted `n` (2xx): a firing notification makes the receiver one that gets the
  // resolution; a resolution is no longer owed. The outbox entry goes unless a newer
  // notification superseded it.
  void delivered(const Notification& n);
  // Reload (and start): resolves the open alerts of targets not in `targets` (and of migrations
  // sources not in `sources`), to every receiver
  // that had them, and the alerts that receivers in `receivers_gone` had, to those receivers
  // (call before set_config, so their routes are still known). Resolutions to receivers in
  // `receivers_gone` are returned but not kept in the outbox (the receivers will not exist).
  // Acks and fingerprints of removed targets are dropped.
  std::vector<Notification> resolve_removed(const std::set<std::string>& targets,
                                            const std::set<std::string>& receivers_gone,
                                            SystemTime now, const std::set<std::string>& sources);

  // Acknowledges the target's current findings. Replaces an existing ack.
  Acknowledgement acknowledge(const std::string& target, const std::string& owner,
                              const std::string& reason, SystemTime expires_at, SystemTime now);
  bool unacknowledge(const std::string& target);
  // The target's ack if it is still in force at `now`.
  std::optional<Acknowledgement> ack(const std::string& target, SystemTime now) const;

  void set_config(AlertPolicyConfig config) { config_ = std::move(config); }
  const AlertPolicyConfig& config() const { return config_; }
  const AlertState& state() const { return state_; }

 private:
  // One alert's step for one check: `unknown` when the check says nothing about its condition
  // (then a firing alert is only refreshed at Alertmanager); else `condition` (null: absent).
  void advance(const std::pair<std::string, std::string>& key, bool unknown,
               const AlertCondition* condition, const TargetResult& result,
               const std::map<std::string, std::string>& target_labels,
               const std::optional<Acknowledgement>& ack, SystemTime now,
               std::vector<Notification>& out);
  Notification make(const OpenAlert& alert, const AlertCondition* condition,
                    const ReceiverRoute& route, const TargetResult* result,
                    const std::map<std::string, std::string>& target_labels,
                    const std::optional<Acknowledgement>& ack, SystemTime now) const;
  // Gives `n` its seq and puts it in the outbox (replacing an older one of the same key); a
  // refresh only when something is pending for its key.
  Notification& enqueue(Notification& n);
  // Receivers told (or being told) that the alert fires.
  std::set<std::string> told(const OpenAlert& alert) const;
  // Resolution of `alert` (resolved_at set) to each of `receivers`; keeps them owed.
  void resolve_to(OpenAlert& alert, const std::set<std::string>& receivers,
                  const std::vector<ReceiverRoute>& routes, SystemTime now,
                  std::vector<Notification>& out);

  AlertPolicyConfig config_;
  AlertState state_;
};

}  // namespace driftwatch
