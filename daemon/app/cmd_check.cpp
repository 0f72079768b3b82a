#include "app/cmd_check.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "app/args.hpp"
#include "app/engine.hpp"
#include "app/interrupt.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/fix_script.hpp"
#include "driftwatch/render.hpp"

namespace driftwatch {

namespace {

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

  InterruptEndsRun interrupts("check", err);
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
