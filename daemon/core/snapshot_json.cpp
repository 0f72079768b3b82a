// Snapshot files are written by hand (a snapshot of 5,000 tables is ~46 MB of JSON: building an
// nlohmann DOM first took 2/3 of `driftwatch snapshot`'s instructions) in exactly the layout of
// nlohmann's dump(2): keys sorted, 2-space indent, ensure_ascii off, invalid UTF-8 replaced.
// They are read by a parser for that shape straight into the SchemaSnapshot; a document of any
// other shape (an error, an unknown or repeated key outside attrs/info) is read again with
// nlohmann's DOM, which accepts what it always accepted and names the first problem.
#include "driftwatch/snapshot_json.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <ostream>

#include "driftwatch/check.hpp"
#include "driftwatch/error.hpp"
#include "driftwatch/utf8.hpp"

namespace driftwatch {
namespace {

// nlohmann::json's default object type is std::map: keys come out sorted, as in the writer.
using Json = nlohmann::json;

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw Error(error_reason::kExpectedSchema, "snapshot " + source + ": " + what);
}

std::vector<std::string> sorted_unique(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

// ---------------------------------------------------------------------------------------------
// Writer. Output is buffered in `text`; with a stream it is flushed there in large pieces.
class SnapshotWriter {
 public:
  SnapshotWriter(std::string& text, std::ostream* stream) : text_(text), stream_(stream) {}

  void write(const SchemaSnapshot& snapshot) {
    std::vector<const SchemaObject*> objects;
    objects.reserve(snapshot.objects.size());
    for (const SchemaObject& o : snapshot.objects) objects.push_back(&o);
    auto by_key = [](const SchemaObject* a, const SchemaObject* b) { return *a < *b; };
    // Introspected and parsed snapshots are sorted already (normalize_order).
    if (!std::is_sorted(objects.begin(), objects.end(), by_key)) {
      std::stable_sort(objects.begin(), objects.end(), by_key);
    }

    text_ += "{\n  \"alembic_version\": ";
    string_list(sorted_unique(snapshot.alembic_version));
    text_ += ",\n  \"format\": ";
    string(kSnapshotFormat);
    text_ += ",\n  \"has_version_table\": ";
    text_ += snapshot.has_version_table ? "true" : "false";
    text_ += ",\n  \"model\": ";
    text_ += std::to_string(snapshot.model);
    text_ += ",\n  \"objects\": ";
    if (objects.empty()) {
      text_ += "[]";
    } else {
      text_ += "[\n";
      for (size_t i = 0; i < objects.size(); ++i) {
        if (i > 0) text_ += ",\n";
        object(*objects[i]);
        flush_if_large();
      }
      text_ += "\n  ]";
    }
    text_ += ",\n  \"schemas\": ";
    string_list(sorted_unique(snapshot.schemas));
    text_ += ",\n  \"server_version\": ";
    string(snapshot.server_version);
    text_ += "\n}\n";
    flush();
  }

 private:
  static constexpr size_t kFlushBytes = 1 << 20;

  void flush_if_large() {
    if (stream_ != nullptr && text_.size() >= kFlushBytes) flush();
  }
  void flush() {
    if (stream_ == nullptr) return;
    stream_->write(text_.data(), static_cast<std::streamsize>(text_.size()));
    text_.clear();
  }

  // One array element at indent 4.
  void object(const SchemaObject& o) {
    text_ += "    {\n      \"attrs\": ";
    string_map(o.attrs);
    text_ += ",\n      \"info\": ";
    string_map(o.info);
    text_ += ",\n      \"name\": ";
    string(o.name);
    text_ += ",\n      \"type\": ";
    string(to_string(o.type));
    text_ += "\n    }";
  }

  // Values of a top-level key (indent 2, elements at 4).
  void string_list(const std::vector<std::string>& values) {
    if (values.empty()) {
      text_ += "[]";
      return;
    }
    text_ += "[\n";
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) text_ += ",\n";
      text_ += "    ";
      string(values[i]);
    }
    text_ += "\n  ]";
  }

