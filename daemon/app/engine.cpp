#include "app/engine.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "app/replay.hpp"
#include "app/schema_source.hpp"
#include "app/snapshot_file.hpp"
#include "app/url_source.hpp"
#include "driftwatch/bounded_read.hpp"
#include "driftwatch/diagnosis.hpp"
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

// Loads a value once for every caller asking for the same key at the same time: the first
// caller loads (outside any lock), the others wait for its result until their own deadline.
template <class T>
class SingleFlight {
 public:
  using Value = std::shared_ptr<const T>;

  Value get(const std::string& key, std::chrono::steady_clock::time_point deadline,
            const std::function<Value()>& load) {
    std::shared_future<Value> future;
    std::promise<Value> promise;
    bool leader = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = in_flight_.find(key);
      if (it != in_flight_.end()) {
        future = it->second;
      } else {
        future = promise.get_future().share();
        in_flight_.emplace(key, future);
        leader = true;
      }
    }
    if (leader) {
      try {
        promise.set_value(load());
      } catch (...) {
        promise.set_exception(std::current_exception());
      }
      std::lock_guard<std::mutex> lock(mutex_);
      in_flight_.erase(key);
    } else if (future.wait_until(deadline) != std::future_status::ready) {
      throw Error(error_reason::kTimeout,
                  "timed out waiting for the expected schema being read by another check");
    }
    return future.get();
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_future<Value>> in_flight_;
};

// Snapshot files of one migrations source, indexed by the revision set they record (its tips),
// without their schemas: those are loaded when a check needs them (SnapshotCache).
struct SnapshotIndex {
  std::map<std::string, std::string> files;  // revision key -> path
  std::vector<std::string> errors;
};

// Expected state of one migrations source: the revision graph and the snapshot index, re-read
// when their files change. Values are immutable once published (shared_ptr<const>), so checks
// running concurrently keep what they started with while a refresh swaps in new ones.
struct SourceState {
  std::string graph_fingerprint;
  std::shared_ptr<const RevisionGraph> graph;
  std::string snapshots_fingerprint;
  std::shared_ptr<const SnapshotIndex> index = std::make_shared<SnapshotIndex>();
  // Expected-side problem (reason label, message) that each target's last check met on this
  // source, for driftwatch_migrations_up: kept per target, so that one target's success does not
  // hide the problem another one keeps meeting (the metric would flap and reset the rule's
  // `for:`). Only checks that reached the expected side change their entry.
  std::map<std::string, std::pair<std::string, std::string>> problems;
};

// Shared by every Engine, so it keeps growing when a reload replaces the engine.
std::atomic<std::uint64_t> g_expected_state_version{0};
// At most one replay build runs at a time in the process (also across a reload).
std::mutex g_replay_build_mutex;
// Set at shutdown (Engine::stop_replays): a running build kills its command and ends, no new one
// starts. g_replay_building says whether a build (with its scratch database) is still under way.
std::atomic<bool> g_replay_stop{false};
std::mutex g_replay_building_mutex;
std::condition_variable g_replay_idle;
bool g_replay_building = false;

// Marks a replay build as running for Engine::wait_for_replays.
class ReplayBuilding {
 public:
  ReplayBuilding() {
    std::lock_guard<std::mutex> lock(g_replay_building_mutex);
    g_replay_building = true;
  }
  ~ReplayBuilding() {
    {
      std::lock_guard<std::mutex> lock(g_replay_building_mutex);
      g_replay_building = false;
    }
    g_replay_idle.notify_all();
  }
  ReplayBuilding(const ReplayBuilding&) = delete;
  ReplayBuilding& operator=(const ReplayBuilding&) = delete;
};

constexpr std::size_t kSnapshotCacheEntries = 8;
constexpr auto kMigratingRecheck = std::chrono::seconds(10);
constexpr auto kMigratingPoll = std::chrono::seconds(1);

// Since when each target has been migrating without interruption (survives a reload: keyed by
// target name). `migrating` false ends the streak.
std::chrono::system_clock::time_point migrating_since(const std::string& target, bool migrating) {
  static std::mutex mutex;
  static std::map<std::string, std::chrono::system_clock::time_point> since;
  std::lock_guard<std::mutex> lock(mutex);
  if (!migrating) {
    since.erase(target);
    return {};
  }
  return since.emplace(target, std::chrono::system_clock::now()).first->second;
}
constexpr auto kReferenceTtl = std::chrono::seconds(30);
constexpr auto kReplayRetryAfter = std::chrono::minutes(10);

