#include "app/cmd_fix_forward.hpp"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <tuple>

#include "app/args.hpp"
#include "app/engine.hpp"
#include "app/interrupt.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/fix_script.hpp"
#include "driftwatch/ignore.hpp"

namespace driftwatch {

namespace {

constexpr const char* kUsage =
    "usage: driftwatch fix-forward --config FILE --target NAME [--out-dir DIR] "
    "[--revert GLOB]...\n";

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? "(none)" : out;
}

// Twelve hex digits, like the ids `alembic revision` generates.
std::string new_revision_id() {
  std::random_device device;
  std::mt19937_64 rng(
      (static_cast<std::uint64_t>(device()) << 32) ^ device() ^
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  static const char* kHex = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 12; ++i) id += kHex[rng() % 16];
  return id;
}

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) {
    out += std::isalnum(static_cast<unsigned char>(c))
               ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
               : '_';
  }
  return out;
}

std::string opposite_kind(const std::string& kind) {
  if (kind == "missing") return "extra";
  if (kind == "extra") return "missing";
  return kind;
}

}  // namespace

int run_fix_forward(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ParsedArgs parsed;
  try {
    parsed = parse_args(args, {"config", "target", "out-dir", "revert"}, {"help"});
  } catch (const UsageError& e) {
    err << "driftwatch fix-forward: " << e.what() << "\n" << kUsage;
    return 2;
  }
  if (parsed.flag("help")) {
    out << kUsage;
    return 0;
  }
  if (!parsed.has("config") || parsed.all("target").size() != 1) {
    err << kUsage;
    return 2;
  }
  ConfigParseResult loaded = load_config_file(parsed.get("config"));
  if (!loaded.config) {
    for (const auto& e : loaded.errors) err << e.to_string() << "\n";
    err << "driftwatch fix-forward: configuration has " << loaded.errors.size() << " error(s)\n";
    return 2;
  }
  const Config& config = *loaded.config;
  const std::string target_name = parsed.get("target");
  const TargetConfig* target = config.find_target(target_name);
  if (target == nullptr) {
    err << "driftwatch fix-forward: no target named '" << target_name << "' in " << config.path
        << "\n";
    return 2;
  }
  auto source_it = config.migrations.find(target->migrations);
  if (source_it == config.migrations.end() || source_it->second.versions.empty()) {
    err << "driftwatch fix-forward: target '" << target_name << "' has no migrations source '"
        << target->migrations << "' with versions directories\n";
    return 2;
  }
  const MigrationsConfig& source = source_it->second;

  // Like `check`: Ctrl-C stops a replay and drops its scratch database, and the check waits
  // for the replay of its revision (no replay outlives the command).
  InterruptEndsRun interrupts("fix-forward", err);
  EngineOptions engine_options;
  engine_options.wait_for_replay = true;
  Engine engine(config, engine_options);
  ComparedSchemas compared;
  const TargetResult result =
      engine.check(*target, std::chrono::steady_clock::now() + config.check.timeout, &compared);
  interrupts.finish();
  if (result.status == check_status::kError) {
    err << "driftwatch fix-forward: " << result.error->message << "\n";
    return 3;
  }
  if (result.status == check_status::kMigrating) {
    err << "driftwatch fix-forward: target '" << target_name
        << "' is migrating now (alembic_version is locked); try again when it is done\n";
    return 3;
  }
  const RevisionReport& revision = result.revision;
  if (revision.expected_heads.size() != 1) {
    err << "driftwatch fix-forward: the migrations have " << revision.expected_heads.size()
        << " heads (" << join(revision.expected_heads)
        << "); a fix-forward migration builds on exactly one. Merge them first "
           "(alembic merge heads), deploy the merge, then run fix-forward again\n";
    return 1;
  }
  const std::string& head = revision.expected_heads.front();
  if (revision.state != revision_state::kAtHead) {
    err << "driftwatch fix-forward: target '" << target_name << "' is not at head (state "
        << revision.state << ", revision " << join(revision.current) << ", head " << head
        << "); its differences may be pending migrations, not drift. Upgrade it to head "
           "(alembic upgrade head) and run fix-forward again\n";
    return 1;
  }
  if (!compared.expected || !compared.live) {
    err << "driftwatch fix-forward: migrations source '" << target->migrations
        << "' has no expected schema (snapshots or reference_url) to compare with\n";
    return 2;
  }
  if (result.findings.empty()) {
    err << "driftwatch fix-forward: target '" << target_name << "' has no drift; nothing written\n";
    return 0;
  }

  // Adopting a finding runs the fix of the opposite comparison: SQL that turns a database at the
  // code's schema into the drifted database's schema.
  std::map<std::tuple<ObjectType, std::string, std::string, std::string>, const Finding*> reverse;
  const std::vector<Finding> reverse_findings =
      diff_schemas(*compared.live, *compared.expected, compared.diff_options);
  for (const Finding& f : reverse_findings) {
    reverse[{f.object_type, f.object, f.attribute, f.kind}] = &f;
  }
  const std::vector<std::string>& revert_globs = parsed.all("revert");
  std::vector<bool> glob_used(revert_globs.size(), false);
  FixForwardMigration migration;
  migration.revision = new_revision_id();
  migration.down_revision = head;
  migration.target = target_name;
  migration.create_date = utc_now();
  size_t reverted = 0, by_hand = 0;
  for (const Finding& f : result.findings) {
    FixForwardItem item;
    item.finding = f;
    for (size_t i = 0; i < revert_globs.size(); ++i) {
      if (glob_match(revert_globs[i], f.object)) {
        item.revert = true;
        glob_used[i] = true;
      }
    }
    auto it = reverse.find({f.object_type, f.object, f.attribute, opposite_kind(f.kind)});
    if (it != reverse.end()) item.adopt_sql = it->second->fix_sql;
    reverted += item.revert ? 1 : 0;
    by_hand += (item.revert ? !f.fix_sql : !item.adopt_sql) ? 1 : 0;
    migration.items.push_back(std::move(item));
  }
  for (size_t i = 0; i < revert_globs.size(); ++i) {
    if (!glob_used[i]) {
      err << "driftwatch fix-forward: --revert '" << revert_globs[i]
          << "' matches no finding of target '" << target_name << "'; nothing written\n";
      return 2;
    }
  }

  namespace fs = std::filesystem;
  const fs::path dir = parsed.get("out-dir", source.versions.front());
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    err << "driftwatch fix-forward: " << dir.string() << " is not a directory\n";
    return 2;
  }
  const fs::path file = dir / (migration.revision + "_fix_forward_" + slug(target_name) + ".py");
  if (fs::exists(file, ec)) {
    err << "driftwatch fix-forward: " << file.string() << " exists already\n";
    return 2;
  }
  {
    std::ofstream py(file);
    py << render_fix_forward_migration(migration);
    if (!py) {
      err << "driftwatch fix-forward: cannot write " << file.string() << "\n";
      return 2;
    }
  }
  out << file.string() << "\n";
  err << "driftwatch fix-forward: revision " << migration.revision << " (down_revision " << head
      << ") records " << result.findings.size() << " finding(s) of target '" << target_name
      << "': " << result.findings.size() - reverted << " adopted, " << reverted << " reverted"
      << (by_hand ? ", " + std::to_string(by_hand) + " to write by hand (see the file)" : "")
      << ". Review it, fill in any TODO backfill, run `alembic upgrade head` everywhere, then "
         "record the new head's expected schema (driftwatch snapshot).\n";
  return 0;
}

}  // namespace driftwatch
