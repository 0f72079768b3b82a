// A schema given on the command line: a snapshot file or a database URL.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "driftwatch/error.hpp"
#include "driftwatch/introspect.hpp"
#include "driftwatch/schema.hpp"

namespace driftwatch {

// postgresql:// or postgres:// URLs and key=value conninfo strings name a database.
bool looks_like_database_url(const std::string& source);

// Reads the schema of a live database (alembic_version rows included) in one read-only
// transaction. Throws driftwatch::Error, also when a migration is running.
SchemaSnapshot read_database_schema(const std::string& url, const IntrospectOptions& options);

// A snapshot file or a database. Throws driftwatch::Error (reason expected_schema for an
// unreadable or malformed file).
SchemaSnapshot load_schema_source(const std::string& source, const IntrospectOptions& options);

// One source's outcome in load_schema_sources: its snapshot, or the Error it failed with.
struct LoadedSource {
  std::optional<SchemaSnapshot> snapshot;
  std::optional<Error> error;
};

// Loads every source at the same time, each on its own thread (a database on its own
// connection): introspection mostly waits for the server, so two databases take about as long
// as the slower one, and a snapshot file is parsed while the other side is introspected. Every
// source is loaded to the end; the results are in the order of `sources`. Exceptions other than
// driftwatch::Error propagate.
std::vector<LoadedSource> load_schema_sources(const std::vector<std::string>& sources,
                                              const IntrospectOptions& options);

// The source as it may be printed: URLs with the password redacted.
std::string describe_schema_source(const std::string& source);

}  // namespace driftwatch
