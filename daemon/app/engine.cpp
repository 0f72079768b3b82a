#include "app/engine.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "app/schema_source.hpp"
#include "app/url_source.hpp"
#include "driftwatch/bounded_read.hpp"
#include "driftwatch/diff.hpp"
#include "driftwatch/error.hpp"
#include "driftwatch/revision_graph.hpp"
#include "driftwatch/snapshot_json.hpp"
#include "pg/introspect.hpp"
#include "pg/session.hpp"
#include "pg/version_table.hpp"

namespace driftwatch {

namespace fs = std::filesystem;

namespace {

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

// Key of a revision set: sorted ids joined by ",". Snapshots are indexed by the alembic_version
// rows they recorded, so a snapshot of a branched history is found by the full head set.
std::string revision_key(std::vector<std::string> revisions) {
  std::sort(revisions.begin(), revisions.end());
  return join(revisions, ",");
}

// A fingerprint of a directory tree's state: every entry's path, size and mtime. Re-reading is
// triggered when it changes; computing it costs a stat per file, not a read.
std::string tree_fingerprint(const std::vector<std::string>& roots, bool recursive) {
  std::ostringstream out;
  for (const auto& root : roots) {
    std::error_code ec;
    out << root << '|';
    auto add = [&](const fs::directory_entry& entry) {
      struct stat st {};
      if (::stat(entry.path().c_str(), &st) == 0) {
        out << entry.path().native() << ':' << st.st_size << ':' << st.st_mtim.tv_sec << '.'
            << st.st_mtim.tv_nsec << ';';
      }
    };
    if (recursive) {
      for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        add(*it);
      }
    } else {
      for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) add(*it);
    }
    if (ec) out << "error:" << ec.value() << ';';
  }
  return out.str();
}

IntrospectOptions introspect_options(const Config& config, const TargetConfig& target,
                                     const MigrationsConfig* migrations,
                                     std::chrono::milliseconds timeout) {
  IntrospectOptions options;
  options.schemas = target.schemas;
  options.privileges = config.check.privileges;
  options.comments = config.check.comments;
  if (migrations != nullptr) {
    options.version_table = migrations->version_table;
    options.version_table_schema = migrations->version_table_schema;
  }
  options.timeout = timeout;
  return options;
}

}  // namespace

// Expected state of one migrations source: the revision graph and the snapshot files, re-read
// when their files change. Values are immutable once published (shared_ptr<const>), so checks
// running concurrently keep what they started with while a refresh swaps in new ones.
struct SourceState {
  std::string graph_fingerprint;
  std::shared_ptr<const RevisionGraph> graph;
  std::string snapshots_fingerprint;
  std::map<std::string, std::shared_ptr<const SchemaSnapshot>> snapshots;  // by revision_key
  std::vector<std::string> snapshot_errors;
  // Reference database snapshot cache.
  std::shared_ptr<const SchemaSnapshot> reference;
  std::chrono::steady_clock::time_point reference_loaded{};
};

// Shared by every Engine, so it keeps growing when a reload replaces the engine.
std::atomic<std::uint64_t> g_expected_state_version{0};

class ExpectedStore {
 public:
  explicit ExpectedStore(const Config& config) : config_(config) {}

  void refresh() {
    for (const auto& [name, source] : config_.migrations) refresh_source(name, source);
  }

  std::shared_ptr<const RevisionGraph> graph(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = states_.find(name);
    return it == states_.end() ? nullptr : it->second.graph;
  }

