// Snapshot files on disk: `.json` or gzip-compressed `.json.gz`, read and written the same way by
// every command (zlib's gzread passes uncompressed files through unchanged).
#pragma once

#include <string>
#include <vector>

#include "driftwatch/schema.hpp"

namespace driftwatch {

// True for names ending in ".json" or ".json.gz".
bool is_snapshot_file_name(const std::string& path);

// Reads and parses a snapshot file. Throws driftwatch::Error (reason expected_schema).
SchemaSnapshot load_snapshot_file(const std::string& path);

// The alembic_version rows a snapshot file records, read from the start of the file only (the
// writer puts "alembic_version" first), so a directory can be indexed without loading every
// schema. Falls back to a full parse for a file of another layout. Throws like load_snapshot_file.
std::vector<std::string> peek_snapshot_revisions(const std::string& path);

// Writes `snapshot` to `path` (gzip-compressed when it ends in ".gz") through a temporary file
// and a rename, so a reader never sees half a file. A path that exists and is not a regular file
// (/dev/stdout) is written in place. Returns "" or an error message.
std::string write_snapshot_file(const std::string& path, const SchemaSnapshot& snapshot);

}  // namespace driftwatch
