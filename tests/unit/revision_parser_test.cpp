// The textual Alembic file reader: which assignments count and how values normalise.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "driftwatch/revision_graph.hpp"

namespace driftwatch {

namespace {

using Strings = std::vector<std::string>;

RevisionParseResult parse(const std::string& text) { return parse_revision_source(text, "m.py"); }

// Parses text that must be fine and returns its script.
RevisionScript parse_ok(const std::string& text) {
  RevisionParseResult result = parse(text);
  for (const RevisionIssue& e : result.errors) {
    INFO(e.to_string());
  }
  CHECK(result.errors.empty());
  REQUIRE(result.script.has_value());
  return *result.script;
}

// The single error of text that must fail.
RevisionIssue parse_error(const std::string& text) {
  RevisionParseResult result = parse(text);
  REQUIRE(result.errors.size() == 1);
  return result.errors.front();
}

}  // namespace

TEST_CASE("plain assignments with double quotes") {
  RevisionScript s = parse_ok(
      "\"\"\"doc\"\"\"\n"
      "from alembic import op\n"
      "\n"
      "revision = \"abc123\"\n"
      "down_revision = \"def456\"\n"
      "branch_labels = None\n"
      "depends_on = None\n");
  CHECK(s.file == "m.py");
  CHECK(s.revision == "abc123");
  CHECK(s.revision_line == 4);
  CHECK(s.down_revisions == Strings{"def456"});
  CHECK(s.down_revision_line == 5);
  CHECK(s.branch_labels.empty());
  CHECK(s.depends_on.empty());
  CHECK(s.branch_labels_line == 6);
  CHECK(s.depends_on_line == 7);
  CHECK(s.down_revision_valid);
}

TEST_CASE("annotated assignments, including annotations with brackets and commas") {
  RevisionScript s = parse_ok(
      "from typing import Sequence, Union\n"
      "revision: str = 'a1'\n"
      "down_revision: Union[str, Sequence[str], None] = ('b1', 'c1')\n"
      "branch_labels: Union[str, Sequence[str], None] = None\n"
      "depends_on: Union[str, Sequence[str], None] = 'd1'\n");
  CHECK(s.revision == "a1");
  CHECK(s.down_revisions == Strings{"b1", "c1"});
  CHECK(s.depends_on == Strings{"d1"});
}

TEST_CASE("a bare annotation without a value assigns nothing") {
  RevisionScript s = parse_ok(
      "revision: str\n"
      "revision = 'x'\n"
      "down_revision: str\n"
      "down_revision = None\n");
  CHECK(s.revision == "x");
  CHECK(s.revision_line == 2);
}

TEST_CASE("every quoting style and prefix") {
  CHECK(parse_ok("revision = 'a'\ndown_revision = None\n").revision == "a");
  CHECK(parse_ok("revision = \"a\"\ndown_revision = None\n").revision == "a");
  CHECK(parse_ok("revision = '''a'''\ndown_revision = None\n").revision == "a");
  CHECK(parse_ok("revision = \"\"\"a\"\"\"\ndown_revision = None\n").revision == "a");
  CHECK(parse_ok("revision = r'a\\b'\ndown_revision = None\n").revision == "a\\b");
  CHECK(parse_ok("revision = R\"a\"\ndown_revision = None\n").revision == "a");
  CHECK(parse_ok("revision = u'a'\ndown_revision = None\n").revision == "a");
  CHECK(parse_ok("revision = U\"a\"\ndown_revision = None\n").revision == "a");
  // Escapes decode as in Python; adjacent literals concatenate.
  CHECK(parse_ok("revision = 'a\\x62\\u0063'\ndown_revision = None\n").revision == "abc");
  CHECK(parse_ok("revision = 'it\\'s'\ndown_revision = None\n").revision == "it's");
  CHECK(parse_ok("revision = ('ab'\n  \"cd\")\ndown_revision = None\n").revision == "abcd");
}

TEST_CASE("None, empty tuple and empty list are a base; a string one parent") {
  CHECK(parse_ok("revision = 'a'\ndown_revision = None\n").down_revisions.empty());
  CHECK(parse_ok("revision = 'a'\ndown_revision = ()\n").down_revisions.empty());
  CHECK(parse_ok("revision = 'a'\ndown_revision = []\n").down_revisions.empty());
  CHECK(parse_ok("revision = 'a'\ndown_revision = 'b'\n").down_revisions == Strings{"b"});
  // A parenthesised string is a string, a one-element tuple a sequence of one.
  CHECK(parse_ok("revision = 'a'\ndown_revision = ('b')\n").down_revisions == Strings{"b"});
  CHECK(parse_ok("revision = 'a'\ndown_revision = ('b',)\n").down_revisions == Strings{"b"});
  CHECK(parse_ok("revision = 'a'\ndown_revision = ['b']\n").down_revisions == Strings{"b"});
  // A tuple without parentheses.
  CHECK(parse_ok("revision = 'a'\ndown_revision = 'b', 'c'\n").down_revisions == Strings{"b", "c"});
}

TEST_CASE("multi-line tuples and lists with comments and trailing commas") {
  RevisionScript s = parse_ok(
      "revision = 'm'\n"
      "down_revision = (\n"
      "    'b',  # left\n"
      "    # between\n"
      "'c',\n"
      "    \"\"\"d\"\"\",\n"
      ")\n"
      "branch_labels = [\n"
      "    'x',\n"
      "    'y',\n"
      "]\n"
      "depends_on = ('e',\n"
      "              )\n");
  CHECK(s.down_revisions == Strings{"b", "c", "d"});
  CHECK(s.down_revision_line == 2);
  CHECK(s.branch_labels == Strings{"x", "y"});
  CHECK(s.depends_on == Strings{"e"});
}

TEST_CASE("the last module-level assignment wins") {
  RevisionScript s = parse_ok(
      "revision = 'first'\n"
      "down_revision = 'p'\n"
      "revision = 'second'\n");
  CHECK(s.revision == "second");
  CHECK(s.revision_line == 3);
  // An earlier non-literal value is overwritten, so it is not an error.
  CHECK(parse_ok("revision = make()\nrevision = 'b'\ndown_revision = None\n").revision == "b");
}

TEST_CASE("assignments that are not module-level are ignored") {
  RevisionScript s = parse_ok(
      "\"\"\"Add things.\n"
      "\n"
      "Revision ID: docstring_id\n"
      "Revises: docstring_parent\n"
      "revision = \"in_the_docstring\"\n"
      "\"\"\"\n"
      "revision = 'real'\n"
      "down_revision = 'parent'\n"
      "SQL = '''\n"
      "revision = \"fake\"\n"
      "down_revision = 'fake_parent'\n"
      "'''\n"
      "# revision = 'commented'\n"
      "def upgrade():\n"
      "    revision = 'in_function'\n"
      "    op.execute(\"\"\"\n"
      "revision = 'in_sql_in_function'\n"
      "\"\"\")\n"
      "class C:\n"
      "    revision = 'in_class'\n"
      "if True:\n"
      "    revision = 'in_if'\n"
      "else:\n"
      "\trevision = 'in_else_tab'\n"
      "try:\n"
      "    down_revision = 'in_try'\n"
      "except Exception:\n"
      "    down_revision = 'in_except'\n"
      "if True: revision = 'one_line_if'\n"
      "for x in []: down_revision = 'one_line_for'\n"
      "while False: revision = 'one_line_while'\n"
      "with open(__file__): revision = 'one_line_with'\n"
      "x = dict(revision='keyword_argument')\n"
      "op.revision = 'an_attribute'\n"
      "options['revision'] = 'a_subscript'\n"
      "f = lambda revision='default': revision\n");
  CHECK(s.revision == "real");
  CHECK(s.revision_line == 7);
  CHECK(s.down_revisions == Strings{"parent"});
}

TEST_CASE("semicolons and backslash continuations") {
  RevisionScript s = parse_ok(
      "revision = 'a'; down_revision = \\\n"
      "    'b'\n"
      "import os; branch_labels = 'lbl'\n");
  CHECK(s.revision == "a");
  CHECK(s.down_revisions == Strings{"b"});
  CHECK(s.down_revision_line == 1);
  CHECK(s.branch_labels == Strings{"lbl"});
}

TEST_CASE("f-strings, nested quotes and brackets inside strings do not desynchronise") {
  RevisionScript s = parse_ok(
      "msg = f\"{'revision = 1'} {d[\"k\"]} {x:>{width}} {{literal}} (\"\n"
      "t = f'''\n"
      "revision = {\"nope\"}\n"
      "'''\n"
      "u = \"( [ {\"\n"
      "revision = 'after_fstrings'\n"
      "down_revision = None\n");
  CHECK(s.revision == "after_fstrings");
  CHECK(s.revision_line == 6);
}

TEST_CASE("a form feed before a statement does not indent it") {
  RevisionScript s = parse_ok("import os\n\f\nrevision = 'a'\n\fdown_revision = None\n");
  CHECK(s.revision == "a");
  CHECK(s.down_revisions.empty());
}

TEST_CASE("CRLF line endings and a byte order mark") {
  RevisionScript s = parse_ok(
      "\xEF\xBB\xBF\"\"\"doc\r\nrevision = 'x'\r\n\"\"\"\r\nrevision = 'crlf'\r\ndown_revision = "
      "(\r\n  'p',\r\n)\r\n");
  CHECK(s.revision == "crlf");
  CHECK(s.revision_line == 4);
  CHECK(s.down_revisions == Strings{"p"});
}

TEST_CASE("values that are not literals are errors with the line") {
  const char* cases[] = {
      "down_revision = PARENT\n",        "down_revision = make_parent()\n",
      "down_revision = f'p'\n",          "down_revision = 'a' + 'b'\n",
      "down_revision = 'a'.upper()\n",   "down_revision = 'a' if X else 'b'\n",
      "down_revision = ('a', PARENT)\n", "down_revision = 'a' f'b'\n",
      "down_revision = '\\N{BULLET}'\n",
  };
  for (const char* value : cases) {
    CAPTURE(value);
    RevisionParseResult result = parse(std::string("revision = 'r'\n") + value);
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].file == "m.py");
    CHECK(result.errors[0].line == 2);
    CHECK(result.errors[0].message == "down_revision: value is not a literal");
    // The revision itself is still known, so children of it do not cascade into errors.
    REQUIRE(result.script.has_value());
    CHECK(result.script->revision == "r");
    CHECK_FALSE(result.script->down_revision_valid);
  }
}

