// The revision graph: fixtures of real Alembic files, errors, ancestry and speed.
#include "driftwatch/revision_graph.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace driftwatch {

namespace {

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

std::string fixture(const std::string& name) {
  return std::string(DRIFTWATCH_FIXTURES_DIR) + "/revisions/" + name;
}

RevisionGraph load_fixture(const std::string& name, bool recursive = false) {
  return RevisionGraph::load({fixture(name)}, recursive);
}

// Errors as "basename:line: message", for readable comparisons.
Strings issues(const std::vector<RevisionIssue>& list) {
  Strings out;
  for (const RevisionIssue& issue : list) {
    out.push_back(fs::path(issue.file).filename().string() + ":" + std::to_string(issue.line) +
                  ": " + issue.message);
  }
  return out;
}

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("dw_revision_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  void write(const std::string& relative, const std::string& text) const {
    fs::path file = path_ / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }

 private:
  fs::path path_;
};

std::string migration(const std::string& revision, const std::string& down) {
  return "from alembic import op\nrevision = '" + revision + "'\ndown_revision = " + down +
         "\n\ndef upgrade():\n    pass\n";
}

RevisionScript script(const std::string& revision, Strings down, Strings depends = {},
                      Strings labels = {}) {
  RevisionScript s;
  s.file = revision + ".py";
  s.revision = revision;
  s.revision_line = 1;
  s.down_revisions = std::move(down);
  s.down_revision_line = 2;
  s.depends_on = std::move(depends);
  s.depends_on_line = 3;
  s.branch_labels = std::move(labels);
  s.branch_labels_line = 4;
  return s;
}

}  // namespace

TEST_CASE("linear fixture: plain assignments, __init__.py and lock files skipped") {
  RevisionGraph g = load_fixture("linear_plain");
  CHECK(issues(g.errors()).empty());
  CHECK(g.warnings().empty());
  CHECK(g.size() == 3);
  CHECK(g.revisions() == Strings{"0001_initial", "0002_users", "0003_orders"});
  CHECK(g.heads() == Strings{"0003_orders"});
  CHECK(g.bases() == Strings{"0001_initial"});
  CHECK(g.merge_points().empty());
  CHECK(g.branch_points().empty());
  CHECK_FALSE(g.contains("not_a_revision"));  // from __init__.py
  CHECK_FALSE(g.contains("lock"));            // from .#0003_orders.py
  const RevisionScript* users = g.find("0002_users");
  REQUIRE(users != nullptr);
  CHECK(users->revision_line == 1);  // before the docstring and the imports
  CHECK(fs::path(users->file).filename() == "0002_users.py");
}

TEST_CASE("annotated fixture") {
  RevisionGraph g = load_fixture("annotated");
  CHECK(issues(g.errors()).empty());
  CHECK(g.heads() == Strings{"c0ffee000001"});
  CHECK(g.bases() == Strings{"1a2b3c4d5e6f"});
  CHECK(g.size() == 3);
}

TEST_CASE("quoting fixture: strings, the docstring's Revises line and blocks are ignored") {
  RevisionGraph g = load_fixture("quoting");
  CHECK(issues(g.errors()).empty());
  CHECK(g.revisions() == Strings{"base_rev", "second_rev", "third_rev"});
  CHECK(g.heads() == Strings{"third_rev"});
  REQUIRE(g.find("second_rev") != nullptr);
  CHECK(g.find("second_rev")->down_revisions == Strings{"base_rev"});
}

TEST_CASE("merge fixtures: two and three parents") {
  RevisionGraph two = load_fixture("merge_two");
  CHECK(issues(two.errors()).empty());
  CHECK(two.heads() == Strings{"eeee0005"});
  CHECK(two.bases() == Strings{"aaaa0001"});
  CHECK(two.merge_points() == Strings{"dddd0004"});
  CHECK(two.branch_points() == Strings{"aaaa0001"});
  CHECK(two.find("dddd0004")->down_revisions == Strings{"bbbb0002", "cccc0003"});

  RevisionGraph three = load_fixture("merge_three");
  CHECK(issues(three.errors()).empty());
  CHECK(three.heads() == Strings{"merged"});
  CHECK(three.merge_points() == Strings{"merged"});
  CHECK(three.branch_points() == Strings{"root"});
  CHECK(three.find("merged")->down_revisions == Strings{"one", "two", "three"});
}

