#include "app/schema_source.hpp"

#include <algorithm>
#include <fstream>
#include <future>
#include <sstream>

#include "app/snapshot_file.hpp"
#include "driftwatch/check.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"
#include "driftwatch/snapshot_json.hpp"
#include "pg/introspect.hpp"

namespace driftwatch {

bool looks_like_database_url(const std::string& source) {
  return is_database_url(source) || source.find('=') != std::string::npos;
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
  return load_snapshot_file(source);
}

std::vector<LoadedSource> load_schema_sources(const std::vector<std::string>& sources,
                                              const IntrospectOptions& options) {
  // Two databases read at once already keep two server backends busy: a second connection
  // each would only make them compete for the same CPUs (measured slower on 2 cores).
  IntrospectOptions read_options = options;
  if (std::count_if(sources.begin(), sources.end(), looks_like_database_url) > 1) {
    read_options.second_connection_min_tables = 0;
  }
  auto load = [&read_options](const std::string& source) {
    LoadedSource loaded;
    try {
      loaded.snapshot = load_schema_source(source, read_options);
    } catch (const Error& e) {
      loaded.error = e;
    }
    return loaded;
  };
  // The first source loads on this thread, the others on threads of their own (a future from
  // std::async waits for its thread when destroyed, also when the first load throws).
  std::vector<std::future<LoadedSource>> others;
  for (size_t i = 1; i < sources.size(); ++i) {
    others.push_back(std::async(std::launch::async, load, std::cref(sources[i])));
  }
  std::vector<LoadedSource> loaded;
  if (sources.empty()) return loaded;
  loaded.push_back(load(sources.front()));
  for (auto& other : others) loaded.push_back(other.get());
  return loaded;
}

std::string describe_schema_source(const std::string& source) {
  return redact_url(source);  // also what merely looks like a URL (`postgresql:/u:pw@h`)
}

}  // namespace driftwatch
