#include "app/replay.hpp"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>

#include "app/child_process.hpp"
#include "app/schema_source.hpp"
#include "app/snapshot_file.hpp"
#include "driftwatch/check.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"
#include "pg/scratch.hpp"

namespace driftwatch {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxOutput = 64 * 1024;

std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string substitute(std::string text, const std::string& revision, const std::string& url,
                       bool quote) {
  const std::pair<std::string, std::string> values[] = {
      {"{revision}", quote ? shell_quoted(revision) : revision},
      {"{url}", quote ? shell_quoted(url) : url}};
  for (const auto& [key, value] : values) {
    for (std::size_t at = text.find(key); at != std::string::npos;
         at = text.find(key, at + value.size())) {
      text.replace(at, key.size(), value);
    }
  }
  return text;
}

// The upgrade command's output with the scratch URL (which may carry a password) redacted.
std::string redacted_output(std::string output, const std::string& url) {
  const std::string redacted = redact_url(url);
  for (std::size_t at = output.find(url); at != std::string::npos;
       at = output.find(url, at + redacted.size())) {
    output.replace(at, url.size(), redacted);
  }
  return output;
}

// Scratch database names: unique per process and call, recognisable as driftwatch's.
std::string scratch_name() {
  static std::atomic<unsigned> counter{0};
  return "driftwatch_replay_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
}

void upgrade(const ReplaySettings& settings, const std::string& url, const std::string& revision) {
  ChildCommand command;
  for (const std::string& arg : settings.command) {
    command.argv.push_back(substitute(arg, revision, url, settings.shell_quote));
  }
  command.env = {{"DATABASE_URL", url}};
  command.capture_stderr = true;
  command.timeout = settings.timeout;
  command.output_limit = kMaxOutput;
  command.keep_tail = true;
  command.stop = settings.stop;
  const ChildResult result = run_child(command);
  if (!result.ok()) {
    throw ReplayFailure(revision,
                        "migration to revision " + revision + " failed: upgrade command " +
                            result.describe(command),
                        redacted_output(result.output, url));
  }
}

// Between the steps of a replay: ends it once a stop is requested.
void stop_point(const ReplaySettings& settings, const std::string& revision) {
  if (settings.stop != nullptr && settings.stop->load()) {
    throw ReplayFailure(revision, "replay of revision " + revision + " stopped", "");
  }
}

SchemaSnapshot read_scratch(const ReplaySettings& settings, const std::string& url,
                            const std::string& revision) {
  stop_point(settings, revision);
  return read_database_schema(url, settings.introspect);
}

// Drops every database it created when it goes out of scope.
class ScratchDatabases {
 public:
  explicit ScratchDatabases(const ReplaySettings& settings)
      : server_(settings.scratch_url, std::chrono::seconds(60)) {}
  ~ScratchDatabases() {
    for (const std::string& name : live_) server_.drop_database(name);
  }
  std::string create(const std::string& template_name = "") {
    std::string name = scratch_name();
    server_.create_database(name, template_name);
    live_.insert(name);
    return name;
  }
  void drop(const std::string& name) {
    server_.drop_database(name);
    live_.erase(name);
  }
  std::string url(const std::string& name) const { return server_.url_for(name); }

 private:
  ScratchServer server_;
  std::set<std::string> live_;
};

std::string elapsed(std::chrono::steady_clock::time_point since) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1fs",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count());
  return text;
}

}  // namespace

std::string snapshot_stem(const std::vector<std::string>& revisions) {
  std::vector<std::string> sorted = revisions;
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  for (const std::string& r : sorted) out += (out.empty() ? "" : "+") + r;
  return out;
}

SchemaSnapshot replay_revision_set(const ReplaySettings& settings,
                                   const std::vector<std::string>& revisions) {
  const std::string stem = snapshot_stem(revisions);
  stop_point(settings, stem);
  ScratchDatabases databases(settings);
  const std::string name = databases.create();
  const std::string url = databases.url(name);
  for (const std::string& revision : revisions) upgrade(settings, url, revision);
  return read_scratch(settings, url, stem);
}

HistoryReport build_history(const ReplaySettings& settings, const RevisionGraph& graph,
                            const std::string& out_dir, bool gzip,
                            const std::function<void(const std::string&)>& progress) {
  HistoryReport report;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  const std::vector<std::string> order = graph.apply_order(graph.heads());
  auto file_of = [&](const std::string& revision, bool compressed) {
    return (fs::path(out_dir) / (revision + (compressed ? ".json.gz" : ".json"))).string();
  };
  std::vector<char> wanted(order.size(), 0);
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) {
    position[order[i]] = i;
    wanted[i] = !fs::exists(file_of(order[i], false)) && !fs::exists(file_of(order[i], true));
  }
  // A database is kept while a revision still to build uses it as its template.
  std::map<std::string, int> uses;  // revision -> children still to build from it
  for (size_t i = 0; i < order.size(); ++i) {
    const RevisionScript* script = graph.find(order[i]);
    if (wanted[i] && script != nullptr && !script->down_revisions.empty()) {
      ++uses[script->down_revisions.front()];
    }
  }
  ScratchDatabases databases(settings);
  std::map<std::string, std::string> database_of;  // revision -> its scratch database
  for (size_t i = 0; i < order.size(); ++i) {
    const std::string& revision = order[i];
    const std::string counter =
        "[" + std::to_string(i + 1) + "/" + std::to_string(order.size()) + "] ";
    if (!wanted[i]) {
      ++report.existing;
      progress(counter + revision + ": snapshot exists, skipped");
      continue;
    }
    stop_point(settings, revision);
    const auto started = std::chrono::steady_clock::now();
    const RevisionScript* script = graph.find(revision);
    std::string parent = script != nullptr && !script->down_revisions.empty()
                             ? script->down_revisions.front()
                             : std::string();
    auto from = database_of.find(parent);
    // From the first parent's database when there is one (upgrade then applies the revision and
    // whatever else it needs: a merge's other branches, depends_on); else from empty.
    const std::string name = databases.create(from == database_of.end() ? "" : from->second);
    if (!parent.empty() && --uses[parent] == 0 && from != database_of.end()) {
      databases.drop(from->second);
      database_of.erase(from);
    }
    upgrade(settings, databases.url(name), revision);
    SchemaSnapshot snapshot = read_scratch(settings, databases.url(name), revision);
    const std::string file = file_of(revision, gzip);
    const std::string error = write_snapshot_file(file, snapshot);
    if (!error.empty()) throw Error(error_reason::kInternal, error);
    if (uses[revision] > 0) {
      database_of[revision] = name;
    } else {
      databases.drop(name);
    }
    ++report.built;
    progress(counter + revision + ": built " + file + " in " + elapsed(started));
  }
  return report;
}

}  // namespace driftwatch
