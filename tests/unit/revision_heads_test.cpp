// `driftwatch heads`: arguments, JSON and text output, exit codes.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "app/cmd_heads.hpp"

namespace driftwatch {

namespace {

using Strings = std::vector<std::string>;
using Json = nlohmann::json;

std::string fixture(const std::string& name) {
  return std::string(DRIFTWATCH_FIXTURES_DIR) + "/revisions/" + name;
}

struct Run {
  int code = 0;
  std::string out;
  std::string err;
  Json json() const { return Json::parse(out); }
};

Run heads(const Strings& args) {
  std::ostringstream out;
  std::ostringstream err;
  Run run;
  run.code = run_heads(args, out, err);
  run.out = out.str();
  run.err = err.str();
  return run;
}

}  // namespace

TEST_CASE("heads JSON: a merged history with one head") {
  Run run = heads({"--versions", fixture("merge_two"), "--format", "json"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  Json j = run.json();
  CHECK(j["heads"] == Json::array({"eeee0005"}));
  CHECK(j["bases"] == Json::array({"aaaa0001"}));
  CHECK(j["revisions"] == 5);
  CHECK(j["merge_points"] == Json::array({"dddd0004"}));
  CHECK(j["branch_points"] == Json::array({"aaaa0001"}));
  CHECK(j["branch_labels"] == Json::object());
  CHECK(j["depends_on"] == Json::object());
  CHECK(j["errors"] == Json::array());
  CHECK(j["warnings"] == Json::array());
  CHECK_FALSE(j.contains("behind"));
  // Keys in the order DESIGN.md lists them.
  CHECK(run.out.find("\"heads\"") < run.out.find("\"bases\""));
  CHECK(run.out.find("\"errors\"") < run.out.find("\"warnings\""));
}

TEST_CASE("heads JSON: several heads exit 1, labels and dependencies") {
  Run run = heads({"--versions=" + fixture("multibase_labels"), "--format=json"});
  CHECK(run.code == 1);
  Json j = run.json();
  CHECK(j["heads"] == Json::array({"billing_2", "core_2", "reports_base"}));
  CHECK(j["bases"] == Json::array({"billing_base", "core_base", "reports_base"}));
  CHECK(j["branch_labels"] == Json({{"billing_base", {"billing"}},
                                    {"core_base", {"core"}},
                                    {"reports_base", {"analytics", "reports"}}}));
  CHECK(j["depends_on"] == Json({{"billing_2", {"core_2"}},
                                 {"billing_base", {"core"}},
                                 {"reports_base", {"billing_2", "core"}}}));
}

TEST_CASE("heads --behind: one entry for the set of revisions given") {
  Run run = heads({"--versions", fixture("merge_two"), "--behind", "cccc0003", "--behind",
                   "bbbb0002", "--format", "json"});
  CHECK(run.code == 0);
  Json j = run.json();
  REQUIRE(j["behind"].size() == 1);
  CHECK(j["behind"][0]["from"] == Json::array({"bbbb0002", "cccc0003"}));
  CHECK(j["behind"][0]["behind_by"] == 2);
  CHECK(j["behind"][0]["pending"] == Json::array({"dddd0004", "eeee0005"}));

  Run at_head =
      heads({"--versions", fixture("merge_two"), "--behind", "eeee0005", "--format", "json"});
  CHECK(at_head.json()["behind"][0]["behind_by"] == 0);
  CHECK(at_head.json()["behind"][0]["pending"] == Json::array());

  // A branch label names the revision carrying it; depends_on counts as ancestry.
  Run label = heads(
      {"--versions", fixture("multibase_labels"), "--behind", "billing_2", "--format", "json"});
  CHECK(label.json()["behind"][0]["pending"] == Json::array({"reports_base"}));
}

TEST_CASE("heads --behind an unknown revision is a usage error") {
  Run run = heads({"--versions", fixture("merge_two"), "--behind", "nope", "--format", "json"});
  CHECK(run.code == 2);
  CHECK(run.out.empty());
  CHECK(run.err.find("nope") != std::string::npos);
}

TEST_CASE("heads with errors in the files: the report is printed and the exit code is 2") {
  Run run = heads({"--versions", fixture("error_missing_parent"), "--format", "json"});
  CHECK(run.code == 2);
  Json j = run.json();
  REQUIRE(j["errors"].size() == 1);
  CHECK(j["errors"][0]["file"] == fixture("error_missing_parent") + "/b.py");
  CHECK(j["errors"][0]["line"] == 10);
  CHECK(j["errors"][0]["message"] ==
        "down_revision 'does_not_exist' of revision 'orphan' is not present");

  Run missing_dir = heads({"--versions", fixture("no_such_dir"), "--format", "json"});
  CHECK(missing_dir.code == 2);
  CHECK(missing_dir.json()["errors"][0]["file"] == fixture("no_such_dir"));
  CHECK(missing_dir.json()["errors"][0]["line"] == 0);
}

TEST_CASE("heads warnings do not change the exit code") {
  Run run = heads({"--versions", fixture("warn_duplicate_id"), "--format", "json"});
  CHECK(run.code == 0);
  Json j = run.json();
  REQUIRE(j["warnings"].size() == 1);
  CHECK(j["warnings"][0]["line"] == 9);
  CHECK(j["revisions"] == 3);
}

TEST_CASE("heads --recursive and several --versions") {
  CHECK(heads({"--versions", fixture("nested"), "--format", "json"}).json()["revisions"] == 2);
  Run deep = heads({"--versions", fixture("nested"), "--recursive", "--format", "json"});
  CHECK(deep.json()["revisions"] == 4);
  CHECK(deep.json()["heads"] == Json::array({"sub_4"}));
  Run two = heads({"--versions", fixture("linear_plain"), "--versions", fixture("annotated"),
                   "--format", "json"});
  CHECK(two.code == 1);
  CHECK(two.json()["revisions"] == 6);
}

TEST_CASE("heads with no revisions") {
  Run run = heads({"--versions", fixture("empty"), "--format", "json"});
  CHECK(run.code == 0);
  CHECK(run.json()["heads"] == Json::array());
  CHECK(run.json()["revisions"] == 0);
}

TEST_CASE("heads text output") {
  Run run = heads({"--versions", fixture("merge_two"), "--behind", "aaaa0001"});
  CHECK(run.code == 0);
  CHECK(run.out.find("revisions: 5\n") != std::string::npos);
  CHECK(run.out.find("heads (1): eeee0005\n") != std::string::npos);
  CHECK(run.out.find("bases (1): aaaa0001\n") != std::string::npos);
  CHECK(run.out.find("merge points: dddd0004\n") != std::string::npos);
  CHECK(run.out.find("branch points: aaaa0001\n") != std::string::npos);
  CHECK(run.out.find("behind from aaaa0001: 4 pending\n") != std::string::npos);
  CHECK(run.out.find("result: single head\n") != std::string::npos);

  Run labels = heads({"--versions", fixture("multibase_labels")});
  CHECK(labels.code == 1);
  CHECK(labels.out.find("  reports_base: analytics, reports\n") != std::string::npos);
  CHECK(labels.out.find("result: several heads") != std::string::npos);

  Run broken = heads({"--versions", fixture("error_cycle")});
  CHECK(broken.code == 2);
  CHECK(broken.out.find("errors (1):\n  " + fixture("error_cycle") + "/1.py:10: ") !=
        std::string::npos);
}

TEST_CASE("heads usage errors") {
  CHECK(heads({}).code == 2);
  CHECK(heads({"--format", "json"}).code == 2);
  CHECK(heads({"--versions", fixture("merge_two"), "--format", "yaml"}).code == 2);
  CHECK(heads({"--versions", fixture("merge_two"), "--bogus"}).code == 2);
  CHECK(heads({"--versions"}).code == 2);
  CHECK(heads({"--versions", fixture("merge_two"), "stray"}).code == 2);
  Run usage = heads({"--bogus"});
  CHECK(usage.out.empty());
  CHECK(usage.err.find("usage: driftwatch heads") != std::string::npos);
  Run help = heads({"--help"});
  CHECK(help.code == 0);
  CHECK(help.out.find("usage: driftwatch heads") != std::string::npos);
}

}  // namespace driftwatch
