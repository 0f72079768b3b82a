// Private to daemon/pg: which schemas a check looks at, as SQL shared by every catalog query.
#pragma once

#include <string>
#include <vector>

namespace driftwatch {

// A CTE `scope(oid, nspname)` of the schemas in scope. Parameter $1 is a text[] of the listed
// schemas; an empty array means every schema except pg_catalog, information_schema, pg_toast,
// pg_temp_*, pg_toast_temp_* and schemas created by an extension.
extern const char* const kScopeCte;

// PostgreSQL array literal for $1: {"public","middleman"} (elements quoted and escaped).
std::string text_array_literal(const std::vector<std::string>& values);

}  // namespace driftwatch
