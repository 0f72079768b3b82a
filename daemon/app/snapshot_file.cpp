#include "app/snapshot_file.hpp"

#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "driftwatch/bounded_read.hpp"
#include "driftwatch/check.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"
#include "driftwatch/snapshot_json.hpp"

namespace driftwatch {

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Up to `limit` bytes of the (decompressed) file; the whole file when limit is 0.
std::string read_text(const std::string& path, std::size_t limit) {
  // `path` is printed redacted: a URL driftwatch did not recognise (`postgresql:/...`, a typo in
  // the scheme) lands here as a file name and may carry a password.
  const std::string shown = redact_url(path);
  // Only regular files, never larger than the cap: a FIFO would block the reader, a device or a
  // huge file would exhaust memory.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw Error(error_reason::kExpectedSchema,
                "cannot read snapshot file " + shown + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    throw Error(error_reason::kExpectedSchema,
                "cannot read snapshot file " + shown + ": not a regular file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > kMaxSnapshotFileBytes) {
    throw Error(error_reason::kExpectedSchema,
                "cannot read snapshot file " + shown + ": larger than the limit of " +
                    std::to_string(kMaxSnapshotFileBytes) + " bytes");
  }
  const bool whole = limit == 0;
  if (whole || limit > kMaxSnapshotFileBytes) limit = kMaxSnapshotFileBytes;
  GzFile file(gzopen(path.c_str(), "rb"));
  if (!file) throw Error(error_reason::kExpectedSchema, "cannot read snapshot file " + shown);
  gzbuffer(file.get(), 1 << 17);
  std::string text;
  char buffer[1 << 16];
  while (text.size() < limit) {
    const int n = gzread(file.get(), buffer, sizeof buffer);
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file.get(), &code);
      throw Error(error_reason::kExpectedSchema,
                  "cannot read snapshot file " + shown + ": " + (message ? message : "gzip error"));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  if (whole && text.size() >= limit) {
    throw Error(error_reason::kExpectedSchema,
                "cannot read snapshot file " + shown + ": decompresses to more than " +
                    std::to_string(kMaxSnapshotFileBytes) + " bytes");
  }
  return text;
}

// A temporary file that could not be written whole is removed: no half file stays behind.
std::string failed_write(const std::string& tmp, bool in_place) {
  if (!in_place) std::remove(tmp.c_str());
  return "cannot write " + tmp;
}

}  // namespace

bool is_snapshot_file_name(const std::string& path) {
  return ends_with(path, ".json") || ends_with(path, ".json.gz");
}

SchemaSnapshot load_snapshot_file(const std::string& path) {
  // Named redacted, as read_text does: see there.
  return snapshot_from_json(read_text(path, 0), redact_url(path));
}

std::vector<std::string> peek_snapshot_revisions(const std::string& path) {
  const std::string head = read_text(path, 4096);
  // `{\n  "alembic_version": [ ... ],\n  "format"`: the list never contains "]".
  const std::string key = "{\n  \"alembic_version\": ";
  if (head.compare(0, key.size(), key) == 0) {
    const std::size_t end = head.find(']', key.size());
    if (end != std::string::npos) {
      try {
        auto rows = nlohmann::json::parse(head.substr(key.size(), end + 1 - key.size()));
        std::vector<std::string> out;
        for (const auto& row : rows) out.push_back(row.get<std::string>());
        std::sort(out.begin(), out.end());
        return out;
      } catch (const std::exception&) {
        // not the writer's layout after all: parse it whole below
      }
    }
  }
  return revision_of(load_snapshot_file(path));
}

std::string write_snapshot_file(const std::string& path, const SchemaSnapshot& snapshot) {
  const bool gzip = ends_with(path, ".gz");
  struct stat st {};
  const bool in_place = ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);
  const std::string tmp = in_place ? path : path + ".tmp";
  if (gzip) {
    const std::string text = snapshot_to_json(snapshot);
    GzFile file(gzopen(tmp.c_str(), "wb9"));
    bool written = file && gzwrite(file.get(), text.data(), static_cast<unsigned>(text.size())) ==
                               static_cast<int>(text.size());
    written = gzclose(file.release()) == Z_OK && written;
    if (!written) return failed_write(tmp, in_place);
  } else {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    write_snapshot_json(snapshot, out);
    out.flush();
    if (!out) return failed_write(tmp, in_place);
  }
  if (in_place) return "";
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return "cannot rename " + tmp + " to " + path;
  }
  return "";
}

}  // namespace driftwatch
