// The diagnosis and the migrating evidence where operators read them: check JSON, text output
// and the target's status page.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "driftwatch/render.hpp"
#include "driftwatch/status_page.hpp"

namespace driftwatch {

namespace {

TargetResult diagnosed() {
  TargetResult r;
  r.name = "dev";
  r.status = check_status::kDrift;
  r.revision.state = revision_state::kBehind;
  r.revision.current = {"0010_movements"};
  r.diagnosis = Diagnosis{drift_cause::kStampedNotMigrated,
                          std::string("0009_reporting"),
                          {"alembic_version records 0010_movements but <the schema> is 0009's"}};
  return r;
}

}  // namespace

TEST_CASE("diagnosis in check JSON and text") {
  auto j = nlohmann::json::parse(render_target_json(diagnosed()));
  CHECK(j["diagnosis"]["cause"] == "stamped_not_migrated");
  CHECK(j["diagnosis"]["matches_revision"] == "0009_reporting");
  CHECK(j["diagnosis"]["evidence"].size() == 1);
  CHECK(j["migrating"].is_null());
  TargetResult clean;
  clean.name = "prod";
  CHECK(nlohmann::json::parse(render_target_json(clean))["diagnosis"].is_null());
  const std::string text = render_check_text({diagnosed()}, false);
  CHECK(text.find("diagnosis: stamped_not_migrated (schema matches revision 0009_reporting)") !=
        std::string::npos);
}

TEST_CASE("diagnosis and migrating evidence on the target page, escaped") {
  TargetStatus status;
  status.config.name = "dev";
  TargetResult r = diagnosed();
  r.migrating = MigratingInfo{std::chrono::system_clock::time_point(std::chrono::seconds(1)),
                              false,
                              {"pid 7 (application_name 'etl') holds <lock>"}};
  status.last_result = std::make_shared<const TargetResult>(r);
  const std::string html =
      render_target_page(status, std::chrono::system_clock::time_point(std::chrono::seconds(9)));
  CHECK(html.find("<strong>stamped_not_migrated</strong>") != std::string::npos);
  CHECK(html.find("<code>0009_reporting</code>") != std::string::npos);
  CHECK(html.find("&lt;the schema&gt;") != std::string::npos);
  CHECK(html.find("holds &lt;lock&gt;") != std::string::npos);
}

}  // namespace driftwatch
