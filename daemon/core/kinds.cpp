// The object kinds the diff knows: one KindRules entry per ObjectType (diff_kinds.hpp), in
// ObjectType declaration order. Adding a kind is one entry here plus its risk (risk.cpp) and
// fix (fix_sql.cpp) functions.
#include <stdexcept>
#include <vector>

#include "core/diff_kinds.hpp"

namespace driftwatch::diff_detail {
namespace {

std::vector<KindRules> make_kinds() {
  using K = ObjectType;
  using N = NameShape;
  using F = FoldInto;
  // clang-format off
  std::vector<KindRules> kinds = {
      // type, label, name shape, folds into, since model, attributes since model 2+, normaliser,
      // describe, risk: missing / extra / changed, fix: missing / extra / changed, COMMENT ON
      {K::kSchema, "schema", N::kGlobal, F::kNothing, 1, {},
       normalize_plain, describe_schema,
       missing_schema, extra_info, changed_warning,
       fix_missing_schema, fix_extra_schema, no_fix, "SCHEMA"},
      {K::kTable, "table", N::kSchemaQualified, F::kNothing, 1,
       {{"persistence", 2}, {"replica_identity", 2}, {"reloptions", 2}, {"inherits", 2},
        {"partition_key", 2}},
       normalize_plain, describe_table,
       missing_table, extra_info, changed_table,
       fix_missing_table, fix_extra_table, fix_changed_table, "TABLE"},
      {K::kColumn, "column", N::kColumn, F::kParent, 1,
       {{"identity_options", 2}, {"generated_kind", 2}},
       normalize_plain, describe_column,
       missing_column, extra_column, changed_column,
       fix_missing_column, fix_extra_column, fix_changed_column, "COLUMN"},
      {K::kIndex, "index", N::kSchemaQualified, F::kParent, 1, {{"valid", 2}},
       normalize_plain, describe_definition,
       missing_index, extra_index, changed_index,
       fix_missing_index, fix_extra_index, fix_changed_index, "INDEX"},
      {K::kConstraint, "constraint", N::kTableChild, F::kParent, 1, {},
       normalize_plain, describe_definition,
       missing_constraint, extra_constraint, changed_constraint,
       fix_missing_constraint, fix_extra_constraint, fix_changed_constraint, "CONSTRAINT"},
      {K::kEnum, "enum type", N::kSchemaQualified, F::kNothing, 1, {},
       normalize_plain, describe_enum,
       missing_enum, extra_info, changed_enum,
       fix_missing_enum, fix_extra_enum, fix_changed_enum, "TYPE"},
      {K::kView, "view", N::kSchemaQualified, F::kNothing, 1, {},
       normalize_view, describe_definition,
       missing_view, extra_info, changed_view,
       fix_missing_view, fix_extra_view, fix_changed_view, "VIEW"},
      {K::kMaterializedView, "materialized view", N::kSchemaQualified, F::kNothing, 1, {},
       normalize_view, describe_definition,
       missing_view, extra_info, changed_view,
       fix_missing_materialized_view, fix_extra_materialized_view,
       fix_changed_materialized_view, "MATERIALIZED VIEW"},
      {K::kFunction, "function", N::kFunction, F::kNothing, 1,
       {{"config", 2}, {"sql_body", 2}, {"arguments", 2}, {"parallel", 2}, {"leakproof", 2}},
       normalize_function, describe_function,
       missing_function, extra_info, changed_function,
       fix_missing_function, fix_extra_function, fix_changed_function, "FUNCTION"},
      {K::kTrigger, "trigger", N::kTableChild, F::kParent, 1, {},
       normalize_plain, describe_definition,
       missing_trigger, extra_trigger, changed_trigger,
       fix_missing_trigger, fix_extra_trigger, fix_changed_trigger, "TRIGGER"},
      {K::kSequence, "sequence", N::kSchemaQualified, F::kOwningColumn, 1, {},
       normalize_plain, describe_sequence,
       missing_sequence, extra_info, changed_sequence,
       fix_missing_sequence, fix_extra_sequence, fix_changed_sequence, "SEQUENCE"},
      {K::kExtension, "extension", N::kGlobal, F::kNothing, 1, {},
       normalize_plain, describe_extension,
       missing_extension, extra_info, changed_warning,
       fix_missing_extension, fix_extra_extension, fix_changed_extension, "EXTENSION"},
      {K::kPolicy, "policy", N::kTableChild, F::kParent, 1, {},
       normalize_plain, describe_policy,
       missing_policy, extra_policy, changed_policy,
       fix_missing_policy, fix_extra_policy, fix_changed_policy, "POLICY"},
      {K::kPrivilege, "privilege", N::kGlobal, F::kPrivilegedObject, 1, {},
       normalize_plain, describe_privilege,
       missing_privilege, extra_info, changed_privilege,
       fix_missing_privilege, fix_extra_privilege, fix_changed_privilege, "",
       "is expected but not granted", "is granted in the database but not expected"},
      {K::kDomain, "domain", N::kSchemaQualified, F::kNothing, 2, {{"collation", 3}},
       normalize_plain, describe_domain,
       missing_domain, extra_info, changed_domain,
       fix_missing_domain, fix_extra_domain, fix_changed_domain, "DOMAIN"},
      {K::kType, "type", N::kSchemaQualified, F::kNothing, 2, {{"subtype_opclass", 3}, {"collation", 3}},
       normalize_plain, describe_type,
       missing_type, extra_info, changed_type,
       fix_missing_type, fix_extra_type, fix_changed_type, "TYPE"},
      // Never introspected: diff_schemas compares the snapshots' server versions as this kind.
      {K::kServer, "server", N::kGlobal, F::kNothing, 1, {},
       normalize_plain, describe_schema,
       extra_info, extra_info, changed_server,
       no_missing_fix, no_extra_fix, no_fix, ""},
  };
  // clang-format on
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (static_cast<size_t>(kinds[i].type) != i) {
      throw std::logic_error("kinds.cpp: entries out of ObjectType order");
    }
  }
  if (kinds.size() != all_object_types().size()) {
    throw std::logic_error("kinds.cpp: not one entry per ObjectType");
  }
  return kinds;
}

}  // namespace

const KindRules& rules_for(ObjectType type) {
  static const std::vector<KindRules> kinds = make_kinds();
  return kinds.at(static_cast<size_t>(type));
}

}  // namespace driftwatch::diff_detail
