#include "app/schema_source.hpp"

#include <fstream>
#include <sstream>

#include "driftwatch/check.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"
#include "driftwatch/snapshot_json.hpp"
#include "pg/introspect.hpp"

namespace driftwatch {

bool looks_like_database_url(const std::string& source) {
  return source.rfind("postgresql://", 0) == 0 || source.rfind("postgres://", 0) == 0 ||
         source.find('=') != std::string::npos;
}

SchemaSnapshot read_database_schema(const std::string& url, const IntrospectOptions& options) {
  LiveRead live = read_live_schema(url, options);
  if (live.version.locked) {
    throw Error(error_reason::kTimeout,
                "a migration is running (the version table or a watched table is locked); "
                "try again when it has finished");
  }
  return std::move(live.snapshot);
}

SchemaSnapshot load_schema_source(const std::string& source, const IntrospectOptions& options) {
  if (looks_like_database_url(source)) return read_database_schema(source, options);
  std::ifstream in(source);
  if (!in) throw Error(error_reason::kExpectedSchema, "cannot read snapshot file " + source);
  std::stringstream text;
  text << in.rdbuf();
  return snapshot_from_json(text.str(), source);
}

std::string describe_schema_source(const std::string& source) {
  return looks_like_database_url(source) ? redact_url(source) : source;
}

}  // namespace driftwatch
