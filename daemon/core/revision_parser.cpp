// Textual reader of Alembic migration files: finds the module-level `revision`,
// `down_revision`, `branch_labels` and `depends_on` assignments without running Python.
//
// A small tokenizer knows Python's strings (every prefix and quoting, f-string replacement
// fields), comments, brackets and line continuations, so that text inside a docstring or a
// triple-quoted SQL string, or a line inside a multi-line tuple, is never taken for a
// statement. A statement is module-level when its logical line starts at column 0: anything in
// a function, class, `if` or `try` body is indented. Values must be literals (None, strings,
// tuples/lists of strings); anything else is an error rather than a guess.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "driftwatch/revision_graph.hpp"

namespace driftwatch {

std::string RevisionIssue::to_string() const {
  return file + ":" + std::to_string(line) + ": " + message;
}

bool operator==(const RevisionIssue& a, const RevisionIssue& b) {
  return a.file == b.file && a.line == b.line && a.message == b.message;
}

bool operator<(const RevisionIssue& a, const RevisionIssue& b) {
  if (a.file != b.file) {
    return a.file < b.file;
  }
  if (a.line != b.line) {
    return a.line < b.line;
  }
  return a.message < b.message;
}

namespace {

enum class Kind { kName, kString, kNumber, kOp, kNewline };

// Brackets (and f-string fields) nested deeper than this are a syntax error, as in CPython.
constexpr size_t kMaxBracketDepth = 200;

struct Token {
  Kind kind = Kind::kOp;
  std::string text;  // name, operator or number text; a string's decoded value
  int line = 0;
  int depth = 0;             // bracket depth the token sits at (0 = outside any bracket)
  bool starts_line = false;  // first token of a logical line
  int column = 0;            // indentation of the logical line (set on starts_line tokens)
  // Strings only.
  bool fstring = false;     // f-string or t-string: never a literal
  bool bytes = false;       // b'...': a literal, but not a str
  bool bad_escape = false;  // an escape we do not decode (\N{...})
};

struct SyntaxProblem {
  int line = 0;
  std::string message;
};

bool is_name_start(char c) {
  auto u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || u >= 0x80;
}

bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Lower-cased string prefix if `word` is one Python accepts (t-strings: Python 3.14).
std::optional<std::string> string_prefix(std::string_view word) {
  if (word.size() > 2) {
    return std::nullopt;
  }
  std::string lower;
  for (char c : word) {
    lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  static const std::set<std::string> kPrefixes = {"r",  "u",  "b",  "f",  "t", "br",
                                                  "rb", "fr", "rf", "tr", "rt"};
  if (kPrefixes.count(lower)) {
    return lower;
  }
  return std::nullopt;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Decodes the escapes of a non-raw str literal body. Sets `bad` for escapes we do not decode.
std::string decode_escapes(std::string_view body, bool& bad) {
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out += c;
      continue;
    }
    char e = body[++i];
    switch (e) {
      case '\n':
        break;  // line continuation inside the string
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
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
      case 'v':
        out += '\v';
        break;
      case 'x':
      case 'u':
      case 'U': {
        size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        if (i + digits >= body.size()) {
          bad = true;
          break;
        }
        for (size_t k = 1; k <= digits; ++k) {
          int h = hex_value(body[i + k]);
          if (h < 0) {
            bad = true;
            break;
          }
          cp = cp * 16 + static_cast<uint32_t>(h);
        }
        if (bad) {
          break;
        }
        i += digits;
        append_utf8(out, cp);
        break;
      }
      case 'N':
        bad = true;  // \N{NAME} needs the Unicode name database
        break;
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7';
               ++k) {
            cp = cp * 8 + static_cast<uint32_t>(body[++i] - '0');
          }
          append_utf8(out, cp);
        } else {
          out += '\\';  // unknown escapes stay as written, as in Python
          out += e;
        }
    }
  }
  return out;
}

class Tokenizer {
 public:
  explicit Tokenizer(const std::string& src) : s_(src) {}

