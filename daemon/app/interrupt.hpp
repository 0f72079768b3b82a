// One-shot commands (`check`, `fix-forward`) that may start a replay: SIGINT / SIGTERM end the
// run cleanly instead of killing the process outright.
#pragma once

#include <signal.h>

#include <atomic>
#include <ostream>
#include <string>
#include <thread>

namespace driftwatch {

// While it lives, SIGINT (a terminal's Ctrl-C) and SIGTERM end the run cleanly: the commands
// driftwatch runs (a replay's upgrade command, url_command) are in process groups of their own,
// which the terminal's signal does not reach, and a replay's scratch database is dropped only by
// the replay itself. So the signals are blocked in every thread and taken by a watcher thread,
// which stops the replay, kills the commands, waits for the scratch database to be dropped and
// exits 3 without a report (no snapshot is written). Construct it before any thread starts (they
// inherit the blocked mask). A signal that comes after finish() is left pending and acts as usual
// when the destructor unblocks it.
class InterruptEndsRun {
 public:
  InterruptEndsRun(std::string command, std::ostream& err);
  ~InterruptEndsRun();
  InterruptEndsRun(const InterruptEndsRun&) = delete;
  InterruptEndsRun& operator=(const InterruptEndsRun&) = delete;

  // The work is done: from now on a signal no longer ends the run this way. If it already did,
  // never returns (the watcher ends the process).
  void finish();

 private:
  static constexpr int kRunning = 0, kInterrupted = 1, kFinished = 2;
  void watch();

  std::string command_;
  std::ostream& err_;
  sigset_t signals_{};
  sigset_t old_mask_{};
  int signal_fd_ = -1;
  int done_read_ = -1;
  int done_write_ = -1;
  std::atomic<int> state_{kRunning};
  std::thread watcher_;
};

}  // namespace driftwatch