TEST_CASE("several bases with branch labels and depends_on") {
  RevisionGraph g = load_fixture("multibase_labels");
  CHECK(issues(g.errors()).empty());
  CHECK(g.size() == 5);
  // depends_on does not make a head: core_2 is only depended on.
  CHECK(g.heads() == Strings{"billing_2", "core_2", "reports_base"});
  CHECK(g.bases() == Strings{"billing_base", "core_base", "reports_base"});
  CHECK(g.branch_labels() ==
        std::map<std::string, Strings>{{"billing_base", {"billing"}},
                                       {"core_base", {"core"}},
                                       {"reports_base", {"analytics", "reports"}}});
  CHECK(g.depends_on() == std::map<std::string, Strings>{{"billing_2", {"core_2"}},
                                                         {"billing_base", {"core"}},
                                                         {"reports_base", {"billing_2", "core"}}});
  CHECK(g.resolve("core") == "core_base");
  CHECK(g.resolve("billing_2") == "billing_2");
  CHECK_FALSE(g.resolve("nothing").has_value());
  // Ancestry follows depends_on, resolving labels.
  CHECK(g.ancestry({"billing_base"}) == Strings{"billing_base", "core_base"});
  CHECK(g.ancestry({"reports"}) ==
        Strings{"billing_2", "billing_base", "core_2", "core_base", "reports_base"});
  CHECK(g.is_ancestor("core_2", "billing_2"));
  CHECK_FALSE(g.is_ancestor("billing_2", "core_2"));
  CHECK_FALSE(g.is_ancestor("core_2", "core_2"));
  RevisionBehind b = g.behind({"billing_2"});
  CHECK(b.pending == Strings{"reports_base"});
  CHECK(b.behind_by == 1);
}

TEST_CASE("non-hex and mixed-length ids; branched history") {
  RevisionGraph ids = load_fixture("ids_nonhex");
  CHECK(issues(ids.errors()).empty());
  CHECK(ids.heads() == Strings{"ae1027a6acf"});
  CHECK(ids.bases() == Strings{"1"});
  CHECK(ids.size() == 5);

  RevisionGraph branched = load_fixture("branched");
  CHECK(branched.heads() == Strings{"feature_a", "feature_b"});
  CHECK(branched.branch_points() == Strings{"trunk"});
}

TEST_CASE("subdirectories only with recursive; __pycache__ skipped") {
  RevisionGraph flat = load_fixture("nested");
  CHECK(flat.revisions() == Strings{"top_1", "top_2"});
  RevisionGraph deep = load_fixture("nested", true);
  CHECK(issues(deep.errors()).empty());
  CHECK(deep.revisions() == Strings{"sub_3", "sub_4", "top_1", "top_2"});
  CHECK(deep.heads() == Strings{"sub_4"});

  TempDir dir;
  dir.write("a.py", migration("a", "None"));
  dir.write("__pycache__/b.py", migration("b", "'a'"));
  dir.write("sub/__pycache__/c.py", migration("c", "'a'"));
  dir.write("sub/d.py", migration("d", "'a'"));
  std::vector<RevisionIssue> errors;
  Strings files = list_revision_files(dir.path().string(), true, errors);
  CHECK(errors.empty());
  REQUIRE(files.size() == 2);
  CHECK(fs::path(files[0]).filename() == "a.py");
  CHECK(fs::path(files[1]).filename() == "d.py");
}

TEST_CASE("files load in name order and a duplicate id warns; the later file wins") {
  RevisionGraph g = load_fixture("warn_duplicate_id");
  CHECK(issues(g.errors()).empty());
  CHECK(issues(g.warnings()) ==
        Strings{"0003_two_again.py:9: revision 'two' is also defined in " +
                fixture("warn_duplicate_id") + "/0002.py:9; this later file wins, as in Alembic"});
  CHECK(g.size() == 3);
  CHECK(fs::path(g.find("two")->file).filename() == "0003_two_again.py");
  CHECK(g.heads() == Strings{"three"});
}

TEST_CASE("empty and unreadable version directories") {
  RevisionGraph empty = load_fixture("empty");
  CHECK(empty.size() == 0);
  CHECK(empty.heads().empty());
  CHECK_FALSE(empty.has_errors());

  RevisionGraph missing = RevisionGraph::load({fixture("does_not_exist")});
  REQUIRE(missing.errors().size() == 1);
  CHECK(missing.errors()[0].file == fixture("does_not_exist"));
  CHECK(missing.errors()[0].line == 0);
  CHECK(missing.errors()[0].message.rfind("cannot read version directory: ", 0) == 0);
}

