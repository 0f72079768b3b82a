// Fix scripts and fix-forward migrations, built from the findings' fix SQL text alone.
//
// The statement splitter follows psql's lexer where it matters for fix SQL: quotes, E'' escapes,
// dollar quotes, nested block comments, and the BEGIN ... END of SQL-standard routine bodies.
// Classification works on a "skeleton" of each statement: comments removed, whitespace
// collapsed, keywords upper-cased and the contents of quoted strings and identifiers blanked, so
// that a quoted name like "drop" never reads as a keyword. The skeleton has the same length as
// the command, so a position found in one is a position in the other.
#include "driftwatch/fix_script.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <sstream>
#include <unordered_map>

namespace driftwatch {

namespace {

bool is_ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_ident_char(char c) {
  return is_ident_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$';
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// End (exclusive) of the lexical element starting at sql[i] when it is a quote, a dollar quote
// or a comment; npos when sql[i] starts none of them. `kind` says which: '\'', '"', '$', '-', '/'.
size_t skip_special(const std::string& sql, size_t i, char& kind) {
  const size_t n = sql.size();
  const char c = sql[i];
  const char next = i + 1 < n ? sql[i + 1] : '\0';
  if (c == '-' && next == '-') {
    kind = '-';
    size_t end = sql.find('\n', i);
    return end == std::string::npos ? n : end;
  }
  if (c == '/' && next == '*') {
    kind = '/';
    int depth = 0;
    size_t j = i;
    while (j < n) {
      if (sql.compare(j, 2, "/*") == 0) {
        ++depth;
        j += 2;
      } else if (sql.compare(j, 2, "*/") == 0) {
        j += 2;
        if (--depth == 0) return j;
      } else {
        ++j;
      }
    }
    return n;
  }
  if (c == '\'') {
    kind = '\'';
    // E'...' (also e'') takes backslash escapes.
    const bool escapes =
        i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !is_ident_char(sql[i - 2]));
    size_t j = i + 1;
    while (j < n) {
      if (escapes && sql[j] == '\\') {
        j += 2;
      } else if (sql[j] == '\'') {
        if (j + 1 < n && sql[j + 1] == '\'') {
          j += 2;
        } else {
          return j + 1;
        }
      } else {
        ++j;
      }
    }
    return n;
  }
  if (c == '"') {
    kind = '"';
    size_t j = i + 1;
    while (j < n) {
      if (sql[j] == '"') {
        if (j + 1 < n && sql[j + 1] == '"') {
          j += 2;
        } else {
          return j + 1;
        }
      } else {
        ++j;
      }
    }
    return n;
  }
  if (c == '$' && (i == 0 || !is_ident_char(sql[i - 1]))) {
    size_t j = i + 1;
    if (j < n && is_ident_start(sql[j])) {
      while (j < n && is_ident_char(sql[j]) && sql[j] != '$') ++j;
    }
    if (j < n && sql[j] == '$') {
      kind = '$';
      const std::string tag = sql.substr(i, j - i + 1);
      size_t close = sql.find(tag, j + 1);
      return close == std::string::npos ? n : close + tag.size();
    }
  }
  return std::string::npos;
}

// Comments removed, whitespace runs collapsed to one space, trimmed; quoted text kept.
std::string command_of(const std::string& statement) {
  std::string out;
  bool space = false;
  for (size_t i = 0; i < statement.size();) {
    char kind = 0;
    size_t end = skip_special(statement, i, kind);
    if (end != std::string::npos) {
      if (kind == '-' || kind == '/') {
        space = true;
      } else {
        if (space && !out.empty()) out += ' ';
        space = false;
        out += statement.substr(i, end - i);
      }
      i = end;
      continue;
    }
    const char c = statement[i++];
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// Same length as `command`: keywords upper-cased, quoted contents replaced by '.'.
std::string skeleton_of(const std::string& command) {
  std::string out = command;
  for (size_t i = 0; i < command.size();) {
    char kind = 0;
    size_t end = skip_special(command, i, kind);
    if (end != std::string::npos) {
      for (size_t j = i + 1; j + 1 < end; ++j) out[j] = '.';
      i = end;
      continue;
    }
    out[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(command[i])));
    ++i;
  }
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The leading comment lines of a split statement, each without its "--" and trimmed.
std::vector<std::string> leading_comments(const std::string& statement) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < statement.size()) {
    while (i < statement.size() && std::isspace(static_cast<unsigned char>(statement[i]))) ++i;
    if (statement.compare(i, 2, "--") != 0) break;
    size_t end = statement.find('\n', i);
    if (end == std::string::npos) end = statement.size();
    out.push_back(trim(statement.substr(i + 2, end - i - 2)));
    i = end;
  }
  return out;
}

struct DropKind {
  const char* prefix;
  FixRank rank;
  const char* reason;
};

// Longest prefixes first where one is a prefix of another.
const DropKind kDrops[] = {
    {"DROP SCHEMA ", FixRank::kSchema, "drops the schema"},
    {"DROP EXTENSION ", FixRank::kExtension, "drops the extension and the objects it provides"},
    {"DROP TYPE ", FixRank::kType, "drops the type"},
    {"DROP DOMAIN ", FixRank::kDomain, "drops the domain"},
    {"DROP SEQUENCE ", FixRank::kSequence, "drops the sequence and its current value"},
    {"DROP TABLE ", FixRank::kTable, "drops the table and its rows"},
    {"DROP FOREIGN TABLE ", FixRank::kTable, "drops the foreign table"},
    {"DROP INDEX ", FixRank::kIndex, "drops the index"},
    {"DROP MATERIALIZED VIEW ", FixRank::kView, "drops the materialized view and its rows"},
    {"DROP VIEW ", FixRank::kView, "drops the view"},
    {"DROP FUNCTION ", FixRank::kFunction, "drops the function"},
    {"DROP PROCEDURE ", FixRank::kFunction, "drops the procedure"},
    {"DROP ROUTINE ", FixRank::kFunction, "drops the routine"},
    {"DROP AGGREGATE ", FixRank::kFunction, "drops the aggregate"},
    {"DROP TRIGGER ", FixRank::kTrigger, "drops the trigger"},
    {"DROP POLICY ", FixRank::kPolicy, "drops the policy"},
    {"DROP RULE ", FixRank::kView, "drops the rule"},
};

struct CreateKind {
  const char* prefix;
  FixRank rank;
};

const CreateKind kCreates[] = {
    {"CREATE SCHEMA ", FixRank::kSchema},
    {"ALTER SCHEMA ", FixRank::kSchema},
    {"CREATE EXTENSION ", FixRank::kExtension},
    {"ALTER EXTENSION ", FixRank::kExtension},
    {"CREATE TYPE ", FixRank::kType},
    {"ALTER TYPE ", FixRank::kType},
    {"CREATE DOMAIN ", FixRank::kDomain},
    {"ALTER DOMAIN ", FixRank::kDomain},
    {"CREATE SEQUENCE ", FixRank::kSequence},
    {"ALTER SEQUENCE ", FixRank::kSequence},
    {"CREATE TABLE ", FixRank::kTable},
    {"CREATE UNLOGGED TABLE ", FixRank::kTable},
    {"CREATE FOREIGN TABLE ", FixRank::kTable},
    {"ALTER TABLE ", FixRank::kTable},
    {"CREATE INDEX ", FixRank::kIndex},
    {"CREATE UNIQUE INDEX ", FixRank::kIndex},
    {"ALTER INDEX ", FixRank::kIndex},
    {"REINDEX ", FixRank::kIndex},
    {"CREATE VIEW ", FixRank::kView},
    {"CREATE OR REPLACE VIEW ", FixRank::kView},
    {"CREATE MATERIALIZED VIEW ", FixRank::kView},
    {"ALTER VIEW ", FixRank::kView},
    {"ALTER MATERIALIZED VIEW ", FixRank::kView},
    {"REFRESH MATERIALIZED VIEW ", FixRank::kView},
    {"CREATE FUNCTION ", FixRank::kFunction},
    {"CREATE OR REPLACE FUNCTION ", FixRank::kFunction},
    {"CREATE PROCEDURE ", FixRank::kFunction},
    {"CREATE OR REPLACE PROCEDURE ", FixRank::kFunction},
    {"CREATE AGGREGATE ", FixRank::kFunction},
    {"CREATE OR REPLACE AGGREGATE ", FixRank::kFunction},
    {"ALTER FUNCTION ", FixRank::kFunction},
    {"ALTER PROCEDURE ", FixRank::kFunction},
    {"ALTER ROUTINE ", FixRank::kFunction},
    {"ALTER AGGREGATE ", FixRank::kFunction},
    {"CREATE TRIGGER ", FixRank::kTrigger},
    {"CREATE OR REPLACE TRIGGER ", FixRank::kTrigger},
    {"CREATE CONSTRAINT TRIGGER ", FixRank::kTrigger},
    {"ALTER TRIGGER ", FixRank::kTrigger},
    {"CREATE POLICY ", FixRank::kPolicy},
    {"ALTER POLICY ", FixRank::kPolicy},
    {"GRANT ", FixRank::kPrivilege},
    {"REVOKE ", FixRank::kPrivilege},
    {"COMMENT ON ", FixRank::kComment},
};

// Statements PostgreSQL refuses inside a transaction block (or whose effect the same
// transaction cannot use), with the reason printed in the script.
std::string outside_transaction_reason(const std::string& skel) {
  if ((starts_with(skel, "CREATE INDEX ") || starts_with(skel, "CREATE UNIQUE INDEX ") ||
       starts_with(skel, "DROP INDEX ") || starts_with(skel, "REINDEX ")) &&
      contains(skel, " CONCURRENTLY")) {
    return "CONCURRENTLY cannot run inside a transaction block";
  }
  if (starts_with(skel, "ALTER TABLE ") && contains(skel, " DETACH PARTITION ") &&
      contains(skel, " CONCURRENTLY")) {
    return "DETACH PARTITION CONCURRENTLY cannot run inside a transaction block";
  }
  if (starts_with(skel, "ALTER TYPE ") && contains(skel, " ADD VALUE ")) {
    return "a label added by ALTER TYPE ... ADD VALUE cannot be used in the transaction that "
           "adds it";
  }
  for (const char* prefix :
       {"VACUUM", "CREATE DATABASE ", "DROP DATABASE ", "ALTER SYSTEM ", "CREATE TABLESPACE ",
        "DROP TABLESPACE ", "CREATE SUBSCRIPTION ", "DROP SUBSCRIPTION ", "ALTER DATABASE "}) {
    if (starts_with(skel, prefix)) {
      return std::string(trim(prefix)) + " cannot run inside a transaction block";
    }
  }
  return "";
}

// Inserts `words` (e.g. "IF NOT EXISTS ") after every occurrence of `after` in the skeleton that
// is not already followed by `words`. Both strings are kept the same length.
void insert_after(std::string& command, std::string& skel, const std::string& after,
                  const std::string& words, bool first_only = false) {
  size_t pos = 0;
  while ((pos = skel.find(after, pos)) != std::string::npos) {
    size_t at = pos + after.size();
    if (skel.compare(at, words.size(), words) != 0) {
      command.insert(at, words);
      skel.insert(at, words);
    }
    pos = at + words.size();
    if (first_only) break;
  }
}

std::string dollar_tag_for(const std::string& body) {
  std::string tag = "$dw$";
  for (int i = 1; contains(body, tag); ++i) tag = "$dw" + std::to_string(i) + "$";
  return tag;
}

}  // namespace

std::vector<std::string> split_sql_statements(const std::string& sql) {
  std::vector<std::string> out;
  std::string current;
  bool has_code = false;
  size_t code_end = 0;             // in `current`, just after the last character of code
  std::vector<std::string> words;  // the statement's first keywords, upper-cased
  int depth = 0;                   // BEGIN/CASE ... END nesting of a routine body
  auto is_routine = [&] {
    size_t k = 0;
    if (words.size() > k && words[k] == "CREATE") {
      ++k;
      if (words.size() > k + 1 && words[k] == "OR" && words[k + 1] == "REPLACE") k += 2;
      return words.size() > k && (words[k] == "FUNCTION" || words[k] == "PROCEDURE");
    }
    return false;
  };
  const size_t n = sql.size();
  for (size_t i = 0; i < n;) {
    char kind = 0;
    size_t end = skip_special(sql, i, kind);
    if (end != std::string::npos) {
      current += sql.substr(i, end - i);
      if (kind != '-' && kind != '/') {
        has_code = true;
        code_end = current.size();
      }
      i = end;
      continue;
    }
    const char c = sql[i];
    if (is_ident_start(c) && (i == 0 || !is_ident_char(sql[i - 1]))) {
      size_t j = i;
      while (j < n && is_ident_char(sql[j])) ++j;
      std::string word = upper(sql.substr(i, j - i));
      if (words.size() < 6) words.push_back(word);
      if (is_routine()) {
        if (word == "BEGIN" || word == "CASE") {
          ++depth;
        } else if (word == "END" && depth > 0) {
          --depth;
        }
      }
      current += sql.substr(i, j - i);
      has_code = true;
      code_end = current.size();
      i = j;
      continue;
    }
    if (c == ';' && depth == 0) {
      current += ';';
      if (has_code) out.push_back(trim(current));
      current.clear();
      has_code = false;
      words.clear();
      ++i;
      continue;
    }
    current += c;
    if (!std::isspace(static_cast<unsigned char>(c))) {
      has_code = true;
      code_end = current.size();
    }
    ++i;
  }
  if (has_code) {
    // The ';' goes right after the code, before any trailing comment.
    std::string tail = trim(current.substr(code_end));
    current = current.substr(0, code_end) + ";";
    out.push_back(trim(current) + (tail.empty() ? "" : "\n" + tail));
  } else if (!trim(current).empty() && !out.empty()) {
    out.back() += "\n" + trim(current);
  }
  return out;
}

FixRank rank_of(ObjectType type) {
  switch (type) {
    case ObjectType::kSchema:
      return FixRank::kSchema;
    case ObjectType::kExtension:
      return FixRank::kExtension;
    case ObjectType::kEnum:
      return FixRank::kType;
    case ObjectType::kDomain:
      return FixRank::kDomain;
    case ObjectType::kType:
      return FixRank::kCompositeType;
    case ObjectType::kSequence:
      return FixRank::kSequence;
    case ObjectType::kTable:
      return FixRank::kTable;
    case ObjectType::kColumn:
      return FixRank::kColumn;
    case ObjectType::kConstraint:
      return FixRank::kConstraint;
    case ObjectType::kIndex:
      return FixRank::kIndex;
    case ObjectType::kView:
    case ObjectType::kMaterializedView:
      return FixRank::kView;
    case ObjectType::kFunction:
      return FixRank::kFunction;
    case ObjectType::kTrigger:
      return FixRank::kTrigger;
    case ObjectType::kPolicy:
      return FixRank::kPolicy;
    case ObjectType::kPrivilege:
      return FixRank::kPrivilege;
    case ObjectType::kServer:
      return FixRank::kComment;  // never has fix SQL
  }
  return FixRank::kTable;
}

FixStatement classify_statement(const std::string& statement, FixRank fallback) {
  FixStatement s;
  s.sql = trim(statement);
  s.command = command_of(s.sql);
  s.rank = fallback;
  const std::string skel = skeleton_of(s.command);

  bool known = false;
  for (const DropKind& d : kDrops) {
    if (starts_with(skel, d.prefix)) {
      s.rank = d.rank;
      s.removal = true;
      s.destructive = true;
      s.destructive_reason = d.reason;
      known = true;
      break;
    }
  }
  if (!known) {
    for (const CreateKind& c : kCreates) {
      if (starts_with(skel, c.prefix)) {
        s.rank = c.rank;
        known = true;
        break;
      }
    }
  }
  if (starts_with(skel, "ALTER TABLE ")) {
    const bool drop_column =
        contains(skel, " DROP COLUMN ") ||
        // ALTER TABLE t DROP c (COLUMN is optional)
        (contains(skel, " DROP ") && !contains(skel, " DROP CONSTRAINT ") &&
         !contains(skel, " DROP NOT NULL") && !contains(skel, " DROP DEFAULT") &&
         !contains(skel, " DROP EXPRESSION") && !contains(skel, " DROP IDENTITY") &&
         !contains(skel, " ALTER "));
    const bool adds = contains(skel, " ADD ");
    if (drop_column) {
      s.rank = FixRank::kColumn;
      s.removal = !adds;
      s.destructive = true;
      s.destructive_reason = "drops the column and its data";
    } else if (contains(skel, " DROP CONSTRAINT ") && !adds) {
      s.rank = FixRank::kConstraint;
      s.removal = true;
      s.destructive = true;
      s.destructive_reason = "drops the constraint";
    } else if (contains(skel, " DETACH PARTITION ")) {
      s.rank = FixRank::kTable;
      s.removal = true;
      s.destructive = true;
      s.destructive_reason = "detaches the partition (its rows leave the partitioned table)";
    } else if (contains(skel, " ADD CONSTRAINT ") || contains(skel, " VALIDATE CONSTRAINT ") ||
               contains(skel, " ALTER CONSTRAINT ") || contains(skel, " DROP CONSTRAINT ") ||
               contains(skel, " ADD PRIMARY KEY") || contains(skel, " ADD UNIQUE") ||
               contains(skel, " ADD FOREIGN KEY") || contains(skel, " ADD CHECK") ||
               contains(skel, " ADD EXCLUDE")) {
      s.rank = FixRank::kConstraint;
    } else if (contains(skel, " ADD ") || contains(skel, " ALTER COLUMN ") ||
               contains(skel, " ALTER ")) {
      s.rank = FixRank::kColumn;
      s.changes_column_type = contains(skel, " TYPE ");
    } else if (contains(skel, " TRIGGER ")) {
      s.rank = FixRank::kTrigger;
    } else {
      s.rank = FixRank::kTable;
    }
  } else if (starts_with(skel, "CREATE TYPE ") || starts_with(skel, "ALTER TYPE ") ||
             starts_with(skel, "DROP TYPE ")) {
    // Enum and range types come before domains, composite types after them: CREATE TYPE x AS
    // (...) and its attribute changes say so in the text; a DROP TYPE only through the finding.
    if (contains(skel, " ATTRIBUTE ") ||
        (starts_with(skel, "CREATE TYPE ") && contains(skel, " AS (")) ||
        (starts_with(skel, "DROP TYPE ") && fallback == FixRank::kCompositeType)) {
      s.rank = FixRank::kCompositeType;
    }
    if (starts_with(skel, "ALTER TYPE ") && contains(skel, " DROP ATTRIBUTE ")) {
      s.destructive = true;
      s.destructive_reason = "drops the attribute and its values";
    }
  } else if (starts_with(skel, "ALTER SEQUENCE ") && contains(skel, " OWNED BY ")) {
    s.rank = FixRank::kColumn;  // needs the column it names
  } else if (starts_with(skel, "REVOKE ")) {
    s.removal = true;
  } else if (starts_with(skel, "TRUNCATE ")) {
    s.destructive = true;
    s.destructive_reason = "deletes every row";
  }

  // The fix's own marker, e.g. "-- destructive: drops the table and its rows".
  for (const std::string& line : leading_comments(s.sql)) {
    if (starts_with(line, "destructive")) {
      s.destructive = true;
      size_t colon = line.find(':');
      if (colon != std::string::npos) s.destructive_reason = trim(line.substr(colon + 1));
      if (s.destructive_reason.empty()) s.destructive_reason = "loses data or objects";
    }
  }
  s.outside_reason = outside_transaction_reason(skel);
  s.transactional = s.outside_reason.empty();
  return s;
}

namespace {

// "DROP TABLE IF EXISTS " (the command's prefix, as written) when the statement is a plain drop
// of one kind that PostgreSQL accepts with several names; "" otherwise.
std::string mergeable_drop(const FixStatement& s) {
  const std::string skel = skeleton_of(s.command);
  for (const char* kind : {"TABLE", "VIEW", "MATERIALIZED VIEW", "SEQUENCE", "TYPE", "DOMAIN",
                           "SCHEMA", "EXTENSION", "INDEX", "FUNCTION", "PROCEDURE", "ROUTINE"}) {
    const std::string prefix = std::string("DROP ") + kind + " IF EXISTS ";
    if (!starts_with(skel, prefix) || skel.back() != ';') continue;
    const std::string rest = skel.substr(prefix.size());
    if (contains(rest, " CASCADE") || contains(rest, " RESTRICT") || contains(rest, ";;") ||
        rest.find(';') != rest.size() - 1) {
      return "";
    }
    return s.command.substr(0, prefix.size());
  }
  return "";
}

}  // namespace

std::vector<FixStatement> order_fix_statements(const std::vector<Finding>& findings) {
  std::vector<FixStatement> statements;
  for (size_t i = 0; i < findings.size(); ++i) {
    if (!findings[i].fix_sql) continue;
    const FixRank fallback = rank_of(findings[i].object_type);
    for (const std::string& text : split_sql_statements(*findings[i].fix_sql)) {
      FixStatement s = classify_statement(text, fallback);
      s.finding = static_cast<int>(i);
      statements.push_back(std::move(s));
    }
  }
  // Three phases: removals of dependent objects (columns and everything ranked after them) in
  // reverse dependency order; then creations and alterations in dependency order; then removals
  // of the objects others depend on (tables, sequences, types, extensions, schemas), in reverse
  // order, once the alterations have moved every use away from them (a column's type off an
  // extra enum, a default off an extra sequence, a view off an extra table).
  // A fix that drops and recreates (a changed object) keeps its drop in the first phase, so the
  // recreation never runs before it.
  std::vector<bool> recreates(findings.size(), false);
  for (const auto& s : statements) {
    if (!s.removal) recreates[s.finding] = true;
  }
  auto phase = [&](const FixStatement& s) {
    if (!s.removal) return 1;
    return s.rank > FixRank::kTable || recreates[s.finding] ? 0 : 2;
  };
  // A partition is created after the tables of its rank: its partitioned parent may be one (a
  // table rebuilt with another partition key, whose finding sorts after the partition's).
  std::vector<bool> partition(statements.size(), false);
  for (size_t i = 0; i < statements.size(); ++i) {
    const std::string skel = skeleton_of(statements[i].command);
    partition[i] =
        (starts_with(skel, "CREATE TABLE ") || starts_with(skel, "CREATE UNLOGGED TABLE ")) &&
        contains(skel, " PARTITION OF ");
  }
  std::vector<size_t> order(statements.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) {
    const FixStatement& a = statements[i];
    const FixStatement& b = statements[j];
    const int pa = phase(a), pb = phase(b);
    if (pa != pb) return pa < pb;
    if (a.rank != b.rank) return pa == 1 ? a.rank < b.rank : a.rank > b.rank;
    if (pa != 1) return false;
    if (a.changes_column_type != b.changes_column_type) return a.changes_column_type;
    return !partition[i] && partition[j];
  });
  std::vector<FixStatement> sorted;
  sorted.reserve(statements.size());
  for (size_t i : order) sorted.push_back(std::move(statements[i]));
  statements = std::move(sorted);
  // A statement two fixes share (the same command) runs once, where it first appears.
  std::vector<FixStatement> unique;
  std::unordered_map<std::string, size_t> seen;  // phase + command -> index in `unique`
  for (FixStatement& s : statements) {
    auto [it, inserted] = seen.emplace(std::to_string(phase(s)) + s.command, unique.size());
    if (!inserted) {
      unique[it->second].also.push_back(s.finding);
      continue;
    }
    unique.push_back(std::move(s));
  }
  statements = std::move(unique);
  // Adjacent drops of one kind become one statement: PostgreSQL resolves the dependencies among
  // the objects one DROP removes (a foreign key between two dropped tables, a view on a dropped
  // view), which no order of separate statements could know from their text.
  std::vector<FixStatement> merged;
  for (FixStatement& s : statements) {
    const std::string key = mergeable_drop(s);
    if (!merged.empty() && !key.empty() && mergeable_drop(merged.back()) == key &&
        phase(merged.back()) == phase(s)) {
      FixStatement& m = merged.back();
      std::string comments;
      for (const auto* part : {&m, &s}) {
        for (const std::string& line : leading_comments(part->sql)) comments += "-- " + line + "\n";
      }
      m.command = m.command.substr(0, m.command.size() - 1) + ", " +
                  s.command.substr(key.size(), s.command.size() - key.size() - 1) + ";";
      m.sql = comments + m.command;
      m.also.push_back(s.finding);
      for (int f : s.also) m.also.push_back(f);
      continue;
    }
    merged.push_back(std::move(s));
  }
  return merged;
}

