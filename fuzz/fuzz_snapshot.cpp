// The snapshot reader (fast path and DOM fallback) on arbitrary text: a driftwatch::Error or a
// snapshot, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "driftwatch/error.hpp"
#include "driftwatch/snapshot_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    driftwatch::SchemaSnapshot snapshot = driftwatch::snapshot_from_json(text, "fuzz.json");
    (void)driftwatch::snapshot_to_json(snapshot);
  } catch (const driftwatch::Error&) {
  }
  return 0;
}
