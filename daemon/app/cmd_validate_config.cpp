// validate-config subcommand: the config parses and validates, and (unless --offline) the world
// it names is there: directories and files exist and are readable, environment variables are
// set, url_command programs are executable, migration files and snapshot files parse.
#include "cmd_validate_config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "app/snapshot_file.hpp"
#include "args.hpp"
#include "driftwatch/bounded_read.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"
#include "driftwatch/revision_graph.hpp"

namespace driftwatch {

namespace {
constexpr const char* kUsage = "usage: driftwatch validate-config --config FILE [--offline]\n";
constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr std::size_t kMaxSecretFileBytes = std::size_t{1} << 20;

namespace fs = std::filesystem;

class WorldCheck {
 public:
  explicit WorldCheck(const Config& config) : config_(config) {}

  std::vector<std::string> run() {
    if (!config_.server.admin_token_file.empty()) {
      readable_file(config_.server.admin_token_file, "server.admin_token_file");
    }
    for (const auto& [name, source] : config_.migrations) migrations(name, source);
    for (const TargetConfig& target : config_.targets) {
      url_source(target.url, "targets." + target.name);
      db_auth(target.auth, "targets." + target.name + ".ca_bundle");
    }
    for (std::size_t i = 0; i < config_.alerts.slack.size(); ++i) {
      url_source(config_.alerts.slack[i].webhook_url, "alerts.slack[" + std::to_string(i) + "]");
    }
    for (std::size_t i = 0; i < config_.alerts.pagerduty.size(); ++i) {
      url_source(config_.alerts.pagerduty[i].routing_key,
                 "alerts.pagerduty[" + std::to_string(i) + "]");
    }
    for (std::size_t i = 0; i < config_.alerts.webhook.size(); ++i) {
      url_source(config_.alerts.webhook[i].url, "alerts.webhook[" + std::to_string(i) + "]");
    }
    if (!config_.alerts.state_dir.empty()) state_dir(config_.alerts.state_dir);
    return std::move(errors_);
  }

 private:
  // Paths are printed redacted: a URL pasted where a directory or file belongs may carry a
  // password.
  void error(const std::string& where, const std::string& what) {
    errors_.push_back(redact_url(config_.path + ": " + where + ": " + what));
  }

  void readable_file(const std::string& path, const std::string& where) {
    std::string text;
    std::string why;
    if (!read_regular_file(path, kMaxSecretFileBytes, text, why)) {
      error(where, "cannot read " + path + ": " + why);
    } else if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
      error(where, path + " is empty");
    }
  }

