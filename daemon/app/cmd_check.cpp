#include "app/cmd_check.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "app/args.hpp"
#include "app/child_process.hpp"
#include "app/engine.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/fix_script.hpp"
#include "driftwatch/render.hpp"

namespace driftwatch {

namespace {

// While the targets are checked, SIGINT (a terminal's Ctrl-C) and SIGTERM end the run cleanly
// instead of killing the process outright: the commands driftwatch runs (a replay's upgrade
// command, url_command) are in process groups of their own, which the terminal's signal does not
// reach, and a replay's scratch database is dropped only by the replay itself. So the signals are
// blocked in every thread and taken by a watcher thread, which stops the replay, kills the
// commands, waits for the scratch database to be dropped and exits 3 without a report (the
// targets were not checked; no snapshot is written). A signal that comes once every target is
// checked is left pending and acts as usual when the destructor unblocks it.
class InterruptEndsCheck {
 public:
  explicit InterruptEndsCheck(std::ostream& err) : err_(err) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    // Before any thread starts: they all inherit the blocked mask.
    ::pthread_sigmask(SIG_BLOCK, &signals_, &old_mask_);
    signal_fd_ = ::signalfd(-1, &signals_, SFD_CLOEXEC);
    int fds[2];
    if (signal_fd_ < 0 || ::pipe2(fds, O_CLOEXEC) != 0) {
      err_ << "driftwatch check: cannot watch for SIGINT/SIGTERM: " << std::strerror(errno) << "\n";
      if (signal_fd_ >= 0) ::close(signal_fd_);
      signal_fd_ = -1;
      ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
      return;
    }
    done_read_ = fds[0];
    done_write_ = fds[1];
    watcher_ = std::thread([this] { watch(); });
  }
  ~InterruptEndsCheck() {
    if (signal_fd_ < 0) return;
    finish();
    ssize_t ignored = ::write(done_write_, "x", 1);
    (void)ignored;
    watcher_.join();
    ::close(signal_fd_);
    ::close(done_read_);
    ::close(done_write_);
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  InterruptEndsCheck(const InterruptEndsCheck&) = delete;
  InterruptEndsCheck& operator=(const InterruptEndsCheck&) = delete;

  // Every target is checked: from now on a signal no longer ends the run this way. If it already
  // did, never returns (the watcher ends the process).
  void finish() {
    int running = kRunning;
    if (!state_.compare_exchange_strong(running, kFinished) && running == kInterrupted) {
      watcher_.join();
    }
  }

 private:
  static constexpr int kRunning = 0, kInterrupted = 1, kFinished = 2;

  void watch() {
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {done_read_, POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0 && errno == EINTR) {
    }
    int running = kRunning;
    if (!(fds[0].revents & POLLIN) || !state_.compare_exchange_strong(running, kInterrupted)) {
      return;
    }
    signalfd_siginfo info{};
    ssize_t got = ::read(signal_fd_, &info, sizeof info);
    (void)got;
    const char* name = info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT";
    Engine::stop_replays();
    kill_running_children();
    const bool replays_stopped =
        Engine::wait_for_replays(std::chrono::steady_clock::now() + std::chrono::seconds(30));
    err_ << "driftwatch check: interrupted by " << name
         << (replays_stopped ? "; running commands killed, scratch databases dropped"
                             : "; a replay did not stop in time: its scratch database "
                               "(driftwatch_replay_" +
                                   std::to_string(::getpid()) + "_*) may be left")
         << "; no report\n";
    err_.flush();
    std::_Exit(3);
  }

  std::ostream& err_;
  sigset_t signals_{};
  sigset_t old_mask_{};
  int signal_fd_ = -1;
  int done_read_ = -1;
  int done_write_ = -1;
  std::atomic<int> state_{kRunning};
  std::thread watcher_;
};

bool use_color(const std::string& mode) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  if (std::getenv("NO_COLOR") != nullptr) return false;
  const char* term = std::getenv("TERM");
  return isatty(STDOUT_FILENO) && term != nullptr && std::string(term) != "dumb";
}

}  // namespace