namespace {

std::string finding_label(const Finding& f) {
  std::string label = f.kind + " " + to_string(f.object_type) + " " + f.object;
  if (!f.attribute.empty()) label += " [" + f.attribute + "]";
  return label;
}

bool has_destructive_marker(const std::string& sql) {
  for (const std::string& line : leading_comments(sql)) {
    if (starts_with(line, "destructive")) return true;
  }
  return false;
}

}  // namespace

std::string render_fix_script(const std::string& target, const std::vector<Finding>& findings) {
  std::ostringstream out;
  out << "-- driftwatch fix script for target " << target << "\n";
  if (findings.empty()) {
    out << "-- No drift: nothing to fix.\n";
    return out.str();
  }
  const std::vector<FixStatement> statements = order_fix_statements(findings);
  size_t destructive = 0, outside = 0, fixed = 0;
  std::vector<bool> has_fix(findings.size(), false);
  for (const auto& s : statements) {
    destructive += s.destructive ? 1 : 0;
    outside += s.transactional ? 0 : 1;
    std::vector<int> covered = s.also;
    covered.push_back(s.finding);
    for (int f : covered) {
      if (f >= 0 && !has_fix[f]) {
        has_fix[f] = true;
        ++fixed;
      }
    }
  }
  out << "-- " << findings.size() << " finding(s), " << fixed << " with fix SQL; "
      << statements.size() << " statement(s), " << destructive << " destructive, " << outside
      << " outside a transaction.\n"
      << "-- Review before running, e.g. psql -v ON_ERROR_STOP=1 -f FILE. Statements marked\n"
      << "-- \"destructive\" lose data or objects. Order: removals of dependent objects, then\n"
      << "-- creations and changes in dependency order, then removals of tables, sequences,\n"
      << "-- types, extensions and schemas.\n";
  bool any_without = false;
  for (size_t i = 0; i < findings.size(); ++i) {
    if (has_fix[i]) continue;
    if (!any_without) out << "-- Findings without fix SQL (handle by hand):\n";
    any_without = true;
    out << "--   " << finding_label(findings[i]) << "\n";
  }

  bool in_transaction = false;
  int last_finding = -2;
  for (const auto& s : statements) {
    if (s.transactional && !in_transaction) {
      out << "\nBEGIN;\n";
      in_transaction = true;
      last_finding = -2;
    } else if (!s.transactional) {
      if (in_transaction) out << "COMMIT;\n";
      in_transaction = false;
      out << "\n-- outside a transaction: " << s.outside_reason << "\n";
      last_finding = -2;
    }
    if (s.finding != last_finding && s.finding >= 0) {
      out << "-- fixes " << finding_label(findings[s.finding]) << "\n";
    }
    for (int f : s.also) out << "-- fixes " << finding_label(findings[f]) << "\n";
    last_finding = s.finding;
    if (s.destructive && !has_destructive_marker(s.sql)) {
      out << "-- destructive: " << s.destructive_reason << "\n";
    }
    out << s.sql << "\n";
  }
  if (in_transaction) out << "COMMIT;\n";
  return out.str();
}

