#include "app/interrupt.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "app/child_process.hpp"
#include "app/engine.hpp"

namespace driftwatch {

InterruptEndsRun::InterruptEndsRun(std::string command, std::ostream& err)
    : command_(std::move(command)), err_(err) {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &signals_, &old_mask_);
  signal_fd_ = ::signalfd(-1, &signals_, SFD_CLOEXEC);
  int fds[2];
  if (signal_fd_ < 0 || ::pipe2(fds, O_CLOEXEC) != 0) {
    err_ << "driftwatch " << command_
         << ": cannot watch for SIGINT/SIGTERM: " << std::strerror(errno) << "\n";
    if (signal_fd_ >= 0) ::close(signal_fd_);
    signal_fd_ = -1;
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    return;
  }
  done_read_ = fds[0];
  done_write_ = fds[1];
  watcher_ = std::thread([this] { watch(); });
}

InterruptEndsRun::~InterruptEndsRun() {
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

void InterruptEndsRun::finish() {
  int running = kRunning;
  if (!state_.compare_exchange_strong(running, kFinished) && running == kInterrupted) {
    watcher_.join();
  }
}

void InterruptEndsRun::watch() {
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
  err_ << "driftwatch " << command_ << ": interrupted by " << name
       << (replays_stopped ? "; running commands killed, scratch databases dropped"
                           : "; a replay did not stop in time: its scratch database "
                             "(driftwatch_replay_" +
                                 std::to_string(::getpid()) + "_*) may be left")
       << "; no report\n";
  err_.flush();
  std::_Exit(3);
}

}  // namespace driftwatch
