#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace driftwatch {

// `driftwatch fix-forward --config FILE --target NAME [--out-dir DIR] [--revert GLOB]...`:
// checks the target and writes an Alembic migration that records its drift (down_revision = the
// single head), prints the file's path. Findings whose object matches a --revert glob are
// reverted (the database is brought back); every other finding is adopted (the code expects what
// the database has). Exit: 0 written (or no drift: nothing written), 1 refused (several heads,
// or the target is not at head), 2 usage or configuration error, 3 target not checked.
int run_fix_forward(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace driftwatch