// Shared with its replay thread (which holds a reference), so that an engine replaced by a
// reload never waits for a running replay: stop() fails the queued builds, the running one
// finishes on the detached thread (its snapshot still lands in the replay cache under
// state_dir) and the store goes away with the thread's reference.
class ExpectedStore : public std::enable_shared_from_this<ExpectedStore> {
 public:
  ExpectedStore(const Config& config, bool wait_for_replay)
      : config_(config), wait_for_replay_(wait_for_replay) {}

  void stop() {
    {
      std::lock_guard<std::mutex> lock(replay_mutex_);
      stopping_ = true;
      replay_callback_ = nullptr;  // the engine's owner is going away
    }
    replay_wakeup_.notify_all();
  }

  void set_replay_callback(std::function<void(const std::vector<std::string>&)> callback) {
    std::lock_guard<std::mutex> lock(replay_mutex_);
    replay_callback_ = std::move(callback);
  }

  void refresh() {
    for (const auto& [name, source] : config_.migrations) refresh_source(name, source);
  }

  std::shared_ptr<const RevisionGraph> graph(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = states_.find(name);
    return it == states_.end() ? nullptr : it->second.graph;
  }

  std::shared_ptr<const SnapshotIndex> index(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = states_.find(name);
    return it == states_.end() ? std::make_shared<SnapshotIndex>() : it->second.index;
  }

