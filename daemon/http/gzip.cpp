#include "http/gzip.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace driftwatch {

namespace {

constexpr int kGzipWindowBits = 15 + 16;  // 32 KiB window, gzip wrapper

std::string lower_trimmed(std::string s) {
  const auto first = s.find_first_not_of(" \t");
  const auto last = s.find_last_not_of(" \t");
  s = first == std::string::npos ? "" : s.substr(first, last - first + 1);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string gzip_compress(const std::string& data) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("gzip: deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const auto written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    throw std::runtime_error("gzip: deflate failed");
  }
  out.resize(written);
  return out;
}

std::string gzip_decompress(const std::string& data) {
  z_stream zs{};
  if (inflateInit2(&zs, kGzipWindowBits) != Z_OK) {
    throw std::runtime_error("gzip: inflateInit2 failed");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buffer[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof buffer;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - zs.avail_out);
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    throw std::runtime_error("gzip: malformed input");
  }
  return out;
}

bool accepts_gzip(const std::string& accept_encoding) {
  // An explicit "gzip" entry decides; otherwise "*" does.
  double gzip_q = -1.0;
  double any_q = -1.0;
  std::size_t start = 0;
  while (start <= accept_encoding.size()) {
    std::size_t end = accept_encoding.find(',', start);
    if (end == std::string::npos) end = accept_encoding.size();
    const std::string item = accept_encoding.substr(start, end - start);
    start = end + 1;
    const auto semi = item.find(';');
    const std::string coding = lower_trimmed(item.substr(0, semi));
    if (coding != "gzip" && coding != "x-gzip" && coding != "*") continue;
    double q = 1.0;
    if (semi != std::string::npos) {
      const std::string param = lower_trimmed(item.substr(semi + 1));
      if (param.rfind("q=", 0) == 0) {
        const std::string value = param.substr(2);
        char* parsed_end = nullptr;
        q = std::strtod(value.c_str(), &parsed_end);
        if (parsed_end == value.c_str()) q = 0.0;
      }
    }
    (coding == "*" ? any_q : gzip_q) = std::max(coding == "*" ? any_q : gzip_q, q);
  }
  return gzip_q >= 0.0 ? gzip_q > 0.0 : any_q > 0.0;
}

}  // namespace driftwatch
