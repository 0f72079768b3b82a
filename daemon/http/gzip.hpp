// gzip (RFC 1952) for response bodies, and the Accept-Encoding test that decides when to use it.
#pragma once

#include <string>

namespace driftwatch {

// The gzip member of `data` (default level: a body is compressed once per rendering).
std::string gzip_compress(const std::string& data);
// Inverse of gzip_compress (tests). Throws std::runtime_error on malformed input.
std::string gzip_decompress(const std::string& data);

// True when an Accept-Encoding header value allows gzip ("gzip" or "*" with a q-value above 0,
// case-insensitive; "gzip;q=0" refuses it).
bool accepts_gzip(const std::string& accept_encoding);

}  // namespace driftwatch
