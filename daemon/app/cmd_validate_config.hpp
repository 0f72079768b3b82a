// `driftwatch validate-config --config FILE`: parse and validate a configuration file without
// touching any database.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace driftwatch {

// args: the arguments after "validate-config". On success prints
// "config OK: N targets, M migrations sources" on `out` and returns 0; otherwise prints every
// error as "file:line: message" (or a usage message) on `err` and returns 2.
int run_validate_config(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace driftwatch
