// alerts-state.json: round trip, atomic save, corrupt file set aside, restart semantics.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "driftwatch/alerts.hpp"

namespace driftwatch {
namespace {

namespace fs = std::filesystem;
using std::chrono::minutes;

const SystemTime kT0 = SystemTime(std::chrono::milliseconds(1'700'000'000'123));

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("dw-alert-state-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

AlertState sample_state() {
  AlertState state;
  OpenAlert firing;
  firing.target = "prod";
  firing.alertname = alertname::kSchemaDrift;
  firing.severity = Severity::kCritical;
  firing.fingerprint = "0123456789abcdef";
  firing.summary = "Schema drift on prod";
  firing.target_labels = {{"team", "data"}};
  firing.consecutive = 2;
  firing.firing = true;
  firing.starts_at = kT0;
  firing.last_sent = kT0 + minutes(1);
  firing.notified = {"slack", "pagerduty"};
  state.alerts[{"prod", firing.alertname}] = firing;
  OpenAlert resolved = firing;
  resolved.target = "staging";
  resolved.alertname = alertname::kTargetDown;
  resolved.severity = Severity::kWarning;
  resolved.firing = false;
  resolved.notified.clear();
  resolved.resolved_at = kT0 + minutes(7);
  resolved.pending_resolution = {"webhook"};
  state.alerts[{"staging", resolved.alertname}] = resolved;
  OpenAlert source;  // of a migrations source, still counting per target
  source.target = "migrations/warehouse";
  source.migrations = "warehouse";
  source.alertname = alertname::kMigrationsBroken;
  source.labels = {{"reason", "parse_error"}};
  source.consecutive = 1;
  source.consecutive_by_target = {{"prod", 1}, {"staging", 1}};
  source.starts_at = kT0;
  state.alerts[{"migrations/warehouse", source.alertname}] = source;
  state.acks["prod"] = {"prod", "alice",           "fix in progress \"quoted\"",
                        kT0,    kT0 + minutes(90), "0123456789abcdef"};
  state.findings_fingerprints = {{"prod", "0123456789abcdef"}, {"staging", ""}};
  return state;
}

TEST_CASE("state JSON round trip keeps every field") {
  const AlertState state = sample_state();
  const std::string text = alert_state_to_json(state);
  std::string error;
  const auto back = alert_state_from_json(text, &error);
  INFO(error);
  REQUIRE(back.has_value());
  CHECK(alert_state_to_json(*back) == text);
  const OpenAlert& a = back->alerts.at({"prod", alertname::kSchemaDrift});
  CHECK(a.severity == Severity::kCritical);
  CHECK(a.starts_at == kT0);  // millisecond precision survives
  CHECK(a.last_sent == kT0 + minutes(1));
  CHECK(a.notified == std::set<std::string>{"pagerduty", "slack"});
  CHECK(a.target_labels.at("team") == "data");
  const OpenAlert& r = back->alerts.at({"staging", alertname::kTargetDown});
  CHECK(r.resolved_at == kT0 + minutes(7));
  CHECK(r.pending_resolution == std::set<std::string>{"webhook"});
  const OpenAlert& s = back->alerts.at({"migrations/warehouse", alertname::kMigrationsBroken});
  CHECK(s.migrations == "warehouse");
  CHECK(s.labels == std::map<std::string, std::string>{{"reason", "parse_error"}});
  CHECK(s.consecutive_by_target == std::map<std::string, int>{{"prod", 1}, {"staging", 1}});
  CHECK(back->acks.at("prod").reason == "fix in progress \"quoted\"");
  CHECK(back->acks.at("prod").expires_at == kT0 + minutes(90));
}

TEST_CASE("save then load from a state dir; no temporary file left behind") {
  TempDir dir;
  save_alert_state(dir.path.string(), sample_state());
  CHECK(fs::exists(dir.path / kAlertStateFileName));
  CHECK_FALSE(fs::exists(dir.path / (std::string(kAlertStateFileName) + ".tmp")));
  const AlertStateLoad load = load_alert_state(dir.path.string(), kT0);
  CHECK(load.problem.empty());
  CHECK(load.state.alerts.size() == 3);
  CHECK(load.state.acks.size() == 1);
  // Overwrite with a smaller state: replaced, not appended.
  save_alert_state(dir.path.string(), AlertState{});
  CHECK(load_alert_state(dir.path.string(), kT0).state.alerts.empty());
}

TEST_CASE("a missing state file is an empty state without a problem") {
  TempDir dir;
  const AlertStateLoad load = load_alert_state((dir.path / "nothing-here").string(), kT0);
  CHECK(load.problem.empty());
  CHECK(load.state.alerts.empty());
}

TEST_CASE("a corrupt state file is reported, set aside, and an empty state returned") {
  for (const std::string& text :
       {std::string("{\"format\": \"driftwatch-alert-state/1\", \"alerts\": [{\"target\": 1}]"),
        std::string("not json at all"), std::string("{\"format\": \"something-else\"}"),
        std::string("{\"format\": \"driftwatch-alert-state/1\", \"alerts\": [{\"target\": "
                    "\"p\", \"alertname\": \"A\", \"severity\": \"bogus\"}], \"acks\": []}"),
        std::string("")}) {
    CAPTURE(text);
    TempDir dir;
    {
      std::ofstream out(dir.path / kAlertStateFileName);
      out << text;
    }
    const AlertStateLoad load = load_alert_state(dir.path.string(), kT0);
    CHECK_FALSE(load.problem.empty());
    CHECK(load.state.alerts.empty());
    CHECK_FALSE(fs::exists(dir.path / kAlertStateFileName));
    const fs::path aside = dir.path / "alerts-state.json.corrupt-1700000000";
    CHECK(load.moved_to == aside.string());
    REQUIRE(fs::exists(aside));
    std::ifstream in(aside);
    std::stringstream kept;
    kept << in.rdbuf();
    CHECK(kept.str() == text);  // kept for a human to look at
  }
}

Config service_config(const std::string& state_dir) {
  Config config;
  TargetConfig target;
  target.name = "prod";
  config.targets.push_back(target);
  config.alerts.for_checks = 1;
  config.alerts.state_dir = state_dir;
  // A receiver whose URL variable is unset: each delivery fails at once without any network,
  // and the failure counter shows how many notifications were attempted.
  WebhookReceiver hook;
  hook.url.env = "DRIFTWATCH_TEST_UNSET_HOOK_URL";
  config.alerts.webhook.push_back(hook);
  return config;
}

TargetResult drift_result() {
  TargetResult r;
  r.name = "prod";
  r.status = check_status::kDrift;
  Finding f;
  f.kind = "extra";
  f.object_type = ObjectType::kColumn;
  f.object = "public.t.c";
  f.severity = Severity::kCritical;
  r.findings.push_back(f);
  return r;
}

// Waits (bounded) until `done` holds; the service delivers on its own threads.
template <typename Predicate>
bool eventually(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST_CASE("AlertService: an undelivered page is retried and survives a restart in the state file") {
  TempDir dir;
  AlertNotificationCounters counters;
  DeliveryOptions fast;
  fast.timeout = std::chrono::milliseconds(500);
  fast.backoff_base = std::chrono::milliseconds(5);
  fast.backoff_max = std::chrono::milliseconds(20);
  SystemTime now = kT0;
  auto clock = [&now] { return now; };
  {
    AlertService service(service_config(dir.path.string()), &counters, fast, clock);
    service.observe(drift_result(), {});
    service.acknowledge("prod", "alice", "known", kT0 + std::chrono::hours(2));
    // Not given up after a few attempts: still retried, still counted as undelivered.
    CHECK(eventually([&] { return counters.snapshot()[{"webhook", "retry"}] >= 8; }));
    CHECK(service.undelivered() == std::map<std::string, std::uint64_t>{{"webhook", 1}});
    service.stop(std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
  }
  const AlertStateLoad saved = load_alert_state(dir.path.string(), kT0);
  REQUIRE(saved.state.alerts.count({"prod", alertname::kSchemaDrift}) == 1);
  const OpenAlert& alert = saved.state.alerts.at({"prod", alertname::kSchemaDrift});
  CHECK(alert.firing);
  CHECK(alert.notified.empty());  // nobody accepted it
  REQUIRE(saved.state.outbox.size() == 1);
  const Notification& pending = saved.state.outbox.begin()->second;
  CHECK(pending.receiver == "webhook");
  CHECK(pending.state == "firing");
  CHECK(pending.top_findings.size() == 1);
  CHECK(saved.state.acks.count("prod") == 1);
  {
    now = kT0 + minutes(5);
    const auto before = counters.snapshot()[{"webhook", "retry"}];
    AlertService service(service_config(dir.path.string()), &counters, fast, clock);
    REQUIRE(service.ack("prod").has_value());
    CHECK(service.ack("prod")->owner == "alice");
    CHECK(service.open_alerts("prod").size() == 1);
    // The pending page is sent again without any new check.
    CHECK(service.undelivered() == std::map<std::string, std::uint64_t>{{"webhook", 1}});
    CHECK(eventually([&] { return counters.snapshot()[{"webhook", "retry"}] > before + 2; }));
    service.stop(std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
  }
}

TEST_CASE("AlertService: a reload that removes the target resolves its alert to the receiver") {
  TempDir dir;
  DeliveryOptions fast;
  fast.backoff_base = std::chrono::milliseconds(5);
  fast.backoff_max = std::chrono::milliseconds(20);
  fast.removed_receiver_grace = std::chrono::milliseconds(50);
  AlertService service(service_config(dir.path.string()), nullptr, fast);
  service.observe(drift_result(), {});
  Config without = service_config(dir.path.string());
  without.targets.clear();
  service.apply(without);
  // The firing notification was superseded by the resolution, which is still owed.
  CHECK(service.open_alerts("prod").empty());
  CHECK(service.undelivered() == std::map<std::string, std::uint64_t>{{"webhook", 1}});
  service.stop(std::chrono::steady_clock::now());
  const AlertStateLoad saved = load_alert_state(dir.path.string(), kT0);
  REQUIRE(saved.state.outbox.size() == 1);
  CHECK(saved.state.outbox.begin()->second.state == "resolved");
}

TEST_CASE("AlertService: a reload that adds a receiver keeps what the others have pending") {
  TempDir dir;
  AlertNotificationCounters counters;
  DeliveryOptions fast;
  fast.backoff_base = std::chrono::milliseconds(5);
  fast.backoff_max = std::chrono::milliseconds(20);
  AlertService service(service_config(dir.path.string()), &counters, fast);
  service.observe(drift_result(), {});
  CHECK(service.undelivered() == std::map<std::string, std::uint64_t>{{"webhook", 1}});
  Config more = service_config(dir.path.string());
  WebhookReceiver second;
  second.url.env = "DRIFTWATCH_TEST_UNSET_HOOK_URL_2";
  more.alerts.webhook.push_back(second);
  service.apply(more);
  // The unchanged receiver kept its queue (the page still pending there); the new one starts
  // empty and gets the alert with the next check.
  CHECK(service.undelivered() ==
        std::map<std::string, std::uint64_t>{{"webhook", 1}, {"webhook_1", 0}});
  service.observe(drift_result(), {});
  CHECK(service.undelivered() ==
        std::map<std::string, std::uint64_t>{{"webhook", 1}, {"webhook_1", 1}});
  service.stop(std::chrono::steady_clock::now());
}

TEST_CASE("state file: numbers out of range set the file aside (no overflow on load)") {
  const std::string good = alert_state_to_json(sample_state());
  auto with = [&good](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    return text;
  };
  const std::string starts = "\"starts_at_ms\": 1700000000123";
  for (const std::string& text :
       {with("\"consecutive\": 2", "\"consecutive\": 2147483647"),
        with("\"consecutive\": 2", "\"consecutive\": -1"),
        with("\"consecutive\": 2", "\"consecutive\": 2.5"),
        with("\"consecutive\": 2", "\"consecutive\": 1e300"),
        with(starts, "\"starts_at_ms\": 9223372036854775807"),
        with(starts, "\"starts_at_ms\": 18446744073709551615"),
        with(starts, "\"starts_at_ms\": -9223372036854775808"),
        with(starts, "\"starts_at_ms\": 1e19"),
        with("\"expires_at_ms\": 1700005400123", "\"expires_at_ms\": 99999999999999999"),
        with("\"last_sent_ms\": 1700000060123", "\"last_sent_ms\": \"soon\"")}) {
    CAPTURE(text);
    std::string error;
    CHECK_FALSE(alert_state_from_json(text, &error).has_value());
    CHECK((error.find("range") != std::string::npos || error.find("integer") != std::string::npos));
    TempDir dir;
    {
      std::ofstream out(dir.path / kAlertStateFileName);
      out << text;
    }
    const AlertStateLoad load = load_alert_state(dir.path.string(), kT0);
    CHECK_FALSE(load.problem.empty());
    CHECK_FALSE(load.moved_to.empty());
    CHECK(load.state.alerts.empty());
  }
  std::string error;
  CHECK(alert_state_from_json(good, &error).has_value());
}

TEST_CASE("AlertService: a corrupt state file does not stop the service") {
  TempDir dir;
  {
    std::ofstream out(dir.path / kAlertStateFileName);
    out << "{{{";
  }
  AlertService service(service_config(dir.path.string()), nullptr);
  CHECK(service.enabled());
  CHECK(service.open_alerts("prod").empty());
  bool aside = false;
  for (const auto& entry : fs::directory_iterator(dir.path)) {
    aside = aside || entry.path().filename().string().rfind("alerts-state.json.corrupt-", 0) == 0;
  }
  CHECK(aside);
}

TEST_CASE("AlertService: a reload applies new retry_initial / retry_max to existing receivers") {
  TempDir dir;
  AlertNotificationCounters counters;
  DeliveryOptions slow;
  slow.backoff_base = std::chrono::hours(1);  // after the first failure: next try in an hour
  slow.backoff_max = std::chrono::hours(1);
  Config config = service_config(dir.path.string());
  AlertService service(config, &counters, slow);
  service.observe(drift_result(), {});
  CHECK(eventually([&] { return counters.snapshot()[{"webhook", "retry"}] == 1; }));
  // The same receiver (unchanged URL, so its queue and pending page are kept), faster retries.
  config.alerts.retry_initial = std::chrono::milliseconds(5);
  config.alerts.retry_max = std::chrono::milliseconds(20);
  service.apply(config);
  CHECK(eventually([&] { return counters.snapshot()[{"webhook", "retry"}] >= 4; }));
  // Still the one page, not lost by the change.
  CHECK(service.undelivered() == std::map<std::string, std::uint64_t>{{"webhook", 1}});
  service.stop(std::chrono::steady_clock::now());
}

TEST_CASE("AlertService: an expected-side error raises its source's alert, not the target's") {
  TempDir dir;
  Config config = service_config(dir.path.string());
  config.targets[0].migrations = "warehouse";
  AlertService service(config, nullptr);
  TargetResult broken;
  broken.name = "prod";
  broken.status = check_status::kError;
  broken.error =
      CheckError{error_reason::kExpectedSchema, "no snapshot of head revision abc in snapshots/",
                 migrations_problem::kNoHeadSnapshot};
  service.observe(broken, {});
  CHECK(service.open_alerts("prod").empty());  // no DriftwatchTargetDown
  service.stop(std::chrono::steady_clock::now());
  const AlertStateLoad saved = load_alert_state(dir.path.string(), kT0);
  REQUIRE(saved.state.alerts.size() == 1);
  const OpenAlert& alert = saved.state.alerts.begin()->second;
  CHECK(alert.alertname == alertname::kMigrationsBroken);
  CHECK(alert.migrations == "warehouse");
  CHECK(alert.labels.at("reason") == "no_head_snapshot");
  REQUIRE(saved.state.outbox.size() == 1);  // the page, owed to the webhook
  CHECK(saved.state.outbox.begin()->second.migrations == "warehouse");
}

}  // namespace
}  // namespace driftwatch