std::string idempotent_statement(const FixStatement& statement) {
  std::string command = statement.command;
  std::string skel = skeleton_of(command);
  if (command.empty()) return command;
  if (command.back() != ';') {
    command += ';';
    skel += ';';
  }

  for (const char* head :
       {"CREATE TABLE ", "CREATE UNLOGGED TABLE ", "CREATE SCHEMA ", "CREATE SEQUENCE ",
        "CREATE EXTENSION ", "CREATE MATERIALIZED VIEW ", "CREATE INDEX CONCURRENTLY ",
        "CREATE UNIQUE INDEX CONCURRENTLY ", "CREATE INDEX ", "CREATE UNIQUE INDEX "}) {
    if (starts_with(skel, head)) {
      if (contains(std::string(head), "INDEX") && starts_with(skel.substr(strlen(head)), "ON ")) {
        break;  // an unnamed index has no IF NOT EXISTS form
      }
      if (!starts_with(skel, std::string(head) + "CONCURRENTLY ")) {
        insert_after(command, skel, head, "IF NOT EXISTS ", true);
      }
      return command;
    }
  }
  for (const char* head :
       {"CREATE VIEW ", "CREATE FUNCTION ", "CREATE PROCEDURE ", "CREATE TRIGGER "}) {
    if (starts_with(skel, head)) {
      command.insert(7, "OR REPLACE ");
      return command;
    }
  }
  for (const DropKind& d : kDrops) {
    if (starts_with(skel, d.prefix)) {
      const std::string prefix = d.prefix;
      if (starts_with(skel, prefix + "CONCURRENTLY ")) {
        insert_after(command, skel, prefix + "CONCURRENTLY ", "IF EXISTS ", true);
      } else {
        insert_after(command, skel, prefix, "IF EXISTS ", true);
      }
      return command;
    }
  }
  if (starts_with(skel, "ALTER TYPE ") && contains(skel, " ADD VALUE ")) {
    insert_after(command, skel, " ADD VALUE ", "IF NOT EXISTS ", true);
    return command;
  }
  if (starts_with(skel, "ALTER TYPE ") && contains(skel, " RENAME TO ")) {
    // Done already: the old name is gone (undefined_object) or the new one exists.
    const std::string tag = dollar_tag_for(command);
    return "DO " + tag + " BEGIN\n  " + command +
           "\nEXCEPTION WHEN undefined_object OR duplicate_object THEN NULL;\nEND " + tag + ";";
  }
  if (starts_with(skel, "ALTER TABLE ")) {
    insert_after(command, skel, " ADD COLUMN ", "IF NOT EXISTS ");
    insert_after(command, skel, " DROP COLUMN ", "IF EXISTS ");
    insert_after(command, skel, " DROP CONSTRAINT ", "IF EXISTS ");
    const bool replaces = contains(skel, " DROP CONSTRAINT ");
    if (!contains(skel, " ADD CONSTRAINT ") || replaces) return command;
  } else if (!starts_with(skel, "CREATE TYPE ") && !starts_with(skel, "CREATE DOMAIN ") &&
             !(starts_with(skel, "ALTER DOMAIN ") && contains(skel, " ADD CONSTRAINT ")) &&
             !starts_with(skel, "CREATE POLICY ") &&
             !starts_with(skel, "CREATE CONSTRAINT TRIGGER ")) {
    return command;
  }
  // No IF NOT EXISTS form: run it, and treat "already exists" as done.
  const std::string tag = dollar_tag_for(command);
  return "DO " + tag + " BEGIN\n  " + command +
         "\nEXCEPTION WHEN duplicate_object OR duplicate_table THEN NULL;\nEND " + tag + ";";
}

