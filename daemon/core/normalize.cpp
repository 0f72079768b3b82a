// Normalisation of compared attribute texts, identifier/literal quoting and type narrowing.
//
// Introspection already returns what PostgreSQL canonicalises (pg_get_viewdef, format_type,
// pg_get_constraintdef, ...), so equal schemas give equal text. The rules below only remove
// representation noise that is not drift; each is applied identically to both sides:
//   1. JSON array attributes (enum `labels`, policy `roles`, table `reloptions` / `inherits`,
//      function `config`, domain `checks`, type `attributes`) are re-serialised compactly, so
//      `["a", "b"]` equals `["a","b"]`. Sets are also sorted: policy roles (pg_policy.polroles
//      is a set), storage parameters, function settings, domain checks. Enum label, parent
//      table and type attribute order IS meaningful: kept.
//   2. Whitespace runs in view/materialized view definitions and function bodies collapse to one
//      space and are trimmed (outside single-quoted literals, where whitespace is data): a
//      reformatted migration or a different pg_dump line width is not drift.
//   3. A trailing `;` of a view/materialized view definition is dropped (pg_get_viewdef adds one,
//      hand-written snapshots often do not).
//   4. A `public.` qualifier inside expression-like texts (definitions, defaults, types, USING
//      clauses, bodies) is removed outside literals: PostgreSQL prints it or not depending on
//      the search_path of the session that read the catalog, not on the schema itself.
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/diff_kinds.hpp"
#include "driftwatch/diff.hpp"

namespace driftwatch {
namespace {

bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$';
}

std::string canonical_json_array(const std::string& value, bool sort) {
  auto parsed = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) return value;  // not ours to judge: compare as plain text
  if (sort) {
    std::vector<nlohmann::json> items(parsed.begin(), parsed.end());
    std::sort(items.begin(), items.end());
    parsed = nlohmann::json(items);
  }
  return parsed.dump();
}

// Rule 2: collapse whitespace runs outside '...' literals.
std::string collapse_whitespace(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  bool in_literal = false;
  bool pending_space = false;
  for (char c : value) {
    if (!in_literal && std::isspace(static_cast<unsigned char>(c)) != 0) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    if (c == '\'') in_literal = !in_literal;
    out.push_back(c);
  }
  return out;
}

