#include "driftwatch/schema.hpp"

#include <doctest/doctest.h>

#include "driftwatch/check.hpp"

namespace driftwatch {

TEST_CASE("object type names round-trip") {
  for (ObjectType type : all_object_types()) {
    auto parsed = object_type_from_string(to_string(type));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == type);
  }
  CHECK_FALSE(object_type_from_string("tablespace").has_value());
  CHECK(std::string(to_string(ObjectType::kMaterializedView)) == "materialized_view");
}

TEST_CASE("snapshot lookup after normalize_order") {
  SchemaSnapshot snap;
  snap.objects.push_back({ObjectType::kColumn, "public.t.b", {}, {}});
  snap.objects.push_back({ObjectType::kTable, "public.t", {}, {}});
  snap.objects.push_back({ObjectType::kColumn, "public.t.a", {{"type", "integer"}}, {}});
  snap.normalize_order();
  CHECK(snap.objects.front().type == ObjectType::kTable);
  const SchemaObject* a = snap.find(ObjectType::kColumn, "public.t.a");
  REQUIRE(a != nullptr);
  CHECK(a->attrs.at("type") == "integer");
  CHECK(snap.find(ObjectType::kColumn, "public.t.c") == nullptr);
  CHECK(snap.find(ObjectType::kIndex, "public.t.a") == nullptr);
}

TEST_CASE("severity ordering and names") {
  CHECK(Severity::kCritical > Severity::kWarning);
  CHECK(severity_from_string("warning") == Severity::kWarning);
  CHECK_FALSE(severity_from_string("fatal").has_value());
}

}  // namespace driftwatch
