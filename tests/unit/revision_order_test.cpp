// Upgrade order of pending revisions, revision-set tips (depends_on) and unique prefixes.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "app/cmd_heads.hpp"
#include "driftwatch/revision_graph.hpp"

namespace driftwatch {

namespace {

using Strings = std::vector<std::string>;

RevisionGraph load_fixture(const std::string& name) {
  return RevisionGraph::load({std::string(DRIFTWATCH_FIXTURES_DIR) + "/revisions/" + name});
}

RevisionScript script(const std::string& revision, Strings down, Strings depends_on = {}) {
  RevisionScript s;
  s.file = revision + ".py";
  s.revision = revision;
  s.revision_line = 1;
  s.down_revisions = std::move(down);
  s.depends_on = std::move(depends_on);
  return s;
}

}  // namespace

TEST_CASE("pending is listed in the order alembic upgrade applies it, not alphabetically") {
  // Ids sort against the chain: z0 -> m1 -> a2 -> k3.
  RevisionGraph g = RevisionGraph::from_scripts(
      {script("z0", {}), script("m1", {"z0"}), script("a2", {"m1"}), script("k3", {"a2"})});
  REQUIRE_FALSE(g.has_errors());
  CHECK(g.behind({"z0"}).pending == Strings{"m1", "a2", "k3"});
  CHECK(g.behind({}).pending == Strings{"z0", "m1", "a2", "k3"});
  CHECK(g.apply_order({"a2"}) == Strings{"z0", "m1", "a2"});
}

TEST_CASE("apply order on a merge: every revision after its parents, branches in order") {
  RevisionGraph g = load_fixture("merge_two");
  const Strings order = g.apply_order(g.heads());
  CHECK(order == Strings{"aaaa0001", "bbbb0002", "cccc0003", "dddd0004", "eeee0005"});
  CHECK(g.behind({"cccc0003"}).pending == Strings{"bbbb0002", "dddd0004", "eeee0005"});
}

TEST_CASE("tips: a head another head depends on has no row of its own") {
  RevisionGraph g = load_fixture("multibase_labels");
  REQUIRE_FALSE(g.has_errors());
  // Heads core_2, billing_2, reports_base: billing_2 depends_on core_2 and reports_base
  // depends_on billing_2, so a database at head records reports_base alone.
  CHECK(g.heads().size() == 3);
  CHECK(g.tips(g.heads()) == Strings{"reports_base"});
  CHECK(g.tips({"billing_2", "core_2"}) == Strings{"billing_2"});
  CHECK(g.tips({"core_2"}) == Strings{"core_2"});
  // Unknown ids are kept as they are.
  CHECK(g.tips({"gone", "core_2"}) == Strings{"core_2", "gone"});
}

TEST_CASE("revision arguments accept unique prefixes and labels, like Alembic") {
  RevisionGraph g = load_fixture("merge_two");
  std::string error;
  CHECK(g.resolve_prefix("dddd", &error) == std::optional<std::string>("dddd0004"));
  CHECK(g.resolve_prefix("eeee0005", &error) == std::optional<std::string>("eeee0005"));
  CHECK_FALSE(g.resolve_prefix("ffff", &error).has_value());
  CHECK(error == "no revision 'ffff'");
  RevisionGraph ambiguous =
      RevisionGraph::from_scripts({script("ab12", {}), script("ab34", {"ab12"})});
  CHECK_FALSE(ambiguous.resolve_prefix("ab", &error).has_value());
  CHECK(error == "revision prefix 'ab' is ambiguous: it matches ab12, ab34");
  CHECK(ambiguous.resolve_prefix("ab3", &error) == std::optional<std::string>("ab34"));
  RevisionGraph labels = load_fixture("multibase_labels");
  CHECK(labels.resolve_prefix("core", &error) == std::optional<std::string>("core_base"));
}

TEST_CASE("heads --behind accepts a unique prefix and refuses an ambiguous one") {
  const std::string dir = std::string(DRIFTWATCH_FIXTURES_DIR) + "/revisions/merge_two";
  std::ostringstream out, err;
  CHECK(run_heads({"--versions", dir, "--behind", "ccc", "--format", "json"}, out, err) == 0);
  const auto j = nlohmann::json::parse(out.str());
  CHECK(j["behind"][0]["from"] == nlohmann::json::array({"cccc0003"}));
  CHECK(j["behind"][0]["pending"] == nlohmann::json::array({"bbbb0002", "dddd0004", "eeee0005"}));
  std::ostringstream out2, err2;
  // A prefix that matches nothing is a usage error.
  CHECK(run_heads({"--versions", dir, "--behind", "zz"}, out2, err2) == 2);
}

}  // namespace driftwatch
