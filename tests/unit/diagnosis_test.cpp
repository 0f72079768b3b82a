// Drift cause diagnosis from comparisons with the expected schemas around a revision.
#include "driftwatch/diagnosis.hpp"

#include <doctest/doctest.h>

namespace driftwatch {

namespace {

Finding finding(const std::string& kind, ObjectType type, const std::string& object) {
  Finding f;
  f.kind = kind;
  f.object_type = type;
  f.object = object;
  f.message = kind + " " + object;
  return f;
}

const Finding kMissingTable = finding("missing", ObjectType::kTable, "public.invoice");
const Finding kMissingSequence = finding("missing", ObjectType::kSequence, "public.invoice_seq");
const Finding kExtraColumn = finding("extra", ObjectType::kColumn, "public.orders.note");

}  // namespace

TEST_CASE("no findings: nothing to explain") {
  DiagnosisInput input;
  input.revision = "r2";
  CHECK_FALSE(diagnose(input).has_value());
}

TEST_CASE("the schema is exactly an ancestor's: stamped_not_migrated") {
  DiagnosisInput input;
  input.revision = "r3";
  input.findings = {kMissingTable, kMissingSequence};
  input.ancestors = {{"r2", {kExtraColumn}}, {"r1", {}}};
  auto d = diagnose(input);
  REQUIRE(d);
  CHECK(d->cause == drift_cause::kStampedNotMigrated);
  CHECK(d->matches_revision == std::optional<std::string>("r1"));
  CHECK(d->evidence.size() == 3);
}

TEST_CASE("some of the revision's own changes present, some not: partially_applied") {
  DiagnosisInput input;
  input.revision = "r3";
  input.findings = {kMissingSequence};
  input.ancestors = {{"r2", {kMissingTable, kMissingSequence}}};
  input.own_changes = std::vector<Finding>{kMissingTable, kMissingSequence};
  auto d = diagnose(input);
  REQUIRE(d);
  CHECK(d->cause == drift_cause::kPartiallyApplied);
  CHECK_FALSE(d->matches_revision.has_value());
  CHECK(d->evidence[1] == "applied: table public.invoice");
  CHECK(d->evidence[2] == "not applied: sequence public.invoice_seq");
}

TEST_CASE("findings outside the revision's changes: manual_change") {
  DiagnosisInput input;
  input.revision = "r3";
  input.findings = {kExtraColumn};
  input.ancestors = {{"r2", {kMissingTable, kExtraColumn}}};
  input.own_changes = std::vector<Finding>{kMissingTable};
  auto d = diagnose(input);
  REQUIRE(d);
  CHECK(d->cause == drift_cause::kManualChange);
  CHECK(d->evidence.back() == "extra public.orders.note");
}

TEST_CASE("an unknown revision whose schema is a known one plus extras: removed_migration") {
  DiagnosisInput input;
  input.revision = "gone9";
  input.revision_known = false;
  input.findings = {kExtraColumn, kMissingTable};
  input.known = {{"r3", {kExtraColumn, kMissingTable}}, {"r2", {kExtraColumn}}, {"r1", {}}};
  auto d = diagnose(input);
  REQUIRE(d);
  CHECK(d->cause == drift_cause::kRemovedMigration);
  // r1 has no extras at all: it is the schema itself, which an unknown revision cannot be.
  // The closest revision with only extras wins; an exact match counts as closest.
  CHECK(d->matches_revision == std::optional<std::string>("r1"));
  input.known = {{"r3", {kExtraColumn, kMissingTable}}, {"r2", {kExtraColumn}}};
  d = diagnose(input);
  REQUIRE(d);
  CHECK(d->matches_revision == std::optional<std::string>("r2"));
  CHECK(d->evidence.back() == "extra: column public.orders.note");
  input.known = {{"r3", {kMissingTable}}};
  CHECK(diagnose(input)->cause == drift_cause::kManualChange);
}

}  // namespace driftwatch
