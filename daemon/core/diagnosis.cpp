#include "driftwatch/diagnosis.hpp"

#include <set>
#include <tuple>

namespace driftwatch {

namespace {

constexpr std::size_t kMaxEvidence = 10;

using FindingKey = std::tuple<ObjectType, std::string, std::string>;

FindingKey key_of(const Finding& f) { return {f.object_type, f.object, f.attribute}; }

std::string describe(const Finding& f) {
  std::string what = std::string(to_string(f.object_type)) + " " + f.object;
  if (!f.attribute.empty()) what += " (" + f.attribute + ")";
  return what;
}

void add_limited(std::vector<std::string>& evidence, const std::string& prefix,
                 const std::vector<const Finding*>& findings) {
  std::size_t shown = 0;
  for (const Finding* f : findings) {
    if (shown == kMaxEvidence) {
      evidence.push_back(prefix + "... and " + std::to_string(findings.size() - shown) + " more");
      return;
    }
    evidence.push_back(prefix + describe(*f));
    ++shown;
  }
}

std::vector<const Finding*> pointers(const std::vector<Finding>& findings) {
  std::vector<const Finding*> out;
  for (const Finding& f : findings) out.push_back(&f);
  return out;
}

Diagnosis manual_change(const DiagnosisInput& input) {
  Diagnosis d;
  d.cause = drift_cause::kManualChange;
  d.evidence.push_back("the schema is not that of revision " + input.revision +
                       " nor of a revision around it; changed outside the migrations:");
  std::vector<const Finding*> shown;
  for (const Finding& f : input.findings) shown.push_back(&f);
  std::vector<std::string> lines;
  std::size_t n = 0;
  for (const Finding* f : shown) {
    if (n++ == kMaxEvidence) {
      d.evidence.push_back("... and " + std::to_string(shown.size() - kMaxEvidence) + " more");
      break;
    }
    d.evidence.push_back(f->message.empty() ? describe(*f) : f->message);
  }
  return d;
}

}  // namespace

std::optional<Diagnosis> diagnose(const DiagnosisInput& input) {
  if (input.findings.empty()) return std::nullopt;

  if (!input.revision_known) {
    // A revision applied and later removed from the code: the schema is a known revision's plus
    // what the removed migration added. The closest such revision has the fewest extras.
    const DiagnosisCandidate* best = nullptr;
    for (const DiagnosisCandidate& c : input.known) {
      bool only_extras = true;
      for (const Finding& f : c.findings) {
        if (f.kind != "extra") {
          only_extras = false;
          break;
        }
      }
      if (only_extras && (best == nullptr || c.findings.size() < best->findings.size())) {
        best = &c;
      }
    }
    if (best == nullptr) return manual_change(input);
    Diagnosis d;
    d.cause = drift_cause::kRemovedMigration;
    d.matches_revision = best->revision;
    d.evidence.push_back("alembic_version records " + input.revision +
                         ", which the migrations do not have; the schema is revision " +
                         best->revision + " plus objects no migration creates:");
    add_limited(d.evidence, "extra: ", pointers(best->findings));
    return d;
  }

  for (const DiagnosisCandidate& c : input.ancestors) {
    if (!c.findings.empty()) continue;
    Diagnosis d;
    d.cause = drift_cause::kStampedNotMigrated;
    d.matches_revision = c.revision;
    d.evidence.push_back("alembic_version records " + input.revision +
                         " but the schema is exactly that of revision " + c.revision +
                         " (stamped without running the migrations?); not applied:");
    add_limited(d.evidence, "", pointers(input.findings));
    return d;
  }

  if (input.own_changes && !input.own_changes->empty()) {
    std::set<FindingKey> changes;
    for (const Finding& f : *input.own_changes) changes.insert(key_of(f));
    bool within = true;
    std::set<FindingKey> missing;
    for (const Finding& f : input.findings) {
      if (!changes.count(key_of(f))) {
        within = false;
        break;
      }
      missing.insert(key_of(f));
    }
    if (within && missing.size() < changes.size()) {
      Diagnosis d;
      d.cause = drift_cause::kPartiallyApplied;
      d.evidence.push_back("the schema lies between revision " + input.revision +
                           " and its parent: some of its changes are present, some not");
      std::vector<const Finding*> applied;
      for (const Finding& f : *input.own_changes) {
        if (!missing.count(key_of(f))) applied.push_back(&f);
      }
      add_limited(d.evidence, "applied: ", applied);
      add_limited(d.evidence, "not applied: ", pointers(input.findings));
      return d;
    }
  }
  return manual_change(input);
}

}  // namespace driftwatch
