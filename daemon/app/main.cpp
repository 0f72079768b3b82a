// driftwatch entry point: dispatches subcommands. Every subcommand is a function
// `int run_X(args, out, err)` so it can be tested without a process.
#include <iostream>
#include <string>
#include <vector>

#include "app/cmd_check.hpp"
#include "app/cmd_diff.hpp"
#include "app/cmd_fix_forward.hpp"
#include "app/cmd_heads.hpp"
#include "app/cmd_rds_token.hpp"
#include "app/cmd_serve.hpp"
#include "app/cmd_snapshot.hpp"
#include "app/cmd_validate_config.hpp"

namespace {

constexpr const char* kUsage =
    R"(driftwatch — catch PostgreSQL schema drift in Alembic-managed databases

usage:
  driftwatch check    --config FILE [--target NAME]... [--format text|json]
  driftwatch serve    --config FILE [--json-logs] [--shard-index N|auto] [--shard-count M]
  driftwatch heads    --versions DIR [--versions DIR]... [--behind REV]... [--format text|json]
  driftwatch snapshot --url URL [--schema NAME]... [--out FILE]
  driftwatch snapshot --all-revisions --versions DIR [--versions DIR]... --scratch-url URL
                      --out-dir DIR [--upgrade-command CMD] [--gzip]
  driftwatch diff     --expected SNAPSHOT|URL --actual SNAPSHOT|URL [--format text|json]
  driftwatch validate-config --config FILE [--offline]
  driftwatch rds-token --host H [--port P] --user U [--region R] [--role-arn ARN]
  driftwatch check    --config FILE [--target NAME]... --fix-script
  driftwatch fix-forward --config FILE --target NAME [--out-dir DIR] [--revert GLOB]...
  driftwatch version

exit codes: 0 no drift / single head; 1 drift found / several heads;
            2 usage or configuration error; 3 a target could not be checked
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = args.front();
  args.erase(args.begin());
  try {
    if (command == "check") return driftwatch::run_check(args, std::cout, std::cerr);
    if (command == "serve") return driftwatch::run_serve(args, std::cout, std::cerr);
    if (command == "heads") return driftwatch::run_heads(args, std::cout, std::cerr);
    if (command == "snapshot") return driftwatch::run_snapshot(args, std::cout, std::cerr);
    if (command == "diff") return driftwatch::run_diff(args, std::cout, std::cerr);
    if (command == "fix-forward") return driftwatch::run_fix_forward(args, std::cout, std::cerr);
    if (command == "validate-config") {
      return driftwatch::run_validate_config(args, std::cout, std::cerr);
    }
    if (command == "rds-token") return driftwatch::run_rds_token(args, std::cout, std::cerr);
    if (command == "version" || command == "--version") {
      std::cout << "driftwatch " << DRIFTWATCH_VERSION << "\n";
      return 0;
    }
    if (command == "help" || command == "--help" || command == "-h") {
      std::cout << kUsage;
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "driftwatch " << command << ": " << e.what() << "\n";
    return 2;
  }
  std::cerr << "driftwatch: unknown command '" << command << "'\n" << kUsage;
  return 2;
}
