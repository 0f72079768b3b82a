// The Alembic revision graph, read textually from version directories (Python is never run),
// and the revision state of a database relative to it. DESIGN.md "Revision graph" and
// "Revision states" are the contract.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "driftwatch/check.hpp"
#include "driftwatch/introspect.hpp"

namespace driftwatch {

// One problem in the migration files. `line` is 1-based; 0 means the whole file (e.g. an
// attribute that is never assigned) or, for an unreadable version directory, the directory.
struct RevisionIssue {
  std::string file;
  int line = 0;
  std::string message;

  std::string to_string() const;  // "file:line: message"
};
bool operator==(const RevisionIssue& a, const RevisionIssue& b);
bool operator<(const RevisionIssue& a, const RevisionIssue& b);  // by file, line, message

// What one migration file declares at module level, normalised: `down_revisions` empty = a
// base, one entry = a plain revision, several = a merge point. Lines are those of the last
// module-level assignment (0 = not assigned).
struct RevisionScript {
  std::string file;
  std::string revision;
  int revision_line = 0;
  std::vector<std::string> down_revisions;
  int down_revision_line = 0;
  // False when down_revision could not be read (an error says why): such a revision is not
  // reported as a base, since its parents are unknown rather than absent.
  bool down_revision_valid = true;
  std::vector<std::string> branch_labels;
  int branch_labels_line = 0;
  std::vector<std::string> depends_on;  // as written: revision ids or branch labels
  int depends_on_line = 0;
};

struct RevisionParseResult {
  // Set when the file assigns `revision` (even if other attributes had errors), so that one
  // broken attribute does not cascade into "parent not present" errors for its children.
  std::optional<RevisionScript> script;
  std::vector<RevisionIssue> errors;  // not a literal, missing revision, syntax, ...
};

// Parses one migration file's text. `file` is only used to label the result and its errors.
RevisionParseResult parse_revision_source(std::string_view text, const std::string& file);

// The migration files of one version directory in Alembic's load order: `*.py` files sorted by
// name, except names starting with `__init__` or `.#`; with `recursive`, then each
// subdirectory (sorted, `__pycache__` skipped) the same way. Unreadable directories are added
// to `errors` (file = directory, line 0).
std::vector<std::string> list_revision_files(const std::string& directory, bool recursive,
                                             std::vector<RevisionIssue>& errors);

// Revisions a database at some revision set still has to apply to reach the heads.
struct RevisionBehind {
  std::vector<std::string> pending;  // in the order Alembic applies them (apply_order)
  int behind_by = 0;                 // pending.size()
};

class RevisionGraph {
 public:
  RevisionGraph() = default;

  // Reads every version directory (in the order given; a later file wins for a duplicate
  // revision id, as in Alembic) and builds the graph. Never throws for bad input: everything
  // wrong is in errors()/warnings().
  static RevisionGraph load(const std::vector<std::string>& version_directories,
                            bool recursive = false);
  // Builds the graph from already parsed scripts in load order; `errors`/`warnings` found
  // while reading are kept in front of the graph's own.
  static RevisionGraph from_scripts(std::vector<RevisionScript> scripts,
                                    std::vector<RevisionIssue> errors = {},
                                    std::vector<RevisionIssue> warnings = {});

  std::size_t size() const { return nodes_.size(); }  // distinct revision ids
  bool contains(const std::string& revision) const { return index_.count(revision) > 0; }
  // A revision id as is, or the revision carrying a branch label; nullopt if neither.
  std::optional<std::string> resolve(const std::string& revision_or_label) const;
  const RevisionScript* find(const std::string& revision) const;  // nullptr if absent
  std::vector<std::string> revisions() const;                     // sorted

  // All sorted. Heads: named in no other revision's down_revision (depends_on does not
  // count). Bases: no down_revision. Merge points: >1 down_revision. Branch points: named in
  // the down_revision of >1 revision.
  const std::vector<std::string>& heads() const { return heads_; }
  const std::vector<std::string>& bases() const { return bases_; }
  const std::vector<std::string>& merge_points() const { return merge_points_; }
  const std::vector<std::string>& branch_points() const { return branch_points_; }
  // revision -> its own declared labels / depends_on entries as written (sorted); only
  // revisions that declare some.
  const std::map<std::string, std::vector<std::string>>& branch_labels() const {
    return branch_labels_;
  }
  const std::map<std::string, std::vector<std::string>>& depends_on() const { return depends_on_; }

  const std::vector<RevisionIssue>& errors() const { return errors_; }      // sorted
  const std::vector<RevisionIssue>& warnings() const { return warnings_; }  // sorted
  bool has_errors() const { return !errors_.empty(); }

  // The given revisions (ids or branch labels) and everything they need: down_revision and
  // depends_on, transitively. Sorted. Unknown names are skipped.
  std::vector<std::string> ancestry(const std::vector<std::string>& revisions) const;
  // True if `ancestor` is in the ancestry of `descendant` and differs from it.
  bool is_ancestor(const std::string& ancestor, const std::string& descendant) const;
  // Revisions in the ancestry of the heads that are not in the ancestry of `current`.
  RevisionBehind behind(const std::vector<std::string>& current) const;

  // The ancestry of `targets` in the order `alembic upgrade` applies it: every revision after
  // what it needs (down_revision in declared order, then depends_on), each branch to its end
  // before the next. Unknown names are skipped.
  std::vector<std::string> apply_order(const std::vector<std::string>& targets) const;
  // The revision set as alembic_version rows would record it: `revisions` without those that
  // another of them needs (directly or not). Sorted. Two row sets describe the same schema
  // state exactly when their tips are equal (e.g. heads {a, b} where b depends_on a -> {b}).
  std::vector<std::string> tips(const std::vector<std::string>& revisions) const;
  // A revision id, branch label, or unique prefix of an id (as Alembic accepts them). nullopt
  // with `error` set when nothing or several ids match.
  std::optional<std::string> resolve_prefix(const std::string& text, std::string* error) const;

 private:
  struct Node {
    RevisionScript script;
    std::vector<int> parents;  // down_revision, resolved, deduplicated
    std::vector<int> needs;    // parents + resolved depends_on: the ancestry edges
    int children = 0;          // revisions naming this one in down_revision
  };

  int index_of(const std::string& revision_or_label) const;      // -1 if unknown
  std::vector<char> reach(const std::vector<int>& start) const;  // marks the ancestry
  void build();
  void report_cycle(const std::vector<int>& component);
  void order_for_upgrade(std::vector<std::string>& revisions) const;  // by apply_order(heads)

  std::vector<Node> nodes_;
  std::unordered_map<std::string, int> index_;
  std::unordered_map<std::string, int> labels_;
  std::vector<std::string> heads_, bases_, merge_points_, branch_points_;
  std::map<std::string, std::vector<std::string>> branch_labels_, depends_on_;
  std::vector<RevisionIssue> errors_, warnings_;
};

// The revision state of a database (DESIGN.md "Revision states"), a pure function of the graph
// and what was read from alembic_version. `expected_heads` is always the graph's heads.
RevisionReport revision_report(const RevisionGraph& graph, const VersionTableRead& table);

}  // namespace driftwatch
