// Drift cause diagnosis: given a target's findings at its own revision R and how its live schema
// compares with the expected schemas around R, say why it differs (DESIGN.md "Diagnosis").
// Pure: the caller computes the comparisons.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "driftwatch/check.hpp"

namespace driftwatch {

// The live schema compared with one revision's expected schema.
struct DiagnosisCandidate {
  std::string revision;           // revision set, ids joined by ","
  std::vector<Finding> findings;  // diff(expected = that revision, actual = live)
};

struct DiagnosisInput {
  std::string revision;           // R as alembic_version records it (ids joined by ",")
  bool revision_known = true;     // R is in the migration graph
  std::vector<Finding> findings;  // live vs R's schema (known R), or vs the fallback (unknown R)
  // Known R: the live schema against R's ancestors that have an expected schema, nearest first.
  std::vector<DiagnosisCandidate> ancestors;
  // Known R: what R itself changes: diff(expected = R's schema, actual = its parents' schema).
  std::optional<std::vector<Finding>> own_changes;
  // Unknown R: the live schema against known revisions, newest first.
  std::vector<DiagnosisCandidate> known;
};

// nullopt when there is nothing to explain (no findings).
std::optional<Diagnosis> diagnose(const DiagnosisInput& input);

}  // namespace driftwatch