  void set_problem(const std::string& name, const std::string& target, const std::string& problem,
                   const std::string& message) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& problems = states_[name].problems;
    auto it = problems.find(target);
    if (problem.empty()) {
      if (it == problems.end()) return;
      problems.erase(it);
    } else if (it != problems.end() && it->second.first == problem &&
               it->second.second == message) {
      return;
    } else {
      problems[target] = {problem, message};
    }
    ++g_expected_state_version;
  }

  // The problem of the first target (by name) that meets one; {} when none does.
  std::pair<std::string, std::string> problem(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = states_.find(name);
    if (it == states_.end() || it->second.problems.empty()) return {};
    return it->second.problems.begin()->second;
  }

  // The expected schema recorded for exactly this revision key (tips), from a snapshot file or
  // an earlier replay; nullptr if there is none.
  std::shared_ptr<const SchemaSnapshot> snapshot(const std::string& name, const std::string& key,
                                                 std::chrono::steady_clock::time_point deadline) {
    {
      std::lock_guard<std::mutex> lock(replay_mutex_);
      auto built = replayed_.find(name + "|" + key);
      if (built != replayed_.end()) return built->second;
    }
    auto idx = index(name);
    auto file = idx->files.find(key);
    if (file == idx->files.end()) return nullptr;
    return cached_file(file->second, deadline);
  }

  // Whether the last replay of revision set `tips` failed (and is not being retried yet).
  bool replay_failed(const std::string& name, const std::vector<std::string>& tips) {
    std::lock_guard<std::mutex> lock(replay_mutex_);
    auto it = jobs_.find(name + "|" + revision_key(tips));
    return it != jobs_.end() && !it->second.queued && !it->second.error.empty();
  }

  bool has_snapshot(const std::string& name, const std::string& key) {
    {
      std::lock_guard<std::mutex> lock(replay_mutex_);
      if (replayed_.count(name + "|" + key)) return true;
    }
    return index(name)->files.count(key) > 0;
  }

  // Replay of a revision set (tips) the snapshots lack. With wait_for_replay the call waits for
  // the build (and returns its schema); otherwise the build is queued (once; at most one runs at
  // a time) and nullptr returned. `status` says what happened, for compared_against.
  std::shared_ptr<const SchemaSnapshot> replay(const std::string& name,
                                               const MigrationsConfig& source,
                                               const std::vector<std::string>& tips,
                                               const std::string& target, std::string& status) {
    const std::string key = name + "|" + revision_key(tips);
    std::shared_future<void> done;
    {
      std::lock_guard<std::mutex> lock(replay_mutex_);
      if (auto built = replayed_.find(key); built != replayed_.end()) return built->second;
      auto& job = jobs_[key];
      if (!job.error.empty() &&
          std::chrono::steady_clock::now() - job.failed_at < kReplayRetryAfter) {
        status = "replay of revision " + revision_key(tips) + " failed: " + job.error;
        return nullptr;
      }
      if (!job.queued) {
        job = ReplayJob{};
        job.queued = true;
        job.source_name = name;
        job.source = source;
        job.tips = tips;
        job.done = job.promise.get_future().share();
        queue_.push_back(key);
        if (!replay_started_) {
          replay_started_ = true;
          std::thread([self = shared_from_this()] { self->replay_loop(); }).detach();
        }
        replay_wakeup_.notify_all();
      }
      job.waiting_targets.insert(target);
      done = job.done;
    }
    if (!wait_for_replay_) {
      status = "the schema of revision " + revision_key(tips) +
               " is being built by replay; the target is checked again when it is ready";
      return nullptr;
    }
    done.wait();
    if (auto built = snapshot(name, revision_key(tips),
                              std::chrono::steady_clock::now() + std::chrono::minutes(1))) {
      return built;
    }
    std::lock_guard<std::mutex> lock(replay_mutex_);
    status = "replay of revision " + revision_key(tips) + " failed: " + jobs_[key].error;
    return nullptr;
  }

  // The reference database's schema, re-read at most every kReferenceTtl and once for all checks
  // waiting for it (single flight, no lock held while reading). Cached per everything that shapes
  // what is read: schemas, privileges, comments, version table.
  std::shared_ptr<const SchemaSnapshot> reference(const std::string& name,
                                                  const MigrationsConfig& source,
                                                  const IntrospectOptions& options,
                                                  const std::string& target,
                                                  std::chrono::steady_clock::time_point deadline) {
    std::string key = name + "|" + join(options.schemas, ",") + "|" +
                      (options.privileges ? "p" : "") + (options.comments ? "c" : "") + "|" +
                      options.version_table_schema + "." + options.version_table;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = references_.find(key);
      if (it != references_.end() &&
          std::chrono::steady_clock::now() - it->second.second < kReferenceTtl) {
        return it->second.first;
      }
    }
    auto snap =
        reference_flight_.get(key, deadline, [&]() -> std::shared_ptr<const SchemaSnapshot> {
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
          std::shared_ptr<const SchemaSnapshot> read;
          try {
            read = std::make_shared<const SchemaSnapshot>(read_database_schema(url, options));
          } catch (const Error& e) {
            throw Error(error_reason::kExpectedSchema,
                        "reference database of migrations '" + name + "' (" + redact_url(url) +
                            "): " + e.what(),
                        target);
          }
          std::lock_guard<std::mutex> lock(mutex_);
          references_[key] = {read, std::chrono::steady_clock::now()};
          return read;
        });
    return snap;
  }

 private:
  struct ReplayJob {
    bool queued = false;
    std::string source_name;
    MigrationsConfig source;
    std::vector<std::string> tips;
    std::set<std::string> waiting_targets;
    std::promise<void> promise;
    std::shared_future<void> done;
    std::string error;
    std::chrono::steady_clock::time_point failed_at{};
  };

  std::shared_ptr<const SchemaSnapshot> cached_file(
      const std::string& path, std::chrono::steady_clock::time_point deadline) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = cache_.begin(); it != cache_.end(); ++it) {
        if (it->first == path) {
          cache_.splice(cache_.begin(), cache_, it);  // most recently used first
          return it->second;
        }
      }
    }
    auto snap = file_flight_.get(path, deadline, [&]() -> std::shared_ptr<const SchemaSnapshot> {
      return std::make_shared<const SchemaSnapshot>(load_snapshot_file(path));
    });
    std::lock_guard<std::mutex> lock(mutex_);
    bool present = false;
    for (const auto& entry : cache_) present = present || entry.first == path;
    if (!present) {
      cache_.emplace_front(path, snap);
      if (cache_.size() > kSnapshotCacheEntries) cache_.pop_back();
    }
    return snap;
  }

  void replay_loop() {
    std::unique_lock<std::mutex> lock(replay_mutex_);
    while (true) {
      replay_wakeup_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_ || g_replay_stop) {  // an engine replaced, or the process stopping
        for (const std::string& key : queue_) {
          jobs_[key].error = "driftwatch is stopping";
          jobs_[key].queued = false;
          jobs_[key].promise.set_value();
        }
        queue_.clear();
        return;
      }
      const std::string key = queue_.front();
      queue_.pop_front();
      ReplayJob& job = jobs_[key];
      const std::string name = job.source_name;
      const MigrationsConfig source = job.source;
      const std::vector<std::string> tips = job.tips;
      lock.unlock();
      std::shared_ptr<const SchemaSnapshot> built;
      std::string built_path;
      std::string error;
      try {
        std::lock_guard<std::mutex> one_build(g_replay_build_mutex);
        const ReplayBuilding building;
        built = build(name, source, tips, built_path);
      } catch (const ReplayFailure& e) {
        error = e.what();
      } catch (const std::exception& e) {
        error = e.what();
      }
      lock.lock();
      ReplayJob& finished = jobs_[key];
      finished.queued = false;
      if (built && !built_path.empty()) {
        add_to_index(name, revision_key(tips), built_path, built);
      } else if (built) {
        replayed_[key] = built;  // no state_dir: kept in memory
      } else {
        finished.error = error;
        finished.failed_at = std::chrono::steady_clock::now();
      }
      std::vector<std::string> targets(finished.waiting_targets.begin(),
                                       finished.waiting_targets.end());
      finished.waiting_targets.clear();
      finished.promise.set_value();
      auto callback = replay_callback_;
      lock.unlock();
      for (const std::string& target : targets) {  // what their next check would say
        set_problem(name, target, built ? "" : migrations_problem::kReplayFailed, error);
      }
      ++g_expected_state_version;
      if (callback && built) callback(targets);
      lock.lock();
    }
  }

  // Builds the schema and stores it in the replay cache under state_dir (`path` set) if there
  // is one.
  std::shared_ptr<const SchemaSnapshot> build(const std::string& name,
                                              const MigrationsConfig& source,
                                              const std::vector<std::string>& tips,
                                              std::string& path) {
    ReplaySettings settings;
    settings.scratch_url =
        resolve_connection_url(source.replay->scratch_url, source.replay->scratch_auth);
    settings.command = source.replay->command;
    settings.timeout = source.replay->timeout;
    settings.introspect.version_table = source.version_table;
    settings.introspect.version_table_schema = source.version_table_schema;
    settings.introspect.privileges = config_.check.privileges;
    settings.introspect.comments = config_.check.comments;
    settings.introspect.timeout = std::chrono::seconds(60);
    settings.stop = &g_replay_stop;
    auto snap = std::make_shared<const SchemaSnapshot>(replay_revision_set(settings, tips));
    // Stopping: nothing more lands in the cache (its files are written whole, or not at all).
    if (g_replay_stop) throw ReplayFailure(snapshot_stem(tips), "replay stopped", "");
    const std::string dir = replay_dir(name);
    if (!dir.empty()) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      const std::string file = (fs::path(dir) / (snapshot_stem(tips) + ".json.gz")).string();
      if (write_snapshot_file(file, *snap).empty()) path = file;
    }
    return snap;
  }

  void add_to_index(const std::string& name, const std::string& key, const std::string& path,
                    const std::shared_ptr<const SchemaSnapshot>& snap) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& state = states_[name];
    auto index = std::make_shared<SnapshotIndex>(*state.index);
    index->files[key] = path;
    state.index = index;
    cache_.emplace_front(path, snap);
    if (cache_.size() > kSnapshotCacheEntries) cache_.pop_back();
  }

  std::string replay_dir(const std::string& name) const {
    if (config_.alerts.state_dir.empty()) return "";
    return (fs::path(config_.alerts.state_dir) / "replay" / name).string();
  }

  void refresh_source(const std::string& name, const MigrationsConfig& source) {
    std::string graph_fp = tree_fingerprint(source.versions, source.recursive);
    std::vector<std::string> snapshot_dirs;
    if (!source.snapshots.empty()) snapshot_dirs.push_back(source.snapshots);
    if (source.replay && !replay_dir(name).empty()) snapshot_dirs.push_back(replay_dir(name));
    std::string snap_fp = snapshot_dirs.empty() ? "" : tree_fingerprint(snapshot_dirs, false);
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
    auto index = std::make_shared<SnapshotIndex>();
    for (size_t i = 0; i < snapshot_dirs.size(); ++i) {
      // The replay cache is optional: a missing directory there is not an error.
      index_snapshots(snapshot_dirs[i], *graph, *index,
                      /*must_exist=*/i == 0 && !source.snapshots.empty());
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto& state = states_[name];
    state.graph_fingerprint = graph_fp;
    state.graph = graph;
    state.snapshots_fingerprint = snap_fp;
    state.index = index;
    ++g_expected_state_version;
  }

  static void index_snapshots(const std::string& dir, const RevisionGraph& graph,
                              SnapshotIndex& index, bool must_exist) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (is_snapshot_file_name(it->path().string())) files.push_back(it->path());
    }
    if (ec) {
      if (must_exist || ec != std::errc::no_such_file_or_directory) {
        index.errors.push_back(dir + ": cannot read snapshots directory: " + ec.message());
      }
      return;
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      try {
        std::vector<std::string> rows = peek_snapshot_revisions(file.string());
        if (rows.empty()) {
          index.errors.push_back(file.string() + ": snapshot records no alembic_version revision");
          continue;
        }
        index.files[revision_key(graph.tips(rows))] = file.string();
      } catch (const std::exception& e) {
        index.errors.push_back(file.string() + ": " + e.what());
      }
    }
  }

  const Config config_;  // a copy: the replay thread may outlive the engine
  const bool wait_for_replay_;
  std::mutex mutex_;
  std::map<std::string, SourceState> states_;
  std::list<std::pair<std::string, std::shared_ptr<const SchemaSnapshot>>> cache_;  // LRU
  std::map<std::string,
           std::pair<std::shared_ptr<const SchemaSnapshot>, std::chrono::steady_clock::time_point>>
      references_;
  SingleFlight<SchemaSnapshot> reference_flight_;
  SingleFlight<SchemaSnapshot> file_flight_;

  std::mutex replay_mutex_;
  std::condition_variable replay_wakeup_;
  bool stopping_ = false;
  std::deque<std::string> queue_;
  std::map<std::string, ReplayJob> jobs_;
  std::map<std::string, std::shared_ptr<const SchemaSnapshot>> replayed_;  // source|key
  std::function<void(const std::vector<std::string>&)> replay_callback_;
  bool replay_started_ = false;  // the detached replay thread (under replay_mutex_)
};