TEST_CASE("several version directories, and the same directory twice") {
  RevisionGraph g = RevisionGraph::load({fixture("linear_plain"), fixture("branched")});
  CHECK(g.size() == 6);
  CHECK(g.heads() == Strings{"0003_orders", "feature_a", "feature_b"});
  CHECK(g.bases() == Strings{"0001_initial", "trunk"});

  RevisionGraph twice = RevisionGraph::load({fixture("branched"), fixture("branched") + "/"});
  CHECK(twice.size() == 3);
  CHECK_FALSE(twice.has_errors());
  CHECK(twice.warnings().size() == 3);  // each file reached twice, loaded once
}

TEST_CASE("error fixtures: every error with its file and line") {
  CHECK(issues(load_fixture("error_not_literal").errors()) ==
        Strings{"b_name.py:5: down_revision: value is not a literal",
                "c_call.py:8: revision: value is not a literal",
                "d_fstring.py:4: down_revision: value is not a literal",
                "e_concat.py:4: down_revision: value is not a literal"});
  // A revision whose down_revision is unreadable is not claimed to be a base.
  CHECK(load_fixture("error_not_literal").bases() == Strings{"base"});
  CHECK(issues(load_fixture("error_missing_parent").errors()) ==
        Strings{"b.py:10: down_revision 'does_not_exist' of revision 'orphan' is not present"});
  CHECK(issues(load_fixture("error_cycle").errors()) ==
        Strings{"1.py:10: revisions form a cycle through down_revision/depends_on: "
                "cyc_a -> cyc_c -> cyc_b -> cyc_a"});
  CHECK(issues(load_fixture("error_self_reference").errors()) ==
        Strings{"b.py:10: revision 'selfish' names itself in down_revision"});
  CHECK(issues(load_fixture("error_missing_revision").errors()) ==
        Strings{"no_revision_line.py:0: revision is not assigned at module level"});
  CHECK(issues(load_fixture("error_illegal_chars").errors()) ==
        Strings{"b.py:9: revision id 'with-dash' contains illegal character(s) '-'",
                "c.py:9: revision id 'at@sign' contains illegal character(s) '@'",
                "d.py:9: revision id 'plus+one' contains illegal character(s) '+'",
                "e.py:9: revision id 'colon:x' contains illegal character(s) ':'"});
  CHECK(issues(load_fixture("error_label_collision").errors()) ==
        Strings{"b.py:11: branch label 'shared' of revision 'beta' is already used by revision "
                "'alpha' (" +
                    fixture("error_label_collision") + "/a.py)",
                "c.py:11: branch label 'beta' of revision 'gamma' is also a revision id"});
  CHECK(issues(load_fixture("error_missing_dependency").errors()) ==
        Strings{"b.py:12: depends_on 'ghost' of revision 'needs_ghost' is neither a revision id "
                "nor a branch label"});
  CHECK(issues(load_fixture("error_syntax").errors()) ==
        Strings{"b.py:5: syntax error: unterminated triple-quoted string literal"});
}

TEST_CASE("cycles through depends_on, self-dependencies and a label naming itself") {
  RevisionGraph g = RevisionGraph::from_scripts({
      script("a", {}, {"c"}),
      script("b", {"a"}),
      script("c", {"b"}),
      script("d", {}, {"d"}),
      script("e", {}, {"elabel"}, {"elabel"}),
  });
  CHECK(issues(g.errors()) ==
        Strings{"a.py:2: revisions form a cycle through down_revision/depends_on: a -> c -> b -> a",
                "d.py:3: revision 'd' names itself in depends_on",
                "e.py:3: revision 'e' names itself in depends_on (through branch label 'elabel')"});
}

TEST_CASE("a down_revision naming a branch label is an error, duplicates a warning") {
  RevisionGraph g = RevisionGraph::from_scripts({
      script("a", {}, {}, {"lbl"}),
      script("b", {"lbl"}),
      script("c", {"a", "a"}),
  });
  CHECK(issues(g.errors()) ==
        Strings{"b.py:2: down_revision 'lbl' is a branch label, not a revision id"});
  CHECK(issues(g.warnings()) == Strings{"c.py:2: down_revision lists 'a' more than once"});
  CHECK(g.merge_points().empty());
}