  // Tokenizes the whole text; on a syntax problem stops there and returns it (the tokens of
  // every complete logical line before it are kept).
  std::optional<SyntaxProblem> run(std::vector<Token>& out) {
    const size_t n = s_.size();
    bool line_start = true;
    bool pending_start = false;
    int pending_column = 0;
    bool has_tokens = false;  // in the current logical line
    std::vector<int> open_lines;
    size_t committed = 0;  // tokens of complete logical lines
    auto fail = [&](int line, std::string message) {
      out.resize(committed);
      return SyntaxProblem{line, std::move(message)};
    };
    while (i_ < n) {
      char c = s_[i_];
      if (line_start) {
        // Indentation; a form feed resets the column, as in Python's tokenizer.
        size_t j = i_;
        int column = 0;
        while (j < n && (s_[j] == ' ' || s_[j] == '\t' || s_[j] == '\f')) {
          column = s_[j] == '\f' ? 0 : column + 1;
          ++j;
        }
        if (j >= n) {
          break;
        }
        if (s_[j] == '\n') {
          i_ = j + 1;
          ++line_;
          continue;
        }
        if (s_[j] == '#') {
          i_ = j;
          while (i_ < n && s_[i_] != '\n') {
            ++i_;
          }
          continue;
        }
        pending_start = true;
        pending_column = column;
        line_start = false;
        i_ = j;
        continue;
      }
      if (c == ' ' || c == '\t' || c == '\f') {
        ++i_;
        continue;
      }
      if (c == '#') {
        while (i_ < n && s_[i_] != '\n') {
          ++i_;
        }
        continue;
      }
      if (c == '\\') {
        if (i_ + 1 < n && s_[i_ + 1] == '\n') {
          i_ += 2;
          ++line_;
          continue;
        }
        return fail(line_, "unexpected character after line continuation character");
      }
      if (c == '\n') {
        ++i_;
        ++line_;
        if (open_lines.empty()) {
          if (has_tokens) {
            Token nl;
            nl.kind = Kind::kNewline;
            nl.line = line_ - 1;
            out.push_back(nl);
            committed = out.size();
          }
          has_tokens = false;
          line_start = true;
        }
        continue;
      }

      Token tok;
      tok.line = line_;
      tok.depth = static_cast<int>(open_lines.size());
      tok.starts_line = pending_start;
      tok.column = pending_column;
      pending_start = false;
      has_tokens = true;

      if (is_name_start(c)) {
        size_t j = i_;
        while (j < n && is_name_char(s_[j])) {
          ++j;
        }
        std::string_view word(s_.data() + i_, j - i_);
        if (j < n && (s_[j] == '\'' || s_[j] == '"')) {
          if (auto prefix = string_prefix(word)) {
            i_ = j;
            if (auto problem = scan_string(*prefix, &tok)) {
              return fail(problem->line, problem->message);
            }
            out.push_back(std::move(tok));
            continue;
          }
        }
        tok.kind = Kind::kName;
        tok.text = std::string(word);
        i_ = j;
        out.push_back(std::move(tok));
        continue;
      }
      if (c == '\'' || c == '"') {
        if (auto problem = scan_string("", &tok)) {
          return fail(problem->line, problem->message);
        }
        out.push_back(std::move(tok));
        continue;
      }
      if (is_digit(c) || (c == '.' && i_ + 1 < n && is_digit(s_[i_ + 1]))) {
        size_t j = i_;
        while (j < n) {
          char d = s_[j];
          const bool exponent_sign =
              (d == '+' || d == '-') && (s_[j - 1] == 'e' || s_[j - 1] == 'E');
          if (!is_name_char(d) && d != '.' && !exponent_sign) {
            break;
          }
          ++j;
        }
        tok.kind = Kind::kNumber;
        tok.text = s_.substr(i_, j - i_);
        i_ = j;
        out.push_back(std::move(tok));
        continue;
      }
      tok.kind = Kind::kOp;
      tok.text = operator_at(i_);
      i_ += tok.text.size();
      if (tok.text == "(" || tok.text == "[" || tok.text == "{") {
        if (open_lines.size() >= kMaxBracketDepth) {
          // CPython's own limit ("too many nested parentheses"); it also bounds the recursion
          // of the literal parser below.
          return fail(tok.line, "too many nested parentheses (more than " +
                                    std::to_string(kMaxBracketDepth) + ")");
        }
        open_lines.push_back(tok.line);
      } else if (tok.text == ")" || tok.text == "]" || tok.text == "}") {
        if (open_lines.empty()) {
          return fail(tok.line, "unmatched '" + tok.text + "'");
        }
        open_lines.pop_back();
        tok.depth = static_cast<int>(open_lines.size());
      }
      out.push_back(std::move(tok));
    }
    if (!open_lines.empty()) {
      return fail(open_lines.back(), "bracket opened here is never closed");
    }
    if (has_tokens) {
      Token nl;
      nl.kind = Kind::kNewline;
      nl.line = line_;
      out.push_back(nl);
    }
    return std::nullopt;
  }