Engine::Engine(const Config& config, EngineOptions options)
    : config_(config), store_(std::make_shared<ExpectedStore>(config_, options.wait_for_replay)) {
  store_->refresh();
}

Engine::~Engine() { store_->stop(); }

void Engine::stop_replays() { g_replay_stop = true; }

bool Engine::wait_for_replays(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(g_replay_building_mutex);
  return g_replay_idle.wait_until(lock, deadline, [] { return !g_replay_building; });
}

void Engine::refresh_expected_state() const { store_->refresh(); }

std::uint64_t Engine::expected_state_version() { return g_expected_state_version.load(); }

void Engine::set_replay_callback(
    std::function<void(const std::vector<std::string>& targets)> callback) {
  store_->set_replay_callback(std::move(callback));
}

std::vector<MigrationsSummary> Engine::migrations() const {
  std::vector<MigrationsSummary> out;
  for (const auto& [name, source] : config_.migrations) {
    MigrationsSummary summary;
    summary.name = name;
    summary.versions = source.versions;
    auto graph = store_->graph(name);
    if (graph) {
      summary.heads = graph->heads();
      summary.revisions = static_cast<int>(graph->size());
      for (const auto& e : graph->errors()) summary.errors.push_back(e.to_string());
      for (const auto& w : graph->warnings()) summary.warnings.push_back(w.to_string());
    }
    auto index = store_->index(name);
    for (const auto& e : index->errors) summary.warnings.push_back(e);
    for (const auto& [key, file] : index->files) summary.snapshot_revisions.push_back(key);
    // Why the expected side cannot be had, most fundamental first.
    if (!graph || graph->has_errors()) {
      summary.problem = migrations_problem::kParseError;
      summary.problem_message =
          graph && !graph->errors().empty() ? graph->errors().front().to_string() : "not loaded";
    } else if (graph->size() == 0) {
      summary.problem = migrations_problem::kNoRevisions;
      summary.problem_message = "no migration files found in " + join(source.versions, ", ");
    } else if (!source.snapshots.empty() && !source.replay &&
               !store_->has_snapshot(name, revision_key(graph->tips(graph->heads())))) {
      summary.problem = migrations_problem::kNoHeadSnapshot;
      summary.problem_message =
          "no snapshot of head revision " + join(graph->heads(), ",") + " in " + source.snapshots;
    } else {
      auto [problem, message] = store_->problem(name);
      summary.problem = problem;
      summary.problem_message = message;
    }
    out.push_back(std::move(summary));
  }
  return out;
}