  // Values of an object's key (indent 6, members at 8).
  void string_map(const std::map<std::string, std::string>& values) {
    if (values.empty()) {
      text_ += "{}";
      return;
    }
    text_ += "{\n";
    bool first = true;
    for (const auto& [key, value] : values) {
      if (!first) text_ += ",\n";
      first = false;
      text_ += "        ";
      string(key);
      text_ += ": ";
      string(value);
    }
    text_ += "\n      }";
  }

  // A string literal as nlohmann's serializer writes it: ", \ and control characters escaped
  // (\u00xx in lowercase hex for those without a short form). Text with non-ASCII bytes goes
  // through nlohmann itself, which validates UTF-8 and replaces invalid sequences.
  void string(const std::string& value) {
    for (const char c : value) {
      if (static_cast<unsigned char>(c) >= 0x80) {
        text_ += Json(value).dump(-1, ' ', false, Json::error_handler_t::replace);
        return;
      }
    }
    text_ += '"';
    const char* run = value.data();  // plain characters not yet appended
    const char* const end = value.data() + value.size();
    for (const char* p = run; p != end; ++p) {
      const char* escaped = nullptr;
      switch (*p) {
        case '"':
          escaped = "\\\"";
          break;
        case '\\':
          escaped = "\\\\";
          break;
        case '\b':
          escaped = "\\b";
          break;
        case '\f':
          escaped = "\\f";
          break;
        case '\n':
          escaped = "\\n";
          break;
        case '\r':
          escaped = "\\r";
          break;
        case '\t':
          escaped = "\\t";
          break;
        default:
          if (static_cast<unsigned char>(*p) >= 0x20) continue;
      }
      text_.append(run, p);
      run = p + 1;
      if (escaped != nullptr) {
        text_ += escaped;
      } else {
        static constexpr char kHex[] = "0123456789abcdef";
        text_ += "\\u00";
        text_ += kHex[(*p >> 4) & 0xf];
        text_ += kHex[*p & 0xf];
      }
    }
    text_.append(run, end);
    text_ += '"';
  }

  std::string& text_;
  std::ostream* stream_;
};

// ---------------------------------------------------------------------------------------------
// Fast reader: exactly the writer's shape (the keys it writes, each once; string values),
// parsed in place and moved into the snapshot. It accepts nothing nlohmann's parser
// rejects (raw control characters, invalid UTF-8, trailing text); anything else makes it give
// up, and the caller reads the text again with the DOM reader.
class FastReader {
 public:
  FastReader(const std::string& text, SchemaSnapshot& snapshot)
      : p_(text.data()), end_(text.data() + text.size()), snapshot_(snapshot) {}

  bool read() {
    unsigned seen = 0;
    if (!consume('{')) return false;
    std::string key;
    do {
      if (!string(key) || !consume(':')) return false;
      const unsigned bit = top_key_bit(key);
      if (bit == 0 || (seen & bit) != 0) return false;
      seen |= bit;
      bool ok = false;
      std::string value;
      switch (bit) {
        case kKeyFormat:
          ok = string(value) && value == kSnapshotFormat;
          break;
        case kKeyServerVersion:
          ok = string(snapshot_.server_version);
          break;
        case kKeyHasVersionTable:
          ok = boolean(snapshot_.has_version_table);
          break;
        case kKeySchemas:
          ok = string_list(snapshot_.schemas);
          break;
        case kKeyAlembicVersion:
          ok = string_list(snapshot_.alembic_version);
          break;
        case kKeyModel:
          ok = positive_integer(snapshot_.model);
          break;
        default:
          ok = objects();
      }
      if (!ok) return false;
    } while (consume(','));
    if (!consume('}')) return false;
    skip_space();
    if (p_ != end_ || (seen & kKeyFormat) == 0 || (seen & kKeyObjects) == 0) return false;
    if ((seen & kKeyHasVersionTable) == 0) {
      snapshot_.has_version_table = !snapshot_.alembic_version.empty();
    }
    if ((seen & kKeyModel) == 0) snapshot_.model = 1;  // written before "model" existed
    return true;
  }

