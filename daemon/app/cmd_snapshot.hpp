#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace driftwatch {

// `driftwatch snapshot --url URL [--schema NAME]... [--out FILE] [--version-table NAME]
//  [--version-table-schema NAME] [--privileges] [--comments] [--timeout 30s]`
// Writes the deterministic snapshot JSON (same schema -> byte-identical file) to FILE (atomically)
// or stdout.
int run_snapshot(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace driftwatch
