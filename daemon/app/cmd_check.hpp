#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace driftwatch {

// `driftwatch check --config FILE [--target NAME]... [--format text|json] [--color
// auto|always|never]`
int run_check(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace driftwatch