// ---- fix-forward migrations ---------------------------------------------------------------

namespace {

// A Python string literal for `sql` as op.execute() takes it: Alembic passes a string through
// SQLAlchemy's text(), which reads `:name` as a bind parameter, so such colons are escaped.
std::string python_sql_literal(const std::string& sql) {
  std::string escaped;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == ':' && i + 1 < sql.size() &&
        (std::isalnum(static_cast<unsigned char>(sql[i + 1])) || sql[i + 1] == '_') &&
        (i == 0 || (sql[i - 1] != ':' && sql[i - 1] != '\\' &&
                    !std::isalnum(static_cast<unsigned char>(sql[i - 1])) && sql[i - 1] != '_'))) {
      escaped += "\\\\:";
      continue;
    }
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '"') {
      escaped += "\\\"";
    } else {
      escaped += c;
    }
  }
  return "\"\"\"" + escaped + "\"\"\"";
}

// Text for inside a """docstring""" or a # comment: backslashes and quotes escaped, one line.
std::string docstring_safe(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    out += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return out;
}

// The body of upgrade() or downgrade(), indented by four spaces.
std::string migration_body(const std::vector<Finding>& findings,
                           const std::vector<std::string>& notes) {
  std::string body;
  for (const auto& note : notes) body += "    # " + note + "\n";
  int last_finding = -2;
  bool in_autocommit = false;
  for (const FixStatement& s : order_fix_statements(findings)) {
    std::string indent = "    ";
    if (!s.transactional) {
      if (!in_autocommit) {
        body += "    # " + s.outside_reason + ":\n";
        body += "    with op.get_context().autocommit_block():\n";
      }
      in_autocommit = true;
      indent = "        ";
    } else {
      in_autocommit = false;
    }
    if (s.finding != last_finding && s.finding >= 0) {
      body += indent + "# " + docstring_safe(finding_label(findings[s.finding])) + "\n";
    }
    for (int f : s.also) body += indent + "# " + docstring_safe(finding_label(findings[f])) + "\n";
    last_finding = s.finding;
    for (const std::string& line : leading_comments(s.sql)) {
      std::string text = line;
      if (starts_with(text, "backfill")) text = "TODO " + text + " (existing rows need a value)";
      body += indent + "# " + text + "\n";
    }
    if (s.destructive && !has_destructive_marker(s.sql)) {
      body += indent + "# destructive: " + s.destructive_reason + "\n";
    }
    body += indent + "op.execute(" + python_sql_literal(idempotent_statement(s)) + ")\n";
  }
  if (body.empty() || body.find("op.execute") == std::string::npos) body += "    pass\n";
  return body;
}

}  // namespace

