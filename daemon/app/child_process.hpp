// Running a child program with a deadline, for the commands driftwatch runs on the user's behalf
// (url_command, the replay upgrade command). The child gets a process group of its own, so a
// timeout, an output cap or a stop request kills whatever it started too; stdin is /dev/null.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace driftwatch {

struct ChildCommand {
  // argv[0] is searched on PATH. A shell command line is {"/bin/sh", "-c", TEXT}.
  std::vector<std::string> argv;
  // Variables set (replacing any inherited value) in the otherwise inherited environment.
  std::vector<std::pair<std::string, std::string>> env;
  bool capture_stderr = false;  // true: stderr joins the captured stdout; false: inherited
  std::chrono::milliseconds timeout{10000};
  std::size_t output_limit = std::size_t{1} << 20;
  // Over output_limit: keep the last output_limit bytes, from the first line that starts in them,
  // and let the child run (true); or kill it and end with ChildEnd::kOutputLimit (false).
  bool keep_tail = false;
  // When it becomes true the child is killed and the run ends with ChildEnd::kStopped (looked at
  // every 100 ms). May be null.
  const std::atomic<bool>* stop = nullptr;
};

enum class ChildEnd {
  kExited,       // exit_status says how
  kSignaled,     // died of `signal`
  kExecFailed,   // could not be started: exec_errno
  kTimedOut,     // killed at the deadline
  kOutputLimit,  // killed: more than output_limit bytes (keep_tail false)
  kStopped,      // killed: stop request
};

struct ChildResult {
  ChildEnd end = ChildEnd::kExited;
  int exit_status = 0;
  int signal = 0;
  int exec_errno = 0;
  std::string output;  // stdout (+ stderr with capture_stderr); with keep_tail only the tail
  bool ok() const { return end == ChildEnd::kExited && exit_status == 0; }
  // "exited with status 1", "terminated by signal 9", "cannot execute: No such file or
  // directory", "timed out after 300 ms (killed)", "output larger than 1048576 bytes (killed)",
  // "stopped (killed)". Never contains the output.
  std::string describe(const ChildCommand& command) const;
};

// Runs the command until it exits (or is killed) and returns how it ended. A command that exits
// while something it started in the background keeps its stdout open is done when it exits
// (what is already buffered is read); one that closes stdout but keeps running is still waited
// for, up to the deadline. Throws driftwatch::Error (reason internal) if pipe or fork fail.
ChildResult run_child(const ChildCommand& command);

// Kills (SIGKILL) the process group of every command run_child is running now, in any thread, for
// a process about to end without waiting for them (a second stop signal, an interrupted
// `check`): they run in process groups of their own, so nothing else would reach them. Each
// run_child then ends as its command died (kSignaled). Async-signal-safe. The first
// kMaxTrackedChildren commands running at once are tracked; more are not killed.
void kill_running_children();
inline constexpr int kMaxTrackedChildren = 256;

}  // namespace driftwatch