 private:
  // The longest Python operator at i (only its length and text matter to us).
  std::string operator_at(size_t i) const {
    const size_t n = s_.size();
    const char c = s_[i];
    const char d = i + 1 < n ? s_[i + 1] : '\0';
    const char e = i + 2 < n ? s_[i + 2] : '\0';
    const bool doubled = d == c && (c == '*' || c == '/' || c == '<' || c == '>');
    size_t length = 1;
    if ((doubled && e == '=') || (c == '.' && d == '.' && e == '.')) {
      length = 3;
    } else if (doubled || (d == '=' && c != '\0' && std::strchr("=!<>:+-*/%&|^@", c) != nullptr) ||
               (c == '-' && d == '>') || (c == '<' && d == '>')) {
      length = 2;
    }
    return s_.substr(i, length);
  }

  // Scans a string literal starting at the quote at i_ (the prefix is already consumed).
  // With `tok`, fills it as a string token.
  std::optional<SyntaxProblem> scan_string(const std::string& prefix, Token* tok) {
    const size_t n = s_.size();
    const int start_line = line_;
    const char quote = s_[i_];
    const bool triple = i_ + 2 < n && s_[i_ + 1] == quote && s_[i_ + 2] == quote;
    const bool raw = prefix.find('r') != std::string::npos;
    const bool formatted =
        prefix.find('f') != std::string::npos || prefix.find('t') != std::string::npos;
    const size_t body_start = i_ + (triple ? 3 : 1);
    size_t body_end = 0;
    i_ = body_start;
    for (;;) {
      if (i_ >= n) {
        return SyntaxProblem{start_line, triple ? "unterminated triple-quoted string literal"
                                                : "unterminated string literal"};
      }
      char c = s_[i_];
      if (c == '\\') {
        if (i_ + 1 < n && s_[i_ + 1] == '\n') {
          ++line_;
        }
        i_ += 2;
        continue;
      }
      if (c == '\n') {
        if (!triple) {
          return SyntaxProblem{start_line, "unterminated string literal"};
        }
        ++line_;
        ++i_;
        continue;
      }
      if (c == quote) {
        if (!triple) {
          body_end = i_;
          ++i_;
          break;
        }
        if (i_ + 2 < n && s_[i_ + 1] == quote && s_[i_ + 2] == quote) {
          body_end = i_;
          i_ += 3;
          break;
        }
        ++i_;
        continue;
      }
      if (formatted && c == '{') {
        if (i_ + 1 < n && s_[i_ + 1] == '{') {
          i_ += 2;
          continue;
        }
        ++i_;
        if (auto problem = scan_replacement_field(start_line)) {
          return problem;
        }
        continue;
      }
      ++i_;
    }
    if (tok != nullptr) {
      tok->kind = Kind::kString;
      tok->fstring = formatted;
      tok->bytes = prefix.find('b') != std::string::npos;
      std::string_view body(s_.data() + body_start, body_end - body_start);
      if (raw || formatted) {
        tok->text = std::string(body);
      } else {
        tok->text = decode_escapes(body, tok->bad_escape);
      }
    }
    return std::nullopt;
  }