 private:
  enum TopKey : unsigned {
    kKeyFormat = 1,
    kKeyServerVersion = 2,
    kKeySchemas = 4,
    kKeyAlembicVersion = 8,
    kKeyHasVersionTable = 16,
    kKeyObjects = 32,
    kKeyModel = 64,
  };
  static unsigned top_key_bit(const std::string& key) {
    if (key == "format") return kKeyFormat;
    if (key == "server_version") return kKeyServerVersion;
    if (key == "schemas") return kKeySchemas;
    if (key == "alembic_version") return kKeyAlembicVersion;
    if (key == "has_version_table") return kKeyHasVersionTable;
    if (key == "objects") return kKeyObjects;
    if (key == "model") return kKeyModel;
    return 0;
  }

  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool consume(char c) {
    skip_space();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  bool boolean(bool& out) {
    skip_space();
    const auto left = static_cast<size_t>(end_ - p_);
    if (left >= 4 && std::equal(p_, p_ + 4, "true")) {
      out = true;
      p_ += 4;
      return true;
    }
    if (left >= 5 && std::equal(p_, p_ + 5, "false")) {
      out = false;
      p_ += 5;
      return true;
    }
    return false;
  }

  // 1..999999 (anything else: the DOM reader names the problem)
  bool positive_integer(int& out) {
    skip_space();
    int value = 0;
    int digits = 0;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9' && digits < 6) {
      value = value * 10 + (*p_ - '0');
      ++p_;
      ++digits;
    }
    if (digits == 0 || value == 0 || (p_ != end_ && *p_ >= '0' && *p_ <= '9')) return false;
    out = value;
    return true;
  }

  // ["a", "b"] or []
  bool string_list(std::vector<std::string>& out) {
    if (!consume('[')) return false;
    if (consume(']')) return true;
    do {
      out.emplace_back();
      if (!string(out.back())) return false;
    } while (consume(','));
    return consume(']');
  }

  // {"k": "v", ...} or {}; keys are sorted in the writer's output, so the end hint holds (a
  // repeated key keeps the last value, as in the DOM).
  bool string_map(std::map<std::string, std::string>& out) {
    if (!consume('{')) return false;
    if (consume('}')) return true;
    std::string key;
    do {
      std::string value;
      if (!string(key) || !consume(':') || !string(value)) return false;
      out.insert_or_assign(out.end(), std::move(key), std::move(value));
    } while (consume(','));
    return consume('}');
  }

  bool objects() {
    if (!consume('[')) return false;
    if (consume(']')) return true;
    do {
      if (!object()) return false;
    } while (consume(','));
    return consume(']');
  }

  bool object() {
    if (!consume('{')) return false;
    SchemaObject& object = snapshot_.objects.emplace_back();
    unsigned seen = 0;
    std::string key;
    do {
      if (!string(key) || !consume(':')) return false;
      bool ok = false;
      unsigned bit = 0;
      if (key == "type") {
        bit = 1;
        std::string type_name;
        const auto type = string(type_name) ? object_type_from_string(type_name) : std::nullopt;
        ok = type.has_value();
        if (ok) object.type = *type;
      } else if (key == "name") {
        bit = 2;
        ok = string(object.name) && !object.name.empty();
      } else if (key == "attrs") {
        bit = 4;
        ok = string_map(object.attrs);
      } else if (key == "info") {
        bit = 8;
        ok = string_map(object.info);
      }
      if (!ok || (seen & bit) != 0) return false;
      seen |= bit;
    } while (consume(','));
    return consume('}') && (seen & 3) == 3;
  }