TEST_CASE("assignment forms we do not evaluate are errors, not guesses") {
  RevisionIssue unpack = parse_error("revision, down_revision = 'a', None\nrevision = 'b'\n");
  // `revision` is reassigned afterwards (fine); the unpacking of down_revision is the last.
  CHECK(unpack.line == 1);
  CHECK(unpack.message == "down_revision: value is not a literal (assignment by unpacking)");
  RevisionIssue augmented = parse_error("revision = 'a'\ndown_revision = None\nrevision += 'b'\n");
  CHECK(augmented.line == 3);
  CHECK(augmented.message == "revision: value is not a literal (augmented assignment)");
}

TEST_CASE("wrongly typed literals") {
  CHECK(parse_error("revision = None\ndown_revision = None\n").message ==
        "revision: value must be a string");
  CHECK(parse_error("revision = ('a',)\ndown_revision = None\n").message ==
        "revision: value must be a string");
  CHECK(parse_error("revision = b'a'\ndown_revision = None\n").message ==
        "revision: value must be a string");
  CHECK(parse_error("revision = 'a'\ndown_revision = 1\n").message ==
        "down_revision: value must be None, a string, or a tuple or list of strings");
  CHECK(parse_error("revision = 'a'\ndown_revision = ('b', None)\n").message ==
        "down_revision: value must be None, a string, or a tuple or list of strings");
  CHECK(parse_error("revision = 'a'\ndown_revision = (('b', 'c'),)\n").message ==
        "down_revision: value must be None, a string, or a tuple or list of strings");
  CHECK(parse_error("revision = 'a'\ndown_revision = None\nbranch_labels = True\n").line == 3);
}

