#include "app/cmd_snapshot.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include "app/args.hpp"
#include "app/replay.hpp"
#include "app/schema_source.hpp"
#include "app/snapshot_file.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"
#include "driftwatch/revision_graph.hpp"
#include "driftwatch/snapshot_json.hpp"

namespace driftwatch {

namespace {

constexpr const char* kUsage =
    "usage: driftwatch snapshot --url URL [--schema NAME]... [--out FILE] [--version-table NAME]\n"
    "                           [--version-table-schema NAME] [--privileges] [--comments]\n"
    "                           [--timeout 30s]\n"
    "       driftwatch snapshot --all-revisions --versions DIR [--versions DIR]...\n"
    "                           --scratch-url URL --out-dir DIR [--upgrade-command CMD]\n"
    "                           [--schema NAME]... [--gzip] [--recursive] [--timeout 10m]\n"
    "                           [--version-table NAME] [--version-table-schema NAME]\n"
    "                           [--privileges] [--comments]\n"
    "  --all-revisions replays the migrations into scratch databases created (and dropped) on\n"
    "  the --scratch-url server and writes one snapshot per revision (<revision>.json[.gz]);\n"
    "  revisions that have a file are skipped. CMD runs with /bin/sh -c and DATABASE_URL set;\n"
    "  {revision} and {url} are substituted (default: alembic upgrade {revision}).\n";

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted = true; }

// While the history is built, SIGINT and SIGTERM stop it instead of ending the process: the
// upgrade command runs in a process group of its own (a terminal's Ctrl-C does not reach it), so
// it is killed here, and the scratch databases are dropped on the way out.
class InterruptStopsReplay {
 public:
  InterruptStopsReplay() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &old_int_);
    ::sigaction(SIGTERM, &action, &old_term_);
  }
  ~InterruptStopsReplay() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  InterruptStopsReplay(const InterruptStopsReplay&) = delete;
  InterruptStopsReplay& operator=(const InterruptStopsReplay&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// --all-revisions: the expected schema of every revision, replayed with the user's Alembic.
int run_all_revisions(const ParsedArgs& parsed, const IntrospectOptions& options, std::ostream& out,
                      std::ostream& err) {
  if (!parsed.has("versions") || !parsed.has("scratch-url") || !parsed.has("out-dir") ||
      parsed.has("url") || parsed.has("out")) {
    err << "driftwatch snapshot: --all-revisions needs --versions, --scratch-url and --out-dir "
           "(and no --url/--out)\n"
        << kUsage;
    return 2;
  }
  RevisionGraph graph = RevisionGraph::load(parsed.all("versions"), parsed.flag("recursive"));
  if (graph.has_errors() || graph.size() == 0) {
    for (const auto& e : graph.errors()) err << "driftwatch snapshot: " << e.to_string() << "\n";
    if (graph.size() == 0) err << "driftwatch snapshot: no migration files found\n";
    return 2;
  }
  ReplaySettings settings;
  settings.scratch_url = parsed.get("scratch-url");
  settings.command = {"/bin/sh", "-c", parsed.get("upgrade-command", kDefaultUpgradeCommand)};
  settings.shell_quote = true;
  settings.introspect = options;
  if (parsed.has("timeout")) settings.timeout = options.timeout;
  settings.introspect.timeout = std::chrono::seconds(60);
  g_interrupted = false;
  settings.stop = &g_interrupted;
  const InterruptStopsReplay interrupts;
  try {
    HistoryReport report =
        build_history(settings, graph, parsed.get("out-dir"), parsed.flag("gzip"),
                      [&err](const std::string& line) { err << line << std::endl; });
    out << "driftwatch snapshot: " << report.built << " built, " << report.existing
        << " already present in " << parsed.get("out-dir") << "\n";
    return 0;
  } catch (const ReplayFailure& e) {
    if (g_interrupted) {
      err << "driftwatch snapshot: interrupted at revision " << e.revision
          << " (upgrade command killed, scratch databases dropped)\n";
      return 3;
    }
    err << "driftwatch snapshot: " << e.what() << "; its output:\n" << e.output;
    if (!e.output.empty() && e.output.back() != '\n') err << "\n";
    return 3;
  } catch (const Error& e) {
    err << "driftwatch snapshot: " << e.what() << "\n";
    return 3;
  }
}

}  // namespace

int run_snapshot(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ParsedArgs parsed;
  try {
    parsed = parse_args(args,
                        {"url", "schema", "out", "version-table", "version-table-schema", "timeout",
                         "versions", "scratch-url", "out-dir", "upgrade-command"},
                        {"privileges", "comments", "help", "all-revisions", "gzip", "recursive"});
  } catch (const UsageError& e) {
    err << "driftwatch snapshot: " << e.what() << "\n" << kUsage;
    return 2;
  }
  if (parsed.flag("help")) {
    out << kUsage;
    return 0;
  }
  if (!parsed.has("url") && !parsed.flag("all-revisions")) {
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
  if (parsed.flag("all-revisions")) return run_all_revisions(parsed, options, out, err);
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
  const std::string error = write_snapshot_file(parsed.get("out"), snapshot);
  if (!error.empty()) err << "driftwatch snapshot: " << error << "\n";
  return error.empty() ? 0 : 3;
}

}  // namespace driftwatch
