#include "driftwatch/snapshot_json.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "driftwatch/check.hpp"
#include "driftwatch/error.hpp"

namespace driftwatch {
namespace {

// nlohmann::json's default object type is std::map: keys come out sorted, which is what makes
// the output deterministic.
using Json = nlohmann::json;

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw Error(error_reason::kExpectedSchema, "snapshot " + source + ": " + what);
}

std::vector<std::string> sorted_unique(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

std::vector<std::string> string_list(const Json& value, const std::string& field,
                                     const std::string& source) {
  if (!value.is_array()) fail(source, "\"" + field + "\" must be an array of strings");
  std::vector<std::string> out;
  for (const Json& item : value) {
    if (!item.is_string()) fail(source, "\"" + field + "\" must be an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::map<std::string, std::string> string_map(const Json& value, const std::string& where,
                                              const std::string& source) {
  if (!value.is_object()) fail(source, where + " must be an object of strings");
  std::map<std::string, std::string> out;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!it.value().is_string()) {
      fail(source, where + "." + it.key() + " must be a string");
    }
    out.emplace(it.key(), it.value().get<std::string>());
  }
  return out;
}

}  // namespace

std::string snapshot_to_json(const SchemaSnapshot& snapshot) {
  std::vector<const SchemaObject*> objects;
  objects.reserve(snapshot.objects.size());
  for (const SchemaObject& o : snapshot.objects) objects.push_back(&o);
  std::stable_sort(objects.begin(), objects.end(),
                   [](const SchemaObject* a, const SchemaObject* b) { return *a < *b; });

  Json doc = Json::object();
  doc["format"] = kSnapshotFormat;
  doc["server_version"] = snapshot.server_version;
  doc["schemas"] = sorted_unique(snapshot.schemas);
  doc["alembic_version"] = sorted_unique(snapshot.alembic_version);
  doc["has_version_table"] = snapshot.has_version_table;
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
  // Replace invalid UTF-8 rather than throw: a catalog text must never make a snapshot unwritable.
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

SchemaSnapshot snapshot_from_json(const std::string& text, const std::string& source_name) {
  Json doc;
  try {
    doc = Json::parse(text);
  } catch (const Json::parse_error& e) {
    fail(source_name, std::string("not valid JSON (") + e.what() + ")");
  }
  if (!doc.is_object()) fail(source_name, "top level must be a JSON object");
  auto format = doc.find("format");
  if (format == doc.end() || !format->is_string()) {
    fail(source_name, "missing \"format\" (expected \"" + std::string(kSnapshotFormat) + "\")");
  }
  if (format->get<std::string>() != kSnapshotFormat) {
    fail(source_name, "unsupported format \"" + format->get<std::string>() + "\" (expected \"" +
                          kSnapshotFormat + "\")");
  }

  SchemaSnapshot snapshot;
  if (auto it = doc.find("server_version"); it != doc.end()) {
    if (!it->is_string()) fail(source_name, "\"server_version\" must be a string");
    snapshot.server_version = it->get<std::string>();
  }
  if (auto it = doc.find("schemas"); it != doc.end()) {
    snapshot.schemas = string_list(*it, "schemas", source_name);
  }
  if (auto it = doc.find("alembic_version"); it != doc.end()) {
    snapshot.alembic_version = string_list(*it, "alembic_version", source_name);
  }
  if (auto it = doc.find("has_version_table"); it != doc.end()) {
    if (!it->is_boolean()) fail(source_name, "\"has_version_table\" must be true or false");
    snapshot.has_version_table = it->get<bool>();
  } else {
    snapshot.has_version_table = !snapshot.alembic_version.empty();
  }

  auto objects = doc.find("objects");
  if (objects == doc.end() || !objects->is_array()) {
    fail(source_name, "missing \"objects\" array");
  }
  snapshot.objects.reserve(objects->size());
  size_t index = 0;
  for (const Json& item : *objects) {
    std::string where = "objects[" + std::to_string(index++) + "]";
    if (!item.is_object()) fail(source_name, where + " must be an object");
    auto type = item.find("type");
    auto name = item.find("name");
    if (type == item.end() || !type->is_string()) fail(source_name, where + ".type missing");
    if (name == item.end() || !name->is_string() || name->get<std::string>().empty()) {
      fail(source_name, where + ".name missing");
    }
    auto parsed_type = object_type_from_string(type->get<std::string>());
    if (!parsed_type) {
      fail(source_name, where + " (" + name->get<std::string>() + ") has unknown object type \"" +
                            type->get<std::string>() + "\"");
    }
    SchemaObject object;
    object.type = *parsed_type;
    object.name = name->get<std::string>();
    if (auto attrs = item.find("attrs"); attrs != item.end()) {
      object.attrs = string_map(*attrs, where + ".attrs", source_name);
    }
    if (auto info = item.find("info"); info != item.end()) {
      object.info = string_map(*info, where + ".info", source_name);
    }
    snapshot.objects.push_back(std::move(object));
  }
  snapshot.normalize_order();
  for (size_t i = 1; i < snapshot.objects.size(); ++i) {
    const SchemaObject& a = snapshot.objects[i - 1];
    const SchemaObject& b = snapshot.objects[i];
    if (a.type == b.type && a.name == b.name) {
      fail(source_name, std::string("duplicate ") + to_string(a.type) + " " + a.name);
    }
  }
  return snapshot;
}

std::vector<std::string> revision_of(const SchemaSnapshot& snapshot) {
  return sorted_unique(snapshot.alembic_version);
}

}  // namespace driftwatch
