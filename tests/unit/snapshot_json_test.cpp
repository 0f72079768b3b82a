#include "driftwatch/snapshot_json.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "driftwatch/check.hpp"
#include "driftwatch/diff.hpp"
#include "driftwatch/error.hpp"

namespace driftwatch {
namespace {

SchemaSnapshot sample() {
  SchemaSnapshot s;
  s.server_version = "15.6";
  s.schemas = {"public", "middleman"};
  s.alembic_version = {"b2", "a1"};
  s.has_version_table = true;
  s.objects.push_back({ObjectType::kColumn,
                       "public.eval.name",
                       {{"type", "character varying(32)"}, {"nullable", "false"}},
                       {{"parent", "public.eval"}, {"position", "2"}}});
  s.objects.push_back({ObjectType::kTable, "public.eval", {{"kind", "table"}}, {}});
  s.objects.push_back({ObjectType::kEnum, "public.st", {{"labels", R"(["a","é"])"}}, {}});
  s.objects.push_back({ObjectType::kSchema, "middleman", {}, {}});
  return s;
}

std::string expect_error(const std::string& text) {
  try {
    snapshot_from_json(text, "snapshots/abc.json");
  } catch (const Error& e) {
    CHECK(e.reason() == "expected_schema");
    return e.what();
  }
  FAIL("no error for: " << text);
  return "";
}

}  // namespace

TEST_CASE("snapshot JSON is deterministic and round-trips") {
  SchemaSnapshot original = sample();
  std::string text = snapshot_to_json(original);

  // Same content in another order gives byte-identical text.
  SchemaSnapshot shuffled = original;
  std::reverse(shuffled.objects.begin(), shuffled.objects.end());
  std::reverse(shuffled.schemas.begin(), shuffled.schemas.end());
  CHECK(snapshot_to_json(shuffled) == text);

  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  CHECK(text.rfind("{\n  \"alembic_version\": [\n    \"a1\",", 0) == 0);

  SchemaSnapshot parsed = snapshot_from_json(text, "mem");
  CHECK(parsed.server_version == "15.6");
  CHECK(parsed.schemas == std::vector<std::string>{"middleman", "public"});
  CHECK(revision_of(parsed) == std::vector<std::string>{"a1", "b2"});
  CHECK(parsed.has_version_table);
  REQUIRE(parsed.objects.size() == 4);
  CHECK(parsed.objects[0].type == ObjectType::kSchema);
  const SchemaObject* column = parsed.find(ObjectType::kColumn, "public.eval.name");
  REQUIRE(column != nullptr);
  CHECK(column->attrs.at("type") == "character varying(32)");
  CHECK(column->info.at("position") == "2");
  CHECK(parsed.find(ObjectType::kEnum, "public.st")->attrs.at("labels") == R"(["a","é"])");
  CHECK(snapshot_to_json(parsed) == text);
  CHECK(diff_schemas(original, parsed).empty());
}

TEST_CASE("snapshot JSON shape") {
  auto doc = nlohmann::json::parse(snapshot_to_json(sample()));
  CHECK(doc["format"] == "driftwatch-snapshot/1");
  CHECK(doc["server_version"] == "15.6");
  CHECK(doc["has_version_table"] == true);
  CHECK(doc["alembic_version"] == nlohmann::json::array({"a1", "b2"}));
  REQUIRE(doc["objects"].size() == 4);
  const auto& table = doc["objects"][1];
  CHECK(table["type"] == "table");
  CHECK(table["name"] == "public.eval");
  CHECK(table["attrs"]["kind"] == "table");
  CHECK(table["info"].is_object());
  CHECK(doc.size() == 6);
}

TEST_CASE("an empty snapshot is valid") {
  SchemaSnapshot empty;
  SchemaSnapshot parsed = snapshot_from_json(snapshot_to_json(empty), "mem");
  CHECK(parsed.objects.empty());
  CHECK_FALSE(parsed.has_version_table);
  CHECK(revision_of(parsed).empty());
}

TEST_CASE("bad snapshots are rejected with a clear expected_schema error") {
  CHECK(expect_error("{not json").find("snapshot snapshots/abc.json: not valid JSON") == 0);
  CHECK(expect_error("[]").find("top level must be a JSON object") != std::string::npos);
  CHECK(expect_error(R"({"objects": []})").find("missing \"format\"") != std::string::npos);
  CHECK(expect_error(R"({"format": "driftwatch-snapshot/2", "objects": []})")
            .find("unsupported format \"driftwatch-snapshot/2\"") != std::string::npos);
  CHECK(expect_error(R"({"format": "driftwatch-snapshot/1"})").find("missing \"objects\"") !=
        std::string::npos);
  CHECK(
      expect_error(
          R"({"format": "driftwatch-snapshot/1", "objects": [{"type": "tablespace", "name": "x"}]})")
          .find("unknown object type \"tablespace\"") != std::string::npos);
  CHECK(
      expect_error(
          R"({"format": "driftwatch-snapshot/1", "objects": [{"type": "table", "name": "a.b", "attrs": {"kind": 1}}]})")
          .find("objects[0].attrs.kind must be a string") != std::string::npos);
  CHECK(
      expect_error(
          R"({"format": "driftwatch-snapshot/1", "objects": [{"type": "table", "name": "a.b"}, {"type": "table", "name": "a.b"}]})")
          .find("duplicate table a.b") != std::string::npos);
  CHECK(expect_error(R"({"format": "driftwatch-snapshot/1", "objects": [], "schemas": "public"})")
            .find("\"schemas\" must be an array") != std::string::npos);
}

}  // namespace driftwatch
