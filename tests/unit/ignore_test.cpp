// Glob matching and ignore rules.
#include "driftwatch/ignore.hpp"

#include <doctest/doctest.h>

namespace driftwatch {
namespace {

Finding make_finding(std::string kind, ObjectType type, std::string object) {
  Finding finding;
  finding.kind = std::move(kind);
  finding.object_type = type;
  finding.object = std::move(object);
  return finding;
}

TEST_CASE("glob_match: literals, ? and *") {
  CHECK(glob_match("public.eval", "public.eval"));
  CHECK_FALSE(glob_match("public.eval", "public.evals"));
  CHECK_FALSE(glob_match("public.evals", "public.eval"));
  CHECK(glob_match("", ""));
  CHECK_FALSE(glob_match("", "x"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("*", "anything.at.all"));
  CHECK(glob_match("public.tmp_*", "public.tmp_"));
  CHECK(glob_match("public.tmp_*", "public.tmp_2024.col"));  // '*' crosses dots
  CHECK_FALSE(glob_match("public.tmp_*", "middleman.tmp_x"));
  CHECK(glob_match("*.backup_*", "middleman.backup_orders"));
  CHECK(glob_match("public.t?", "public.t1"));
  CHECK_FALSE(glob_match("public.t?", "public.t"));
  CHECK_FALSE(glob_match("public.t?", "public.t12"));
  CHECK(glob_match("a*b*c", "aXXbYYc"));
  CHECK(glob_match("a*b*c", "abbbc"));
  CHECK_FALSE(glob_match("a*b*c", "aXXcYYb"));
  CHECK(glob_match("*a", "banana"));
  CHECK_FALSE(glob_match("*a", "bananas"));
  CHECK(glob_match("**", "x"));
  CHECK(glob_match("*?", "x"));
  CHECK_FALSE(glob_match("*?", ""));
  // A literal '*' in the text is matched by '*' in the pattern like any other character.
  CHECK(glob_match("a*", "a*b"));
  // `.` is not special: "public.x" must not match "publicXx".
  CHECK_FALSE(glob_match("public.x", "publicXx"));
}

TEST_CASE("glob_match: pathological patterns finish quickly") {
  const std::string text(2000, 'a');
  CHECK_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*b", text));
  CHECK(glob_match("*a*a*a*a*a*a*a*a*a*a", text));
}

TEST_CASE("IgnoreRules::matches: every non-empty field must match") {
  IgnoreRules rules;
  rules.rules.push_back(IgnoreRule{"public.audit_*", "index", "extra"});

  CHECK(rules.matches(make_finding("extra", ObjectType::kIndex, "public.audit_log_idx")));
  CHECK_FALSE(rules.matches(make_finding("missing", ObjectType::kIndex, "public.audit_log_idx")));
  CHECK_FALSE(rules.matches(make_finding("extra", ObjectType::kTable, "public.audit_log_idx")));
  CHECK_FALSE(rules.matches(make_finding("extra", ObjectType::kIndex, "public.orders_idx")));
}

TEST_CASE("IgnoreRules::matches: single-field rules and any-rule semantics") {
  IgnoreRules rules;
  rules.rules.push_back(IgnoreRule{"", "privilege", ""});
  rules.rules.push_back(IgnoreRule{"", "", "changed"});
  rules.rules.push_back(IgnoreRule{"public.tmp_*", "", ""});

  CHECK(rules.matches(make_finding("extra", ObjectType::kPrivilege, "public.t:bob:SELECT")));
  CHECK(rules.matches(make_finding("changed", ObjectType::kColumn, "public.t.c")));
  CHECK(rules.matches(make_finding("missing", ObjectType::kTable, "public.tmp_x")));
  CHECK_FALSE(rules.matches(make_finding("missing", ObjectType::kTable, "public.orders")));
  CHECK_FALSE(
      rules.matches(make_finding("extra", ObjectType::kMaterializedView, "public.materialized")));
}

TEST_CASE("IgnoreRules::matches: object_type compares with the DESIGN vocabulary") {
  IgnoreRules rules;
  rules.rules.push_back(IgnoreRule{"", "materialized_view", ""});
  CHECK(rules.matches(make_finding("extra", ObjectType::kMaterializedView, "public.mv")));
  CHECK_FALSE(rules.matches(make_finding("extra", ObjectType::kView, "public.mv")));
}

TEST_CASE("IgnoreRules: an empty rule hides nothing; no rules hide nothing") {
  IgnoreRules none;
  CHECK_FALSE(none.matches(make_finding("extra", ObjectType::kTable, "public.t")));
  IgnoreRules empty_rule;
  empty_rule.rules.push_back(IgnoreRule{});
  CHECK_FALSE(empty_rule.matches(make_finding("extra", ObjectType::kTable, "public.t")));
}

TEST_CASE("IgnoreRules::merge: global and per-target rules both apply") {
  IgnoreRules global;
  global.rules.push_back(IgnoreRule{"public.tmp_*", "", ""});
  IgnoreRules target;
  target.rules.push_back(IgnoreRule{"", "", "extra"});
  IgnoreRules merged = global;
  merged.merge(target);
  REQUIRE(merged.rules.size() == 2);
  CHECK(merged.matches(make_finding("missing", ObjectType::kTable, "public.tmp_a")));
  CHECK(merged.matches(make_finding("extra", ObjectType::kTable, "public.real")));
  CHECK_FALSE(global.matches(make_finding("extra", ObjectType::kTable, "public.real")));
}

}  // namespace
}  // namespace driftwatch
