// `driftwatch heads --versions DIR [--versions DIR]... [--behind REV]... [--format text|json]
// [--recursive]`: reads Alembic version directories (textually; Python is never run) and
// prints the revision graph's heads, bases, merge/branch points, labels, dependencies and
// problems; with --behind, what a database at those revisions still has to apply.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace driftwatch {

// args: the arguments after "heads". Exit codes: 0 one head (or no revisions at all), 1 several
// heads, 2 usage error, unknown --behind revision, or errors in the migration files (the
// report is still printed, errors included).
int run_heads(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace driftwatch
