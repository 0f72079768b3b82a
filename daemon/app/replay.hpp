// Replaying migrations with the user's own Alembic into scratch databases (created and dropped on
// the scratch server, never on a watched database) to get the expected schema of any revision.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "driftwatch/introspect.hpp"
#include "driftwatch/revision_graph.hpp"
#include "driftwatch/schema.hpp"

namespace driftwatch {

struct ReplaySettings {
  std::string scratch_url;  // resolved secret: a database on the scratch server
  // argv; "{revision}" and "{url}" are substituted in every argument. Run with DATABASE_URL set
  // to the scratch database's URL, stdin from /dev/null, stdout+stderr captured.
  std::vector<std::string> command;
  bool shell_quote = false;  // command is {"/bin/sh", "-c", TEXT}: substitute shell-quoted
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};  // per command run
  IntrospectOptions introspect;                                 // what a snapshot reads
  // When it becomes true (serve's shutdown), a running command is killed with its process group
  // and the replay ends with ReplayFailure; scratch databases are dropped as in every case. May be
  // null.
  const std::atomic<bool>* stop = nullptr;
};

// The default upgrade command of `snapshot --all-revisions` (run by /bin/sh -c).
inline constexpr const char* kDefaultUpgradeCommand = "alembic upgrade {revision}";

// Thrown when a migration command fails: names the revision, carries its output.
struct ReplayFailure : std::runtime_error {
  ReplayFailure(const std::string& revision, const std::string& what, std::string output)
      : std::runtime_error(what), revision(revision), output(std::move(output)) {}
  std::string revision;
  std::string output;  // the command's stdout and stderr (last 64 KiB), password-free
};

// Builds the schema of the revision set `revisions` (alembic_version tips) from an empty scratch
// database: one upgrade run per tip, then introspection; the database is dropped afterwards.
// Throws ReplayFailure or driftwatch::Error.
SchemaSnapshot replay_revision_set(const ReplaySettings& settings,
                                   const std::vector<std::string>& revisions);

struct HistoryReport {
  int built = 0;
  int existing = 0;
};

// `snapshot --all-revisions`: one snapshot file per revision of `graph` in `out_dir`
// (<revision>.json, or .json.gz with `gzip`), built in Alembic's upgrade order; a revision whose
// file exists is skipped. Each revision is built in a database copied (CREATE DATABASE ...
// TEMPLATE) from its first parent's, so branches never see each other's changes. `progress` gets
// one line per revision. Throws ReplayFailure or driftwatch::Error; scratch databases are
// dropped in every case.
HistoryReport build_history(const ReplaySettings& settings, const RevisionGraph& graph,
                            const std::string& out_dir, bool gzip,
                            const std::function<void(const std::string&)>& progress);

// File name stem of a revision set's snapshot: ids joined by "+" (no id contains "+").
std::string snapshot_stem(const std::vector<std::string>& revisions);

}  // namespace driftwatch