// Rule 4: drop `public.` qualifiers that start an identifier, outside literals and quoted names.
std::string strip_public_prefix(const std::string& value) {
  static const std::string kPrefix = "public.";
  if (value.find(kPrefix) == std::string::npos) return value;
  std::string out;
  out.reserve(value.size());
  bool in_literal = false;
  bool in_quoted = false;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (!in_quoted && c == '\'') in_literal = !in_literal;
    if (!in_literal && c == '"') in_quoted = !in_quoted;
    if (!in_literal && !in_quoted && value.compare(i, kPrefix.size(), kPrefix) == 0 &&
        (i == 0 || (!is_ident_char(value[i - 1]) && value[i - 1] != '.' && value[i - 1] != '"'))) {
      i += kPrefix.size() - 1;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

bool is_expression_attr(const std::string& attr) {
  static const std::set<std::string> kAttrs = {"definition",    "using",    "with_check", "body",
                                               "type",          "default",  "generated",  "result",
                                               "partition_of",  "sql_body", "arguments",  "subtype",
                                               "partition_key", "checks",   "attributes"};
  return kAttrs.count(attr) != 0;
}

const std::set<std::string>& keywords() {
  // Reserved, type/function-name and column-name keywords: the ones quote_ident quotes.
  static const std::set<std::string> kKeywords = {"all",
                                                  "analyse",
                                                  "analyze",
                                                  "and",
                                                  "any",
                                                  "array",
                                                  "as",
                                                  "asc",
                                                  "asymmetric",
                                                  "authorization",
                                                  "between",
                                                  "bigint",
                                                  "binary",
                                                  "bit",
                                                  "boolean",
                                                  "both",
                                                  "case",
                                                  "cast",
                                                  "char",
                                                  "character",
                                                  "check",
                                                  "coalesce",
                                                  "collate",
                                                  "collation",
                                                  "column",
                                                  "concurrently",
                                                  "constraint",
                                                  "create",
                                                  "cross",
                                                  "current_catalog",
                                                  "current_date",
                                                  "current_role",
                                                  "current_schema",
                                                  "current_time",
                                                  "current_timestamp",
                                                  "current_user",
                                                  "dec",
                                                  "decimal",
                                                  "default",
                                                  "deferrable",
                                                  "desc",
                                                  "distinct",
                                                  "do",
                                                  "else",
                                                  "end",
                                                  "except",
                                                  "exists",
                                                  "extract",
                                                  "false",
                                                  "fetch",
                                                  "float",
                                                  "for",
                                                  "foreign",
                                                  "freeze",
                                                  "from",
                                                  "full",
                                                  "grant",
                                                  "greatest",
                                                  "group",
                                                  "grouping",
                                                  "having",
                                                  "ilike",
                                                  "in",
                                                  "initially",
                                                  "inner",
                                                  "inout",
                                                  "int",
                                                  "integer",
                                                  "intersect",
                                                  "interval",
                                                  "into",
                                                  "is",
                                                  "isnull",
                                                  "join",
                                                  "lateral",
                                                  "leading",
                                                  "least",
                                                  "left",
                                                  "like",
                                                  "limit",
                                                  "localtime",
                                                  "localtimestamp",
                                                  "national",
                                                  "natural",
                                                  "nchar",
                                                  "none",
                                                  "normalize",
                                                  "not",
                                                  "notnull",
                                                  "null",
                                                  "nullif",
                                                  "numeric",
                                                  "offset",
                                                  "on",
                                                  "only",
                                                  "or",
                                                  "order",
                                                  "out",
                                                  "outer",
                                                  "overlaps",
                                                  "overlay",
                                                  "placing",
                                                  "position",
                                                  "precision",
                                                  "primary",
                                                  "real",
                                                  "references",
                                                  "returning",
                                                  "right",
                                                  "row",
                                                  "select",
                                                  "session_user",
                                                  "setof",
                                                  "similar",
                                                  "smallint",
                                                  "some",
                                                  "substring",
                                                  "symmetric",
                                                  "table",
                                                  "tablesample",
                                                  "then",
                                                  "time",
                                                  "timestamp",
                                                  "to",
                                                  "trailing",
                                                  "treat",
                                                  "trim",
                                                  "true",
                                                  "union",
                                                  "unique",
                                                  "user",
                                                  "using",
                                                  "values",
                                                  "varchar",
                                                  "variadic",
                                                  "verbose",
                                                  "when",
                                                  "where",
                                                  "window",
                                                  "with"};
  return kKeywords;
}

// Parsed format_type text.
struct TypeShape {
  std::string base;  // without modifiers and array brackets
  int dims = 0;
  std::vector<int> mods;  // (n) or (p,s) or time precision
};

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(' ');
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(' ');
  return s.substr(b, e - b + 1);
}

TypeShape parse_type(const std::string& text) {
  TypeShape shape;
  std::string t = normalize_attr(ObjectType::kColumn, "type", text);
  while (t.size() >= 2 && t.compare(t.size() - 2, 2, "[]") == 0) {
    ++shape.dims;
    t.resize(t.size() - 2);
  }
  size_t open = t.find('(');
  size_t close = t.find(')', open == std::string::npos ? 0 : open);
  if (open != std::string::npos && close != std::string::npos) {
    std::string args = t.substr(open + 1, close - open - 1);
    size_t pos = 0;
    while (pos <= args.size()) {
      size_t comma = args.find(',', pos);
      std::string part =
          trim(args.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
      try {
        shape.mods.push_back(std::stoi(part));
      } catch (...) {
        shape.mods.push_back(-1);
      }
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    t = trim(t.substr(0, open)) + (close + 1 < t.size() ? " " + trim(t.substr(close + 1)) : "");
  }
  shape.base = trim(t);
  return shape;
}

int integer_rank(const std::string& base) {
  if (base == "smallint") return 1;
  if (base == "integer") return 2;
  if (base == "bigint") return 3;
  return 0;
}

int integer_digits(int rank) { return rank == 1 ? 5 : rank == 2 ? 10 : 19; }

bool is_string(const std::string& base) {
  return base == "text" || base == "character varying" || base == "character" ||
         base == "\"char\"" || base == "name" || base == "citext";
}

// Maximum length of a string type; -1 = unbounded.
int string_length(const TypeShape& t) {
  if (t.base == "character") return t.mods.empty() ? 1 : t.mods[0];
  if (t.base == "character varying") return t.mods.empty() ? -1 : t.mods[0];
  return -1;
}

bool is_float(const std::string& base) { return base == "real" || base == "double precision"; }

bool is_temporal_with_precision(const std::string& base) {
  return base.rfind("timestamp", 0) == 0 || base.rfind("time ", 0) == 0 || base == "time" ||
         base == "interval";
}

}  // namespace

namespace diff_detail {

// Rules 1 and 4: every kind.
std::string normalize_plain(const std::string& attr, const std::string& value) {
  // JSON arrays; sets (order not meaningful) are sorted.
  static const std::set<std::string> kLists = {"labels", "inherits", "attributes"};
  static const std::set<std::string> kSets = {"roles", "reloptions", "config", "checks"};
  if (kLists.count(attr) != 0 || kSets.count(attr) != 0) {
    return canonical_json_array(value, /*sort=*/kSets.count(attr) != 0);
  }
  return is_expression_attr(attr) ? strip_public_prefix(value) : value;
}

// Rules 2 and 3 for view definitions, then the plain rules.
std::string normalize_view(const std::string& attr, const std::string& value) {
  if (attr != "definition") return normalize_plain(attr, value);
  std::string out = collapse_whitespace(value);
  while (!out.empty() && (out.back() == ';' || out.back() == ' ')) out.pop_back();
  return normalize_plain(attr, out);
}

// Rule 2 for function bodies, then the plain rules.
std::string normalize_function(const std::string& attr, const std::string& value) {
  if (attr != "body" && attr != "sql_body") return normalize_plain(attr, value);
  return normalize_plain(attr, collapse_whitespace(value));
}

}  // namespace diff_detail

std::string normalize_attr(ObjectType type, const std::string& attr, const std::string& value) {
  return diff_detail::rules_for(type).normalize(attr, value);
}

bool type_narrows(const std::string& expected, const std::string& actual) {
  TypeShape e = parse_type(expected);
  TypeShape a = parse_type(actual);
  if (e.dims != a.dims) return true;  // array vs scalar: no value fits the other
  if (e.base == a.base) {
    if (e.base == "numeric") {
      if (a.mods.empty()) return false;  // unbounded holds everything
      if (e.mods.empty()) return true;
      int e_scale = e.mods.size() > 1 ? e.mods[1] : 0;
      int a_scale = a.mods.size() > 1 ? a.mods[1] : 0;
      return a.mods[0] - a_scale < e.mods[0] - e_scale || a_scale < e_scale;
    }
    if (is_string(e.base)) {
      int el = string_length(e);
      int al = string_length(a);
      return al >= 0 && (el < 0 || al < el);
    }
    if (is_temporal_with_precision(e.base)) {
      int ep = e.mods.empty() ? 6 : e.mods[0];
      int ap = a.mods.empty() ? 6 : a.mods[0];
      return ap < ep;
    }
    return e.mods != a.mods && !a.mods.empty();
  }
  if (is_string(e.base)) {
    if (!is_string(a.base)) return true;  // text values do not parse as other types
    int el = string_length(e);
    int al = string_length(a);
    return al >= 0 && (el < 0 || al < el);
  }
  if (is_string(a.base)) return string_length(a) >= 0;  // widening into text unless bounded
  int er = integer_rank(e.base);
  int ar = integer_rank(a.base);
  if (er > 0) {
    if (ar > 0) return ar < er;
    if (a.base == "numeric") {
      if (a.mods.empty()) return false;
      int a_scale = a.mods.size() > 1 ? a.mods[1] : 0;
      return a.mods[0] - a_scale < integer_digits(er);
    }
    if (a.base == "double precision") return er == 3;  // 53-bit mantissa loses bigints
    return true;                                       // real, or anything else
  }
  if (e.base == "numeric") return true;  // integers and floats lose digits or exactness
  if (is_float(e.base)) return !(e.base == "real" && a.base == "double precision");
  if (e.base.rfind("timestamp", 0) == 0 || e.base.rfind("time", 0) == 0) {
    return true;  // with <-> without time zone, timestamp -> date: values change meaning
  }
  if (e.base == "date") return a.base.rfind("timestamp", 0) != 0;
  return false;  // unknown pair (json vs jsonb, enum vs enum): not provably narrowing
}

std::string quote_ident(const std::string& ident) {
  bool bare = !ident.empty() &&
              (std::islower(static_cast<unsigned char>(ident[0])) != 0 || ident[0] == '_');
  for (char c : ident) {
    if (!(std::islower(static_cast<unsigned char>(c)) != 0 ||
          std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$')) {
      bare = false;
      break;
    }
  }
  if (bare && keywords().count(ident) == 0) return ident;
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string quote_literal(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace driftwatch
