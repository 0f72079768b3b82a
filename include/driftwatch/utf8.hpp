// UTF-8 validation shared by the readers of untrusted text (snapshot JSON, the TOML config).
#pragma once

#include <cstddef>

namespace driftwatch {

// Length (2-4) of the well-formed multi-byte UTF-8 sequence starting at `p`, or 0 when there is
// none (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF; a byte below 0x80
// is not a multi-byte sequence). Never reads at or past `end`.
inline std::size_t utf8_sequence_length(const char* p, const char* end) {
  const auto byte = [p, end](std::size_t i) {
    return p + i < end ? static_cast<unsigned char>(p[i]) : 0u;
  };
  const unsigned lead = byte(0);
  std::size_t length = 0;
  unsigned low = 0x80, high = 0xBF;  // range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

}  // namespace driftwatch
