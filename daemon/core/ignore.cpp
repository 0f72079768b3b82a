// Ignore rules: glob matching of findings an operator chose not to see.
#include "driftwatch/ignore.hpp"

#include <string>

namespace driftwatch {

bool glob_match(const std::string& pattern, const std::string& text) {
  // Iterative matcher with single-star backtracking: linear in practice, no recursion blow-up on
  // patterns like "*a*a*a*b". `?` matches one byte.
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string::npos;  // position of the last '*' seen in pattern
  std::size_t star_text = 0;             // text position that '*' currently extends to
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool IgnoreRules::matches(const Finding& finding) const {
  for (const IgnoreRule& rule : rules) {
    // A rule with no fields would silently hide every finding; config validation rejects it, and
    // a hand-built one matches nothing.
    if (rule.object.empty() && rule.object_type.empty() && rule.kind.empty()) continue;
    if (!rule.object.empty() && !glob_match(rule.object, finding.object)) continue;
    if (!rule.object_type.empty() && rule.object_type != to_string(finding.object_type)) continue;
    if (!rule.kind.empty() && rule.kind != finding.kind) continue;
    return true;
  }
  return false;
}

}  // namespace driftwatch
