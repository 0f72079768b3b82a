// Schema diff: one merge pass over both snapshots' objects sorted by (type, name). What each
// kind compares, how risky a difference is and how to fix it come from the kind's descriptor
// (diff_kinds.hpp, kinds.cpp); risk rules are in risk.cpp, fix SQL builders in fix_sql.cpp.
#include "driftwatch/diff.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/diff_kinds.hpp"

namespace driftwatch {
namespace diff_detail {

// ---- attribute access -----------------------------------------------------------------------

const std::string* attr_of(const SchemaObject& o, const std::string& key) {
  auto it = o.attrs.find(key);
  return it == o.attrs.end() ? nullptr : &it->second;
}

std::string attr_or(const SchemaObject& o, const std::string& key, const std::string& fallback) {
  const std::string* v = attr_of(o, key);
  return v ? *v : fallback;
}

std::string info_or(const SchemaObject& o, const char* key, const std::string& fallback) {
  auto it = o.info.find(key);
  return it == o.info.end() ? fallback : it->second;
}

bool is_true(const SchemaObject& o, const std::string& key) {
  return attr_or(o, key, "") == "true";
}

std::vector<std::string> json_strings(const std::string& text) {
  std::vector<std::string> out;
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  if (!parsed.is_array()) return out;
  for (const auto& item : parsed) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// ---- descriptions: expected/actual of missing and extra findings ----------------------------

std::string describe_definition(const SchemaObject& o) {
  return attr_or(o, "definition", to_string(o.type));
}

std::string describe_table(const SchemaObject& o) { return attr_or(o, "kind", "table"); }

std::string describe_column(const SchemaObject& o) {
  std::string text = attr_or(o, "type", "?");
  if (attr_or(o, "nullable", "true") == "false") text += " NOT NULL";
  if (const std::string* d = attr_of(o, "default")) text += " DEFAULT " + *d;
  if (const std::string* i = attr_of(o, "identity")) {
    text += " GENERATED " + upper(*i) + " AS IDENTITY";
  }
  if (const std::string* g = attr_of(o, "generated")) text += " GENERATED ALWAYS AS (" + *g + ")";
  return text;
}

std::string describe_enum(const SchemaObject& o) { return attr_or(o, "labels", "[]"); }

std::string describe_function(const SchemaObject& o) {
  return attr_or(o, "kind", "function") + " returning " + attr_or(o, "result", "?");
}

std::string describe_sequence(const SchemaObject& o) { return attr_or(o, "data_type", "sequence"); }

std::string describe_extension(const SchemaObject& o) {
  return "version " + attr_or(o, "version", "?");
}

std::string describe_policy(const SchemaObject& o) {
  return attr_or(o, "permissive", "permissive") + " for " + attr_or(o, "command", "all");
}

std::string describe_privilege(const SchemaObject& o) {
  return is_true(o, "grantable") ? "granted with grant option" : "granted";
}

std::string describe_schema(const SchemaObject&) { return "schema"; }

std::string describe_domain(const SchemaObject& o) {
  std::string text = attr_or(o, "type", "?");
  if (attr_or(o, "nullable", "true") == "false") text += " NOT NULL";
  if (const std::string* d = attr_of(o, "default")) text += " DEFAULT " + *d;
  return text;
}

std::string describe_type(const SchemaObject& o) {
  if (attr_or(o, "kind", "") == "range") return "range of " + attr_or(o, "subtype", "?");
  return "composite " + attr_or(o, "attributes", "[]");
}

}  // namespace diff_detail

namespace {

using namespace diff_detail;  // NOLINT(google-build-using-namespace): this file's vocabulary

// ---- messages -------------------------------------------------------------------------------

std::string capitalized(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

std::string display(const std::optional<std::string>& value) {
  if (!value) return "none";
  std::string out;
  bool space = false;
  for (char c : *value) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  if (out.size() > 80) out = out.substr(0, 77) + "...";
  return out;
}

std::string with_consequence(const std::string& sentence, const std::string& consequence) {
  return sentence + (consequence.empty() ? "." : "; " + consequence + ".");
}

Finding make_finding(const char* kind, const SchemaObject& o, const Verdict& verdict) {
  Finding f;
  f.kind = kind;
  f.object_type = o.type;
  f.object = o.name;
  f.severity = verdict.severity;
  f.risk = verdict.risk;
  return f;
}

// ---- folding --------------------------------------------------------------------------------

// The table a folded object belongs to, or "" when it does not fold into a table.
std::string fold_parent(const SchemaObject& o) {
  switch (rules_for(o.type).fold) {
    case FoldInto::kParent:
      return parent_of(o);
    case FoldInto::kOwningColumn: {
      std::string owner = attr_or(o, "owned_by", "");
      size_t dot = owner.rfind('.');
      return dot == std::string::npos ? "" : owner.substr(0, dot);
    }
    case FoldInto::kPrivilegedObject:
      return parse_privilege(o.name).object;
    case FoldInto::kNothing:
      break;
  }
  return "";
}

void add_child(Children& children, const SchemaObject* o) {
  switch (o->type) {
    case ObjectType::kColumn:
      children.columns.push_back(o);
      break;
    case ObjectType::kIndex:
      children.indexes.push_back(o);
      break;
    case ObjectType::kConstraint:
      children.constraints.push_back(o);
      break;
    case ObjectType::kTrigger:
      children.triggers.push_back(o);
      break;
    case ObjectType::kPolicy:
      children.policies.push_back(o);
      break;
    case ObjectType::kSequence:
      children.sequences.push_back(o);
      break;
    default:
      children.privileges.push_back(o);
      break;
  }
}

std::string children_summary(const Children& c) {
  std::vector<std::string> parts;
  auto add = [&parts](size_t n, const char* one, const char* many) {
    if (n > 0) parts.push_back(std::to_string(n) + " " + (n == 1 ? one : many));
  };
  add(c.columns.size(), "column", "columns");
  add(c.indexes.size(), "index", "indexes");
  add(c.constraints.size(), "constraint", "constraints");
  add(c.triggers.size(), "trigger", "triggers");
  add(c.policies.size(), "policy", "policies");
  add(c.sequences.size(), "owned sequence", "owned sequences");
  if (parts.empty()) return "";
  std::string text = " (with ";
  for (size_t i = 0; i < parts.size(); ++i) {
    text += (i == 0 ? "" : i + 1 == parts.size() ? " and " : ", ") + parts[i];
  }
  return text + ")";
}

// ---- missing / extra ------------------------------------------------------------------------

Finding missing_finding(const SchemaObject& e, const Children* children,
                        const DiffOptions& options) {
  const KindRules& rules = rules_for(e.type);
  const Verdict verdict = rules.missing_risk(e);
  Finding f = make_finding("missing", e, verdict);
  const std::string phrase = rules.missing_phrase != nullptr
                                 ? rules.missing_phrase
                                 : "is expected by the migrations but missing from the database";
  f.message = with_consequence(capitalized(rules.label) + " " + e.name + " " + phrase +
                                   (children ? children_summary(*children) : ""),
                               verdict.consequence);
  f.fix_sql = rules.missing_fix(e, children ? *children : Children{}, options);
  f.expected = rules.describe(e);
  return f;
}

Finding extra_finding(const SchemaObject& a, const Children* children) {
  const KindRules& rules = rules_for(a.type);
  Verdict verdict = rules.extra_risk(a);
  Finding f = make_finding("extra", a, verdict);
  const std::string phrase = rules.extra_phrase != nullptr
                                 ? rules.extra_phrase
                                 : "exists in the database but not in the migrations";
  f.message = with_consequence(capitalized(rules.label) + " " + a.name + " " + phrase +
                                   (children ? children_summary(*children) : ""),
                               verdict.consequence);
  f.fix_sql = rules.extra_fix(a);
  f.actual = rules.describe(a);
  return f;
}

// ---- changed --------------------------------------------------------------------------------

Finding changed_finding(const Change& change, const DiffOptions&) {
  const SchemaObject& e = change.expected;
  const KindRules& rules = rules_for(e.type);
  Verdict verdict;
  Fix fix;
  if (change.attr == "comment") {
    verdict.severity = Severity::kInfo;
    fix = comment_sql(e, change.ev);
  } else {
    verdict = rules.changed_risk(change);
    fix = rules.changed_fix(change);
  }
  Finding f = make_finding("changed", e, verdict);
  f.attribute = change.attr;
  f.expected = change.ev;
  f.actual = change.av;
  f.message = with_consequence(
      capitalized(rules.label) + " " + e.name + " has " + change.attr + " " + display(change.av) +
          " in the database, but the migrations expect " + display(change.ev),
      verdict.consequence);
  f.fix_sql = std::move(fix);
  return f;
}

bool same_value(ObjectType type, const std::string& attr, const std::string* ev,
                const std::string* av) {
  if (!ev || !av) return ev == av;
  if (*ev == *av) return true;
  return normalize_attr(type, attr, *ev) == normalize_attr(type, attr, *av);
}

// True when the attribute is recorded by both sides' models (KindRules::attributes).
bool compared_at(const KindRules& rules, const std::string& attr, int model) {
  for (const AttributeSpec& spec : rules.attributes) {
    if (attr == spec.name) return spec.since_model <= model;
  }
  return true;
}

using IndexesByParent = std::unordered_map<std::string, Objects>;

// What the fix of a changed object may need from the rest of the expected schema.
struct ExpectedSide {
  IndexesByParent indexes;           // expected indexes by table (or materialized view)
  const Objects* objects = nullptr;  // every expected object
};

// The partitioned parent's qualified name of a partition ("" when `table` is none).
std::string partition_parent(const SchemaObject& table) {
  std::string parent = info_or(table, "partition_parent_name", "");
  if (!parent.empty()) return info_or(table, "partition_parent_schema", "") + "." + parent;
  // Older snapshots: "schema.name FOR VALUES ..." / "schema.name DEFAULT".
  const std::string partition_of = attr_or(table, "partition_of", "");
  return partition_of.substr(
      0, std::min(partition_of.find(" FOR VALUES "), partition_of.find(" DEFAULT")));
}

TableRebuild rebuild_of(const SchemaObject& table, const Objects& expected) {
  TableRebuild rebuild;
  rebuild.table = &table;
  for (const SchemaObject* o : expected) {
    if (o->type == ObjectType::kTable) {
      if (partition_parent(*o) == table.name) {
        rebuild.partitions.push_back(rebuild_of(*o, expected));
      }
    } else if (fold_parent(*o) == table.name) {
      add_child(rebuild.children, o);
    }
  }
  return rebuild;
}

void diff_pair(const SchemaObject& e, const SchemaObject& a, const DiffOptions& options, int model,
               std::vector<Finding>& out, const ExpectedSide* expected = nullptr) {
  // Union of attribute keys: both maps are sorted, so walk them together.
  std::vector<const std::string*> keys;
  auto ei = e.attrs.begin();
  auto ai = a.attrs.begin();
  while (ei != e.attrs.end() || ai != a.attrs.end()) {
    if (ai == a.attrs.end() || (ei != e.attrs.end() && ei->first < ai->first)) {
      keys.push_back(&ei->first);
      ++ei;
    } else if (ei == e.attrs.end() || ai->first < ei->first) {
      keys.push_back(&ai->first);
      ++ai;
    } else {
      if (!same_value(e.type, ei->first, &ei->second, &ai->second)) keys.push_back(&ei->first);
      ++ei;
      ++ai;
    }
  }
  if (keys.empty()) return;
  bool index_definition_changed = e.type == ObjectType::kIndex &&
                                  std::any_of(keys.begin(), keys.end(), [](const std::string* k) {
                                    return *k == "definition";
                                  });
  for (const std::string* key : keys) {
    const std::string& attr = *key;
    if (attr == "comment" && !options.compare_comments) continue;
    // unique/primary are part of an index's definition text: one finding, not three.
    if (index_definition_changed && attr != "definition") continue;
    if (!compared_at(rules_for(e.type), attr, model)) continue;
    const std::string* ev = attr_of(e, attr);
    const std::string* av = attr_of(a, attr);
    if (same_value(e.type, attr, ev, av)) continue;
    std::optional<std::string> eo = ev ? std::optional<std::string>(*ev) : std::nullopt;
    std::optional<std::string> ao = av ? std::optional<std::string>(*av) : std::nullopt;
    Change change{e, a, attr, eo, ao, nullptr, &options, nullptr};
    if (expected != nullptr && (e.type == ObjectType::kTable || e.type == ObjectType::kColumn ||
                                e.type == ObjectType::kMaterializedView)) {
      auto it = expected->indexes.find(e.type == ObjectType::kColumn ? parent_of(e) : e.name);
      if (it != expected->indexes.end()) change.expected_indexes = &it->second;
    }
    TableRebuild rebuild;
    if (expected != nullptr && e.type == ObjectType::kTable && attr == "partition_key") {
      rebuild = rebuild_of(e, *expected->objects);
      change.rebuild = &rebuild;
    }
    out.push_back(changed_finding(change, options));
  }
}

bool key_less(const SchemaObject* a, const SchemaObject* b) {
  if (a->type != b->type) return a->type < b->type;
  return a->name < b->name;
}

Objects sorted_objects(const SchemaSnapshot& snapshot, const DiffOptions& options, int model) {
  Objects out;
  out.reserve(snapshot.objects.size());
  for (const SchemaObject& o : snapshot.objects) {
    if (o.type == ObjectType::kPrivilege && !options.compare_privileges) continue;
    if (rules_for(o.type).since_model > model) continue;
    out.push_back(&o);
  }
  if (!std::is_sorted(out.begin(), out.end(), key_less)) {
    std::stable_sort(out.begin(), out.end(), key_less);
  }
  // Duplicate keys would make the merge ambiguous; the first occurrence wins.
  out.erase(std::unique(out.begin(), out.end(),
                        [](const SchemaObject* a, const SchemaObject* b) {
                          return a->type == b->type && a->name == b->name;
                        }),
            out.end());
  return out;
}

// Emits missing (or extra) findings, folding children of whole missing (extra) tables.
void emit_one_sided(const Objects& objects, bool missing, const DiffOptions& options,
                    std::vector<Finding>& out) {
  std::unordered_map<std::string, Children> tables;
  for (const SchemaObject* o : objects) {
    if (o->type == ObjectType::kTable) tables.emplace(o->name, Children{});
  }
  Objects rest;
  for (const SchemaObject* o : objects) {
    if (o->type != ObjectType::kTable && !tables.empty()) {
      std::string parent = fold_parent(*o);
      auto it = parent.empty() ? tables.end() : tables.find(parent);
      if (it != tables.end()) {
        add_child(it->second, o);
        continue;
      }
    }
    rest.push_back(o);
  }
  for (const SchemaObject* o : rest) {
    const Children* children = nullptr;
    if (o->type == ObjectType::kTable) children = &tables.at(o->name);
    out.push_back(missing ? missing_finding(*o, children, options) : extra_finding(*o, children));
  }
}

// "15.6" -> "15", "9.6.24" -> "9.6", "18beta1" -> "18"; "" when unknown.
std::string major_version(const std::string& version) {
  size_t digits = 0;
  while (digits < version.size() && std::isdigit(static_cast<unsigned char>(version[digits]))) {
    ++digits;
  }
  std::string major = version.substr(0, digits);
  if (!major.empty() && std::stoi(major) < 10 && digits < version.size() &&
      version[digits] == '.') {
    size_t minor = digits + 1;
    while (minor < version.size() && std::isdigit(static_cast<unsigned char>(version[minor]))) {
      ++minor;
    }
    major = version.substr(0, minor);
  }
  return major;
}

// A different PostgreSQL major version is reported as one info finding (object_type server,
// object "postgresql", attribute major_version): catalog texts print differently across majors
// and features differ, so the operator should know the comparison crosses versions, but nothing
// in the schema is wrong because of it.
void diff_server_versions(const SchemaSnapshot& expected, const SchemaSnapshot& actual,
                          const DiffOptions& options, std::vector<Finding>& out) {
  std::string e = major_version(expected.server_version);
  std::string a = major_version(actual.server_version);
  if (e.empty() || a.empty() || e == a) return;
  SchemaObject expected_server;
  expected_server.type = ObjectType::kServer;
  expected_server.name = "postgresql";
  expected_server.attrs["major_version"] = e;
  SchemaObject actual_server = expected_server;
  actual_server.attrs["major_version"] = a;
  diff_pair(expected_server, actual_server, options, kSchemaModel, out);
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// End of the string literal starting at text[at] ('), past its closing quote.
size_t skip_literal(const std::string& text, size_t at) {
  if (at == 0 || (text[at - 1] != 'E' && text[at - 1] != 'e')) return end_of_quoted(text, at);
  for (size_t i = at + 1; i < text.size(); ++i) {  // E'...': backslash escapes
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '\'') {
      if (i + 1 < text.size() && text[i + 1] == '\'') {
        ++i;
      } else {
        return i + 1;
      }
    }
  }
  return text.size();
}

// End of the dotted name (`a.b`, `"A".b`, ...) starting at text[at].
size_t skip_name(const std::string& text, size_t at) {
  size_t i = at;
  while (i < text.size()) {
    if (text[i] == '"') {
      i = end_of_quoted(text, i);
    } else {
      while (i < text.size() && name_char(text[i])) ++i;
    }
    if (i + 1 < text.size() && text[i] == '.' && (text[i + 1] == '"' || name_char(text[i + 1]))) {
      ++i;
    } else {
      break;
    }
  }
  return i;
}

// `text` (a type, default, definition, ... as the catalog printed it) with every reference to
// the type `from` replaced by `to`, both schema-qualified names as format_type and the deparsers
// print them under driftwatch's empty search_path. Only a whole qualified name counts: not a
// part of a longer dotted name, not a word inside a string literal or a quoted identifier, not
// an unqualified word (a column named like the type).
std::string replace_type_name(const std::string& text, const std::string& from,
                              const std::string& to) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    size_t end = i + 1;
    if (c == '\'') {
      end = skip_literal(text, i);
    } else if ((c == '"' || name_char(c)) && (i == 0 || !name_char(text[i - 1]))) {
      end = skip_name(text, i);
      if (text.compare(i, end - i, from) == 0 && (i == 0 || text[i - 1] != '.')) {
        out += to;
        i = end;
        continue;
      }
    }
    out.append(text, i, end - i);
    i = end;
  }
  return out;
}

// An enum type renamed in the database (ALTER TYPE ... RENAME TO) reads as a missing type, an
// extra one with the same labels in the same schema, and every column, default, index and view
// that names it as changed. Fixed one by one, the column type change fails (views use the
// column) and the new type's values do not cast to the old one; so each of these findings gets
// the one fix that undoes the rename, which the fix script runs once for all of them.
void fix_renamed_enums(const Objects& missing, const Objects& extra,
                       std::vector<Finding>& findings) {
  for (const SchemaObject* e : missing) {
    if (e->type != ObjectType::kEnum) continue;
    for (const SchemaObject* a : extra) {
      if (a->type != ObjectType::kEnum || schema_of(*a) != schema_of(*e) ||
          attr_or(*a, "labels", "") != attr_or(*e, "labels", "")) {
        continue;
      }
      const std::string fix =
          "ALTER TYPE " + object_sql(*a) + " RENAME TO " + quote_ident(local_of(*e)) + ";";
      const std::string from = quote_ident(schema_of(*a)) + "." + quote_ident(local_of(*a));
      const std::string to = quote_ident(schema_of(*e)) + "." + quote_ident(local_of(*e));
      for (Finding& f : findings) {
        const bool pair =
            f.object_type == ObjectType::kEnum && ((f.kind == "missing" && f.object == e->name) ||
                                                   (f.kind == "extra" && f.object == a->name));
        bool consequence = false;
        if (f.kind == "changed" && f.expected && f.actual) {
          const std::string renamed = replace_type_name(*f.actual, from, to);
          consequence = renamed != *f.actual &&
                        same_value(f.object_type, f.attribute, &*f.expected, &renamed);
        }
        if (pair || consequence) f.fix_sql = fix;
      }
      break;
    }
  }
}

// A trigger PostgreSQL cloned onto a partition (info inherited) cannot be created, replaced or
// dropped on its own ("is an internal or a child trigger"): only the partitioned table's trigger
// can, and that reaches every clone. So a clone's finding shares the fix of the same finding on
// the trigger it was cloned from (the fix script runs it once). Enabling and disabling work on a
// clone alone: those fixes stay.
void fix_cloned_triggers(const Objects& expected, const Objects& actual,
                         std::vector<Finding>& findings) {
  std::unordered_map<std::string, std::string> partitioned_table;  // partition -> its parent
  std::unordered_set<std::string> clones;
  std::vector<const SchemaObject*> clone_objects;
  for (const Objects* side : {&expected, &actual}) {
    for (const SchemaObject* o : *side) {
      if (o->type == ObjectType::kTable) {
        std::string parent = partition_parent(*o);
        if (!parent.empty()) partitioned_table.emplace(o->name, parent);
      } else if (o->type == ObjectType::kTrigger && info_or(*o, "inherited", "") == "true" &&
                 clones.insert(o->name).second) {
        clone_objects.push_back(o);
      }
    }
  }
  if (clones.empty()) return;
  auto key = [](const std::string& object, const std::string& kind, const std::string& attribute) {
    return object + '\n' + kind + '\n' + attribute;
  };
  std::unordered_map<std::string, size_t> trigger_findings;
  for (size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    if (f.object_type == ObjectType::kTrigger) {
      trigger_findings.emplace(key(f.object, f.kind, f.attribute), i);
    }
  }
  for (const SchemaObject* clone : clone_objects) {
    // The trigger it comes from: on the partitioned table, up through sub-partitioning.
    const std::string local = local_of(*clone);
    std::string root = parent_of(*clone);
    do {
      auto it = partitioned_table.find(root);
      if (it == partitioned_table.end()) break;
      root = it->second;
    } while (clones.count(root + "." + local) != 0);
    for (const char* kind : {"missing", "extra", "changed"}) {
      const std::string attribute = std::string(kind) == "changed" ? "definition" : "";
      auto own = trigger_findings.find(key(clone->name, kind, attribute));
      auto from = trigger_findings.find(key(root + "." + local, kind, attribute));
      if (own != trigger_findings.end()) {
        findings[own->second].fix_sql =
            from == trigger_findings.end() ? std::nullopt : findings[from->second].fix_sql;
      }
    }
  }
}

}  // namespace

void sort_findings(std::vector<Finding>& findings) {
  std::sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    if (a.severity != b.severity) return a.severity > b.severity;
    return std::tie(a.object_type, a.object, a.attribute, a.kind) <
           std::tie(b.object_type, b.object, b.attribute, b.kind);
  });
}