namespace {

// Keeps the objects of `snapshot` that belong to one of `schemas` (objects without a schema,
// like extensions, always stay).
void restrict_to_schemas(SchemaSnapshot& snapshot, const std::vector<std::string>& schemas) {
  std::set<std::string> keep(schemas.begin(), schemas.end());
  auto outside = [&keep](const SchemaObject& o) {
    if (o.type == ObjectType::kSchema) return keep.count(o.name) == 0;
    auto it = o.info.find(SchemaObject::kSchemaName);
    return it != o.info.end() && keep.count(it->second) == 0;
  };
  snapshot.objects.erase(std::remove_if(snapshot.objects.begin(), snapshot.objects.end(), outside),
                         snapshot.objects.end());
  std::vector<std::string> covered;
  for (const auto& schema : snapshot.schemas) {
    if (keep.count(schema)) covered.push_back(schema);
  }
  snapshot.schemas = covered;
}

std::vector<std::string> intersect(const std::vector<std::string>& a,
                                   const std::vector<std::string>& b) {
  std::set<std::string> in_b(b.begin(), b.end());
  std::vector<std::string> out;
  for (const auto& x : a) {
    if (in_b.count(x)) out.push_back(x);
  }
  return out;
}

}  // namespace

DiffOptions Engine::diff_options_for(const TargetConfig& target) const {
  DiffOptions diff_options;
  diff_options.compare_privileges = config_.check.privileges;
  diff_options.compare_comments = config_.check.comments;
  diff_options.ignore = config_.ignore;
  diff_options.ignore.merge(target.ignore);
  return diff_options;
}

