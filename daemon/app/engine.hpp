// The check engine: one check of one target, end to end (resolve URL, read alembic_version,
// introspect, load the expected schema, diff, classify). Shared by `check` and `serve`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "driftwatch/check.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/diff.hpp"
#include "driftwatch/schema.hpp"

namespace driftwatch {

class ExpectedStore;
class RevisionGraph;  // per migrations source: revision graph + snapshots, reloaded on change

// The two schemas one check compared and how, for commands that derive more than the findings
// from them (fix-forward diffs them the other way round).
struct ComparedSchemas {
  std::shared_ptr<const SchemaSnapshot> expected;  // null when nothing was compared
  std::shared_ptr<const SchemaSnapshot> live;
  DiffOptions diff_options;
};

// Summary of one migrations source for `GET /api/v1/migrations` and driftwatch_migration_heads.
struct MigrationsSummary {
  std::string name;
  std::vector<std::string> versions;
  std::vector<std::string> heads;
  int revisions = 0;
  std::vector<std::string> errors;  // "file:line: message"
  std::vector<std::string> warnings;
  std::vector<std::string> snapshot_revisions;  // revisions that have a snapshot file
  // Why no expected schema can be had ("" = it can): one of migrations_problem::*.
  std::string problem;
  std::string problem_message;
};

struct EngineOptions {
  // `check`: a check waits for the replay of its revision. `serve`: it is queued, the check
  // compares with head meanwhile and the target is checked again when it is built.
  bool wait_for_replay = false;
};

class Engine {
 public:
  explicit Engine(const Config& config, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs one check. Never throws: failures become status "error" with a reason.
  // Thread-safe: may run concurrently for different targets.
  // `compared`, when given, receives the schemas the findings came from.
  TargetResult check(const TargetConfig& target, std::chrono::steady_clock::time_point deadline,
                     ComparedSchemas* compared = nullptr) const;

  // Re-reads version directories / snapshot files whose modification time changed.
  void refresh_expected_state() const;
  std::vector<MigrationsSummary> migrations() const;
  // Grows whenever any engine re-reads its expected state (what migrations() shows).
  static std::uint64_t expected_state_version();

  const Config& config() const { return config_; }

  // Shutdown of the process: every engine's running replay build kills its command (with its
  // process group) and ends, dropping its scratch database, without writing a snapshot; no new
  // build starts. Returns at once; wait_for_replays waits (false: a build still ran at
  // `deadline`).
  static void stop_replays();
  static bool wait_for_replays(std::chrono::steady_clock::time_point deadline);

  // Called (on the replay thread) with the targets that waited for a replay once it is built.
  void set_replay_callback(std::function<void(const std::vector<std::string>& targets)> callback);

 private:
  DiffOptions diff_options_for(const TargetConfig& target) const;
  std::vector<Finding> compare(const SchemaSnapshot& expected, const SchemaSnapshot& live,
                               const TargetConfig& target,
                               ComparedSchemas* compared = nullptr) const;
  std::optional<Diagnosis> diagnose_findings(const std::string& source_name,
                                             const RevisionGraph& graph,
                                             const RevisionReport& revision,
                                             const SchemaSnapshot& live, const TargetConfig& target,
                                             const std::vector<Finding>& findings,
                                             std::chrono::steady_clock::time_point deadline) const;

  Config config_;
  std::shared_ptr<ExpectedStore> store_;  // shared with its replay thread
};

}  // namespace driftwatch
