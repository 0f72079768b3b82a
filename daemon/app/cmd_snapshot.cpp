#include "app/cmd_snapshot.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "app/args.hpp"
#include "app/schema_source.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"
#include "driftwatch/snapshot_json.hpp"

namespace driftwatch {

namespace {

constexpr const char* kUsage =
    "usage: driftwatch snapshot --url URL [--schema NAME]... [--out FILE] [--version-table NAME]\n"
    "                           [--version-table-schema NAME] [--privileges] [--comments]\n"
    "                           [--timeout 30s]\n";

// Write-then-rename so a reader (the daemon watching the snapshots directory) never sees a
// half-written file.
// A path that exists and is not a regular file (/dev/stdout, /dev/null, a FIFO) is written in
// place: renaming over it would replace the device with a file.
bool write_atomically(const std::string& path, const SchemaSnapshot& snapshot, std::ostream& err) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    std::ofstream out(path, std::ios::binary);
    write_snapshot_json(snapshot, out);
    out.flush();
    if (!out) err << "driftwatch snapshot: cannot write " << path << "\n";
    return static_cast<bool>(out);
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    write_snapshot_json(snapshot, out);
    out.flush();
    if (!out) {
      err << "driftwatch snapshot: cannot write " << tmp << "\n";
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err << "driftwatch snapshot: cannot rename " << tmp << " to " << path << "\n";
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace

int run_snapshot(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ParsedArgs parsed;
  try {
    parsed = parse_args(
        args, {"url", "schema", "out", "version-table", "version-table-schema", "timeout"},
        {"privileges", "comments", "help"});
  } catch (const UsageError& e) {
    err << "driftwatch snapshot: " << e.what() << "\n" << kUsage;
    return 2;
  }
  if (parsed.flag("help")) {
    out << kUsage;
    return 0;
  }
  if (!parsed.has("url")) {
    err << kUsage;
    return 2;
  }
  IntrospectOptions options;
  options.schemas = parsed.all("schema");
  options.privileges = parsed.flag("privileges");
  options.comments = parsed.flag("comments");
  options.version_table = parsed.get("version-table", options.version_table);
  options.version_table_schema = parsed.get("version-table-schema", options.version_table_schema);
  if (parsed.has("timeout")) {
    auto timeout = parse_duration(parsed.get("timeout"));
    if (!timeout) {
      err << "driftwatch snapshot: --timeout: not a duration: " << parsed.get("timeout") << "\n";
      return 2;
    }
    options.timeout = *timeout;
  }
  const std::string url = parsed.get("url");
  SchemaSnapshot snapshot;
  try {
    snapshot = read_database_schema(url, options);
  } catch (const Error& e) {
    err << "driftwatch snapshot: " << redact_url(url) << ": " << e.what() << "\n";
    return 3;
  }
  if (!parsed.has("out") || parsed.get("out") == "-") {
    write_snapshot_json(snapshot, out);
    return 0;
  }
  return write_atomically(parsed.get("out"), snapshot, err) ? 0 : 3;
}

}  // namespace driftwatch