std::vector<Finding> Engine::compare(const SchemaSnapshot& expected, const SchemaSnapshot& live,
                                     const TargetConfig& target, ComparedSchemas* compared) const {
  const DiffOptions diff_options = diff_options_for(target);
  // Only the schemas both sides cover: what the target watches and what the expected side read.
  std::vector<std::string> schemas = live.schemas;
  if (!target.schemas.empty()) schemas = intersect(schemas, target.schemas);
  if (!expected.schemas.empty()) schemas = intersect(schemas, expected.schemas);
  if (schemas == expected.schemas && schemas == live.schemas) {
    if (compared != nullptr) {
      compared->expected = std::make_shared<const SchemaSnapshot>(expected);
      compared->live = std::make_shared<const SchemaSnapshot>(live);
      compared->diff_options = diff_options;
    }
    return diff_schemas(expected, live, diff_options);
  }
  SchemaSnapshot e = expected;
  SchemaSnapshot l = live;
  restrict_to_schemas(e, schemas);
  restrict_to_schemas(l, schemas);
  std::vector<Finding> findings = diff_schemas(e, l, diff_options);
  if (compared != nullptr) {
    // What was compared: both sides over the schemas they share (fix-forward diffs them again).
    compared->expected = std::make_shared<const SchemaSnapshot>(std::move(e));
    compared->live = std::make_shared<const SchemaSnapshot>(std::move(l));
    compared->diff_options = diff_options;
  }
  return findings;
}

