// Duration strings in the configuration: "250ms", "30s", "5m", "1h", "1h30m".
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "driftwatch/config.hpp"

namespace driftwatch {

namespace {

// Units from largest to smallest; a duration lists each unit at most once, in this order, so a
// typo such as "5m5m" or "30s1h" is rejected instead of being silently summed.
struct Unit {
  const char* suffix;
  std::int64_t millis;
};
constexpr Unit kUnits[] = {{"h", 3600 * 1000}, {"m", 60 * 1000}, {"s", 1000}, {"ms", 1}};
constexpr std::size_t kUnitCount = sizeof(kUnits) / sizeof(kUnits[0]);

// About 100 years: anything larger is a typo and would overflow arithmetic downstream.
constexpr std::int64_t kMaxMillis = std::int64_t{100} * 365 * 24 * 3600 * 1000;

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // index of the largest unit still allowed
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::int64_t number = 0;
    const std::size_t digits_start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      number = number * 10 + (text[pos] - '0');
      if (number > kMaxMillis) return std::nullopt;
      ++pos;
    }
    if (pos == digits_start) return std::nullopt;  // sign, space, or unit without a number
    std::size_t unit_end = pos;
    while (unit_end < text.size() && text[unit_end] >= 'a' && text[unit_end] <= 'z') ++unit_end;
    const std::string suffix = text.substr(pos, unit_end - pos);
    if (suffix.empty()) return std::nullopt;  // "5": a bare number is ambiguous
    std::size_t unit = next_unit;
    while (unit < kUnitCount && suffix != kUnits[unit].suffix) ++unit;
    if (unit == kUnitCount) return std::nullopt;  // unknown unit or out of order/repeated
    if (number > kMaxMillis / kUnits[unit].millis) return std::nullopt;
    total += number * kUnits[unit].millis;
    if (total > kMaxMillis) return std::nullopt;
    next_unit = unit + 1;
    pos = unit_end;
  }
  return std::chrono::milliseconds(total);
}

}  // namespace driftwatch