  // Snapshot recorded at exactly this revision set, or nullptr.
  std::shared_ptr<const SchemaSnapshot> snapshot(const std::string& name,
                                                 const std::vector<std::string>& revisions) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = states_.find(name);
    if (it == states_.end()) return nullptr;
    auto snap = it->second.snapshots.find(revision_key(revisions));
    return snap == it->second.snapshots.end() ? nullptr : snap->second;
  }

  std::vector<std::string> snapshot_errors(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = states_.find(name);
    return it == states_.end() ? std::vector<std::string>{} : it->second.snapshot_errors;
  }

  std::vector<std::string> snapshot_revisions(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    auto it = states_.find(name);
    if (it != states_.end()) {
      for (const auto& [key, snap] : it->second.snapshots) out.push_back(key);
    }
    return out;
  }

  // The reference database's schema, re-read at most every kReferenceTtl so a fleet of targets
  // sharing one reference does not introspect it once per target.
  std::shared_ptr<const SchemaSnapshot> reference(const std::string& name,
                                                  const MigrationsConfig& source,
                                                  const IntrospectOptions& options,
                                                  const std::string& target) {
    static constexpr auto kReferenceTtl = std::chrono::seconds(30);
    std::lock_guard<std::mutex> reference_lock(reference_mutex_);  // one refresh at a time
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& state = states_[name];
      if (state.reference &&
          std::chrono::steady_clock::now() - state.reference_loaded < kReferenceTtl) {
        return state.reference;
      }
    }
    UrlSource url_source;
    url_source.url = source.reference_url;
    url_source.env = source.reference_url_env;
    url_source.file = source.reference_url_file;
    std::string url;
    try {
      url = resolve_connection_url(url_source, source.reference_auth);
    } catch (const Error& e) {
      throw Error(error_reason::kExpectedSchema,
                  "reference database of migrations '" + name + "': " + e.what(), target);
    }
    std::shared_ptr<const SchemaSnapshot> snap;
    try {
      snap = std::make_shared<const SchemaSnapshot>(read_database_schema(url, options));
    } catch (const Error& e) {
      throw Error(
          error_reason::kExpectedSchema,
          "reference database of migrations '" + name + "' (" + redact_url(url) + "): " + e.what(),
          target);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto& state = states_[name];
    state.reference = snap;
    state.reference_loaded = std::chrono::steady_clock::now();
    return snap;
  }

 private:
  void refresh_source(const std::string& name, const MigrationsConfig& source) {
    std::string graph_fp = tree_fingerprint(source.versions, source.recursive);
    std::string snap_fp =
        source.snapshots.empty() ? "" : tree_fingerprint({source.snapshots}, false);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = states_.find(name);
      if (it != states_.end() && it->second.graph && it->second.graph_fingerprint == graph_fp &&
          it->second.snapshots_fingerprint == snap_fp) {
        return;
      }
    }
    auto graph = std::make_shared<const RevisionGraph>(
        RevisionGraph::load(source.versions, source.recursive));
    std::map<std::string, std::shared_ptr<const SchemaSnapshot>> snapshots;
    std::vector<std::string> errors;
    if (!source.snapshots.empty()) load_snapshots(source.snapshots, snapshots, errors);
    std::lock_guard<std::mutex> lock(mutex_);
    auto& state = states_[name];
    state.graph_fingerprint = graph_fp;
    state.graph = graph;
    state.snapshots_fingerprint = snap_fp;
    state.snapshots = std::move(snapshots);
    state.snapshot_errors = std::move(errors);
    ++g_expected_state_version;
  }

  static void load_snapshots(const std::string& dir,
                             std::map<std::string, std::shared_ptr<const SchemaSnapshot>>& out,
                             std::vector<std::string>& errors) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().extension() == ".json") files.push_back(it->path());
    }
    if (ec) {
      errors.push_back(dir + ": cannot read snapshots directory: " + ec.message());
      return;
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      std::string text;
      std::string why;
      if (!read_regular_file(file.string(), kMaxSnapshotFileBytes, text, why)) {
        errors.push_back(file.string() + ": cannot read snapshot file: " + why);
        continue;
      }
      try {
        auto snap = std::make_shared<const SchemaSnapshot>(snapshot_from_json(text, file.string()));
        std::string key = revision_key(snap->alembic_version);
        if (key.empty()) {
          errors.push_back(file.string() + ": snapshot records no alembic_version revision");
          continue;
        }
        out[key] = snap;
      } catch (const std::exception& e) {
        errors.push_back(file.string() + ": " + e.what());
      }
    }
  }

  const Config& config_;
  std::mutex mutex_;
  std::mutex reference_mutex_;
  std::map<std::string, SourceState> states_;
};

Engine::Engine(const Config& config)
    : config_(config), store_(std::make_unique<ExpectedStore>(config_)) {
  store_->refresh();
}

Engine::~Engine() = default;

void Engine::refresh_expected_state() const { store_->refresh(); }

std::uint64_t Engine::expected_state_version() { return g_expected_state_version.load(); }

std::vector<MigrationsSummary> Engine::migrations() const {
  std::vector<MigrationsSummary> out;
  for (const auto& [name, source] : config_.migrations) {
    MigrationsSummary summary;
    summary.name = name;
    summary.versions = source.versions;
    if (auto graph = store_->graph(name)) {
      summary.heads = graph->heads();
      summary.revisions = static_cast<int>(graph->size());
      for (const auto& e : graph->errors()) summary.errors.push_back(e.to_string());
      for (const auto& w : graph->warnings()) summary.warnings.push_back(w.to_string());
    }
    for (const auto& e : store_->snapshot_errors(name)) summary.warnings.push_back(e);
    summary.snapshot_revisions = store_->snapshot_revisions(name);
    out.push_back(std::move(summary));
  }
  return out;
}

