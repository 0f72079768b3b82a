// Reading input files without trusting them: only regular files, never more than a cap.
#pragma once

#include <cstddef>
#include <string>

namespace driftwatch {

// Size caps for the files driftwatch reads from directories others write to.
constexpr std::size_t kMaxRevisionFileBytes = std::size_t{16} << 20;   // one migration file
constexpr std::size_t kMaxSnapshotFileBytes = std::size_t{512} << 20;  // one schema snapshot
constexpr std::size_t kMaxConfigFileBytes = std::size_t{4} << 20;      // the TOML config

// Reads the whole file at `path` into `out`. Fails (false, `why` says why) when the path is
// not a regular file after following symlinks (a FIFO, device or socket is never read, so
// nothing blocks), when it is larger than `max_bytes`, or on an I/O error.
bool read_regular_file(const std::string& path, std::size_t max_bytes, std::string& out,
                       std::string& why);

}  // namespace driftwatch