TEST_CASE("ancestry and behind on a merge") {
  RevisionGraph g = load_fixture("merge_two");
  CHECK(g.ancestry({"dddd0004"}) == Strings{"aaaa0001", "bbbb0002", "cccc0003", "dddd0004"});
  CHECK(g.ancestry({"bbbb0002", "unknown"}) == Strings{"aaaa0001", "bbbb0002"});
  RevisionBehind b = g.behind({"bbbb0002"});
  CHECK(b.pending == Strings{"cccc0003", "dddd0004", "eeee0005"});
  CHECK(b.behind_by == 3);
  CHECK(g.behind({"bbbb0002", "cccc0003"}).pending == Strings{"dddd0004", "eeee0005"});
  CHECK(g.behind({"eeee0005"}).behind_by == 0);
  CHECK(g.behind({}).behind_by == 5);
}

TEST_CASE("10,000 revision files with merges load, with one head and the whole chain behind") {
  TempDir dir;
  const int n = 10000;
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%05d_step.py", i);
    std::string down = "None";
    if (i > 0) {
      down = "'r" + std::to_string(i - 1) + "'";
    }
    // Every 100th revision merges a side branch started 50 revisions before.
    if (i % 100 == 99) {
      down = "('r" + std::to_string(i - 1) + "', 'side" + std::to_string(i) + "')";
    }
    dir.write(name, "\"\"\"Step " + std::to_string(i) + "\n\nRevision ID: r" + std::to_string(i) +
                        "\n\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\n"
                        "revision = 'r" +
                        std::to_string(i) + "'\ndown_revision = " + down +
                        "\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n"
                        "    op.execute(\"\"\"\nCREATE TABLE t (id int);\n\"\"\")\n\n\n"
                        "def downgrade() -> None:\n    pass\n");
    if (i % 100 == 99) {
      dir.write("side" + std::to_string(i) + ".py",
                migration("side" + std::to_string(i), "'r" + std::to_string(i - 50) + "'"));
    }
  }
  // Its speed is measured in bench/ (driftwatch_diff_bench: load vs reading the same files), not
  // asserted here: under ASan this took 0.9 s of CPU, too close to any fixed bound.
  RevisionGraph g = RevisionGraph::load({dir.path().string()});
  RevisionBehind behind = g.behind({"r0"});
  CHECK_FALSE(g.has_errors());
  CHECK(g.size() == static_cast<size_t>(n + n / 100));
  CHECK(g.heads() == Strings{"r9999"});
  CHECK(behind.behind_by == n + n / 100 - 1);
}

TEST_CASE("a chain of 200,000 revisions: no recursion depth limit") {
  std::vector<RevisionScript> scripts;
  const int n = 200000;
  scripts.reserve(n);
  for (int i = 0; i < n; ++i) {
    scripts.push_back(
        script("r" + std::to_string(i), i == 0 ? Strings{} : Strings{"r" + std::to_string(i - 1)}));
  }
  scripts.front().down_revisions = {"r" + std::to_string(n - 1)};  // one long cycle
  RevisionGraph g = RevisionGraph::from_scripts(std::move(scripts));
  REQUIRE(g.errors().size() == 1);
  CHECK(g.errors()[0].message.find("revisions form a cycle") == 0);
  CHECK(g.heads().empty());
  CHECK(g.ancestry({"r5"}).size() == static_cast<size_t>(n));
}

TEST_CASE("alembic_quirks fixture: empty strings, a depends_on label, ';' in compound lines") {
  RevisionGraph g = load_fixture("alembic_quirks");
  CHECK(issues(g.errors()).empty());
  CHECK(g.size() == 4);
  CHECK(g.heads() == Strings{"d1"});  // as `alembic heads` prints
  CHECK(g.bases() == Strings{"a1", "b1"});
  CHECK(g.merge_points() == Strings{"c1"});
  CHECK(g.depends_on() == std::map<std::string, Strings>{{"b1", {"core"}}});
  // depends_on = "core" is the revision carrying that label.
  CHECK(g.ancestry({"b1"}) == Strings{"a1", "b1"});
  CHECK(g.is_ancestor("a1", "b1"));
  CHECK(g.behind({"a1"}).pending == Strings{"b1", "c1", "d1"});
}

}  // namespace driftwatch