  bool readable_directory(const std::string& path, const std::string& where) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      error(where, path + " is not a directory" + (ec ? " (" + ec.message() + ")" : ""));
      return false;
    }
    if (::access(path.c_str(), R_OK | X_OK) != 0) {
      error(where, "cannot read directory " + path);
      return false;
    }
    return true;
  }

  void migrations(const std::string& name, const MigrationsConfig& source) {
    const std::string where = "migrations." + name;
    bool directories_ok = true;
    for (const std::string& directory : source.versions) {
      directories_ok = readable_directory(directory, where + ".versions") && directories_ok;
    }
    if (directories_ok) {
      const RevisionGraph graph = RevisionGraph::load(source.versions, source.recursive);
      for (const RevisionIssue& issue : graph.errors()) error(where, issue.to_string());
      if (graph.size() == 0) error(where, "no migration files in the versions directories");
    }
    if (!source.snapshots.empty() && readable_directory(source.snapshots, where + ".snapshots")) {
      snapshots(source.snapshots, where);
    }
    if (!source.reference_url_env.empty()) {
      url_source(UrlSource{"", source.reference_url_env, "", {}}, where + ".reference_url_env");
    }
    if (!source.reference_url_file.empty()) {
      url_source(UrlSource{"", "", source.reference_url_file, {}}, where + ".reference_url_file");
    }
    db_auth(source.reference_auth, where + ".reference_ca_bundle");
    if (source.replay) {
      url_source(source.replay->scratch_url, where + ".replay");
      db_auth(source.replay->scratch_auth, where + ".replay.scratch_ca_bundle");
    }
  }

  // The RDS CA bundle a server's login names must be readable.
  void db_auth(const DbAuthConfig& auth, const std::string& where) {
    if (!auth.ca_bundle.empty()) readable_file(auth.ca_bundle, where);
  }

  // Every snapshot file (.json and .json.gz) is read and parsed the way the checks will.
  void snapshots(const std::string& directory, const std::string& where) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
      if (is_snapshot_file_name(it->path().string())) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
      try {
        (void)load_snapshot_file(file.string());
      } catch (const std::exception& e) {
        error(where + ".snapshots", e.what());
      }
    }
  }

  void url_source(const UrlSource& source, const std::string& where) {
    if (!source.env.empty()) {
      const char* value = std::getenv(source.env.c_str());
      if (value == nullptr) {
        error(where, "environment variable " + source.env + " is not set");
      } else if (*value == '\0') {
        error(where, "environment variable " + source.env + " is empty");
      }
    }
    if (!source.file.empty()) readable_file(source.file, where);
    if (!source.command.empty() && !executable(source.command.front())) {
      error(where, "url_command program " + source.command.front() +
                       " is not an executable file (nor found on PATH)");
    }
  }

  static bool is_executable_file(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
  }

  static bool executable(const std::string& program) {
    if (program.find('/') != std::string::npos) return is_executable_file(program);
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
      std::size_t colon = dirs.find(':', start);
      if (colon == std::string::npos) colon = dirs.size();
      std::string dir = dirs.substr(start, colon - start);
      if (dir.empty()) dir = ".";
      if (is_executable_file(dir + "/" + program)) return true;
      start = colon + 1;
    }
    return false;
  }

  void state_dir(const std::string& directory) {
    std::error_code ec;
    if (fs::exists(directory, ec)) {
      if (!fs::is_directory(directory, ec)) {
        error("alerts.state_dir", directory + " is not a directory");
      } else if (::access(directory.c_str(), W_OK | X_OK) != 0) {
        error("alerts.state_dir", "cannot write to " + directory);
      }
      return;
    }
    // driftwatch creates it: its nearest existing parent must be writable.
    fs::path parent = fs::path(directory).parent_path();
    while (!parent.empty() && !fs::exists(parent, ec)) parent = parent.parent_path();
    if (parent.empty()) parent = ".";
    if (::access(parent.c_str(), W_OK | X_OK) != 0) {
      error("alerts.state_dir",
            directory + " does not exist and cannot be created in " + parent.string());
    }
  }

  const Config& config_;
  std::vector<std::string> errors_;
};

}  // namespace

int run_validate_config(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err) {
  ParsedArgs parsed;
  try {
    parsed = parse_args(args, {"config"}, {"help", "offline"});
  } catch (const UsageError& error) {
    err << "driftwatch validate-config: " << error.what() << "\n" << kUsage;
    return kExitUsage;
  }
  if (parsed.flag("help")) {
    out << kUsage;
    return kExitOk;
  }
  if (parsed.all("config").size() != 1 || parsed.get("config").empty()) {
    err << "driftwatch validate-config: exactly one --config FILE is required\n" << kUsage;
    return kExitUsage;
  }
  const ConfigParseResult result = load_config_file(parsed.get("config"));
  if (!result.config) {
    for (const ConfigError& error : result.errors) err << error.to_string() << "\n";
    return kExitUsage;
  }
  if (!parsed.flag("offline")) {
    const std::vector<std::string> errors = WorldCheck(*result.config).run();
    if (!errors.empty()) {
      for (const std::string& error : errors) err << error << "\n";
      err << "driftwatch validate-config: " << errors.size()
          << " problem(s) on this machine (--offline checks the file only)\n";
      return kExitUsage;
    }
  }
  out << "config OK: " << result.config->targets.size() << " targets, "
      << result.config->migrations.size() << " migrations sources"
      << (parsed.flag("offline") ? " (offline: files, variables and programs not checked)" : "")
      << "\n";
  return kExitOk;
}

}  // namespace driftwatch