TEST_CASE("missing revision or down_revision") {
  RevisionParseResult no_revision = parse("down_revision = None\n");
  REQUIRE(no_revision.errors.size() == 1);
  CHECK(no_revision.errors[0].line == 0);
  CHECK(no_revision.errors[0].message == "revision is not assigned at module level");
  CHECK_FALSE(no_revision.script.has_value());

  RevisionParseResult indented = parse("def f():\n    revision = 'a'\ndown_revision = None\n");
  REQUIRE(indented.errors.size() == 1);
  CHECK_FALSE(indented.script.has_value());

  RevisionParseResult no_down = parse("revision = 'a'\n");
  REQUIRE(no_down.errors.size() == 1);
  CHECK(no_down.errors[0].message == "down_revision is not assigned at module level");
  REQUIRE(no_down.script.has_value());
  CHECK_FALSE(no_down.script->down_revision_valid);
}

TEST_CASE("syntax errors are reported once, with the line where the problem starts") {
  RevisionParseResult unterminated =
      parse("revision = 'a'\ndown_revision = None\nSQL = \"\"\"\nx\n");
  REQUIRE(unterminated.errors.size() == 1);
  CHECK(unterminated.errors[0].line == 3);
  CHECK(unterminated.errors[0].message ==
        "syntax error: unterminated triple-quoted string literal");
  REQUIRE(unterminated.script.has_value());  // what came before is still read
  CHECK(unterminated.script->revision == "a");

  RevisionParseResult newline_in_string = parse("revision = 'a\ndown_revision = None\n");
  REQUIRE(newline_in_string.errors.size() == 1);
  CHECK(newline_in_string.errors[0].line == 1);
  CHECK_FALSE(newline_in_string.script.has_value());

  RevisionParseResult bracket = parse("revision = 'a'\ndown_revision = (\n  'b',\n");
  REQUIRE(bracket.errors.size() == 1);
  CHECK(bracket.errors[0].line == 2);
}

}  // namespace driftwatch

