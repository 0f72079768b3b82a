#include "app/replay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "app/schema_source.hpp"
#include "app/snapshot_file.hpp"
#include "driftwatch/check.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"
#include "pg/scratch.hpp"

extern char** environ;

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

struct CommandOutcome {
  bool ok = false;
  std::string failure;  // "exited with status 1", "timed out after ..."
  std::string output;
};

// Runs argv with DATABASE_URL=url; stdout and stderr captured together (the tail is kept).
CommandOutcome run_command(const std::vector<std::string>& args, const std::string& url,
                           std::chrono::milliseconds timeout) {
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "DATABASE_URL=", 13) != 0) env_strings.emplace_back(*e);
  }
  env_strings.push_back("DATABASE_URL=" + url);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw Error(error_reason::kInternal, std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw Error(error_reason::kInternal, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::signal(SIGPIPE, SIG_DFL);
    ::execvpe(argv[0], argv.data(), envp.data());
    const char message[] = "cannot execute the upgrade command\n";
    ssize_t ignored = ::write(STDERR_FILENO, message, sizeof message - 1);
    (void)ignored;
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(fds[1]);
  CommandOutcome outcome;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  char buffer[8192];
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    pollfd fd{fds[0], POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left.count(), 200)));
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0) {
      const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
      if (n <= 0) break;
      outcome.output.append(buffer, static_cast<std::size_t>(n));
      if (outcome.output.size() > 2 * kMaxOutput) {
        outcome.output.erase(0, outcome.output.size() - kMaxOutput);
      }
    }
  }
  ::close(fds[0]);
  if (timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (outcome.output.size() > kMaxOutput) {
    outcome.output.erase(0, outcome.output.size() - kMaxOutput);
  }
  // The scratch URL may carry a password; the output must not.
  const std::string redacted = redact_url(url);
  for (std::size_t at = outcome.output.find(url); at != std::string::npos;
       at = outcome.output.find(url, at + redacted.size())) {
    outcome.output.replace(at, url.size(), redacted);
  }
  if (timed_out) {
    outcome.failure = "timed out after " + std::to_string(timeout.count() / 1000) + " s (killed)";
  } else if (WIFSIGNALED(status)) {
    outcome.failure = "terminated by signal " + std::to_string(WTERMSIG(status));
  } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    outcome.failure = "exited with status " + std::to_string(WEXITSTATUS(status));
  } else {
    outcome.ok = true;
  }
  return outcome;
}

// Scratch database names: unique per process and call, recognisable as driftwatch's.
std::string scratch_name() {
  static std::atomic<unsigned> counter{0};
  return "driftwatch_replay_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
}

void upgrade(const ReplaySettings& settings, const std::string& url, const std::string& revision) {
  std::vector<std::string> args;
  for (const std::string& arg : settings.command) {
    args.push_back(substitute(arg, revision, url, settings.shell_quote));
  }
  CommandOutcome outcome = run_command(args, url, settings.timeout);
  if (!outcome.ok) {
    throw ReplayFailure(
        revision,
        "migration to revision " + revision + " failed: upgrade command " + outcome.failure,
        std::move(outcome.output));
  }
}

SchemaSnapshot read_scratch(const ReplaySettings& settings, const std::string& url) {
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
  ScratchDatabases databases(settings);
  const std::string name = databases.create();
  const std::string url = databases.url(name);
  for (const std::string& revision : revisions) upgrade(settings, url, revision);
  return read_scratch(settings, url);
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
    SchemaSnapshot snapshot = read_scratch(settings, databases.url(name));
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
