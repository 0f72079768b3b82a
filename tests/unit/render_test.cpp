#include "driftwatch/render.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>

namespace driftwatch {
namespace {

using Json = nlohmann::json;

std::set<std::string> keys_of(const Json& object) {
  std::set<std::string> keys;
  for (auto it = object.begin(); it != object.end(); ++it) keys.insert(it.key());
  return keys;
}

Finding critical_column() {
  Finding f;
  f.kind = "extra";
  f.object_type = ObjectType::kColumn;
  f.object = "public.eval.owner";
  f.severity = Severity::kCritical;
  f.risk = risk::kNotNullViolation;
  f.actual = "text NOT NULL";
  f.message = "Column public.eval.owner exists in the database but not in the migrations.";
  f.fix_sql = "ALTER TABLE public.eval\n  ALTER COLUMN owner DROP NOT NULL;";
  return f;
}

Finding info_index() {
  Finding f;
  f.kind = "changed";
  f.object_type = ObjectType::kIndex;
  f.object = "public.eval_idx";
  f.attribute = "definition";
  f.severity = Severity::kInfo;
  f.expected = "CREATE INDEX a";
  f.actual = "CREATE INDEX b";
  f.message = "Index changed.";
  return f;
}

std::vector<TargetResult> three_targets() {
  TargetResult ok;
  ok.name = "dev";
  ok.status = check_status::kOk;
  ok.revision.state = revision_state::kAtHead;
  ok.revision.current = {"c3"};
  ok.revision.expected_heads = {"c3"};
  ok.compared_against = "snapshot of revision c3 (head)";
  ok.checked_at = std::chrono::system_clock::from_time_t(1714564800);  // 2024-05-01T12:00:00Z
  ok.duration_seconds = 0.25;

  TargetResult drift = ok;
  drift.name = "prod";
  drift.status = check_status::kDrift;
  drift.revision.state = revision_state::kBehind;
  drift.revision.current = {"a1"};
  drift.revision.pending = {"b2", "c3"};
  drift.revision.behind_by = 2;
  drift.findings = {critical_column(), info_index()};

  TargetResult error;
  error.name = "staging";
  error.status = check_status::kError;
  error.error = CheckError{error_reason::kConnect, "target staging: connection refused"};
  error.duration_seconds = 30;
  return {ok, drift, error};
}

}  // namespace

TEST_CASE("finding JSON has every key with null for absent values") {
  Json j = Json::parse(finding_to_json_text(critical_column()));
  CHECK(keys_of(j) == std::set<std::string>{"kind", "object_type", "object", "attribute",
                                            "severity", "risk", "expected", "actual", "message",
                                            "fix_sql"});
  CHECK(j["kind"] == "extra");
  CHECK(j["object_type"] == "column");
  CHECK(j["object"] == "public.eval.owner");
  CHECK(j["attribute"].is_null());
  CHECK(j["severity"] == "critical");
  CHECK(j["risk"] == "not_null_violation");
  CHECK(j["expected"].is_null());
  CHECK(j["actual"] == "text NOT NULL");
  CHECK(j["fix_sql"] == "ALTER TABLE public.eval\n  ALTER COLUMN owner DROP NOT NULL;");

  Json changed = Json::parse(finding_to_json_text(info_index()));
  CHECK(changed["attribute"] == "definition");
  CHECK(changed["fix_sql"].is_null());
  CHECK(changed["severity"] == "info");

  Json list = Json::parse(render_findings_json({critical_column(), info_index()}));
  REQUIRE(list.is_array());
  CHECK(list.size() == 2);
  CHECK(list[1]["object"] == "public.eval_idx");
}

TEST_CASE("check JSON document per DESIGN.md") {
  std::string text = render_check_json(three_targets());
  CHECK(text.back() == '\n');
  Json doc = Json::parse(text);
  CHECK(keys_of(doc) == std::set<std::string>{"targets"});
  REQUIRE(doc["targets"].size() == 3);
  for (const Json& t : doc["targets"]) {
    CHECK(keys_of(t) == std::set<std::string>{"name", "status", "error", "revision", "findings",
                                              "diagnosis", "migrating", "compared_against",
                                              "checked_at", "duration_seconds"});
    CHECK(keys_of(t["revision"]) ==
          std::set<std::string>{"state", "current", "expected_heads", "pending", "behind_by"});
  }
  const Json& dev = doc["targets"][0];
  CHECK(dev["status"] == "ok");
  CHECK(dev["error"].is_null());
  CHECK(dev["checked_at"] == "2024-05-01T12:00:00Z");
  CHECK(dev["duration_seconds"] == 0.25);
  CHECK(dev["revision"]["state"] == "at_head");
  CHECK(dev["findings"] == Json::array());
  const Json& prod = doc["targets"][1];
  CHECK(prod["revision"]["pending"] == Json::array({"b2", "c3"}));
  CHECK(prod["revision"]["behind_by"] == 2);
  CHECK(prod["findings"].size() == 2);
  CHECK(prod["findings"][0]["severity"] == "critical");
  const Json& staging = doc["targets"][2];
  CHECK(staging["status"] == "error");
  CHECK(staging["error"] ==
        Json{{"reason", "connect"}, {"message", "target staging: connection refused"}});
  CHECK(staging["revision"]["state"].is_null());
  CHECK(staging["checked_at"].is_null());  // never checked successfully: no timestamp invented

  // The HTTP API's single target is the same object.
  CHECK(Json::parse(render_target_json(three_targets()[1])) == prod);
}

TEST_CASE("diff JSON redacts passwords in sources") {
  Json doc = Json::parse(render_diff_json(
      "snapshots/c3.json", "postgresql://app:hunter2@db.internal/warehouse", {info_index()}));
  CHECK(keys_of(doc) == std::set<std::string>{"expected", "actual", "findings"});
  CHECK(doc["expected"] == "snapshots/c3.json");
  std::string actual = doc["actual"];
  CHECK(actual.find("hunter2") == std::string::npos);
  CHECK(actual.find("db.internal/warehouse") != std::string::npos);
  CHECK(doc["findings"].size() == 1);
}

TEST_CASE("check text output") {
  std::string text = render_check_text(three_targets(), /*color=*/false);
  CHECK(text.find('\033') == std::string::npos);
  CHECK(text.find("dev  ok  revision: at head (c3)  findings: none  (0.25s)\n") !=
        std::string::npos);
  CHECK(text.find("prod  drift  revision: behind by 2 (pending: b2, c3)  findings: 1 critical, "
                  "1 info") != std::string::npos);
  CHECK(text.find("  error (connect): target staging: connection refused\n") != std::string::npos);
  // Critical finding before the info one, with message, risk and indented multi-line fix.
  size_t critical = text.find("  CRITICAL  column public.eval.owner [extra]\n");
  size_t info = text.find("  INFO      index public.eval_idx (definition) [changed]\n");
  REQUIRE(critical != std::string::npos);
  REQUIRE(info != std::string::npos);
  CHECK(critical < info);
  CHECK(text.find("            risk: not_null_violation\n") != std::string::npos);
  CHECK(text.find("            fix:  ALTER TABLE public.eval\n"
                  "                    ALTER COLUMN owner DROP NOT NULL;\n") != std::string::npos);
  CHECK(text.size() > 40);
  CHECK(text.substr(text.size() - 35) == "\n3 targets: 1 ok, 1 drift, 1 error\n");

  std::string colored = render_check_text(three_targets(), /*color=*/true);
  CHECK(colored.find("\033[1;31mCRITICAL") != std::string::npos);
  CHECK(colored.find("\033[0m") != std::string::npos);
}

TEST_CASE("findings text for diff") {
  CHECK(render_findings_text({}, false) == "0 findings\n");
  std::string text = render_findings_text({critical_column()}, false);
  CHECK(text.rfind("CRITICAL  column public.eval.owner [extra]\n", 0) == 0);
  CHECK(text.find("\n1 finding: 1 critical\n") != std::string::npos);
}

TEST_CASE("exit codes") {
  auto targets = three_targets();
  CHECK(exit_code_for(targets) == 3);
  targets.pop_back();
  CHECK(exit_code_for(targets) == 1);
  targets.pop_back();
  CHECK(exit_code_for(targets) == 0);

  TargetResult behind_only = targets[0];
  behind_only.revision.state = revision_state::kBehind;
  CHECK(exit_code_for({behind_only}) == 1);

  TargetResult migrating = targets[0];
  migrating.status = check_status::kMigrating;
  migrating.revision.state = revision_state::kMigrating;
  migrating.findings = {critical_column()};
  CHECK(exit_code_for({targets[0], migrating}) == 0);
  CHECK(exit_code_for({}) == 0);
}

}  // namespace driftwatch
