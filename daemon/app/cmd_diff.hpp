#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace driftwatch {

// `driftwatch diff --expected SNAPSHOT|URL --actual SNAPSHOT|URL [--format text|json]
//  [--schema NAME]... [--privileges] [--comments]`
// Exit 0 no findings, 1 findings, 2 usage error, 3 a side could not be read.
int run_diff(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace driftwatch
