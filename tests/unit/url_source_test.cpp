// Resolving URL sources at check time: url, env, file, command.
#include "app/url_source.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "driftwatch/check.hpp"
#include "driftwatch/error.hpp"

namespace driftwatch {
namespace {

namespace fs = std::filesystem;

UrlSource env_source(const std::string& name) {
  UrlSource source;
  source.env = name;
  return source;
}
UrlSource file_source(const std::string& path) {
  UrlSource source;
  source.file = path;
  return source;
}
UrlSource command_source(std::vector<std::string> command) {
  UrlSource source;
  source.command = std::move(command);
  return source;
}

// Runs resolve_url_source expecting a driftwatch::Error; returns its message.
std::string resolve_error(const UrlSource& source,
                          std::chrono::milliseconds timeout = kUrlCommandTimeout) {
  try {
    const std::string value = resolve_url_source(source, timeout);
    FAIL("expected an error, got a value of length " << value.size());
  } catch (const Error& error) {
    CHECK(error.reason() == error_reason::kConfig);
    return error.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "driftwatch-url-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { fs::remove_all(path); }
};

TEST_CASE("url: the literal is returned") {
  UrlSource source;
  source.url = "postgresql://u:p@db/app";
  CHECK(resolve_url_source(source) == "postgresql://u:p@db/app");
}

TEST_CASE("no source at all is an error") { CHECK(contains(resolve_error(UrlSource{}), "no URL")); }

TEST_CASE("env: set, unset, empty") {
  const std::string name = "DRIFTWATCH_URL_SOURCE_TEST_" + std::to_string(::getpid());
  ::setenv(name.c_str(), "postgresql://u:envsecret@db/app", 1);
  CHECK(resolve_url_source(env_source(name)) == "postgresql://u:envsecret@db/app");

  ::setenv(name.c_str(), "", 1);
  const std::string empty = resolve_error(env_source(name));
  CHECK(contains(empty, "env " + name));
  CHECK(contains(empty, "empty"));

  ::unsetenv(name.c_str());
  const std::string unset = resolve_error(env_source(name));
  CHECK(contains(unset, "env " + name + ": environment variable is not set"));
}

TEST_CASE("file: present (trimmed), missing, empty") {
  TempDir dir;
  const fs::path file = dir.path / "url";
  std::ofstream(file) << "  postgresql://u:filesecret@db/app \n\n";
  CHECK(resolve_url_source(file_source(file.string())) == "postgresql://u:filesecret@db/app");

  const std::string missing = resolve_error(file_source((dir.path / "absent").string()));
  CHECK(contains(missing, "file " + (dir.path / "absent").string()));
  CHECK(contains(missing, "No such file"));

  const fs::path blank = dir.path / "blank";
  std::ofstream(blank) << " \n\t\n";
  CHECK(contains(resolve_error(file_source(blank.string())), "file is empty"));

  // A file that changes is re-read: rotated secrets need no reload.
  std::ofstream(file) << "postgresql://rotated@db/app\n";
  CHECK(resolve_url_source(file_source(file.string())) == "postgresql://rotated@db/app");
}

TEST_CASE("command: stdout is the value, trimmed; no shell interprets the arguments") {
  CHECK(resolve_url_source(command_source({"/bin/echo", "postgresql://u:cmd@db/app"})) ==
        "postgresql://u:cmd@db/app");
  // Without a shell, `$HOME` and `;` reach the program verbatim.
  CHECK(resolve_url_source(command_source({"printf", "%s", "a$HOME;b"})) == "a$HOME;b");
}

TEST_CASE("command: non-zero exit is an error that never shows the output") {
  const std::string message =
      resolve_error(command_source({"/bin/sh", "-c", "echo postgresql://u:leaked@db/app; exit 3"}));
  CHECK(contains(message, "command /bin/sh (+2 args): exited with status 3"));
  CHECK_FALSE(contains(message, "leaked"));
}

TEST_CASE("command: killed by a signal, missing program, empty output") {
  CHECK(contains(resolve_error(command_source({"/bin/sh", "-c", "kill -TERM $$"})),
                 "terminated by signal 15"));
  CHECK(contains(resolve_error(command_source({"/nonexistent/get-url"})),
                 "command /nonexistent/get-url: cannot execute: No such file"));
  CHECK(contains(resolve_error(command_source({"driftwatch-no-such-program-xyz"})),
                 "cannot execute"));
  CHECK(contains(resolve_error(command_source({"/bin/true"})), "printed nothing"));
}

TEST_CASE("command: a command that outlives the timeout is killed") {
  const auto start = std::chrono::steady_clock::now();
  const std::string message =
      resolve_error(command_source({"/bin/sleep", "30"}), std::chrono::milliseconds(300));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(contains(message, "timed out after 300 ms"));
  CHECK(elapsed >= std::chrono::milliseconds(300));
  CHECK(elapsed < std::chrono::seconds(5));
}

TEST_CASE("command: the timeout also kills children holding stdout open") {
  // The shell's child sleeps with stdout still open; killing only the shell would leave the pipe
  // open until the sleep ends.
  const auto start = std::chrono::steady_clock::now();
  const std::string message =
      resolve_error(command_source({"/bin/sh", "-c", "/bin/sleep 30; echo late"}),
                    std::chrono::milliseconds(300));
  CHECK(contains(message, "timed out"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("command: an exited command is done even if a background child keeps stdout open") {
  const auto start = std::chrono::steady_clock::now();
  CHECK(resolve_url_source(command_source(
            {"/bin/sh", "-c", "echo postgresql://db/app; /bin/sleep 3 2>/dev/null & exit 0"})) ==
        "postgresql://db/app");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
}

// Regression: after stdout closed, the command was waited for without a deadline.
TEST_CASE("command: one that closes stdout but keeps running is killed at the timeout") {
  const std::string message = resolve_error(
      command_source({"/bin/sh", "-c", "echo postgresql://db/app; exec >&-; sleep 30"}),
      std::chrono::milliseconds(300));
  CHECK(contains(message, "timed out after 300 ms"));
}

TEST_CASE("command: more than 1 MiB of output is refused") {
  CHECK(contains(
      resolve_error(command_source({"/bin/sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' a"})),
      "larger than 1 MiB"));
}

}  // namespace
}  // namespace driftwatch