  // Skips an f-string replacement field after its '{' up to and including the matching '}'.
  // Nested strings are scanned as strings (Python 3.12 allows the enclosing quote in them);
  // after a top-level ':' the format spec is literal text with nested fields.
  std::optional<SyntaxProblem> scan_replacement_field(int start_line) {
    const size_t n = s_.size();
    // Fields nest through format specs and through strings inside fields (f"{f'{x}'}"): the
    // recursion is bounded by counting every open field.
    struct Nesting {
      size_t& depth;
      explicit Nesting(size_t& d) : depth(++d) {}
      ~Nesting() { --depth; }
    } nesting(field_depth_);
    if (field_depth_ > kMaxBracketDepth) {
      return SyntaxProblem{start_line, "f-string: expressions nested too deeply"};
    }
    int depth = 0;
    bool in_spec = false;
    while (i_ < n) {
      char c = s_[i_];
      if (c == '\n') {
        ++line_;
        ++i_;
        continue;
      }
      if (in_spec) {
        if (c == '{') {
          ++i_;
          if (auto problem = scan_replacement_field(start_line)) {
            return problem;
          }
          continue;
        }
        if (c == '}') {
          ++i_;
          return std::nullopt;
        }
        ++i_;
        continue;
      }
      if (c == '\'' || c == '"') {
        if (auto problem = scan_string("", nullptr)) {
          return problem;
        }
        continue;
      }
      if (is_name_start(c)) {
        size_t j = i_;
        while (j < n && is_name_char(s_[j])) {
          ++j;
        }
        std::string_view word(s_.data() + i_, j - i_);
        i_ = j;
        if (j < n && (s_[j] == '\'' || s_[j] == '"')) {
          if (auto prefix = string_prefix(word)) {
            if (auto problem = scan_string(*prefix, nullptr)) {
              return problem;
            }
          }
        }
        continue;
      }
      if (c == '#') {
        while (i_ < n && s_[i_] != '\n') {
          ++i_;
        }
        continue;
      }
      if (c == '(' || c == '[' || c == '{') {
        ++depth;
      } else if (c == ')' || c == ']') {
        --depth;
      } else if (c == '}') {
        if (depth == 0) {
          ++i_;
          return std::nullopt;
        }
        --depth;
      } else if (c == ':' && depth == 0) {
        in_spec = true;
      } else if (c == '!' && depth == 0 && i_ + 1 < n && s_[i_ + 1] == '=') {
        ++i_;  // the != operator, not a conversion
      }
      ++i_;
    }
    return SyntaxProblem{start_line, "unterminated f-string replacement field"};
  }

  const std::string& s_;
  size_t i_ = 0;
  int line_ = 1;
  size_t field_depth_ = 0;
};

// ---- literal values ----

struct Literal {
  enum class Kind { kNone, kString, kSequence, kOther } kind = Kind::kOther;
  std::string text;
  std::vector<Literal> items;
};

// Recursive descent over one statement's value tokens. Accepts what ast.literal_eval would for
// our purposes: None, (adjacent) strings, numbers and booleans (wrong type, reported as such),
// parenthesised groups, tuples (with or without parentheses) and lists, trailing commas.
class LiteralParser {
 public:
  explicit LiteralParser(const std::vector<const Token*>& tokens) : t_(tokens) {}

  // nullopt: the value is not a literal.
  std::optional<Literal> parse() {
    if (t_.empty()) {
      return std::nullopt;
    }
    auto first = atom();
    if (!first) {
      return std::nullopt;
    }
    if (is_op(",")) {
      Literal seq;
      seq.kind = Literal::Kind::kSequence;
      seq.items.push_back(std::move(*first));
      while (accept(",")) {
        if (p_ == t_.size()) {
          break;
        }
        auto next = atom();
        if (!next) {
          return std::nullopt;
        }
        seq.items.push_back(std::move(*next));
      }
      first = std::move(seq);
    }
    if (p_ != t_.size()) {
      return std::nullopt;
    }
    return first;
  }

