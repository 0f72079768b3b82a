// Findings and check results: what one check of one target produced.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "driftwatch/schema.hpp"

namespace driftwatch {

enum class Severity { kInfo = 0, kWarning = 1, kCritical = 2 };
const char* to_string(Severity severity);  // "info" | "warning" | "critical"
std::optional<Severity> severity_from_string(const std::string& text);

// Risk values (DESIGN.md): how the application will fail.
namespace risk {
inline constexpr const char* kNotNullViolation = "not_null_violation";
inline constexpr const char* kUndefinedColumn = "undefined_column";
inline constexpr const char* kUndefinedTable = "undefined_table";
inline constexpr const char* kUndefinedObject = "undefined_object";
inline constexpr const char* kTypeMismatch = "type_mismatch";
inline constexpr const char* kUniqueViolation = "unique_violation";
inline constexpr const char* kNone = "none";
// A SECURITY DEFINER function whose search_path setting is missing or differs from the
// migrations': it resolves names through a path its callers may control, so they can run code
// as its owner.
inline constexpr const char* kSecurityDefinerSearchPath = "security_definer_search_path";
}  // namespace risk

struct Finding {
  std::string kind;  // "missing" | "extra" | "changed"
  ObjectType object_type = ObjectType::kTable;
  std::string object;     // qualified name
  std::string attribute;  // for "changed": type, nullable, default, definition, ...; else ""
  Severity severity = Severity::kInfo;
  std::string risk = risk::kNone;
  std::optional<std::string> expected;
  std::optional<std::string> actual;
  std::string message;                 // one human sentence
  std::optional<std::string> fix_sql;  // SQL that makes the database match, or null
  // The comparison was with another revision's schema than the target's own (none could be
  // had), so the finding may only be a pending (or removed) migration: severity is capped at
  // warning. JSON: "possibly_pending": true, only when set.
  bool possibly_pending = false;
};

// Why a target's schema differs from its revision's (DESIGN.md "Diagnosis causes").
namespace drift_cause {
inline constexpr const char* kStampedNotMigrated = "stamped_not_migrated";
inline constexpr const char* kPartiallyApplied = "partially_applied";
inline constexpr const char* kRemovedMigration = "removed_migration";
inline constexpr const char* kManualChange = "manual_change";
}  // namespace drift_cause

struct Diagnosis {
  std::string cause;                            // one of drift_cause::*
  std::optional<std::string> matches_revision;  // the revision the schema is exactly (or nearly)
  std::vector<std::string> evidence;            // human sentences, most telling first
};

// Revision states (DESIGN.md).
namespace revision_state {
inline constexpr const char* kAtHead = "at_head";
inline constexpr const char* kBehind = "behind";
inline constexpr const char* kUnknownRevision = "unknown_revision";
inline constexpr const char* kMultipleHeadsInDb = "multiple_heads_in_db";
inline constexpr const char* kNoVersionTable = "no_version_table";
inline constexpr const char* kEmptyVersionTable = "empty_version_table";
inline constexpr const char* kMigrating = "migrating";
}  // namespace revision_state

struct RevisionReport {
  std::string state;                        // one of revision_state::*; "" if not determined
  std::vector<std::string> current;         // rows of alembic_version, sorted
  std::vector<std::string> expected_heads;  // heads of the migration graph, sorted
  std::vector<std::string> pending;         // revisions to apply to reach the heads, sorted
  int behind_by = 0;
};

// Check statuses.
namespace check_status {
inline constexpr const char* kOk = "ok";
inline constexpr const char* kDrift = "drift";
inline constexpr const char* kError = "error";
inline constexpr const char* kMigrating = "migrating";
}  // namespace check_status

// Reasons for check errors (metric label `reason` of check_errors_total).
namespace error_reason {
inline constexpr const char* kConfig = "config";          // url source failed, etc.
inline constexpr const char* kConnect = "connect";        // unreachable / refused / DNS
inline constexpr const char* kAuth = "auth";              // wrong password, no such role
inline constexpr const char* kPermission = "permission";  // permission denied
inline constexpr const char* kTimeout = "timeout";        // statement/lock/overall deadline
inline constexpr const char* kMigrations = "migrations";  // version dirs unreadable / broken
inline constexpr const char* kExpectedSchema = "expected_schema";  // no snapshot / reference down
inline constexpr const char* kQuery = "query";                     // any other database error
inline constexpr const char* kInternal = "internal";
}  // namespace error_reason

// Why a migrations source's expected side cannot be had (driftwatch_migrations_problem reason):
// the targets are fine, the source is not.
namespace migrations_problem {
inline constexpr const char* kParseError = "parse_error";    // a migration file has errors
inline constexpr const char* kNoRevisions = "no_revisions";  // no migration files
inline constexpr const char* kNoHeadSnapshot = "no_head_snapshot";
inline constexpr const char* kReferenceUnreachable = "reference_unreachable";
inline constexpr const char* kReplayFailed = "replay_failed";
}  // namespace migrations_problem

struct CheckError {
  std::string reason;   // one of error_reason::*
  std::string message;  // human sentence naming the target and the cause; never a secret
  // The migrations source's problem the check failed on (one of migrations_problem::*), as the
  // engine exports it on driftwatch_migrations_problem{reason}; "" when the failure is not the
  // source's (also while the expected schema is still being built by replay).
  std::string migrations_problem = {};
};

// Another session held the target's locks through the whole check (status "migrating"; the
// verdict is deferred): since when, as far as this process has seen it without interruption,
// whether the holder is a migration (it has the version table open, as Alembic has), and what
// was seen. A deferral by anything but a migration is exported as
// driftwatch_migrating_since_timestamp_seconds and alerted when it lasts.
struct MigratingInfo {
  std::chrono::system_clock::time_point since{};
  bool by_migration = false;
  std::vector<std::string> evidence;  // lock holders: pid, application_name, mode, statement
};

struct TargetResult {
  std::string name;
  std::string status = check_status::kOk;  // one of check_status::*
  std::optional<CheckError> error;
  RevisionReport revision;
  std::vector<Finding> findings;  // sorted: most severe first, then object_type, object
  // What the live schema was compared with, e.g. "snapshot of revision abc123 (head)",
  // "snapshot of revision abc (the target's own revision; it is behind head)",
  // "reference database postgresql://u@host/db". Empty when no comparison ran.
  std::string compared_against;
  // Set when there are findings at the target's own revision (or it is unknown) to explain.
  std::optional<Diagnosis> diagnosis;
  std::optional<MigratingInfo> migrating;  // set when status is "migrating"
  std::chrono::system_clock::time_point checked_at{};
  double duration_seconds = 0.0;
};

// Whether the check reached the target: every result but an error of the target itself. An
// error on the expected side (reason migrations / expected_schema) is the migrations source's
// (driftwatch_migrations_up), not the target's: driftwatch_target_up stays 1 and the target's
// last success advances.
inline bool target_reached(const TargetResult& r) {
  if (r.status != check_status::kError || !r.error) return true;
  return r.error->reason == error_reason::kMigrations ||
         r.error->reason == error_reason::kExpectedSchema;
}

}  // namespace driftwatch
