// The TOML config loader on arbitrary text: errors are returned, never a crash (toml11 behind
// the bounded pre-scan).
#include <cstddef>
#include <cstdint>
#include <string>

#include "driftwatch/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)driftwatch::parse_config(text, "/fuzz/driftwatch.toml");
  return 0;
}
