#include "driftwatch/schema.hpp"

#include <algorithm>

#include "driftwatch/check.hpp"

namespace driftwatch {
namespace {

struct TypeName {
  ObjectType type;
  const char* name;
};

constexpr TypeName kTypeNames[] = {
    {ObjectType::kSchema, "schema"},
    {ObjectType::kTable, "table"},
    {ObjectType::kColumn, "column"},
    {ObjectType::kIndex, "index"},
    {ObjectType::kConstraint, "constraint"},
    {ObjectType::kEnum, "enum"},
    {ObjectType::kView, "view"},
    {ObjectType::kMaterializedView, "materialized_view"},
    {ObjectType::kFunction, "function"},
    {ObjectType::kTrigger, "trigger"},
    {ObjectType::kSequence, "sequence"},
    {ObjectType::kExtension, "extension"},
    {ObjectType::kPolicy, "policy"},
    {ObjectType::kPrivilege, "privilege"},
    {ObjectType::kDomain, "domain"},
    {ObjectType::kType, "type"},
    {ObjectType::kServer, "server"},
};

}  // namespace

const char* to_string(ObjectType type) {
  for (const auto& entry : kTypeNames) {
    if (entry.type == type) return entry.name;
  }
  return "unknown";
}

std::optional<ObjectType> object_type_from_string(const std::string& text) {
  for (const auto& entry : kTypeNames) {
    if (text == entry.name) return entry.type;
  }
  return std::nullopt;
}

const std::vector<ObjectType>& all_object_types() {
  static const std::vector<ObjectType> types = [] {
    std::vector<ObjectType> out;
    for (const auto& entry : kTypeNames) out.push_back(entry.type);
    return out;
  }();
  return types;
}

void SchemaSnapshot::normalize_order() {
  std::sort(objects.begin(), objects.end());
  std::sort(schemas.begin(), schemas.end());
  schemas.erase(std::unique(schemas.begin(), schemas.end()), schemas.end());
  std::sort(alembic_version.begin(), alembic_version.end());
}

const SchemaObject* SchemaSnapshot::find(ObjectType type, const std::string& name) const {
  SchemaObject key;
  key.type = type;
  key.name = name;
  auto it = std::lower_bound(objects.begin(), objects.end(), key);
  if (it == objects.end() || it->type != type || it->name != name) return nullptr;
  return &*it;
}

const char* to_string(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kCritical:
      return "critical";
  }
  return "info";
}

std::optional<Severity> severity_from_string(const std::string& text) {
  if (text == "info") return Severity::kInfo;
  if (text == "warning") return Severity::kWarning;
  if (text == "critical") return Severity::kCritical;
  return std::nullopt;
}

}  // namespace driftwatch