std::string render_fix_forward_migration(const FixForwardMigration& m) {
  std::vector<Finding> upgrade, downgrade;
  std::vector<std::string> by_hand_up, by_hand_down;
  std::string summary;
  size_t adopted = 0, reverted = 0;
  for (const FixForwardItem& item : m.items) {
    const Finding& f = item.finding;
    const std::string label = docstring_safe(finding_label(f));
    if (item.revert) {
      ++reverted;
      summary += "  revert " + label + "\n";
      if (f.fix_sql) {
        upgrade.push_back(f);
      } else {
        by_hand_up.push_back("by hand (no SQL known): revert " + label);
      }
    } else {
      ++adopted;
      summary += "  adopt  " + label + "\n";
      if (item.adopt_sql) {
        Finding up = f;
        up.fix_sql = item.adopt_sql;
        upgrade.push_back(up);
      } else {
        by_hand_up.push_back("by hand (no SQL known): adopt " + label);
      }
      if (f.fix_sql) {
        downgrade.push_back(f);
      } else {
        by_hand_down.push_back("by hand (no SQL known): undo " + label);
      }
    }
  }
  std::ostringstream out;
  out << "\"\"\"fix-forward: schema drift found on target " << docstring_safe(m.target) << "\n\n"
      << "Written by `driftwatch fix-forward`: " << adopted << " finding(s) adopted (the code now\n"
      << "expects what the database has), " << reverted
      << " reverted (the database is brought back).\n"
      << summary << "\n"
      << "Every statement is idempotent: the upgrade applies both to databases that have the\n"
      << "drift and to those that do not. Review it, fill in any backfill marked TODO, then run\n"
      << "`alembic upgrade head` everywhere and record the new head's expected schema.\n\n"
      << "Revision ID: " << m.revision << "\n"
      << "Revises: " << m.down_revision << "\n"
      << "Create Date: " << m.create_date << "\n"
      << "\"\"\"\n"
      << "from alembic import op\n\n"
      << "revision = \"" << m.revision << "\"\n"
      << "down_revision = \"" << m.down_revision << "\"\n"
      << "branch_labels = None\n"
      << "depends_on = None\n\n\n"
      << "def upgrade() -> None:\n"
      << migration_body(upgrade, by_hand_up) << "\n\n"
      << "def downgrade() -> None:\n";
  if (!downgrade.empty() || !by_hand_down.empty()) {
    out << "    # Back to the schema of revision " << m.down_revision
        << " (adopted findings only;\n    # reverted ones already match it).\n";
  }
  out << migration_body(downgrade, by_hand_down);
  return out.str();
}

}  // namespace driftwatch
