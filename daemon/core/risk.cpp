// Risk rules: for each finding, how the application will fail (DESIGN.md "Risk"). One function
// per (kind, missing/extra/changed), wired up in kinds.cpp; the table below is the contract.
//
//  object       kind     condition                                 severity  risk
//  -----------  -------  ----------------------------------------  --------  ------------------
//  schema       missing                                            critical  undefined_object
//  schema       extra                                              info      none
//  table        missing  (children folded, fix = CREATE TABLE)     critical  undefined_table
//  table        extra    (children folded)                         info      none
//  table        missing  a partition (partition_of)                 warning   none
//                        (the application reads and writes through
//                        the parent: only rows of its range fail)
//  table        changed  persistence: DB unlogged                   critical  none
//  table        changed  persistence: DB logged                     info      none
//  table        changed  row_security / force_row_security / kind  warning   none
//  table        changed  replica_identity, reloptions, inherits,    warning   none
//                        partition_key
//  column       missing                                            critical  undefined_column
//  column       extra    NOT NULL, no default/identity/generated   critical  not_null_violation
//  column       extra    otherwise                                 info      none
//  column       changed  type, narrowing                           critical  type_mismatch
//  column       changed  type, otherwise                           warning   type_mismatch
//  column       changed  nullable: expected NULL, DB NOT NULL      critical  not_null_violation
//  column       changed  nullable: expected NOT NULL, DB NULL      warning   none
//  column       changed  default/identity removed, DB NOT NULL     critical  not_null_violation
//                        (the application relies on the server
//                        default and does not send the column)
//  column       changed  default, identity, generated, collation,  warning   none
//                        identity_options, generated_kind
//  index        missing  unique                                    warning   unique_violation
//  index        missing  not unique (queries get slow)             warning   none
//  index        extra    unique (inserts may now fail)             warning   unique_violation
//  index        extra    not unique                                info      none
//  index        changed  definition: only storage parameters       warning   none
//                        (WITH (...))
//  index        changed  definition (unique on either side)        warning   unique_violation
//  index        changed  definition, otherwise                     warning   none
//  index        changed  valid: DB invalid, unique (not an ON       critical  unique_violation
//                        CONFLICT arbiter, duplicates may pass)
//  index        changed  valid: DB invalid, not unique              warning   none
//  constraint   missing  primary_key / unique / exclude            warning   unique_violation
//  constraint   missing  check / foreign_key                       warning   none
//  constraint   extra    primary_key / unique / exclude            warning   unique_violation
//  constraint   extra    check `IS NOT NULL`                       warning   not_null_violation
//  constraint   extra    other check / foreign_key                 warning   none
//  constraint   changed  validated                                 info      none
//  constraint   changed  definition of pk / unique / exclude       warning   unique_violation
//  constraint   changed  otherwise (on_delete, deferrable, ...)    warning   none
//  enum         missing                                            critical  undefined_object
//  enum         extra                                              info      none
//  enum         changed  labels, an expected label is missing      critical  undefined_object
//  enum         changed  labels, reordered                         warning   none
//  enum         changed  labels, only extra labels                 info      none
//  view, matv.  missing                                            critical  undefined_object
//  view, matv.  extra                                              info      none
//  view, matv.  changed  definition                                warning   none
//  function     missing                                            critical  undefined_object
//  function     extra                                              info      none
//  function     changed  config / security_definer, SECURITY       critical  security_definer_
//                        DEFINER (either side) and search_path                search_path
//                        missing or different in the DB
//  function     changed  any other attribute                       warning   none
//  trigger      missing / extra / changed                          warning   none
//  sequence     missing                                            critical  undefined_object
//  sequence     extra                                              info      none
//  sequence     changed  data_type narrowing                       warning   type_mismatch
//  sequence     changed  otherwise                                 warning   none
//  extension    missing                                            critical  undefined_object
//  extension    extra                                              info      none
//  extension    changed  version / schema                          warning   none
//  policy       missing / extra / changed                          warning   none
//  privilege    missing (permission denied for the application)    warning   none
//  privilege    extra / changed grantable                          info      none
//  domain       missing                                            critical  undefined_object
//  domain       extra                                              info      none
//  domain       changed  type, narrowing                           critical  type_mismatch
//  domain       changed  type, otherwise                           warning   type_mismatch
//  domain       changed  nullable: expected NULL, DB NOT NULL      critical  not_null_violation
//  domain       changed  default, nullable, checks, collation      warning   none
//  type         missing  (composite / range)                       critical  undefined_object
//  type         extra                                              info      none
//  type         changed  attributes: an expected one is missing    critical  undefined_column
//  type         changed  subtype_opclass, collation (range)        warning   none
//  type         changed  otherwise                                 warning   type_mismatch
//  server       changed  major_version                             info      none
//  any          changed  comment                                   info      none
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/diff_kinds.hpp"

