// Snapshot files (`driftwatch-snapshot/1`): a SchemaSnapshot as deterministic JSON text, so the
// same schema always gives byte-identical files (reviewable diffs, content-addressable).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "driftwatch/schema.hpp"

namespace driftwatch {

inline constexpr const char* kSnapshotFormat = "driftwatch-snapshot/1";

// {"alembic_version": [rows], "format", "has_version_table", "model", "objects": [{"attrs",
// "info", "name", "type"}], "schemas", "server_version"} ("model": SchemaSnapshot::model; a file
// without it is read as model 1): keys sorted, objects sorted by (type, name),
// 2-space indent, trailing newline.
std::string snapshot_to_json(const SchemaSnapshot& snapshot);

// The same text written to `out` as it is produced (no copy of the whole document in memory).
void write_snapshot_json(const SchemaSnapshot& snapshot, std::ostream& out);

// Parses snapshot_to_json output. Throws driftwatch::Error (reason "expected_schema") naming
// `source_name` on invalid JSON, a wrong format version, an unknown object type, a wrongly typed
// field or a duplicate object. The result is sorted (normalize_order).
SchemaSnapshot snapshot_from_json(const std::string& text, const std::string& source_name);

// The alembic_version rows the snapshot recorded (sorted): the revision it describes.
std::vector<std::string> revision_of(const SchemaSnapshot& snapshot);

}  // namespace driftwatch