std::vector<Finding> diff_schemas(const SchemaSnapshot& expected, const SchemaSnapshot& actual,
                                  const DiffOptions& options) {
  // What the older side recorded is what can be compared.
  const int model = std::min(expected.model, actual.model);
  // The fixes run on the actual database: written for its server version.
  DiffOptions fix_options;
  if (options.fix_server_major == 0) {
    fix_options = options;
    fix_options.fix_server_major = std::atoi(major_version(actual.server_version).c_str());
  }
  const DiffOptions& effective = options.fix_server_major == 0 ? fix_options : options;
  Objects exp = sorted_objects(expected, options, model);
  Objects act = sorted_objects(actual, options, model);
  Objects missing, extra;
  std::vector<Finding> findings;
  ExpectedSide expected_side;
  expected_side.objects = &exp;
  for (const SchemaObject* o : exp) {
    if (o->type == ObjectType::kIndex) expected_side.indexes[parent_of(*o)].push_back(o);
  }
  size_t i = 0, j = 0;
  while (i < exp.size() || j < act.size()) {
    if (j == act.size() || (i < exp.size() && key_less(exp[i], act[j]))) {
      missing.push_back(exp[i++]);
    } else if (i == exp.size() || key_less(act[j], exp[i])) {
      extra.push_back(act[j++]);
    } else {
      diff_pair(*exp[i++], *act[j++], effective, model, findings, &expected_side);
    }
  }
  diff_server_versions(expected, actual, options, findings);
  emit_one_sided(missing, /*missing=*/true, effective, findings);
  emit_one_sided(extra, /*missing=*/false, options, findings);
  fix_renamed_enums(missing, extra, findings);
  fix_cloned_triggers(exp, act, findings);
  if (!options.ignore.rules.empty()) {
    findings.erase(std::remove_if(findings.begin(), findings.end(),
                                  [&](const Finding& f) { return options.ignore.matches(f); }),
                   findings.end());
  }
  sort_findings(findings);
  return findings;
}

}  // namespace driftwatch
