#include "driftwatch/snapshot_json.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>

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

// The writer before it wrote by hand: an nlohmann DOM dumped with indent 2. The new writer
// must give the same bytes.
std::string reference_to_json(const SchemaSnapshot& snapshot) {
  using Json = nlohmann::json;
  std::vector<const SchemaObject*> objects;
  for (const SchemaObject& o : snapshot.objects) objects.push_back(&o);
  std::stable_sort(objects.begin(), objects.end(),
                   [](const SchemaObject* a, const SchemaObject* b) { return *a < *b; });
  auto sorted_unique = [](std::vector<std::string> values) {
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    return values;
  };
  Json doc = Json::object();
  doc["format"] = kSnapshotFormat;
  doc["server_version"] = snapshot.server_version;
  doc["schemas"] = sorted_unique(snapshot.schemas);
  doc["alembic_version"] = sorted_unique(snapshot.alembic_version);
  doc["has_version_table"] = snapshot.has_version_table;
  doc["model"] = snapshot.model;
  Json list = Json::array();
  for (const SchemaObject* o : objects) {
    Json item = Json::object();
    item["type"] = to_string(o->type);
    item["name"] = o->name;
    item["attrs"] = Json(o->attrs);
    item["info"] = Json(o->info);
    list.push_back(std::move(item));
  }
  doc["objects"] = std::move(list);
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

// A string of `length` characters drawn from plain text and everything a writer must escape or
// validate: quotes, backslashes, control characters, DEL, valid UTF-8 of 2-4 bytes and invalid
// bytes (a lone continuation byte, a truncated sequence, an overlong form, a surrogate).
std::string tricky_string(std::mt19937& random, size_t length) {
  static const std::vector<std::string> pieces = {"a",
                                                  "Z",
                                                  "0",
                                                  " ",
                                                  ".",
                                                  "_",
                                                  "(",
                                                  ")",
                                                  "'",
                                                  "\"",
                                                  "\\",
                                                  "/",
                                                  "\n",
                                                  "\t",
                                                  "\r",
                                                  "\b",
                                                  "\f",
                                                  std::string(1, '\0'),
                                                  "\x01",
                                                  "\x1f",
                                                  "\x7f",
                                                  "\xc3\xa9",
                                                  "\xe2\x82\xac",
                                                  "\xf0\x9f\x98\x80",
                                                  "\x80",
                                                  "\xff",
                                                  "\xe2\x82",
                                                  "\xc0\x80",
                                                  "\xed\xa0\x80",
                                                  "\xf4\x90\x80\x80"};
  std::string out;
  for (size_t i = 0; i < length; ++i) out += pieces[random() % pieces.size()];
  return out;
}

// Many objects with tricky names, attributes and info, plus plain ones.
SchemaSnapshot tricky_snapshot(unsigned seed) {
  std::mt19937 random(seed);
  SchemaSnapshot s;
  s.server_version = tricky_string(random, 4);
  s.schemas = {"public", tricky_string(random, 6)};
  s.alembic_version = {tricky_string(random, 5)};
  s.has_version_table = seed % 2 == 0;
  const auto& types = all_object_types();
  for (int i = 0; i < 300; ++i) {
    SchemaObject o;
    o.type = types[random() % types.size()];
    o.name = "n" + std::to_string(i) + tricky_string(random, random() % 8);
    for (int k = static_cast<int>(random() % 4); k > 0; --k) {
      o.attrs[tricky_string(random, 1 + random() % 5)] = tricky_string(random, random() % 12);
    }
    for (int k = static_cast<int>(random() % 3); k > 0; --k) {
      o.info[tricky_string(random, 1 + random() % 5)] = tricky_string(random, random() % 40);
    }
    s.objects.push_back(std::move(o));
  }
  return s;
}

// The same document with a key the fast reader does not know, so that it is read by the DOM
// reader: both readers must agree.
std::string through_dom_reader(const std::string& text) {
  REQUIRE(text.rfind("{", 0) == 0);
  return "{\"x-unknown\": null," + text.substr(1);
}

void check_same(const SchemaSnapshot& a, const SchemaSnapshot& b) {
  CHECK(a.server_version == b.server_version);
  CHECK(a.schemas == b.schemas);
  CHECK(a.alembic_version == b.alembic_version);
  CHECK(a.has_version_table == b.has_version_table);
  REQUIRE(a.objects.size() == b.objects.size());
  for (size_t i = 0; i < a.objects.size(); ++i) {
    CAPTURE(i);
    CHECK(a.objects[i].type == b.objects[i].type);
    CHECK(a.objects[i].name == b.objects[i].name);
    CHECK(a.objects[i].attrs == b.objects[i].attrs);
    CHECK(a.objects[i].info == b.objects[i].info);
  }
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
  CHECK(doc["model"] == kSchemaModel);
  CHECK(doc.size() == 7);
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

namespace driftwatch {

TEST_CASE("the writer gives the bytes of the former nlohmann DOM writer") {
  CHECK(snapshot_to_json(sample()) == reference_to_json(sample()));
  CHECK(snapshot_to_json(SchemaSnapshot{}) == reference_to_json(SchemaSnapshot{}));
  for (unsigned seed = 1; seed <= 20; ++seed) {
    CAPTURE(seed);
    const SchemaSnapshot s = tricky_snapshot(seed);
    const std::string text = snapshot_to_json(s);
    CHECK(text == reference_to_json(s));
    std::ostringstream streamed;
    write_snapshot_json(s, streamed);
    CHECK(streamed.str() == text);
  }
}

TEST_CASE("the fast reader and the DOM reader agree") {
  SUBCASE("writer output, tricky strings included (invalid UTF-8 was replaced on writing)") {
    for (unsigned seed = 1; seed <= 20; ++seed) {
      CAPTURE(seed);
      const std::string text = snapshot_to_json(tricky_snapshot(seed));
      const SchemaSnapshot parsed = snapshot_from_json(text, "mem");
      check_same(parsed, snapshot_from_json(through_dom_reader(text), "mem"));
    }
  }
  SUBCASE("other layouts of the same document") {
    const SchemaSnapshot expected = snapshot_from_json(snapshot_to_json(sample()), "mem");
    const std::string compact = nlohmann::json::parse(snapshot_to_json(sample())).dump();
    check_same(snapshot_from_json(compact, "mem"), expected);
    check_same(snapshot_from_json(through_dom_reader(compact), "mem"), expected);
    // \u escapes, repeated keys (the last one wins) and a missing has_version_table.
    const std::string unusual = R"({"format": "driftwatch-snapshot/1", "server_version": "14",
      "server_version": "15.6", "alembic_version": ["b2", "a1"], "schemas": ["public"],
      "objects": [{"name": "public.st", "type": "enum", "attrs": {"labels": "[\"a\",\"\u00e9\"]"}},
                  {"type": "table", "name": "public.t", "attrs": {"kind": "view", "kind": "table"}}]})";
    const SchemaSnapshot parsed = snapshot_from_json(unusual, "mem");
    CHECK(parsed.server_version == "15.6");
    CHECK(parsed.has_version_table);
    CHECK(parsed.find(ObjectType::kEnum, "public.st")->attrs.at("labels") == R"(["a","é"])");
    CHECK(parsed.find(ObjectType::kTable, "public.t")->attrs.at("kind") == "table");
  }
  SUBCASE("what nlohmann rejects stays rejected") {
    const std::string good = snapshot_to_json(sample());
    const auto at = good.find("character varying");
    REQUIRE(at != std::string::npos);
    for (const std::string& bad :
         {std::string("\xff"), std::string("\xc0\x80"), std::string("\xed\xa0\x80"),
          std::string("\x01"), std::string("\t"), std::string("\\q")}) {
      CAPTURE(bad);
      std::string text = good;
      text.insert(at, bad);
      CHECK(expect_error(text).find("not valid JSON") != std::string::npos);
    }
    CHECK(expect_error(good + "x").find("not valid JSON") != std::string::npos);
    CHECK(expect_error(good.substr(0, good.size() / 2)).find("not valid JSON") !=
          std::string::npos);
  }
  SUBCASE("escapes: both readers accept and decode the same, or both reject") {
    static const std::vector<std::string> pieces = {
        "a",       "\\\"",    "\\\\",    "\\/",     "\\b",     "\\f",     "\\n",      "\\r",
        "\\t",     "\\u0000", "\\u001f", "\\u00e9", "\\u20AC", "\\ud83d", "\\ude00",  "\\uDBFF",
        "\\uDFFF", "\\uffff", "\\u12",   "\\uZZZZ", "\\x",     "\\",      "\xc3\xa9", "\xe2\x82"};
    std::mt19937 random(7);
    for (int i = 0; i < 2000; ++i) {
      std::string literal;
      for (int k = static_cast<int>(random() % 5); k >= 0; --k) {
        literal += pieces[random() % pieces.size()];
      }
      CAPTURE(literal);
      const std::string text = R"({"format": "driftwatch-snapshot/1", "objects": [{"type": "table",
        "name": "a.b", "attrs": {"k": ")" +
                               literal + R"("}}]})";
      std::optional<SchemaSnapshot> fast, dom;
      try {
        fast = snapshot_from_json(text, "mem");
      } catch (const Error&) {
      }
      try {
        dom = snapshot_from_json(through_dom_reader(text), "mem");
      } catch (const Error&) {
      }
      REQUIRE(fast.has_value() == dom.has_value());
      if (fast) check_same(*fast, *dom);
    }
  }
  SUBCASE("shape errors name the object as before") {
    CHECK(
        expect_error(
            R"({"format": "driftwatch-snapshot/1", "objects": [{"type": "table", "name": "a.b"}, {"type": "table"}]})")
            .find("objects[1].name missing") != std::string::npos);
    CHECK(
        expect_error(
            R"({"format": "driftwatch-snapshot/1", "objects": [{"type": "table", "name": "a.b", "info": {"x": null}}]})")
            .find("objects[0].info.x must be a string") != std::string::npos);
  }
}

