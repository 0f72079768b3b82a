// Revision state of a database: how its alembic_version rows relate to the migration graph.
//
// Alembic semantics the rules rely on (checked against Alembic 1.8 with a scratch database):
// - alembic_version holds one row per applied branch tip. After `alembic upgrade heads` it
//   holds the graph's heads, except that a head which another head depends on (depends_on) has
//   no row of its own: upgrading to the dependent revision merges the dependency's row into
//   its own. So "at head" is "nothing pending", not "rows == heads".
// - Several rows are legitimate: a branched graph at its heads, a database that is behind on
//   several branches, or one whose branches the code has since merged (the merge migration
//   is pending, and `alembic upgrade heads` applies it). All of these are `behind`/`at_head`.
// - Rows where one is an ancestor of (or equal to) another are never written by Alembic, and
//   Alembic refuses to upgrade from them ("Requested revision X overlaps with other requested
//   revisions Y"). That is `multiple_heads_in_db`: the version table itself is wrong.
#include <algorithm>
#include <string>
#include <vector>

#include "driftwatch/revision_graph.hpp"

namespace driftwatch {

RevisionReport revision_report(const RevisionGraph& graph, const VersionTableRead& table) {
  RevisionReport report;
  report.expected_heads = graph.heads();
  report.current = table.rows;
  std::sort(report.current.begin(), report.current.end());
  const std::vector<std::string>& rows = report.current;

  // A migration holds locks on alembic_version or the watched tables: whatever the rows say is
  // about to change, so nothing else is concluded.
  if (table.locked) {
    report.state = revision_state::kMigrating;
    return report;
  }
  // No table or no rows: Alembic treats both as "at base", so every revision is pending.
  if (!table.exists || rows.empty()) {
    RevisionBehind behind = graph.behind({});
    report.pending = std::move(behind.pending);
    report.behind_by = behind.behind_by;
    report.state =
        table.exists ? revision_state::kEmptyVersionTable : revision_state::kNoVersionTable;
    return report;
  }
  // A row the code does not have: removed from the code, or applied from a newer (or other
  // branch's) code base. Nothing can be said about what is pending.
  for (const std::string& row : rows) {
    if (!graph.contains(row)) {
      report.state = revision_state::kUnknownRevision;
      return report;
    }
  }

  RevisionBehind behind = graph.behind(rows);
  report.pending = std::move(behind.pending);
  report.behind_by = behind.behind_by;

  bool overlapping = false;
  for (size_t i = 0; i < rows.size() && !overlapping; ++i) {
    for (size_t j = 0; j < rows.size() && !overlapping; ++j) {
      if (i == j) {
        continue;
      }
      overlapping = rows[i] == rows[j] || graph.is_ancestor(rows[i], rows[j]);
    }
  }
  if (overlapping) {
    report.state = revision_state::kMultipleHeadsInDb;
  } else if (report.pending.empty()) {
    report.state = revision_state::kAtHead;
  } else {
    report.state = revision_state::kBehind;
  }
  return report;
}

}  // namespace driftwatch
