// Inputs that crashed or hung the daemon (issue 15 "Files crash the running daemon"): deeply
// nested migration files, configs and snapshots, FIFOs and huge files in watched directories.
// Each is now an error naming the file (and line), returned without blocking.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "app/schema_source.hpp"
#include "driftwatch/bounded_read.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"
#include "driftwatch/revision_graph.hpp"
#include "driftwatch/snapshot_json.hpp"

namespace driftwatch {
namespace {

namespace fs = std::filesystem;

std::string repeat(const std::string& text, int times) {
  std::string out;
  out.reserve(text.size() * static_cast<std::size_t>(times));
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

// A fresh empty directory under the system temp dir.
fs::path temp_dir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("driftwatch-bounded-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

const char* kGood =
    "revision = 'a1'\n"
    "down_revision = None\n";

}  // namespace

TEST_CASE("down_revision nested in 30,000 parentheses is a syntax error, not a crash") {
  const std::string text = "revision = 'b1'\n\ndown_revision = " + repeat("(", 30000) + "'a1'" +
                           repeat(")", 30000) + "\n";
  RevisionParseResult result = parse_revision_source(text, "deep.py");
  REQUIRE(result.errors.size() >= 1);
  CHECK(result.errors.front().file == "deep.py");
  CHECK(result.errors.front().line == 3);
  CHECK(result.errors.front().message ==
        "syntax error: too many nested parentheses (more than 200)");
  // CPython's limit: 200 levels still parse.
  const std::string ok =
      "revision = 'b1'\ndown_revision = " + repeat("(", 199) + "'a1'" + repeat(")", 199) + "\n";
  RevisionParseResult fine = parse_revision_source(ok, "ok.py");
  CHECK(fine.errors.empty());
  REQUIRE(fine.script.has_value());
  CHECK(fine.script->down_revisions == std::vector<std::string>{"a1"});
}

TEST_CASE("f-strings nested 20,000 deep are a syntax error, not a crash") {
  std::string text = "x = " + repeat("f'{", 20000) + repeat("}'", 20000) + "\n";
  text += kGood;
  RevisionParseResult result = parse_revision_source(text, "fdeep.py");
  REQUIRE_FALSE(result.errors.empty());
  CHECK(result.errors.front().line == 1);
  const std::string spec = "x = f'{a:" + repeat("{b:", 20000) + "'\n";
  CHECK_FALSE(parse_revision_source(spec, "spec.py").errors.empty());
}

TEST_CASE("a FIFO named *.py in a versions directory is an error and does not block") {
  const fs::path dir = temp_dir("fifo");
  write(dir / "a1_base.py", kGood);
  REQUIRE(::mkfifo((dir / "b2_fifo.py").c_str(), 0600) == 0);
  RevisionGraph graph = RevisionGraph::load({dir.string()});
  CHECK(graph.contains("a1"));
  REQUIRE(graph.errors().size() == 1);
  CHECK(graph.errors().front().file == (dir / "b2_fifo.py").string());
  CHECK(graph.errors().front().message == "cannot read migration file: not a regular file");
  fs::remove_all(dir);
}

TEST_CASE("a huge migration file is rejected by size without being read") {
  const fs::path dir = temp_dir("huge");
  write(dir / "a1_base.py", kGood);
  write(dir / "b2_huge.py", "revision = 'b2'\n");
  fs::resize_file(dir / "b2_huge.py", kMaxRevisionFileBytes + 1);  // sparse
  RevisionGraph graph = RevisionGraph::load({dir.string()});
  REQUIRE(graph.errors().size() == 1);
  CHECK(graph.errors().front().message ==
        "cannot read migration file: file is larger than 16777216 bytes");
  fs::remove_all(dir);
}

TEST_CASE("read_regular_file refuses directories, devices and FIFOs") {
  std::string out;
  std::string why;
  CHECK_FALSE(read_regular_file("/dev/zero", 1024, out, why));
  CHECK(why == "not a regular file");
  CHECK_FALSE(read_regular_file("/", 1024, out, why));
  CHECK_FALSE(read_regular_file("/nonexistent/x", 1024, out, why));
  CHECK(why == "No such file or directory");
}

TEST_CASE("a snapshot source that is a FIFO fails at once") {
  const fs::path dir = temp_dir("snapfifo");
  REQUIRE(::mkfifo((dir / "head.json").c_str(), 0600) == 0);
  try {
    (void)load_schema_source((dir / "head.json").string(), IntrospectOptions{});
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("not a regular file") != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("a config nested 8,000 arrays deep is an error with its line, not a crash") {
  const std::string arrays =
      "[check]\ninterval = \"5m\"\n\n[ignore]\nobjects = " + repeat("[", 8000) + repeat("]", 8000);
  ConfigParseResult result = parse_config(arrays, "deep.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors.front().to_string() ==
        "deep.toml:5: arrays or inline tables nested deeper than 64");

  const std::string tables = "x = " + repeat("{a=", 5000) + "1" + repeat("}", 5000) + "\n";
  result = parse_config(tables, "tables.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors.front().line == 1);

  std::string dotted = repeat("a.", 20000) + "b = 1\n";
  result = parse_config(dotted, "dotted.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors.front().message == "dotted key with more than 64 parts");

  // Brackets inside strings and comments do not count; floats are not dotted keys.
  const std::string quoted = "# " + repeat("[", 500) + "\n[ignore]\nobjects = [\"" +
                             repeat("[{", 500) + "\"] # " + repeat("{", 100) + "\n";
  result = parse_config(quoted, "q.toml");
  for (const auto& e : result.errors) CHECK(e.message.find("nested deeper") == std::string::npos);
}

TEST_CASE("a config with invalid UTF-8 is an error with its line, before toml11 reads it") {
  // toml11 3.7 read past its buffer on these literal strings (ASan: heap-buffer-overflow).
  for (const std::string& value :
       {std::string("'x\xffy'"), std::string("'''x\xc3'''"), std::string("\"\xed\xa0\x80\""),
        std::string("'\xc0\xaf'"), std::string("'\xf4\x90\x80\x80'")}) {
    CAPTURE(value);
    const ConfigParseResult result =
        parse_config("[check]\ninterval = \"5m\"\nnote = " + value + "\n", "utf8.toml");
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors.front().line == 3);
    CHECK(result.errors.front().message.rfind("config is not valid UTF-8 (byte 0x", 0) == 0);
  }
  // In a comment too: TOML requires the whole document to be UTF-8.
  ConfigParseResult result = parse_config("# caf\xe9\n[check]\ninterval = \"5m\"\n", "c.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors.front().to_string() ==
        "c.toml:1: config is not valid UTF-8 (byte 0xe9 at offset 5)");
  // Well-formed multi-byte text (2, 3 and 4 bytes) is accepted wherever TOML allows it.
  result = parse_config("# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n[check]\ninterval = \"5m\"\n",
                        "ok.toml");
  for (const auto& e : result.errors) CHECK(e.message.find("UTF-8") == std::string::npos);
}

TEST_CASE("a binary integer toml11 3.7 would overflow on is an error, before toml11 reads it") {
  // UBSan: "signed integer overflow" in toml11's parse_binary_integer from the 63rd digit on.
  ConfigParseResult result = parse_config(
      "[check]\ninterval = \"5m\"\nconcurrency = 0b" + repeat("1", 63) + "\n", "b.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors.front().to_string() == "b.toml:3: binary integer with more than 62 digits");
  result = parse_config("x = 0b" + repeat("0_", 70) + "1\n", "b.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors.front().message == "binary integer with more than 62 digits");
  // Up to 62 digits toml11 reads it: the value reaches the config checks.
  result = parse_config("[check]\nconcurrency = 0b" + repeat("0", 58) + "0100\n", "b.toml");
  for (const auto& e : result.errors) CHECK(e.message.find("binary") == std::string::npos);
  // In strings and comments it is text.
  result = parse_config(
      "# 0b" + repeat("1", 80) + "\n[check]\ninterval = \"0b" + repeat("1", 80) + "\"\n", "b.toml");
  for (const auto& e : result.errors) CHECK(e.message.find("binary integer") == std::string::npos);
}

TEST_CASE("a snapshot nested 100,000 arrays deep is an error, not a crash") {
  const std::string text =
      "{\"format\": \"driftwatch-snapshot/1\", \"objects\": " + repeat("[", 100000) +
      repeat("]", 100000) + "}";
  try {
    (void)snapshot_from_json(text, "deep.json");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("nested deeper than 32") != std::string::npos);
  }
}

}  // namespace driftwatch

namespace driftwatch {

// Found by fuzz_snapshot: a number too large for a double made nlohmann throw out_of_range,
// which the DOM reader did not catch (std::terminate in `diff`).
TEST_CASE("a snapshot with a number overflowing a double is an error, not a crash") {
  try {
    (void)snapshot_from_json("[1E4280323563222]", "overflow.json");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("not valid JSON") != std::string::npos);
  }
}

}  // namespace driftwatch