// Explains findings at the target's own revision (or an unknown one) from the expected schemas
// around it that are at hand (snapshot files, earlier replays); never replays for it.
std::optional<Diagnosis> Engine::diagnose_findings(
    const std::string& source_name, const RevisionGraph& graph, const RevisionReport& revision,
    const SchemaSnapshot& live, const TargetConfig& target, const std::vector<Finding>& findings,
    std::chrono::steady_clock::time_point deadline) const {
  constexpr std::size_t kMaxCandidates = 8;
  DiagnosisInput input;
  input.revision = join(revision.current, ",");
  input.findings = findings;
  input.revision_known = revision.state != revision_state::kUnknownRevision;
  auto expected_of = [&](const std::vector<std::string>& revs) {
    return store_->snapshot(source_name, revision_key(graph.tips(revs)), deadline);
  };
  if (input.revision_known) {
    std::vector<std::string> order = graph.apply_order(revision.current);
    std::set<std::string> current(revision.current.begin(), revision.current.end());
    for (auto it = order.rbegin(); it != order.rend() && input.ancestors.size() < kMaxCandidates;
         ++it) {
      if (current.count(*it)) continue;
      if (auto snap = expected_of({*it})) {
        input.ancestors.push_back({*it, compare(*snap, live, target)});
      }
    }
    if (revision.current.size() == 1) {
      if (const RevisionScript* script = graph.find(revision.current.front())) {
        auto own = expected_of(revision.current);
        auto parent =
            script->down_revisions.empty() ? nullptr : expected_of(script->down_revisions);
        if (own && parent) input.own_changes = compare(*own, *parent, target);
      }
    }
  } else {
    const std::vector<std::string> order = graph.apply_order(graph.heads());
    for (auto it = order.rbegin(); it != order.rend() && input.known.size() < kMaxCandidates;
         ++it) {
      if (auto snap = expected_of({*it}))
        input.known.push_back({*it, compare(*snap, live, target)});
    }
  }
  return diagnose(input);
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
  // `problem`: the migrations source's (migrations_problem::*) when the expected side failed.
  auto fail = [&](const std::string& reason, const std::string& message,
                  const std::string& problem = "") {
    result.status = check_status::kError;
    result.error = CheckError{reason, "target '" + target.name + "': " + message, problem};
    if (!problem.empty()) store_->set_problem(target.migrations, target.name, problem, message);
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
    // A broken expected side is reported after the target itself has been reached, so that
    // target_up stays about the target (the migrations source has its own signal).
    std::string graph_problem;
    if (!graph || graph->has_errors() || graph->size() == 0) {
      if (graph && graph->has_errors()) {
        graph_problem = "migration files have errors: " + graph->errors().front().to_string();
        if (graph->errors().size() > 1) {
          graph_problem += " (and " + std::to_string(graph->errors().size() - 1) + " more)";
        }
      } else {
        graph_problem = "no migration files found in " + join(source.versions, ", ");
      }
    }

    // [check] timeout bounds the whole check: every session of it shares the deadline.
    IntrospectOptions options = introspect_options(config_, target, &source, config_.check.timeout);
    options.deadline = deadline;

    std::string url = resolve_connection_url(target.url, target.auth);
    auto session = std::make_unique<PgSession>(url, options, target.name);
    VersionTableRead version = read_version_table(*session, options);
    // Another session holds the locks (a migration, an ETL's TRUNCATE): defer the verdict and
    // look again shortly (most are over in seconds) instead of discarding it; only when the lock
    // lasts through the whole window is the target reported `migrating`.
    const auto recheck_until = std::min(deadline - std::chrono::seconds(2),
                                        std::chrono::steady_clock::now() + kMigratingRecheck);
    while (version.locked && std::chrono::steady_clock::now() + kMigratingPoll < recheck_until) {
      session.reset();
      std::this_thread::sleep_for(kMigratingPoll);
      session = std::make_unique<PgSession>(url, options, target.name);
      version = read_version_table(*session, options);
    }
    if (!graph_problem.empty()) {
      result.revision.current = version.rows;
      std::sort(result.revision.current.begin(), result.revision.current.end());
      result.revision.expected_heads = graph ? graph->heads() : std::vector<std::string>{};
      return fail(error_reason::kMigrations, graph_problem,
                  graph && graph->has_errors() ? migrations_problem::kParseError
                                               : migrations_problem::kNoRevisions);
    }
    result.revision = revision_report(*graph, version);
    if (version.locked) {
      result.status = check_status::kMigrating;
      result.revision.state = revision_state::kMigrating;
      result.migrating = MigratingInfo{migrating_since(target.name, true), version.by_migration,
                                       version.lock_evidence};
      return finish();
    }
    migrating_since(target.name, false);
    SchemaSnapshot live = introspect_schema(*session, options, version);
    session->end_transaction();

    // The expected schema of the target's own revision set when one can be had (a snapshot
    // file, an earlier or a new replay, the reference database at that revision); else the
    // head's, and then findings may be pending migrations: marked and capped below critical.
    const std::string& state = result.revision.state;
    const std::vector<std::string>& current = result.revision.current;
    const std::vector<std::string> own_tips = graph->tips(current);
    const std::vector<std::string> head_tips = graph->tips(graph->heads());
    const bool own_known = !current.empty() && state != revision_state::kUnknownRevision &&
                           state != revision_state::kMultipleHeadsInDb;
    std::shared_ptr<const SchemaSnapshot> expected;
    bool exact = false;
    bool own_schema = false;  // `expected` is the schema of the target's own revision set
    std::string replay_status;
    std::string expected_revision;  // what `expected` is the schema of
    // Snapshots (and replay) first, as documented; a reference database only without them.
    const bool reference_mode =
        source.snapshots.empty() && !source.replay && source.has_reference();
    const bool revision_only = source.snapshots.empty() && !source.replay && !reference_mode;
    if (revision_only) {
      // No expected schema configured: the revision state is the whole check.
    } else if (!reference_mode) {
      if (!current.empty()) {
        expected = store_->snapshot(source_name, revision_key(own_tips), deadline);
      }
      if (!expected && own_known && source.replay) {
        expected = store_->replay(source_name, source, own_tips, target.name, replay_status);
      }
      if (expected) {
        exact = true;
        own_schema = true;
        expected_revision = join(current, ",");
        result.compared_against =
            "expected schema of revision " + expected_revision + " (the target's revision)";
      } else {
        expected = store_->snapshot(source_name, revision_key(head_tips), deadline);
        if (!expected && source.replay) {
          std::string head_status;
          expected = store_->replay(source_name, source, head_tips, target.name, head_status);
          if (!expected) {
            // Still being built is no problem of the source yet (nor on the metric).
            return fail(error_reason::kExpectedSchema,
                        "no expected schema of head revision " + join(graph->heads(), ",") + ": " +
                            head_status,
                        store_->replay_failed(source_name, head_tips)
                            ? migrations_problem::kReplayFailed
                            : "");
          }
        }
        if (!expected) {
          return fail(error_reason::kExpectedSchema,
                      "no snapshot of head revision " + join(graph->heads(), ",") + " in " +
                          source.snapshots +
                          "; write them with `driftwatch snapshot --all-revisions` or configure "
                          "[migrations." +
                          source_name + ".replay]",
                      migrations_problem::kNoHeadSnapshot);
        }
        expected_revision = join(graph->heads(), ",");
        exact = state == revision_state::kAtHead;
        result.compared_against = "expected schema of head revision " + expected_revision;
      }
      // Compared with head because the replay of its own revision failed: the source still has
      // a problem for this target.
      const bool own_replay_failed =
          own_known && source.replay && !own_schema && store_->replay_failed(source_name, own_tips);
      store_->set_problem(
          source_name, target.name, own_replay_failed ? migrations_problem::kReplayFailed : "",
          own_replay_failed
              ? "replay of revision " + join(current, ",") + " failed: " + replay_status
              : "");
    } else {
      try {
        expected = store_->reference(source_name, source, options, target.name, deadline);
      } catch (const Error& e) {
        return fail(e.reason(), e.what(), migrations_problem::kReferenceUnreachable);
      }
      store_->set_problem(source_name, target.name, "", "");
      expected_revision = expected->alembic_version.empty() ? std::string("(none)")
                                                            : join(expected->alembic_version, ",");
      exact = !current.empty() && graph->tips(expected->alembic_version) == own_tips;
      result.compared_against = "reference database at revision " + expected_revision;
    }
    if (revision_only) {
      result.status = state == revision_state::kAtHead ? check_status::kOk : check_status::kDrift;
      return finish();
    }
    if (exact && !result.compared_against.empty() &&
        result.compared_against.find("(the target's revision)") == std::string::npos &&
        state != revision_state::kAtHead) {
      result.compared_against += " (the target's revision)";
    }
    if (!exact) {
      result.compared_against +=
          ": not the target's revision " +
          (current.empty() ? std::string("(none)") : join(current, ",")) +
          ", so findings may be pending migrations (severity capped at warning)";
      if (!replay_status.empty()) result.compared_against += "; " + replay_status;
    }

    result.findings = compare(*expected, live, target, compared);
    if (!exact) {
      for (Finding& f : result.findings) {
        f.possibly_pending = true;
        if (f.severity == Severity::kCritical) f.severity = Severity::kWarning;
      }
    }
    if (!result.findings.empty() && (exact || state == revision_state::kUnknownRevision)) {
      result.diagnosis = diagnose_findings(source_name, *graph, result.revision, live, target,
                                           result.findings, deadline);
    }
    const bool at_head = state == revision_state::kAtHead;
    result.status = result.findings.empty() && at_head ? check_status::kOk : check_status::kDrift;
    return finish();
  } catch (const Error& e) {
    // An unreadable snapshot file: the expected schema cannot be had from the snapshots.
    return fail(
        e.reason(), e.what(),
        e.reason() == error_reason::kExpectedSchema ? migrations_problem::kNoHeadSnapshot : "");
  } catch (const std::exception& e) {
    return fail(error_reason::kInternal, e.what());
  }
}

}  // namespace driftwatch
