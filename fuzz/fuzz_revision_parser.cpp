// The Alembic revision file reader on arbitrary text: never crashes, never recurses unboundedly.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "driftwatch/revision_graph.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  driftwatch::RevisionParseResult result = driftwatch::parse_revision_source(text, "fuzz.py");
  if (result.script) {
    (void)driftwatch::RevisionGraph::from_scripts({*result.script});
  }
  return 0;
}
