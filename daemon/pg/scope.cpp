#include "pg/scope.hpp"

namespace driftwatch {

const char* const kScopeCte = R"sql(
WITH scope AS (
  SELECT n.oid, n.nspname
  FROM pg_catalog.pg_namespace n
  WHERE CASE WHEN cardinality($1::text[]) > 0 THEN n.nspname = ANY ($1::text[])
        ELSE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
             AND n.nspname NOT LIKE 'pg\_temp\_%'
             AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                             WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                               AND d.objid = n.oid AND d.deptype = 'e')
        END
)
)sql";

std::string text_array_literal(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace driftwatch