  // A string literal into `out` (replacing its content). Plain runs are appended in one piece.
  bool string(std::string& out) {
    if (!consume('"')) return false;
    out.clear();
    const char* run = p_;
    while (p_ != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out.append(run, p_);
        ++p_;
        return true;
      }
      if (c < 0x20) return false;
      if (c >= 0x80) {
        if (!utf8_sequence()) return false;
        continue;
      }
      if (c != '\\') {
        ++p_;
        continue;
      }
      out.append(run, p_);
      if (++p_ == end_) return false;
      switch (*p_) {
        case '"':
        case '\\':
        case '/':
          out += *p_;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          if (!unicode_escape(out)) return false;
          break;
        default:
          return false;
      }
      run = ++p_;
    }
    return false;
  }

  // The XXXX of \uXXXX (p_ at the u), and a low surrogate's \uXXXX after a high one, appended
  // as UTF-8; p_ ends on the last hex digit. Lone surrogates are errors, as in nlohmann.
  bool unicode_escape(std::string& out) {
    auto hex4 = [this](unsigned& value) {
      if (end_ - p_ < 5) return false;
      value = 0;
      for (int i = 1; i <= 4; ++i) {
        const char c = p_[i];
        const int digit = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
        if (digit < 0) return false;
        value = value * 16 + static_cast<unsigned>(digit);
      }
      p_ += 4;
      return true;
    };
    unsigned code = 0;
    if (!hex4(code) || (code >= 0xDC00 && code <= 0xDFFF)) return false;
    if (code >= 0xD800 && code <= 0xDBFF) {
      unsigned low = 0;
      if (end_ - p_ < 3 || p_[1] != '\\' || p_[2] != 'u') return false;
      p_ += 2;
      if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
    return true;
  }

  // Steps over one well-formed UTF-8 sequence of 2-4 bytes, the same set nlohmann's lexer
  // accepts.
  bool utf8_sequence() {
    const std::size_t length = utf8_sequence_length(p_, end_);
    p_ += length;
    return length != 0;
  }

  const char* p_;
  const char* end_;
  SchemaSnapshot& snapshot_;
};

// ---------------------------------------------------------------------------------------------
// DOM reader: any valid JSON; names the first problem of a bad document.
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

SchemaSnapshot read_dom(const std::string& text, const std::string& source_name) {
  Json doc;
  try {
    doc = Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number overflow
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
  snapshot.model = 1;  // written before "model" existed
  if (auto it = doc.find("model"); it != doc.end()) {
    if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > 999999) {
      fail(source_name, "\"model\" must be a positive integer");
    }
    snapshot.model = static_cast<int>(it->get<long long>());
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
  return snapshot;
}

}  // namespace

std::string snapshot_to_json(const SchemaSnapshot& snapshot) {
  std::string text;
  // ~200 bytes per object in practice; one reservation instead of a dozen doublings.
  text.reserve(256 + 256 * snapshot.objects.size());
  SnapshotWriter(text, nullptr).write(snapshot);
  return text;
}

void write_snapshot_json(const SchemaSnapshot& snapshot, std::ostream& out) {
  std::string buffer;
  buffer.reserve(2 << 20);
  SnapshotWriter(buffer, &out).write(snapshot);
}

// Limits on snapshot input that did not come from our writer: a snapshot is a few levels deep
// (document, objects, attributes), so deeper nesting is garbage or an attack on the DOM parser.
constexpr std::size_t kMaxSnapshotBytes = std::size_t{512} << 20;
constexpr int kMaxSnapshotNesting = 32;

void check_snapshot_limits(const std::string& text, const std::string& source_name) {
  if (text.size() > kMaxSnapshotBytes) {
    fail(source_name, "larger than " + std::to_string(kMaxSnapshotBytes) + " bytes");
  }
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxSnapshotNesting) {
        fail(source_name, "JSON nested deeper than " + std::to_string(kMaxSnapshotNesting) +
                              " levels (at byte " + std::to_string(i) + ")");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

SchemaSnapshot snapshot_from_json(const std::string& text, const std::string& source_name) {
  SchemaSnapshot snapshot;
  if (text.size() > kMaxSnapshotBytes) check_snapshot_limits(text, source_name);
  // The writer's output takes ~370 bytes per object: one reservation, rarely a second.
  snapshot.objects.reserve(text.size() / 256);
  if (!FastReader(text, snapshot).read()) {
    check_snapshot_limits(text, source_name);  // the fast reader only takes our flat layout
    snapshot = read_dom(text, source_name);
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
