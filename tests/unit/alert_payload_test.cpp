// Payload shapes of the four senders, and the retry delay rule.
#include <doctest/doctest.h>

#include "alerts/delivery.hpp"
#include "alerts/senders.hpp"

namespace driftwatch {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::minutes;

const SystemTime kT0 = SystemTime(std::chrono::seconds(1'700'000'000));  // 2023-11-14T22:13:20Z

Notification firing() {
  Notification n;
  n.receiver = "slack";
  n.receiver_kind = receiver_kind::kSlack;
  n.alertname = alertname::kSchemaDrift;
  n.target = "prod";
  n.severity = Severity::kCritical;
  n.labels = {{"alertname", n.alertname}, {"target", "prod"}, {"severity", "critical"}};
  n.target_labels = {{"team", "data"}};
  n.annotations = {{"summary", "Schema drift on prod: 1 critical"},
                   {"description", "The live schema of target prod differs <a>."},
                   {"target_label_team", "data"}};
  Finding f;
  f.kind = "extra";
  f.object_type = ObjectType::kColumn;
  f.object = "public.eval.note";
  f.severity = Severity::kCritical;
  f.risk = risk::kNotNullViolation;
  f.message = "Column public.eval.note is NOT NULL without default & not expected.";
  f.fix_sql = "ALTER TABLE public.eval DROP COLUMN note;";
  n.top_findings = {f};
  n.findings_total = 3;
  n.starts_at = kT0;
  n.dedup_key = "driftwatch/prod/DriftwatchSchemaDrift";
  n.fingerprint = "abc";
  n.status_page_link = "https://dw.example/targets/prod";
  n.alertmanager_validity = minutes(15);
  return n;
}

Notification resolved() {
  Notification n = firing();
  n.state = "resolved";
  n.reason = "resolved";
  n.ends_at = kT0 + minutes(30);
  return n;
}

TEST_CASE("alertmanager: labels exactly alertname/target/severity, endsAt in the future") {
  const json alerts = alertmanager_payload(firing(), kT0 + minutes(1));
  REQUIRE(alerts.is_array());
  REQUIRE(alerts.size() == 1);
  const json& a = alerts[0];
  CHECK(
      a["labels"] ==
      json({{"alertname", "DriftwatchSchemaDrift"}, {"target", "prod"}, {"severity", "critical"}}));
  CHECK(a["annotations"]["summary"] == "Schema drift on prod: 1 critical");
  CHECK(a["annotations"]["target_label_team"] == "data");
  CHECK(a["startsAt"] == "2023-11-14T22:13:20.000Z");
  CHECK(a["endsAt"] == "2023-11-14T22:29:20.000Z");  // send time + 15m
  CHECK(a["generatorURL"] == "https://dw.example/targets/prod");
  for (const auto& [key, value] : a["annotations"].items()) CHECK(value.is_string());
}

TEST_CASE("alertmanager: resolution has endsAt = resolve time; severity change resolves old") {
  const json r = alertmanager_payload(resolved(), kT0 + minutes(45));
  REQUIRE(r.size() == 1);
  CHECK(r[0]["endsAt"] == "2023-11-14T22:43:20.000Z");

  Notification update = firing();
  update.reason = "update";
  update.previous_severity = Severity::kWarning;
  const json u = alertmanager_payload(update, kT0 + minutes(2));
  REQUIRE(u.size() == 2);
  CHECK(u[0]["labels"]["severity"] == "critical");
  CHECK(u[1]["labels"]["severity"] == "warning");
  CHECK(u[1]["endsAt"] == "2023-11-14T22:15:20.000Z");
}

TEST_CASE("slack: text and blocks with target, state, findings, risk, fix SQL and link") {
  const json s = slack_payload(firing());
  const std::string text = s["text"];
  CHECK(text.find("[FIRING:critical] DriftwatchSchemaDrift on prod") != std::string::npos);
  const std::string all = s["blocks"].dump();
  CHECK(all.find("*Target*\\nprod") != std::string::npos);
  CHECK(all.find("not_null_violation") != std::string::npos);
  CHECK(all.find("ALTER TABLE public.eval DROP COLUMN note;") != std::string::npos);
  CHECK(all.find("<https://dw.example/targets/prod|driftwatch status page>") != std::string::npos);
  CHECK(all.find("&amp; not expected") != std::string::npos);  // mrkdwn escaping
  CHECK(all.find("&lt;a&gt;") != std::string::npos);
  CHECK(all.find("2 more finding(s)") != std::string::npos);
  for (const json& block : s["blocks"]) CHECK(block.contains("type"));

  const json r = slack_payload(resolved());
  CHECK(std::string(r["text"]).find("[RESOLVED:critical]") != std::string::npos);
  CHECK(r["blocks"].dump().find("ALTER TABLE") == std::string::npos);
}

TEST_CASE("pagerduty: trigger and resolve share the dedup_key") {
  const json t = pagerduty_payload(firing(), "KEY123");
  CHECK(t["routing_key"] == "KEY123");
  CHECK(t["event_action"] == "trigger");
  CHECK(t["dedup_key"] == "driftwatch/prod/DriftwatchSchemaDrift");
  CHECK(t["payload"]["severity"] == "critical");
  CHECK(t["payload"]["source"] == "driftwatch/prod");
  CHECK(t["payload"]["summary"] == "Schema drift on prod: 1 critical");
  CHECK(t["payload"]["custom_details"]["top_findings"][0]["fix_sql"] ==
        "ALTER TABLE public.eval DROP COLUMN note;");
  CHECK(t["links"][0]["href"] == "https://dw.example/targets/prod");
  const json r = pagerduty_payload(resolved(), "KEY123");
  CHECK(r == json({{"routing_key", "KEY123"},
                   {"dedup_key", "driftwatch/prod/DriftwatchSchemaDrift"},
                   {"event_action", "resolve"}}));
  Notification longer = firing();
  longer.annotations["summary"] = std::string(3000, 'x');
  CHECK(std::string(pagerduty_payload(longer, "k")["payload"]["summary"]).size() == 1024);
}

TEST_CASE("webhook: documented driftwatch-alert/1 payload") {
  const json w = webhook_payload(firing());
  CHECK(w["version"] == "driftwatch-alert/1");
  CHECK(w["state"] == "firing");
  CHECK(w["reason"] == "new");
  CHECK(w["severity"] == "critical");
  CHECK(w["previous_severity"].is_null());
  CHECK(w["ends_at"].is_null());
  CHECK(w["ack"].is_null());
  CHECK(w["starts_at"] == "2023-11-14T22:13:20Z");
  CHECK(w["findings"][0]["risk"] == "not_null_violation");
  CHECK(w["findings"][0]["object_type"] == "column");
  CHECK(w["findings_total"] == 3);
  CHECK(w["target_labels"]["team"] == "data");
  Notification acked = resolved();
  acked.ack = Acknowledgement{"prod", "alice", "on it", kT0, kT0 + minutes(60), "abc"};
  const json r = webhook_payload(acked);
  CHECK(r["state"] == "resolved");
  CHECK(r["ends_at"] == "2023-11-14T22:43:20Z");
  CHECK(r["ack"]["owner"] == "alice");
  CHECK(r["ack"]["expires_at"] == "2023-11-14T23:13:20Z");
}

TEST_CASE("retry delay: exponential, at least Retry-After, capped") {
  DeliveryOptions o;
  o.backoff_base = milliseconds(1000);
  o.backoff_max = milliseconds(60000);
  CHECK(retry_delay(o, 1, std::nullopt) == milliseconds(1000));
  CHECK(retry_delay(o, 2, std::nullopt) == milliseconds(2000));
  CHECK(retry_delay(o, 4, std::nullopt) == milliseconds(8000));
  CHECK(retry_delay(o, 30, std::nullopt) == milliseconds(60000));
  CHECK(retry_delay(o, 1, milliseconds(7000)) == milliseconds(7000));
  CHECK(retry_delay(o, 4, milliseconds(3000)) == milliseconds(8000));
  CHECK(retry_delay(o, 1, milliseconds(3600000)) == milliseconds(60000));
}

TEST_CASE("is_retryable: 429, 5xx and transport errors only") {
  CHECK(is_retryable({429, "", std::nullopt}));
  CHECK(is_retryable({503, "", std::nullopt}));
  CHECK(is_retryable({0, "Couldn't connect to server", std::nullopt}));
  CHECK_FALSE(is_retryable({400, "", std::nullopt}));
  CHECK_FALSE(is_retryable({404, "", std::nullopt}));
  CHECK(is_success({202, "", std::nullopt}));
  CHECK_FALSE(is_success({503, "", std::nullopt}));
}

TEST_CASE("resolve_secret reads env and files, never echoing the value in errors") {
  std::string error;
  UrlSource env;
  env.env = "DRIFTWATCH_TEST_SURELY_UNSET_VAR";
  CHECK_FALSE(resolve_secret(env, &error).has_value());
  CHECK(error.find("DRIFTWATCH_TEST_SURELY_UNSET_VAR") != std::string::npos);
  ::setenv("DRIFTWATCH_TEST_SECRET_VAR", " s3cret\n", 1);
  env.env = "DRIFTWATCH_TEST_SECRET_VAR";
  CHECK(resolve_secret(env, &error) == std::optional<std::string>("s3cret"));
  UrlSource file;
  file.file = "/nonexistent/driftwatch/secret";
  CHECK_FALSE(resolve_secret(file, &error).has_value());
  CHECK(error.find("/nonexistent/driftwatch/secret") != std::string::npos);
}

Notification source_alert() {
  Notification n = firing();
  n.alertname = alertname::kMigrationsBroken;
  n.target = "warehouse";
  n.migrations = "warehouse";
  n.severity = Severity::kWarning;
  n.labels = {{"alertname", n.alertname},
              {"migrations", "warehouse"},
              {"reason", "reference_unreachable"},
              {"severity", "warning"}};
  n.previous_labels = n.labels;
  n.previous_labels["reason"] = "parse_error";
  n.reason = "update";
  n.target_labels.clear();
  n.top_findings.clear();
  n.findings_total = 0;
  n.dedup_key = "driftwatch/migrations/warehouse/DriftwatchMigrationsBroken";
  return n;
}

TEST_CASE("a migrations source's alert: its labels at Alertmanager, no target elsewhere") {
  const Notification n = source_alert();
  const json am = alertmanager_payload(n, kT0 + minutes(1));
  REQUIRE(am.size() == 2);  // the old reason is another alert there: resolved
  CHECK(am[0]["labels"] == json(n.labels));
  CHECK(am[0]["labels"].count("target") == 0);
  CHECK(am[1]["labels"]["reason"] == "parse_error");
  CHECK(am[1]["endsAt"] == "2023-11-14T22:14:20.000Z");
  const json hook = webhook_payload(n);
  CHECK(hook["target"].is_null());
  CHECK(hook["migrations"] == "warehouse");
  CHECK(webhook_payload(firing())["migrations"].is_null());
  const json pd = pagerduty_payload(n, "key");
  CHECK(pd["payload"]["source"] == "driftwatch/migrations/warehouse");
  CHECK(pd["payload"]["component"] == "warehouse");
  CHECK(pd["dedup_key"] == n.dedup_key);
  CHECK(slack_payload(n)["text"].get<std::string>().find("on migrations warehouse") !=
        std::string::npos);
}

}  // namespace
}  // namespace driftwatch