 private:
  bool is_op(const char* op) const {
    return p_ < t_.size() && t_[p_]->kind == Kind::kOp && t_[p_]->text == op;
  }
  bool accept(const char* op) {
    if (!is_op(op)) {
      return false;
    }
    ++p_;
    return true;
  }

  std::optional<Literal> atom() {
    if (p_ >= t_.size()) {
      return std::nullopt;
    }
    const Token& tok = *t_[p_];
    Literal lit;
    if (tok.kind == Kind::kName) {
      ++p_;
      if (tok.text == "None") {
        lit.kind = Literal::Kind::kNone;
        return lit;
      }
      if (tok.text == "True" || tok.text == "False") {
        return lit;  // kOther
      }
      return std::nullopt;
    }
    if (tok.kind == Kind::kNumber) {
      ++p_;
      return lit;  // kOther
    }
    if (tok.kind == Kind::kString) {
      bool bytes = tok.bytes;
      bool bad = false;
      std::string text;
      // Adjacent string literals are one literal, as in Python.
      while (p_ < t_.size() && t_[p_]->kind == Kind::kString) {
        const Token& part = *t_[p_++];
        if (part.fstring || part.bad_escape || part.bytes != bytes) {
          bad = true;
        }
        text += part.text;
      }
      if (bad) {
        return std::nullopt;
      }
      if (bytes) {
        return lit;  // kOther: a bytes literal is not a str
      }
      lit.kind = Literal::Kind::kString;
      lit.text = std::move(text);
      return lit;
    }
    if (is_op("(") || is_op("[")) {
      const bool list = is_op("[");
      const char* close = list ? "]" : ")";
      ++p_;
      lit.kind = Literal::Kind::kSequence;
      if (accept(close)) {
        return lit;
      }
      auto first = atom();
      if (!first) {
        return std::nullopt;
      }
      if (!list && accept(close)) {
        return first;  // a parenthesised group, not a tuple
      }
      lit.items.push_back(std::move(*first));
      while (accept(",")) {
        if (is_op(close)) {
          break;
        }
        auto next = atom();
        if (!next) {
          return std::nullopt;
        }
        lit.items.push_back(std::move(*next));
      }
      if (!accept(close)) {
        return std::nullopt;
      }
      return lit;
    }
    return std::nullopt;
  }

  const std::vector<const Token*>& t_;
  size_t p_ = 0;
};

const std::array<const char*, 4> kAttributes = {"revision", "down_revision", "branch_labels",
                                                "depends_on"};

bool is_attribute(const std::string& name) {
  return std::find_if(kAttributes.begin(), kAttributes.end(),
                      [&](const char* a) { return name == a; }) != kAttributes.end();
}

// Keywords that start a compound statement: `if x: revision = "a"` on one line at column 0
// is inside the `if`, not a module-level assignment.
bool is_compound_keyword(const std::string& name) {
  // (`match`/`case` are soft keywords: their statements contain no top-level '=' anyway.)
  static const std::set<std::string> kKeywords = {"if",    "elif",   "else",    "while", "for",
                                                  "try",   "except", "finally", "with",  "def",
                                                  "class", "async",  "lambda"};
  return kKeywords.count(name) > 0;
}

// Keywords whose statement has a body (`lambda` is an expression, `match`/`case` soft
// keywords followed by a name and so never our attribute assignments).
bool starts_compound_statement(const std::string& name) {
  return name != "lambda" && is_compound_keyword(name);
}

struct Assignment {
  int line = 0;
  std::vector<const Token*> value;
  std::string unsupported;  // non-empty: a form we cannot read (why)
};

