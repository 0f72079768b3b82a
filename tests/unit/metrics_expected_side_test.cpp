// Metrics of the expected side (migrations_up / migrations_problem), target_up staying about
// the target, and drift_cause.
#include <doctest/doctest.h>

#include <string>

#include "driftwatch/metrics.hpp"

namespace driftwatch {

namespace {

TargetStatus failed_on(const std::string& name, const std::string& reason) {
  TargetStatus s;
  s.config.name = name;
  TargetResult r;
  r.name = name;
  r.status = check_status::kError;
  r.error = CheckError{reason, "target '" + name + "': broken"};
  s.last_result = std::make_shared<const TargetResult>(r);
  return s;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("an expected-side failure keeps target_up at 1; the migrations source reports it") {
  MetricsSnapshot snap;
  snap.version = "1";
  snap.targets.push_back(failed_on("prod", error_reason::kMigrations));
  snap.targets.push_back(failed_on("stage", error_reason::kExpectedSchema));
  snap.targets.push_back(failed_on("down", error_reason::kConnect));
  MigrationsStatus broken;
  broken.name = "warehouse";
  broken.problem = migrations_problem::kParseError;
  MigrationsStatus fine;
  fine.name = "billing";
  snap.migrations = {broken, fine};
  const std::string text = render_metrics(snap);
  CHECK(has_line(text, "driftwatch_target_up{target=\"prod\"} 1"));
  CHECK(has_line(text, "driftwatch_target_up{target=\"stage\"} 1"));
  CHECK(has_line(text, "driftwatch_target_up{target=\"down\"} 0"));
  CHECK(has_line(text, "driftwatch_migrations_up{migrations=\"warehouse\"} 0"));
  CHECK(has_line(text, "driftwatch_migrations_up{migrations=\"billing\"} 1"));
  CHECK(has_line(
      text, "driftwatch_migrations_problem{migrations=\"warehouse\",reason=\"parse_error\"} 1"));
  CHECK(has_line(
      text,
      "driftwatch_migrations_problem{migrations=\"warehouse\",reason=\"no_head_snapshot\"} 0"));
  CHECK(has_line(text,
                 "driftwatch_migrations_problem{migrations=\"billing\",reason=\"parse_error\"} 0"));
}

TEST_CASE("drift_cause: 1 for the diagnosed cause, 0 for the others") {
  MetricsSnapshot snap;
  TargetStatus s;
  s.config.name = "dev";
  TargetResult r;
  r.status = check_status::kDrift;
  r.revision.state = revision_state::kBehind;
  r.diagnosis = Diagnosis{drift_cause::kStampedNotMigrated, std::string("r1"), {}};
  s.last_result = std::make_shared<const TargetResult>(r);
  s.last_known = s.last_result;  // the scheduler keeps a drift result as the last known one
  snap.targets.push_back(s);
  const std::string text = render_metrics(snap);
  CHECK(has_line(text, "driftwatch_drift_cause{target=\"dev\",cause=\"stamped_not_migrated\"} 1"));
  CHECK(has_line(text, "driftwatch_drift_cause{target=\"dev\",cause=\"manual_change\"} 0"));
}

}  // namespace driftwatch
