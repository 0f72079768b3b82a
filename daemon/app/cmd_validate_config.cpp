// validate-config subcommand.
#include "cmd_validate_config.hpp"

#include "args.hpp"
#include "driftwatch/config.hpp"

namespace driftwatch {

namespace {
constexpr const char* kUsage = "usage: driftwatch validate-config --config FILE\n";
constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
}  // namespace

int run_validate_config(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err) {
  ParsedArgs parsed;
  try {
    parsed = parse_args(args, {"config"}, {"help"});
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
  out << "config OK: " << result.config->targets.size() << " targets, "
      << result.config->migrations.size() << " migrations sources\n";
  return kExitOk;
}

}  // namespace driftwatch
