#include "app/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "driftwatch/check.hpp"
#include "driftwatch/error.hpp"

extern char** environ;

namespace driftwatch {

namespace {

// Owns a file descriptor; closes it on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

void make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw Error(error_reason::kInternal, std::string("pipe: ") + std::strerror(errno));
  }
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
}

std::string duration_text(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
  return std::to_string(duration.count()) + " ms";
}

std::string size_text(std::size_t bytes) {
  if (bytes % (std::size_t{1} << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

// True once `pid` has ended; it stays a zombie (not reaped), so its process group id cannot be
// reused before the group is killed.
bool has_exited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

// The process group ids (= pids) of the commands running now, for kill_running_children; 0 = a
// free slot. Plain atomics in static storage: readable from a signal handler.
std::atomic<pid_t> g_running[kMaxTrackedChildren];
static_assert(std::atomic<pid_t>::is_always_lock_free, "kill_running_children reads it lock-free");

// A running command's entry in g_running, from fork until just before it is reaped (a reaped pid
// may be reused, and must not be killed then).
class RunningChild {
 public:
  explicit RunningChild(pid_t pid) {
    for (auto& slot : g_running) {
      pid_t free = 0;
      if (slot.compare_exchange_strong(free, pid)) {
        slot_ = &slot;
        break;
      }
    }
  }
  ~RunningChild() { release(); }
  RunningChild(const RunningChild&) = delete;
  RunningChild& operator=(const RunningChild&) = delete;
  void release() {
    if (slot_ != nullptr) slot_->store(0);
    slot_ = nullptr;
  }

 private:
  std::atomic<pid_t>* slot_ = nullptr;
};

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace

std::string ChildResult::describe(const ChildCommand& command) const {
  switch (end) {
    case ChildEnd::kExited:
      return "exited with status " + std::to_string(exit_status);
    case ChildEnd::kSignaled:
      return "terminated by signal " + std::to_string(signal);
    case ChildEnd::kExecFailed:
      return std::string("cannot execute: ") + std::strerror(exec_errno);
    case ChildEnd::kTimedOut:
      return "timed out after " + duration_text(command.timeout) + " (killed)";
    case ChildEnd::kOutputLimit:
      return "output larger than " + size_text(command.output_limit) + " (killed)";
    case ChildEnd::kStopped:
      return "stopped (killed)";
  }
  return "";
}

ChildResult run_child(const ChildCommand& command) {
  if (command.argv.empty()) throw Error(error_reason::kInternal, "run_child: no program");
  // Everything the child needs is prepared before fork: after fork only async-signal-safe calls
  // are allowed (the daemon is multi-threaded).
  std::vector<char*> argv;
  for (const std::string& arg : command.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const bool replaced = std::any_of(command.env.begin(), command.env.end(), [&](const auto& kv) {
      return std::strncmp(*e, kv.first.c_str(), kv.first.size()) == 0 &&
             (*e)[kv.first.size()] == '=';
    });
    if (!replaced) env_strings.emplace_back(*e);
  }
  for (const auto& [name, value] : command.env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  Fd out_read, out_write, exec_error_read, exec_error_write;
  make_pipe(out_read, out_write);
  // Carries errno from a failed exec; closed by a successful exec (CLOEXEC), so EOF = started.
  make_pipe(exec_error_read, exec_error_write);
  const Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  sigset_t no_signals;
  sigemptyset(&no_signals);

  const pid_t pid = ::fork();
  if (pid < 0) throw Error(error_reason::kInternal, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Own process group, so a kill reaches whatever the command started too.
    ::setpgid(0, 0);
    ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);  // a daemon thread may block some
    ::signal(SIGPIPE, SIG_DFL);
    if (devnull.get() >= 0) ::dup2(devnull.get(), STDIN_FILENO);
    ::dup2(out_write.get(), STDOUT_FILENO);  // dup2 clears CLOEXEC on the copy
    if (command.capture_stderr) ::dup2(out_write.get(), STDERR_FILENO);
    ::execvpe(argv[0], argv.data(), envp.data());
    const int error = errno;
    ssize_t ignored = ::write(exec_error_write.get(), &error, sizeof error);
    (void)ignored;
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent: no race with a kill below
  RunningChild running(pid);
  out_write.reset();
  exec_error_write.reset();

  ChildResult result;
  ssize_t got;
  do {
    got = ::read(exec_error_read.get(), &result.exec_errno, sizeof result.exec_errno);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof result.exec_errno)) {
    running.release();
    reap(pid);
    result.end = ChildEnd::kExecFailed;
    return result;
  }
  result.exec_errno = 0;

  const auto deadline = std::chrono::steady_clock::now() + command.timeout;
  const std::size_t limit = command.output_limit;
  bool eof = false;
  bool killed = false;
  bool cut = false;  // keep_tail dropped the start of the output
  auto over_limit = [&] {
    if (result.output.size() <= limit) return false;
    if (!command.keep_tail) return true;
    if (result.output.size() > 2 * limit) {
      result.output.erase(0, result.output.size() - limit);
      cut = true;
    }
    return false;
  };
  // Reads what is there without waiting; false once over the limit.
  auto read_available = [&] {
    char buffer[8192];
    ::fcntl(out_read.get(), F_SETFL, O_NONBLOCK);
    ssize_t n;
    while ((n = ::read(out_read.get(), buffer, sizeof buffer)) > 0) {
      result.output.append(buffer, static_cast<std::size_t>(n));
      if (over_limit()) return false;
    }
    return true;
  };
  auto wait_after_eof = std::chrono::milliseconds(1);
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    // Short slices: the stop flag is looked at, and an exited command whose background children
    // still hold stdout open does not keep us waiting until the deadline.
    const auto slice =
        std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                 std::chrono::milliseconds(100));
    if (!eof && slice.count() > 0) {
      pollfd fd{out_read.get(), POLLIN, 0};
      const int ready = ::poll(&fd, 1, static_cast<int>(slice.count()));
      if (ready > 0) {
        char buffer[8192];
        const ssize_t n = ::read(out_read.get(), buffer, sizeof buffer);
        if (n > 0) {
          result.output.append(buffer, static_cast<std::size_t>(n));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          eof = true;  // every writer is gone (or the pipe is unusable): wait for the exit
        }
      } else if (ready < 0 && errno != EINTR) {
        eof = true;
      }
    } else if (slice.count() > 0) {
      // stdout is closed but the command still runs: look again soon, then less often.
      ::poll(nullptr, 0, static_cast<int>(std::min(slice, wait_after_eof).count()));
      wait_after_eof = std::min(wait_after_eof * 2, std::chrono::milliseconds(50));
    }
    if (over_limit()) {
      result.end = ChildEnd::kOutputLimit;
      killed = true;
      break;
    }
    if (has_exited(pid)) {
      // Take what is already buffered, then stop even if a grandchild keeps the pipe open.
      if (!eof && !read_available()) {
        result.end = ChildEnd::kOutputLimit;
        killed = true;
      }
      break;
    }
    if (command.stop != nullptr && command.stop->load()) {
      result.end = ChildEnd::kStopped;
      killed = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      result.end = ChildEnd::kTimedOut;
      killed = true;
      break;
    }
  }
  if (killed) ::kill(-pid, SIGKILL);
  running.release();
  const int status = reap(pid);
  if (command.keep_tail && result.output.size() > limit) {
    result.output.erase(0, result.output.size() - limit);
    cut = true;
  }
  if (cut) {
    // The tail starts with a whole line: a line cut in two may be a URL whose password is cut
    // too, which redaction would no longer recognise.
    const std::size_t newline = result.output.find('\n');
    if (newline != std::string::npos) result.output.erase(0, newline + 1);
  }
  if (!killed) {
    if (WIFSIGNALED(status)) {
      result.end = ChildEnd::kSignaled;
      result.signal = WTERMSIG(status);
    } else {
      result.end = ChildEnd::kExited;
      result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    }
  }
  return result;
}

void kill_running_children() {
  for (const auto& slot : g_running) {
    const pid_t pid = slot.load();
    if (pid > 0) ::kill(-pid, SIGKILL);
  }
}

}  // namespace driftwatch