TEST_CASE("snapshot model: files without it are model 1, new files carry it") {
  SchemaSnapshot s;
  const std::string text = snapshot_to_json(s);
  CHECK(text.find("\"model\": " + std::to_string(kSchemaModel) + ",\n") != std::string::npos);
  CHECK(snapshot_from_json(text, "mem").model == kSchemaModel);
  const std::string old_file =
      "{\n  \"alembic_version\": [],\n  \"format\": \"driftwatch-snapshot/1\",\n  "
      "\"has_version_table\": false,\n  \"objects\": [],\n  \"schemas\": [],\n  "
      "\"server_version\": \"15.6\"\n}\n";
  CHECK(snapshot_from_json(old_file, "old.json").model == 1);
  // The DOM reader (a differently shaped document) agrees.
  CHECK(snapshot_from_json(R"({"format":"driftwatch-snapshot/1","objects":[]})", "dom").model == 1);
  CHECK(snapshot_from_json(R"({"format":"driftwatch-snapshot/1","model":2,"objects":[],"x":1})",
                           "dom")
            .model == 2);
  CHECK_THROWS_WITH_AS(
      snapshot_from_json(R"({"format":"driftwatch-snapshot/1","model":"2","objects":[]})", "m"),
      "snapshot m: \"model\" must be a positive integer", Error);
}

}  // namespace driftwatch
