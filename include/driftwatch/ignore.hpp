// Ignore rules: findings an operator chose not to see. Global ([ignore]) and per target
// ([targets.ignore]); a finding is dropped when any rule matches it.
#pragma once

#include <string>
#include <vector>

#include "driftwatch/check.hpp"

namespace driftwatch {

struct IgnoreRule {
  // Every non-empty field must match. `object` is a glob (`*` any run, `?` one character)
  // on the finding's qualified name; `object_type` and `kind` compare exactly.
  std::string object;
  std::string object_type;
  std::string kind;
};

struct IgnoreRules {
  std::vector<IgnoreRule> rules;

  bool matches(const Finding& finding) const;
  // Appends other's rules (global + per-target).
  void merge(const IgnoreRules& other) {
    rules.insert(rules.end(), other.rules.begin(), other.rules.end());
  }
};

// Glob match: `*` matches any run of characters (including '.'), `?` exactly one.
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace driftwatch
