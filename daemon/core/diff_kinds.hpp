// Internal to the diff (daemon/core): one descriptor per object kind, and the naming helpers
// the diff (diff.cpp), the risk rules (risk.cpp) and the fix SQL builders (fix_sql.cpp) share.
//
// Adding an object kind is one KindRules entry in kinds.cpp (plus its risk and fix functions);
// the merge walk, folding, messages and normalisation dispatch through the entry.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "driftwatch/check.hpp"
#include "driftwatch/diff.hpp"
#include "driftwatch/schema.hpp"

namespace driftwatch::diff_detail {

using Objects = std::vector<const SchemaObject*>;
using Fix = std::optional<std::string>;

// ---- attribute access -----------------------------------------------------------------------
const std::string* attr_of(const SchemaObject& o, const std::string& key);
std::string attr_or(const SchemaObject& o, const std::string& key, const std::string& fallback);
std::string info_or(const SchemaObject& o, const char* key, const std::string& fallback);
bool is_true(const SchemaObject& o, const std::string& key);
std::vector<std::string> json_strings(const std::string& text);
std::string upper(std::string s);

// ---- names (fix_sql.cpp) --------------------------------------------------------------------
std::string parent_of(const SchemaObject& o);  // owning table's qualified name
std::string schema_of(const SchemaObject& o);
std::string local_of(const SchemaObject& o);
std::string object_sql(const SchemaObject& o);  // the object's own name, quoted
std::string parent_sql(const SchemaObject& o);  // the owning table, quoted

// Privilege name OBJECT:GRANTEE:PRIVILEGE.
struct PrivilegeName {
  std::string object, grantee, privilege;
  bool ok = false;
};
PrivilegeName parse_privilege(const std::string& name);

// Children of a table that is missing or extra as a whole (folded into its one finding).
struct Children {
  Objects columns, indexes, constraints, triggers, policies, sequences, privileges;
};

// The expected definition of a table that a fix drops and creates again (a partitioned table
// whose partition key changed: PostgreSQL cannot alter one), with its children and, for a
// partitioned table, its partitions, each likewise.
struct TableRebuild {
  const SchemaObject* table = nullptr;
  Children children;
  std::vector<TableRebuild> partitions;
};

// True when the column gets a value without the application sending one.
bool has_value_source(const SchemaObject& column);

// ---- one changed attribute ------------------------------------------------------------------
struct Change {
  const SchemaObject& expected;
  const SchemaObject& actual;
  const std::string& attr;
  const std::optional<std::string>& ev;  // expected value (null = absent)
  const std::optional<std::string>& av;  // actual value
  // The expected side's indexes on the object (a table or materialized view; null when none):
  // a fix that drops and recreates the object recreates them too.
  const Objects* expected_indexes = nullptr;
  const DiffOptions* options = nullptr;  // fix_server_major: the server the fix runs on
  // For a table whose fix must rebuild it (partition_key): its expected definition.
  const TableRebuild* rebuild = nullptr;
};

// How the application fails (risk.cpp): severity, risk name and the consequence clause of the
// message ("" = none).
struct Verdict {
  Severity severity = Severity::kWarning;
  const char* risk = risk::kNone;
  std::string consequence;
};

// ---- the descriptor -------------------------------------------------------------------------
struct AttributeSpec {
  const char* name;
  // Snapshot model that introduced the attribute (SchemaSnapshot::model): it is compared only
  // when both sides were read by a model that records it, so an older snapshot file does not
  // report it as drift.
  int since_model;
};

// How a kind's qualified name is built (DESIGN.md "Qualified names").
enum class NameShape {
  kGlobal,           // `name` (schema, extension, privilege)
  kSchemaQualified,  // `schema.name` (table, index, enum, view, sequence, ...)
  kTableChild,       // `schema.table.name` (constraint, trigger, policy)
  kColumn,           // `schema.table.column`; as SQL `schema.table.column`
  kFunction,         // `schema.name(argument types)`
};

// Which table a kind folds into when that table is missing or extra as a whole.
enum class FoldInto {
  kNothing,
  kParent,            // the owning table (info `parent`)
  kOwningColumn,      // the table of the column in attr `owned_by` (sequences)
  kPrivilegedObject,  // the object of OBJECT:GRANTEE:PRIVILEGE
};

struct KindRules {
  ObjectType type;
  const char* label;  // in messages: "enum type", "materialized view"
  NameShape name_shape;
  FoldInto fold;
  int since_model;  // model that introduced the kind (as AttributeSpec::since_model)
  // Attributes introduced after model 1 (older ones are compared whatever their names).
  std::vector<AttributeSpec> attributes;
  // Canonical text of an attribute value (normalize.cpp), applied to both sides.
  std::string (*normalize)(const std::string& attr, const std::string& value);
  std::string (*describe)(const SchemaObject&);  // expected/actual of missing/extra findings
  // Risk rules (risk.cpp).
  Verdict (*missing_risk)(const SchemaObject& expected);
  Verdict (*extra_risk)(const SchemaObject& actual);
  Verdict (*changed_risk)(const Change& change);
  // Fix builders (fix_sql.cpp).
  Fix (*missing_fix)(const SchemaObject& expected, const Children& children,
                     const DiffOptions& options);
  Fix (*extra_fix)(const SchemaObject& actual);
  Fix (*changed_fix)(const Change& change);
  // `COMMENT ON <this> name` ("" = cannot carry a comment).
  const char* comment_keyword;
  // Message phrases; null = "is expected by the migrations but missing from the database" /
  // "exists in the database but not in the migrations".
  const char* missing_phrase = nullptr;
  const char* extra_phrase = nullptr;
};

const KindRules& rules_for(ObjectType type);  // kinds.cpp

// ---- risk rules (risk.cpp) ------------------------------------------------------------------
Verdict missing_critical_object(const SchemaObject&);  // undefined_object, critical
Verdict extra_info(const SchemaObject&);
Verdict changed_warning(const Change&);
Verdict missing_schema(const SchemaObject&);
Verdict missing_table(const SchemaObject&);
Verdict changed_table(const Change&);
Verdict missing_column(const SchemaObject&);
Verdict extra_column(const SchemaObject&);
Verdict changed_column(const Change&);
Verdict missing_index(const SchemaObject&);
Verdict extra_index(const SchemaObject&);
Verdict changed_index(const Change&);
Verdict missing_constraint(const SchemaObject&);
Verdict extra_constraint(const SchemaObject&);
Verdict changed_constraint(const Change&);
Verdict missing_enum(const SchemaObject&);
Verdict changed_enum(const Change&);
Verdict missing_view(const SchemaObject&);
Verdict changed_view(const Change&);
Verdict missing_function(const SchemaObject&);
Verdict changed_function(const Change&);
Verdict missing_trigger(const SchemaObject&);
Verdict extra_trigger(const SchemaObject&);
Verdict changed_trigger(const Change&);
Verdict missing_sequence(const SchemaObject&);
Verdict changed_sequence(const Change&);
Verdict missing_extension(const SchemaObject&);
Verdict missing_policy(const SchemaObject&);
Verdict extra_policy(const SchemaObject&);
Verdict changed_policy(const Change&);
Verdict missing_privilege(const SchemaObject&);
Verdict changed_privilege(const Change&);
Verdict missing_domain(const SchemaObject&);
Verdict changed_domain(const Change&);
Verdict missing_type(const SchemaObject&);
Verdict changed_type(const Change&);
Verdict changed_server(const Change&);

// ---- fix builders (fix_sql.cpp) -------------------------------------------------------------
Fix no_fix(const Change&);
Fix fix_missing_schema(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_schema(const SchemaObject&);
Fix fix_missing_table(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_table(const SchemaObject&);
Fix fix_changed_table(const Change&);
Fix fix_missing_column(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_column(const SchemaObject&);
Fix fix_changed_column(const Change&);
Fix fix_missing_index(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_index(const SchemaObject&);
Fix fix_changed_index(const Change&);
Fix fix_missing_constraint(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_constraint(const SchemaObject&);
Fix fix_changed_constraint(const Change&);
Fix fix_missing_enum(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_enum(const SchemaObject&);
Fix fix_changed_enum(const Change&);
Fix fix_missing_view(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_view(const SchemaObject&);
Fix fix_changed_view(const Change&);
Fix fix_missing_materialized_view(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_materialized_view(const SchemaObject&);
Fix fix_changed_materialized_view(const Change&);
Fix fix_missing_function(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_function(const SchemaObject&);
Fix fix_changed_function(const Change&);
Fix fix_missing_trigger(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_trigger(const SchemaObject&);
Fix fix_changed_trigger(const Change&);
Fix fix_missing_sequence(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_sequence(const SchemaObject&);
Fix fix_changed_sequence(const Change&);
Fix fix_missing_extension(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_extension(const SchemaObject&);
Fix fix_changed_extension(const Change&);
Fix fix_missing_policy(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_policy(const SchemaObject&);
Fix fix_changed_policy(const Change&);
Fix fix_missing_privilege(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_privilege(const SchemaObject&);
Fix fix_changed_privilege(const Change&);
Fix fix_missing_domain(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_domain(const SchemaObject&);
Fix fix_changed_domain(const Change&);
Fix fix_missing_type(const SchemaObject&, const Children&, const DiffOptions&);
Fix fix_extra_type(const SchemaObject&);
Fix fix_changed_type(const Change&);
Fix no_missing_fix(const SchemaObject&, const Children&, const DiffOptions&);
Fix no_extra_fix(const SchemaObject&);
// COMMENT ON ... IS ...; null when the kind carries no comment.
Fix comment_sql(const SchemaObject& o, const std::optional<std::string>& text);

// ---- normalisers (normalize.cpp) ------------------------------------------------------------
std::string normalize_plain(const std::string& attr, const std::string& value);
std::string normalize_view(const std::string& attr, const std::string& value);
std::string normalize_function(const std::string& attr, const std::string& value);

// ---- descriptions (diff.cpp) ----------------------------------------------------------------
std::string describe_definition(const SchemaObject& o);
std::string describe_table(const SchemaObject& o);
std::string describe_column(const SchemaObject& o);
std::string describe_enum(const SchemaObject& o);
std::string describe_function(const SchemaObject& o);
std::string describe_sequence(const SchemaObject& o);
std::string describe_extension(const SchemaObject& o);
std::string describe_policy(const SchemaObject& o);
std::string describe_privilege(const SchemaObject& o);
std::string describe_schema(const SchemaObject& o);
std::string describe_domain(const SchemaObject& o);
std::string describe_type(const SchemaObject& o);

// ---- shared parsing -------------------------------------------------------------------------
// Function `config` entries ("search_path=public, pg_temp") as name -> value.
std::map<std::string, std::string> function_settings(const std::optional<std::string>& config);
// Domain `checks` entries ("name: CHECK (...)") as name -> definition.
std::map<std::string, std::string> named_checks(const std::optional<std::string>& checks);
// End (past the closing quote) of the "identifier" or 'literal' opening at text[open], with
// doubled quotes inside; text.size() when unterminated.
size_t end_of_quoted(const std::string& text, size_t open);
// An index definition (pg_get_indexdef) split at its storage parameters: the text without
// ` WITH (...)`, and the parameters ("fillfactor='70'") in order.
struct IndexStorage {
  std::string rest;
  std::vector<std::string> options;
};
IndexStorage index_storage(const std::string& definition);
// Composite type `attributes` entries ("name type", name as quote_ident prints it) as
// (quoted name, type), in order.
std::vector<std::pair<std::string, std::string>> type_attributes(
    const std::optional<std::string>& attributes);

}  // namespace driftwatch::diff_detail