bool is_augmented(const Token& tok) {
  static const std::set<std::string> kOps = {
      "+=", "-=", "*=", "/=", "//=", "%=", "**=", "&=", "|=", "^=", "@=", ">>=", "<<="};
  return tok.kind == Kind::kOp && kOps.count(tok.text) > 0;
}

// Records assignments to our attributes in one module-level simple statement.
void scan_statement(const std::vector<const Token*>& stmt,
                    std::map<std::string, Assignment>& last) {
  if (stmt.empty()) {
    return;
  }
  const Token& head = *stmt.front();
  if (head.kind == Kind::kName && is_compound_keyword(head.text)) {
    return;
  }
  std::vector<size_t> equals;
  for (size_t k = 0; k < stmt.size(); ++k) {
    if (stmt[k]->kind == Kind::kOp && stmt[k]->text == "=" && stmt[k]->depth == 0) {
      equals.push_back(k);
    }
  }
  if (equals.empty()) {
    if (head.kind == Kind::kName && is_attribute(head.text) && stmt.size() > 1 &&
        is_augmented(*stmt[1])) {
      last[head.text] = Assignment{head.line, {}, "augmented assignment"};
    }
    return;
  }
  // `x = lambda a=1: a`: an '=' after a lambda is a default inside the value, not a target.
  for (size_t k = 0; k < equals.size(); ++k) {
    size_t from = k == 0 ? 0 : equals[k - 1] + 1;
    bool lambda = std::any_of(
        stmt.begin() + static_cast<long>(from), stmt.begin() + static_cast<long>(equals[k]),
        [](const Token* t) { return t->kind == Kind::kName && t->text == "lambda"; });
    if (lambda) {
      equals.resize(k);
      break;
    }
  }
  if (equals.empty()) {
    return;
  }
  std::vector<const Token*> value(stmt.begin() + static_cast<long>(equals.back()) + 1, stmt.end());
  size_t begin = 0;
  for (size_t eq : equals) {
    std::vector<const Token*> target(stmt.begin() + static_cast<long>(begin),
                                     stmt.begin() + static_cast<long>(eq));
    begin = eq + 1;
    if (target.empty()) {
      continue;
    }
    const Token& name = *target.front();
    const bool simple = target.size() == 1 && name.kind == Kind::kName;
    const bool annotated = target.size() >= 2 && name.kind == Kind::kName &&
                           target[1]->kind == Kind::kOp && target[1]->text == ":" &&
                           equals.size() == 1;
    if (simple || annotated) {
      if (is_attribute(name.text)) {
        last[name.text] = Assignment{name.line, value, ""};
      }
      continue;
    }
    // Tuple unpacking and similar: rebinding one of our names in a form we do not evaluate.
    for (size_t k = 0; k < target.size(); ++k) {
      const Token& tok = *target[k];
      if (tok.kind != Kind::kName || !is_attribute(tok.text)) {
        continue;
      }
      bool attribute_of_other =
          k > 0 && target[k - 1]->kind == Kind::kOp && target[k - 1]->text == ".";
      bool subscripted =
          k + 1 < target.size() && target[k + 1]->kind == Kind::kOp &&
          (target[k + 1]->text == "." || target[k + 1]->text == "[" || target[k + 1]->text == "(");
      if (!attribute_of_other && !subscripted) {
        last[tok.text] = Assignment{tok.line, {}, "assignment by unpacking"};
      }
    }
  }
}

std::string normalise_newlines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) {
    i = 3;  // UTF-8 BOM
  }
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      out += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') {
        ++i;
      }
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