namespace driftwatch::diff_detail {
namespace {

Verdict verdict(Severity severity, const char* risk, std::string consequence) {
  Verdict v;
  v.severity = severity;
  v.risk = risk;
  v.consequence = std::move(consequence);
  return v;
}

// Consequence of a changed attribute, by attribute name.
using Consequences = std::map<std::string, const char*>;

// A warning without a risk name, with the attribute's consequence ("" when not listed).
Verdict warning_for(const Change& c, const Consequences& consequences) {
  auto it = consequences.find(c.attr);
  return verdict(Severity::kWarning, risk::kNone, it == consequences.end() ? "" : it->second);
}

// An index or constraint that rejects duplicates (and can be an ON CONFLICT arbiter).
bool enforces_uniqueness(const SchemaObject& o) {
  if (o.type == ObjectType::kIndex) return is_true(o, "unique") || is_true(o, "primary");
  std::string type = attr_or(o, "type", "");
  return type == "primary_key" || type == "unique" || type == "exclude";
}

// The rule shared by indexes and constraints: missing or extra, one that enforces uniqueness is
// about unique_violation; `otherwise` is the verdict for one that does not.
Verdict uniqueness_rule(const SchemaObject& o, bool missing, Verdict otherwise) {
  if (!enforces_uniqueness(o)) return otherwise;
  return verdict(Severity::kWarning, risk::kUniqueViolation,
                 missing ? "duplicates are no longer rejected and ON CONFLICT upserts on its "
                           "columns fail (no unique or exclusion constraint matching)"
                         : "it rejects duplicates, so inserts the application expects to succeed "
                           "may fail with unique_violation");
}

// The rule shared by everything that holds values (columns, domains): a changed `type` or
// `nullable`.
Verdict value_rule(const Change& c) {
  if (c.attr == "type") {
    if (c.ev && c.av && type_narrows(*c.ev, *c.av)) {
      return verdict(Severity::kCritical, risk::kTypeMismatch,
                     "the database type is narrower, so values the application writes may not "
                     "fit");
    }
    return verdict(Severity::kWarning, risk::kTypeMismatch,
                   "values read or written may convert differently");
  }
  if (c.ev && *c.ev == "true") {  // nullable
    return verdict(Severity::kCritical, risk::kNotNullViolation,
                   "the application may write NULL and its INSERTs fail with "
                   "not_null_violation");
  }
  return verdict(Severity::kWarning, risk::kNone, "NULLs the migrations forbid can be stored");
}

}  // namespace

// ---- shared ---------------------------------------------------------------------------------

Verdict missing_critical_object(const SchemaObject&) {
  return verdict(Severity::kCritical, risk::kUndefinedObject, "");
}
Verdict extra_info(const SchemaObject&) { return verdict(Severity::kInfo, risk::kNone, ""); }
Verdict changed_warning(const Change&) { return verdict(Severity::kWarning, risk::kNone, ""); }

// ---- per kind -------------------------------------------------------------------------------

Verdict missing_schema(const SchemaObject&) {
  return verdict(Severity::kCritical, risk::kUndefinedObject, "queries on its objects fail");
}

Verdict missing_table(const SchemaObject& e) {
  if (attr_of(e, "partition_of") != nullptr) {
    // The application names the parent: inserts of rows in this partition's range fail (no
    // partition of relation found for row) unless a default partition takes them, and reads
    // miss them; only queries naming the partition itself fail with undefined_table.
    return verdict(Severity::kWarning, risk::kNone,
                   "inserts through the parent of rows in its range fail unless a default "
                   "partition takes them, and queries naming it fail with undefined_table");
  }
  return verdict(Severity::kCritical, risk::kUndefinedTable,
                 "queries on it fail with undefined_table");
}

Verdict changed_table(const Change& c) {
  if (c.attr == "persistence") {
    if (c.av && *c.av == "unlogged") {
      return verdict(Severity::kCritical, risk::kNone,
                     "its rows are lost on a crash and standbys cannot read it");
    }
    return verdict(Severity::kInfo, risk::kNone, "its writes are WAL-logged (slower)");
  }
  static const Consequences kWarnings = {
      {"replica_identity",
       "logical replication sends different keys for UPDATE and DELETE (with NOTHING they fail "
       "on a published table)"},
      {"reloptions", "storage and autovacuum settings differ"},
      {"inherits", "queries on the parent table see different rows"},
      {"partition_key",
       "rows are routed to partitions differently (a partition key cannot be altered: the table "
       "must be rebuilt)"},
      {"row_security", "which rows non-owners see changes"},
      {"force_row_security", "whether policies apply to the table owner changes"},
  };
  return warning_for(c, kWarnings);
}

Verdict missing_column(const SchemaObject&) {
  return verdict(Severity::kCritical, risk::kUndefinedColumn,
                 "queries using it fail with undefined_column");
}

Verdict extra_column(const SchemaObject& a) {
  if (attr_or(a, "nullable", "true") == "false" && !has_value_source(a)) {
    return verdict(Severity::kCritical, risk::kNotNullViolation,
                   "it is NOT NULL without a default, so the application's INSERTs fail with "
                   "not_null_violation");
  }
  return extra_info(a);
}

Verdict changed_column(const Change& c) {
  const std::string& attr = c.attr;
  if (attr == "type" || attr == "nullable") return value_rule(c);
  if (attr == "default" || attr == "identity") {
    bool removed = c.ev && !c.av;
    bool actual_not_null = attr_or(c.actual, "nullable", "true") == "false";
    if (removed && actual_not_null && !has_value_source(c.actual)) {
      // The application relies on the server-side value and does not send the column.
      return verdict(Severity::kCritical, risk::kNotNullViolation,
                     "the column is NOT NULL, so INSERTs that rely on the " + attr +
                         " fail with not_null_violation");
    }
    return verdict(Severity::kWarning, risk::kNone,
                   attr == "default" ? "rows inserted without a value get a different value"
                                     : "generated values differ");
  }
  if (attr == "generated") {
    return verdict(Severity::kWarning, risk::kNone,
                   c.av && !c.ev ? "the application's writes to it fail (generated column)"
                                 : "stored values are computed differently");
  }
  static const Consequences kWarnings = {
      {"collation", "sorting and comparisons differ"},
      {"identity_options", "identity values are generated differently"},
      {"generated_kind", "values are computed on read instead of stored, or the other way round"},
  };
  return warning_for(c, kWarnings);
}

Verdict missing_index(const SchemaObject& e) {
  return uniqueness_rule(
      e, /*missing=*/true,
      verdict(Severity::kWarning, risk::kNone, "queries that rely on it may be slow"));
}

Verdict extra_index(const SchemaObject& a) {
  return uniqueness_rule(a, /*missing=*/false,
                         verdict(Severity::kInfo, risk::kNone, "it costs write time and space"));
}

Verdict changed_index(const Change& c) {
  if (c.attr == "definition" && c.ev && c.av &&
      index_storage(*c.ev).rest == index_storage(*c.av).rest) {
    return verdict(Severity::kWarning, risk::kNone,
                   "its storage parameters differ (page fill, build and maintenance settings)");
  }
  if (c.attr == "valid") {
    if (!c.av) return verdict(Severity::kInfo, risk::kNone, "");  // only expected invalid
    if (enforces_uniqueness(c.actual)) {
      return verdict(Severity::kCritical, risk::kUniqueViolation,
                     "PostgreSQL does not use an invalid index as an ON CONFLICT arbiter, so "
                     "upserts on its columns fail, and duplicates may be stored");
    }
    return verdict(Severity::kWarning, risk::kNone,
                   "queries cannot use it (a failed CREATE INDEX CONCURRENTLY) while writes "
                   "still maintain it");
  }
  if (enforces_uniqueness(c.expected) || enforces_uniqueness(c.actual)) {
    return verdict(Severity::kWarning, risk::kUniqueViolation,
                   "uniqueness is enforced differently, so inserts or ON CONFLICT upserts may "
                   "fail");
  }
  return changed_warning(c);
}

Verdict missing_constraint(const SchemaObject& e) {
  return uniqueness_rule(
      e, /*missing=*/true,
      verdict(Severity::kWarning, risk::kNone, "the database no longer enforces it"));
}

Verdict extra_constraint(const SchemaObject& a) {
  if (enforces_uniqueness(a)) return uniqueness_rule(a, /*missing=*/false, {});
  if (attr_or(a, "type", "") == "check" &&
      upper(attr_or(a, "definition", "")).find("IS NOT NULL") != std::string::npos) {
    return verdict(Severity::kWarning, risk::kNotNullViolation,
                   "it rejects NULLs the application may write");
  }
  return verdict(Severity::kWarning, risk::kNone,
                 "writes the application expects to succeed may be rejected");
}

Verdict changed_constraint(const Change& c) {
  if (c.attr == "validated") {
    return verdict(Severity::kInfo, risk::kNone, "existing rows were not checked against it");
  }
  if (c.attr == "definition" && enforces_uniqueness(c.expected)) {
    return verdict(Severity::kWarning, risk::kUniqueViolation,
                   "ON CONFLICT upserts and inserts may fail");
  }
  return changed_warning(c);
}

Verdict missing_enum(const SchemaObject&) {
  return verdict(Severity::kCritical, risk::kUndefinedObject, "columns and casts using it fail");
}

Verdict changed_enum(const Change& c) {
  std::vector<std::string> expected = json_strings(c.ev.value_or("[]"));
  std::vector<std::string> actual = json_strings(c.av.value_or("[]"));
  std::set<std::string> present(actual.begin(), actual.end());
  std::string missing;
  for (const auto& label : expected) {
    if (present.count(label) == 0) missing += (missing.empty() ? "" : ", ") + label;
  }
  if (!missing.empty()) {
    return verdict(Severity::kCritical, risk::kUndefinedObject,
                   "writing " + missing + " fails with invalid input value for enum");
  }
  if (expected.size() == actual.size()) {
    return verdict(Severity::kWarning, risk::kNone, "label order (and so sorting) differs");
  }
  return verdict(Severity::kInfo, risk::kNone,
                 "the database accepts labels the application does not know");
}

Verdict missing_view(const SchemaObject&) {
  return verdict(Severity::kCritical, risk::kUndefinedObject, "queries on it fail");
}

Verdict changed_view(const Change&) {
  return verdict(Severity::kWarning, risk::kNone,
                 "its columns or rows may differ from what the application reads");
}

Verdict missing_function(const SchemaObject&) {
  return verdict(Severity::kCritical, risk::kUndefinedObject, "calls to it fail");
}

namespace {

std::optional<std::string> search_path_of(const SchemaObject& f) {
  auto settings = function_settings(attr_or(f, "config", "[]"));
  auto it = settings.find("search_path");
  if (it == settings.end()) return std::nullopt;
  return it->second;
}

}  // namespace

Verdict changed_function(const Change& c) {
  if (c.attr == "config" || c.attr == "security_definer") {
    bool definer = is_true(c.expected, "security_definer") || is_true(c.actual, "security_definer");
    auto expected_path = search_path_of(c.expected);
    auto actual_path = search_path_of(c.actual);
    if (definer && (!actual_path || expected_path != actual_path)) {
      return verdict(Severity::kCritical, risk::kSecurityDefinerSearchPath,
                     "it is SECURITY DEFINER and its search_path is " +
                         std::string(actual_path ? "different" : "not set") +
                         ", so a caller who can create objects in a schema it resolves through "
                         "can run code as its owner");
    }
    return verdict(Severity::kWarning, risk::kNone, "calls run with different settings");
  }
  if (c.attr == "arguments") {
    return verdict(Severity::kWarning, risk::kNone,
                   "calls that name arguments or omit defaulted ones fail or bind differently");
  }
  if (c.attr == "parallel" || c.attr == "leakproof" || c.attr == "volatility" ||
      c.attr == "strict") {
    return verdict(Severity::kWarning, risk::kNone,
                   "the planner treats calls differently (results may differ or be cached)");
  }
  return verdict(Severity::kWarning, risk::kNone, "calls behave differently");
}

Verdict missing_trigger(const SchemaObject&) {
  return verdict(Severity::kWarning, risk::kNone,
                 "what it does on writes silently no longer happens");
}

Verdict extra_trigger(const SchemaObject&) {
  return verdict(Severity::kWarning, risk::kNone,
                 "it runs on the application's writes and may change or reject them");
}

Verdict changed_trigger(const Change&) {
  return verdict(Severity::kWarning, risk::kNone,
                 "what happens on the application's writes differs");
}

Verdict missing_sequence(const SchemaObject&) {
  return verdict(Severity::kCritical, risk::kUndefinedObject, "nextval() on it fails");
}

Verdict changed_sequence(const Change& c) {
  if (c.attr == "data_type" && c.ev && c.av && type_narrows(*c.ev, *c.av)) {
    return verdict(Severity::kWarning, risk::kTypeMismatch,
                   "nextval() reaches the smaller maximum sooner");
  }
  return changed_warning(c);
}

Verdict missing_extension(const SchemaObject&) {
  return verdict(Severity::kCritical, risk::kUndefinedObject,
                 "functions and types it provides are undefined");
}

Verdict missing_policy(const SchemaObject&) {
  return verdict(Severity::kWarning, risk::kNone,
                 "with row level security on, rows it allows are hidden or rejected");
}

Verdict extra_policy(const SchemaObject&) {
  return verdict(Severity::kWarning, risk::kNone,
                 "it changes which rows the application sees or may write");
}

Verdict changed_policy(const Change&) {
  return verdict(Severity::kWarning, risk::kNone,
                 "which rows the application sees or may write differs");
}

Verdict missing_privilege(const SchemaObject&) {
  return verdict(Severity::kWarning, risk::kNone, "the grantee gets permission denied");
}

Verdict changed_privilege(const Change&) { return verdict(Severity::kInfo, risk::kNone, ""); }

Verdict missing_domain(const SchemaObject&) {
  return verdict(Severity::kCritical, risk::kUndefinedObject, "columns and casts using it fail");
}

Verdict changed_domain(const Change& c) {
  if (c.attr == "type" || c.attr == "nullable") return value_rule(c);
  if (c.attr == "checks") {
    auto expected = named_checks(c.ev);
    for (const auto& [name, definition] : named_checks(c.av)) {
      auto it = expected.find(name);
      if (it == expected.end() || it->second != definition) {
        return verdict(Severity::kWarning, risk::kNone,
                       "writes the application expects to succeed may be rejected");
      }
    }
    return verdict(Severity::kWarning, risk::kNone, "the database no longer enforces a check");
  }
  static const Consequences kWarnings = {
      {"default", "rows inserted without a value get a different value"},
      {"collation", "sorting and comparisons of its values differ"},
  };
  return warning_for(c, kWarnings);
}

Verdict missing_type(const SchemaObject&) {
  return verdict(Severity::kCritical, risk::kUndefinedObject,
                 "columns, casts and functions using it fail");
}

Verdict changed_type(const Change& c) {
  if (c.attr == "subtype_opclass" || c.attr == "collation") {
    return verdict(Severity::kWarning, risk::kNone,
                   "its ranges order and compare their bounds differently");
  }
  if (c.attr == "attributes") {
    std::set<std::string> present;
    for (const auto& attribute : type_attributes(c.av)) present.insert(attribute.first);
    std::string missing;
    for (const auto& attribute : type_attributes(c.ev)) {
      if (present.count(attribute.first) == 0) {
        missing += (missing.empty() ? "" : ", ") + attribute.first;
      }
    }
    if (!missing.empty()) {
      return verdict(Severity::kCritical, risk::kUndefinedColumn,
                     "queries using its attribute " + missing + " fail");
    }
  }
  return verdict(Severity::kWarning, risk::kTypeMismatch,
                 "values of it read or written may convert differently");
}

Verdict changed_server(const Change&) {
  return verdict(Severity::kInfo, risk::kNone,
                 "catalog texts (view definitions, defaults) may print differently and features "
                 "differ; compare against a snapshot taken on the same major version");
}

}  // namespace driftwatch::diff_detail
