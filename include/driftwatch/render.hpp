// Rendering check results and findings: the JSON documents of DESIGN.md ("check", "diff",
// findings) and the human text of `driftwatch check`, plus the process exit code.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "driftwatch/check.hpp"

namespace driftwatch {

// One finding: {"kind", "object_type", "object", "attribute" (null unless changed), "severity",
// "risk", "expected", "actual", "message", "fix_sql"} (compact, no newline).
std::string finding_to_json_text(const Finding& finding);
// JSON array of findings, in the given order (compact).
std::string render_findings_json(const std::vector<Finding>& findings);
// One target of the `check` JSON: {"name", "status", "error": null|{"reason","message"},
// "revision": {"state", "current", "expected_heads", "pending", "behind_by"}, "findings",
// "compared_against", "checked_at" (RFC3339 UTC, null if never), "duration_seconds"} (compact).
std::string render_target_json(const TargetResult& result);
// The `check --format json` document {"targets": [...]} (2-space indent, trailing newline).
std::string render_check_json(const std::vector<TargetResult>& results);
// The `diff --format json` document {"expected", "actual", "findings"}; the sources are passed
// through redact_url, so a URL with a password is never printed (indented, trailing newline).
std::string render_diff_json(const std::string& expected_source, const std::string& actual_source,
                             const std::vector<Finding>& findings);

// Human text for `check`: per target a header line (name, status, revision state, counts by
// severity, duration), then findings most severe first with message, risk and indented fix SQL;
// a final summary line ("3 targets: 1 ok, 1 drift, 1 error"). ANSI colour only when `color`.
std::string render_check_text(const std::vector<TargetResult>& results, bool color);
// Findings alone as text (for `diff`), followed by a count line.
std::string render_findings_text(const std::vector<Finding>& findings, bool color);

// DESIGN.md exit codes for `check`: 3 if any target errored, else 1 if any drift or a revision
// not at head, else 0.
int exit_code_for(const std::vector<TargetResult>& results);

// "2024-05-01T12:00:00Z".
std::string format_rfc3339(std::chrono::system_clock::time_point time);

}  // namespace driftwatch