RevisionParseResult parse_revision_source(std::string_view text, const std::string& file) {
  RevisionParseResult result;
  const std::string source = normalise_newlines(text);
  std::vector<Token> tokens;
  tokens.reserve(source.size() / 6);
  Tokenizer tokenizer(source);
  std::optional<SyntaxProblem> syntax = tokenizer.run(tokens);
  if (syntax) {
    result.errors.push_back({file, syntax->line, "syntax error: " + syntax->message});
  }

  std::map<std::string, Assignment> last;
  std::vector<const Token*> stmt;
  bool module_level = false;
  for (const Token& tok : tokens) {
    if (tok.kind == Kind::kNewline ||
        (tok.kind == Kind::kOp && tok.text == ";" && tok.depth == 0)) {
      if (module_level) {
        scan_statement(stmt, last);
      }
      stmt.clear();
      if (tok.kind == Kind::kNewline) {
        module_level = false;
      }
      continue;
    }
    if (tok.starts_line) {
      module_level = tok.column == 0;
    }
    // `if x: pass; revision = "b"`: every statement after a compound statement's header on
    // the same line is in its body.
    if (stmt.empty() && tok.depth == 0 && tok.kind == Kind::kName &&
        starts_compound_statement(tok.text)) {
      module_level = false;
    }
    stmt.push_back(&tok);
  }

  auto error = [&](int line, const std::string& message) {
    result.errors.push_back({file, line, message});
  };
  // Reads one attribute as None / string / sequence of strings. False if reported as an error.
  auto read = [&](const std::string& name, bool must_be_string, std::vector<std::string>& out,
                  int& line) -> bool {
    auto it = last.find(name);
    if (it == last.end()) {
      return true;
    }
    const Assignment& assignment = it->second;
    line = assignment.line;
    if (!assignment.unsupported.empty()) {
      error(line, name + ": value is not a literal (" + assignment.unsupported + ")");
      return false;
    }
    std::optional<Literal> value = LiteralParser(assignment.value).parse();
    if (!value) {
      error(line, name + ": value is not a literal");
      return false;
    }
    if (must_be_string) {
      if (value->kind != Literal::Kind::kString) {
        error(line, name + ": value must be a string");
        return false;
      }
      out = {value->text};
      return true;
    }
    // Alembic (tuple_rev_as_scalar) reads an empty string as None: `down_revision = ''` is a
    // base and `depends_on = ""` (also `("",)`, made a tuple first) names nothing.
    const bool empty_string =
        (value->kind == Literal::Kind::kString && value->text.empty()) ||
        (name == "depends_on" && value->kind == Literal::Kind::kSequence &&
         value->items.size() == 1 && value->items.front().kind == Literal::Kind::kString &&
         value->items.front().text.empty());
    if (empty_string) {
      out.clear();
      return true;
    }
    switch (value->kind) {
      case Literal::Kind::kNone:
        out.clear();
        return true;
      case Literal::Kind::kString:
        out = {value->text};
        return true;
      case Literal::Kind::kSequence:
        out.clear();
        for (const Literal& item : value->items) {
          if (item.kind != Literal::Kind::kString) {
            error(line, name + ": value must be None, a string, or a tuple or list of strings");
            return false;
          }
          out.push_back(item.text);
        }
        return true;
      case Literal::Kind::kOther:
        break;
    }
    error(line, name + ": value must be None, a string, or a tuple or list of strings");
    return false;
  };

  RevisionScript script;
  script.file = file;
  std::vector<std::string> revision;
  bool revision_ok = read("revision", true, revision, script.revision_line);
  script.down_revision_valid =
      read("down_revision", false, script.down_revisions, script.down_revision_line);
  read("branch_labels", false, script.branch_labels, script.branch_labels_line);
  read("depends_on", false, script.depends_on, script.depends_on_line);

  if (!syntax) {
    if (!last.count("revision")) {
      error(0, "revision is not assigned at module level");
    }
    // Alembic reads module.down_revision unconditionally: a file without it does not load.
    if (!last.count("down_revision")) {
      error(0, "down_revision is not assigned at module level");
      script.down_revision_valid = false;
    }
  }
  if (syntax && !last.count("down_revision")) {
    script.down_revision_valid = false;  // maybe assigned after the syntax error: not a base
  }
  if (revision_ok && !revision.empty()) {
    script.revision = revision.front();
    result.script = std::move(script);
  }
  return result;
}

}  // namespace driftwatch
