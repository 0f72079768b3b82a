// URL redaction and normalisation on arbitrary text. Beyond "no crash": the password that
// is written into a database URL is masked whatever its characters.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "driftwatch/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string redacted = driftwatch::redact_url(text);
  const std::string normalized = driftwatch::normalize_database_url(text);
  (void)driftwatch::redact_url(normalized);
  driftwatch::UrlSource source;
  source.url = text;
  (void)source.describe();
  // A password without the characters that end the userinfo is masked exactly.
  const std::string url = "postgresql://app:" + text + "@db.internal/x";
  if (!text.empty() && text.find_first_of("@?#/") == std::string::npos &&
      driftwatch::redact_url(url) != "postgresql://app:***@db.internal/x") {
    std::abort();
  }
  return 0;
}
