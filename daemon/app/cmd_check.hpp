#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace driftwatch {

// `driftwatch check --config FILE [--target NAME]... [--format text|json] [--color
// auto|always|never] [--fix-script]`; --fix-script prints one ordered fix script per target
// (SQL) instead of the report, with the same exit codes.
int run_check(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace driftwatch