int run_check(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ParsedArgs parsed;
  try {
    parsed = parse_args(args, {"config", "target", "format", "color"}, {"help", "fix-script"});
  } catch (const UsageError& e) {
    err << "driftwatch check: " << e.what() << "\n";
    return 2;
  }
  if (parsed.flag("help")) {
    out << "usage: driftwatch check --config FILE [--target NAME]... [--format text|json] "
           "[--color auto|always|never] [--fix-script]\n";
    return 0;
  }
  const std::string format = parsed.get("format", "text");
  const std::string color = parsed.get("color", "auto");
  const bool fix_script = parsed.flag("fix-script");
  if (!parsed.has("config") || (format != "text" && format != "json") ||
      (color != "auto" && color != "always" && color != "never") ||
      (fix_script && format == "json")) {
    err << "usage: driftwatch check --config FILE [--target NAME]... [--format text|json] "
           "[--color auto|always|never] [--fix-script]   (--fix-script prints SQL, not JSON)\n";
    return 2;
  }

  ConfigParseResult loaded = load_config_file(parsed.get("config"));
  if (!loaded.config) {
    for (const auto& e : loaded.errors) err << e.to_string() << "\n";
    err << "driftwatch check: configuration has " << loaded.errors.size() << " error(s)\n";
    return 2;
  }
  const Config& config = *loaded.config;

  std::vector<const TargetConfig*> selected;
  if (parsed.has("target")) {
    for (const std::string& name : parsed.all("target")) {
      const TargetConfig* target = config.find_target(name);
      if (target == nullptr) {
        err << "driftwatch check: no target named '" << name << "' in " << config.path << "\n";
        return 2;
      }
      if (std::find(selected.begin(), selected.end(), target) == selected.end()) {
        selected.push_back(target);
      }
    }
  } else {
    for (const auto& target : config.targets) selected.push_back(&target);
  }

  InterruptEndsCheck interrupts(err);
  EngineOptions engine_options;
  engine_options.wait_for_replay = true;  // one shot: no later check would see the replay
  Engine engine(config, engine_options);
  std::vector<TargetResult> results(selected.size());
  std::atomic<size_t> next{0};
  // Each worker pulls the next target: a slow or unreachable target occupies one worker and
  // never holds up the others.
  auto worker = [&] {
    for (size_t i = next++; i < selected.size(); i = next++) {
      auto deadline = std::chrono::steady_clock::now() + config.check.timeout;
      results[i] = engine.check(*selected[i], deadline);
    }
  };
  size_t workers = std::min<size_t>(std::max(1, config.check.concurrency), selected.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < workers; ++i) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  interrupts.finish();

  if (fix_script) {
    // One script per target; what could not be checked is said in a comment (and the exit code).
    for (size_t i = 0; i < results.size(); ++i) {
      const TargetResult& r = results[i];
      if (i > 0) out << "\n";
      if (r.status == check_status::kError || r.status == check_status::kMigrating) {
        out << "-- driftwatch fix script for target " << r.name << "\n-- Not checked (" << r.status
            << "): " << (r.error ? r.error->message : std::string("a migration is running"))
            << "\n";
        continue;
      }
      std::string script = render_fix_script(r.name, r.findings);
      if (!r.revision.state.empty() && r.revision.state != revision_state::kAtHead) {
        // After the header line: the drift may be migrations not yet applied.
        const size_t eol = script.find('\n') + 1;
        script.insert(eol, "-- Revision state " + r.revision.state + " (" +
                               std::to_string(r.revision.behind_by) +
                               " pending): running the pending migrations may be the fix.\n");
      }
      out << script;
    }
  } else if (format == "json") {
    out << render_check_json(results);
  } else {
    out << render_check_text(results, use_color(color));
  }
  out.flush();
  return exit_code_for(results);
}

}  // namespace driftwatch