namespace driftwatch {

// Issue 14 point 5: what Alembic accepts is read as Alembic reads it.
TEST_CASE("an empty string is None for down_revision and depends_on, as in Alembic") {
  RevisionScript s = parse_ok("revision = 'a'\ndown_revision = ''\ndepends_on = \"\"\n");
  CHECK(s.down_revisions.empty());
  CHECK(s.down_revision_valid);
  CHECK(s.depends_on.empty());
  CHECK(parse_ok("revision = 'a'\ndown_revision = None\ndepends_on = ('',)\n").depends_on.empty());
  // A tuple holding '' is no None for down_revision in Alembic: it stays a (missing) parent.
  CHECK(parse_ok("revision = 'a'\ndown_revision = ('',)\n").down_revisions == Strings{""});
}

TEST_CASE("statements after ';' behind a compound statement's header are in its body") {
  RevisionScript s = parse_ok(
      "revision = 'a'\n"
      "down_revision = None\n"
      "if TYPE_CHECKING: import os; down_revision = 'x'\n"
      "for _ in (): pass; revision = 'y'\n"
      "class Meta: branch_labels = 'z'; depends_on = 'w'\n"
      "while False: x = 1; revision = 'v'\n"
      "with ctx: revision = 'u'; down_revision = 'u'\n");
  CHECK(s.revision == "a");
  CHECK(s.down_revisions.empty());
  CHECK(s.branch_labels.empty());
  CHECK(s.depends_on.empty());
  // A lambda is an expression, not a compound statement.
  CHECK(parse_ok("f = lambda: 0; revision = 'b'\ndown_revision = None\n").revision == "b");
}

}  // namespace driftwatch
