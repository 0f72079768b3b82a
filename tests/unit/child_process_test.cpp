// run_child: the one way driftwatch runs a command (url_command, the replay upgrade command).
#include "app/child_process.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace driftwatch {
namespace {

ChildCommand shell(const std::string& text, std::chrono::milliseconds timeout) {
  ChildCommand command;
  command.argv = {"/bin/sh", "-c", text};
  command.timeout = timeout;
  return command;
}

// True once `pid` is gone (or a zombie nobody has reaped yet: dead all the same). Waits up to
// 10 s for init to reap an orphan; the bound is generous, never the thing tested.
bool process_gone(long pid) {
  for (int i = 0; i < 1000; ++i) {
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return true;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const std::size_t paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z') {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// The pid a command printed on its first line (`echo $!` of a background child).
long first_line_pid(const std::string& output) {
  REQUIRE_FALSE(output.empty());
  return std::stol(output.substr(0, output.find('\n')));
}

TEST_CASE("run_child: exit status, output, signal, missing program") {
  const ChildCommand ok = shell("echo hello; exit 0", std::chrono::seconds(10));
  ChildResult result = run_child(ok);
  CHECK(result.ok());
  CHECK(result.output == "hello\n");

  const ChildCommand failing = shell("echo partial; exit 3", std::chrono::seconds(10));
  result = run_child(failing);
  CHECK_FALSE(result.ok());
  CHECK(result.end == ChildEnd::kExited);
  CHECK(result.exit_status == 3);
  CHECK(result.output == "partial\n");
  CHECK(result.describe(failing) == "exited with status 3");

  result = run_child(shell("kill -TERM $$", std::chrono::seconds(10)));
  CHECK(result.end == ChildEnd::kSignaled);
  CHECK(result.signal == SIGTERM);

  ChildCommand missing;
  missing.argv = {"/nonexistent/driftwatch-no-such-program"};
  result = run_child(missing);
  CHECK(result.end == ChildEnd::kExecFailed);
  CHECK(result.describe(missing) == "cannot execute: No such file or directory");
}

TEST_CASE("run_child: environment additions replace inherited values; stderr capture") {
  ::setenv("DRIFTWATCH_CHILD_TEST", "inherited", 1);
  ChildCommand command =
      shell("printf '%s' \"$DRIFTWATCH_CHILD_TEST\"; echo to-stderr >&2", std::chrono::seconds(10));
  command.env = {{"DRIFTWATCH_CHILD_TEST", "given"}};
  ChildResult result = run_child(command);
  CHECK(result.output == "given");  // stderr inherited by default
  command.capture_stderr = true;
  result = run_child(command);
  CHECK(result.output == "givento-stderr\n");
  ::unsetenv("DRIFTWATCH_CHILD_TEST");
}

TEST_CASE("run_child: a timeout kills the whole process group") {
  const ChildCommand command = shell("sleep 30 & echo $!; wait", std::chrono::milliseconds(300));
  const ChildResult result = run_child(command);
  CHECK(result.end == ChildEnd::kTimedOut);
  CHECK(result.describe(command) == "timed out after 300 ms (killed)");
  CHECK(process_gone(first_line_pid(result.output)));
}

// Regression: a command that closed stdout but kept running was waited for without a deadline
// (both former copies of this loop blocked in waitpid after EOF).
TEST_CASE("run_child: a command that closes stdout early but keeps running still times out") {
  const ChildCommand command =
      shell("sleep 30 & echo $!; exec >&- 2>&-; wait", std::chrono::milliseconds(300));
  const ChildResult result = run_child(command);
  CHECK(result.end == ChildEnd::kTimedOut);
  CHECK(process_gone(first_line_pid(result.output)));
}

TEST_CASE("run_child: a command that exits is done even if a background child holds stdout") {
  const ChildCommand command = shell("sleep 30 & echo $!; exit 0", std::chrono::seconds(60));
  const ChildResult result = run_child(command);
  CHECK(result.ok());
  const long background = first_line_pid(result.output);
  // Not waited for: it still runs (it sleeps 30 s), so the run ended when the command did.
  CHECK(::kill(static_cast<pid_t>(background), 0) == 0);
  ::kill(static_cast<pid_t>(background), SIGKILL);
}

TEST_CASE("run_child: output cap: kill, or keep the tail") {
  ChildCommand command =
      shell("head -c 100000 /dev/zero | tr '\\0' a; sleep 30", std::chrono::seconds(20));
  command.output_limit = 4096;
  ChildResult result = run_child(command);
  CHECK(result.end == ChildEnd::kOutputLimit);
  CHECK(result.describe(command) == "output larger than 4 KiB (killed)");

  // The tail: whole lines only (a line cut in two could be a URL with half a password).
  command = shell("seq 1 100000", std::chrono::seconds(20));
  command.output_limit = 4096;
  command.keep_tail = true;
  result = run_child(command);
  CHECK(result.ok());
  REQUIRE(result.output.size() <= 4096);
  REQUIRE(result.output.size() > 4096 - 8);
  std::string expected;
  for (int n = std::stoi(result.output); n <= 100000; ++n) expected += std::to_string(n) + "\n";
  CHECK(result.output == expected);
}

TEST_CASE("run_child: a stop request kills the process group") {
  std::atomic<bool> stop{false};
  ChildCommand command = shell("sleep 30 & echo $!; wait", std::chrono::seconds(60));
  command.stop = &stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
  });
  const ChildResult result = run_child(command);
  stopper.join();
  CHECK(result.end == ChildEnd::kStopped);
  CHECK(result.describe(command) == "stopped (killed)");
  CHECK(process_gone(first_line_pid(result.output)));
}

TEST_CASE("kill_running_children: kills the process group of every running command") {
  // Two commands running at once on other threads, each with a background child; each writes
  // that child's pid to a file once it runs (their output is only seen when run_child returns).
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("driftwatch_kill_children_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::vector<ChildResult> results(2);
  std::vector<std::thread> runners;
  for (int i = 0; i < 2; ++i) {
    const std::string file = dir + "/" + std::to_string(i);
    runners.emplace_back([&results, i, file] {
      results[i] = run_child(
          shell("sleep 30 & echo $! > " + file + ".tmp; mv " + file + ".tmp " + file + "; wait",
                std::chrono::seconds(60)));
    });
  }
  std::vector<long> sleeps;
  for (int i = 0; i < 2; ++i) {
    const std::string file = dir + "/" + std::to_string(i);
    for (int tries = 0; tries < 1000 && !std::filesystem::exists(file); ++tries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::ifstream in(file);
    long pid = 0;
    in >> pid;
    sleeps.push_back(pid);
  }
  kill_running_children();
  for (auto& runner : runners) runner.join();
  std::filesystem::remove_all(dir);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(sleeps[i] > 0);
    CHECK(results[i].end == ChildEnd::kSignaled);
    CHECK(results[i].signal == SIGKILL);
    CHECK(process_gone(sleeps[i]));
  }
  // Finished commands are no longer tracked: nothing is killed (and nothing breaks).
  kill_running_children();
  CHECK(run_child(shell("echo still", std::chrono::seconds(10))).output == "still\n");
}

}  // namespace
}  // namespace driftwatch