TargetResult Engine::check(const TargetConfig& target,
                           std::chrono::steady_clock::time_point deadline,
                           ComparedSchemas* compared) const {
  const auto started = std::chrono::steady_clock::now();
  TargetResult result;
  result.name = target.name;
  result.checked_at = std::chrono::system_clock::now();
  auto finish = [&]() -> TargetResult {
    result.duration_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    sort_findings(result.findings);
    return result;
  };
  auto fail = [&](const std::string& reason, const std::string& message) {
    result.status = check_status::kError;
    result.error = CheckError{reason, "target '" + target.name + "': " + message};
    return finish();
  };

  try {
    auto source_it = config_.migrations.find(target.migrations);
    if (source_it == config_.migrations.end()) {
      return fail(error_reason::kConfig, "unknown migrations source '" + target.migrations + "'");
    }
    const MigrationsConfig& source = source_it->second;
    const std::string& source_name = source_it->first;
    auto graph = store_->graph(source_name);
    if (!graph || graph->has_errors() || graph->size() == 0) {
      std::string why;
      if (graph && graph->has_errors()) {
        why = "migration files have errors: " + graph->errors().front().to_string();
        if (graph->errors().size() > 1) {
          why += " (and " + std::to_string(graph->errors().size() - 1) + " more)";
        }
      } else {
        why = "no migration files found in " + join(source.versions, ", ");
      }
      result.revision.expected_heads = graph ? graph->heads() : std::vector<std::string>{};
      return fail(error_reason::kMigrations, why);
    }

    // [check] timeout bounds the whole check: every session of it shares the deadline.
    IntrospectOptions options = introspect_options(config_, target, &source, config_.check.timeout);
    options.deadline = deadline;

    std::string url = resolve_connection_url(target.url, target.auth);
    PgSession session(url, options, target.name);
    VersionTableRead version = read_version_table(session, options);
    result.revision = revision_report(*graph, version);
    if (version.locked) {
      result.status = check_status::kMigrating;
      result.revision.state = revision_state::kMigrating;
      return finish();
    }
    SchemaSnapshot live = introspect_schema(session, options, version);
    session.end_transaction();

    // Which expected schema: the target's own revision when it is behind and a snapshot of it
    // exists (so "behind" and "drifted" are told apart), else the head.
    std::shared_ptr<const SchemaSnapshot> expected;
    const std::string& state = result.revision.state;
    if (!source.snapshots.empty()) {
      if (state == revision_state::kBehind) {
        expected = store_->snapshot(source_name, result.revision.current);
        if (expected) {
          result.compared_against = "snapshot of revision " + join(result.revision.current, ",") +
                                    " (the target's own revision; it is behind head)";
        }
      }
      if (!expected) {
        expected = store_->snapshot(source_name, graph->heads());
        if (!expected) {
          return fail(error_reason::kExpectedSchema,
                      "no snapshot of head revision " + join(graph->heads(), ",") + " in " +
                          source.snapshots +
                          "; write one with `driftwatch snapshot` from a database at head");
        }
        result.compared_against = "snapshot of head revision " + join(graph->heads(), ",");
        if (state != revision_state::kAtHead) {
          result.compared_against +=
              " (the target is not at head, so some findings may be "
              "pending migrations)";
        }
      }
    } else if (!source.reference_url.empty() || !source.reference_url_env.empty() ||
               !source.reference_url_file.empty() || source.reference_auth.rds_iam()) {
      expected = store_->reference(source_name, source, options, target.name);
      result.compared_against =
          "reference database at revision " + (expected->alembic_version.empty()
                                                   ? std::string("(none)")
                                                   : join(expected->alembic_version, ","));
    }

    if (expected) {
      DiffOptions diff_options;
      diff_options.compare_privileges = config_.check.privileges;
      diff_options.compare_comments = config_.check.comments;
      diff_options.ignore = config_.ignore;
      diff_options.ignore.merge(target.ignore);
      result.findings = diff_schemas(*expected, live, diff_options);
      if (compared != nullptr) {
        compared->expected = expected;
        compared->live = std::make_shared<const SchemaSnapshot>(std::move(live));
        compared->diff_options = std::move(diff_options);
      }
    }
    const bool at_head = state == revision_state::kAtHead;
    result.status = result.findings.empty() && at_head ? check_status::kOk : check_status::kDrift;
    return finish();
  } catch (const Error& e) {
    return fail(e.reason(), e.what());
  } catch (const std::exception& e) {
    return fail(error_reason::kInternal, e.what());
  }
}

}  // namespace driftwatch
