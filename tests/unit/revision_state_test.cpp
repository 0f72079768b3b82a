// Revision states: how alembic_version rows relate to the graph (Alembic semantics).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "driftwatch/revision_graph.hpp"

namespace driftwatch {

namespace {

using Strings = std::vector<std::string>;

RevisionScript script(const std::string& revision, Strings down, Strings depends = {}) {
  RevisionScript s;
  s.file = revision + ".py";
  s.revision = revision;
  s.revision_line = 1;
  s.down_revisions = std::move(down);
  s.down_revision_line = 2;
  s.depends_on = std::move(depends);
  s.depends_on_line = 3;
  return s;
}

VersionTableRead rows(Strings values) {
  VersionTableRead read;
  read.exists = true;
  read.rows = std::move(values);
  return read;
}

// a -> b -> c (single head c)
RevisionGraph linear() {
  return RevisionGraph::from_scripts({script("a", {}), script("b", {"a"}), script("c", {"b"})});
}

// base -> l1 -> l2 and base -> r1 -> r2 (heads l2, r2)
RevisionGraph branched() {
  return RevisionGraph::from_scripts({script("base", {}), script("l1", {"base"}),
                                      script("l2", {"l1"}), script("r1", {"base"}),
                                      script("r2", {"r1"})});
}

// base -> l, base -> r, merge (l, r) -> m (single head m)
RevisionGraph merged() {
  return RevisionGraph::from_scripts(
      {script("base", {}), script("l", {"base"}), script("r", {"base"}), script("m", {"l", "r"})});
}

}  // namespace

TEST_CASE("at head, behind, and expected_heads always filled") {
  RevisionGraph g = linear();
  RevisionReport at = revision_report(g, rows({"c"}));
  CHECK(at.state == revision_state::kAtHead);
  CHECK(at.current == Strings{"c"});
  CHECK(at.expected_heads == Strings{"c"});
  CHECK(at.pending.empty());
  CHECK(at.behind_by == 0);

  RevisionReport behind = revision_report(g, rows({"a"}));
  CHECK(behind.state == revision_state::kBehind);
  CHECK(behind.pending == Strings{"b", "c"});
  CHECK(behind.behind_by == 2);
  CHECK(behind.expected_heads == Strings{"c"});
}

TEST_CASE("migrating wins over everything else") {
  VersionTableRead read = rows({"unknown"});
  read.locked = true;
  RevisionReport report = revision_report(linear(), read);
  CHECK(report.state == revision_state::kMigrating);
  CHECK(report.current == Strings{"unknown"});
  CHECK(report.expected_heads == Strings{"c"});

  VersionTableRead missing;
  missing.locked = true;
  CHECK(revision_report(linear(), missing).state == revision_state::kMigrating);
}

TEST_CASE("no version table and an empty one: everything is pending") {
  VersionTableRead missing;  // exists = false
  RevisionReport none = revision_report(linear(), missing);
  CHECK(none.state == revision_state::kNoVersionTable);
  CHECK(none.current.empty());
  CHECK(none.pending == Strings{"a", "b", "c"});
  CHECK(none.behind_by == 3);

  RevisionReport empty = revision_report(linear(), rows({}));
  CHECK(empty.state == revision_state::kEmptyVersionTable);
  CHECK(empty.behind_by == 3);
}

TEST_CASE("a row the code does not have is an unknown revision") {
  RevisionReport one = revision_report(linear(), rows({"zzz"}));
  CHECK(one.state == revision_state::kUnknownRevision);
  CHECK(one.current == Strings{"zzz"});
  CHECK(one.expected_heads == Strings{"c"});
  CHECK(one.pending.empty());
  CHECK(one.behind_by == 0);
  // Also when another row is known (e.g. the head plus a hotfix from another branch).
  CHECK(revision_report(linear(), rows({"c", "hotfix"})).state == revision_state::kUnknownRevision);
  // A branch label is not a revision id: alembic_version never stores one.
  RevisionScript labelled = script("a", {});
  labelled.branch_labels = {"lbl"};
  RevisionGraph g = RevisionGraph::from_scripts({labelled});
  CHECK(revision_report(g, rows({"lbl"})).state == revision_state::kUnknownRevision);
}

TEST_CASE("a branched graph: one row per head is at head, fewer is behind") {
  RevisionGraph g = branched();
  RevisionReport both = revision_report(g, rows({"r2", "l2"}));
  CHECK(both.state == revision_state::kAtHead);
  CHECK(both.current == Strings{"l2", "r2"});  // sorted
  CHECK(both.expected_heads == Strings{"l2", "r2"});

  RevisionReport one_branch = revision_report(g, rows({"l2"}));
  CHECK(one_branch.state == revision_state::kBehind);
  CHECK(one_branch.pending == Strings{"r1", "r2"});

  // Behind on both branches: two legitimate rows, still just behind.
  RevisionReport both_behind = revision_report(g, rows({"l1", "r1"}));
  CHECK(both_behind.state == revision_state::kBehind);
  CHECK(both_behind.pending == Strings{"l2", "r2"});
  CHECK(both_behind.behind_by == 2);
}

TEST_CASE("two rows whose branches the code has merged: the merge is pending") {
  // `alembic upgrade head` applies m and leaves one row: an ordinary pending migration.
  RevisionReport report = revision_report(merged(), rows({"l", "r"}));
  CHECK(report.state == revision_state::kBehind);
  CHECK(report.pending == Strings{"m"});
  CHECK(report.behind_by == 1);
}

TEST_CASE("rows that overlap are multiple heads in the database") {
  // Alembic never writes a row next to one of its ancestors and refuses to upgrade from
  // such a table ("Requested revision c overlaps with other requested revisions a").
  RevisionReport report = revision_report(linear(), rows({"c", "a"}));
  CHECK(report.state == revision_state::kMultipleHeadsInDb);
  CHECK(report.current == Strings{"a", "c"});
  CHECK(report.pending.empty());

  RevisionReport behind_too = revision_report(linear(), rows({"a", "b"}));
  CHECK(behind_too.state == revision_state::kMultipleHeadsInDb);
  CHECK(behind_too.pending == Strings{"c"});  // still filled
  CHECK(behind_too.behind_by == 1);

  CHECK(revision_report(linear(), rows({"c", "c"})).state == revision_state::kMultipleHeadsInDb);
  CHECK(revision_report(merged(), rows({"l", "m"})).state == revision_state::kMultipleHeadsInDb);
}

TEST_CASE("a head that another head depends on") {
  // h is a base nobody names in down_revision; x depends on it: both are heads. After
  // `alembic upgrade heads` alembic_version holds only x (the dependency's row is merged).
  RevisionGraph g =
      RevisionGraph::from_scripts({script("p", {}), script("h", {}), script("x", {"p"}, {"h"})});
  REQUIRE(g.heads() == Strings{"h", "x"});
  RevisionReport only_x = revision_report(g, rows({"x"}));
  CHECK(only_x.state == revision_state::kAtHead);
  CHECK(only_x.expected_heads == Strings{"h", "x"});
  // Both rows overlap through the dependency: Alembic refuses to upgrade from there.
  CHECK(revision_report(g, rows({"h", "x"})).state == revision_state::kMultipleHeadsInDb);
  // p and h applied, x pending.
  RevisionReport before = revision_report(g, rows({"h", "p"}));
  CHECK(before.state == revision_state::kBehind);
  CHECK(before.pending == Strings{"x"});
  // Only p applied: x needs h as well.
  CHECK(revision_report(g, rows({"p"})).pending == Strings{"h", "x"});
}

}  // namespace driftwatch
