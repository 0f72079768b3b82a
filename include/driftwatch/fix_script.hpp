// Fix scripts: the findings' fix SQL split into statements, classified by their text, ordered by
// dependency and rendered as one script per target (`driftwatch check --fix-script`), or made
// idempotent for an Alembic fix-forward migration (`driftwatch fix-forward`).
//
// Everything here reads only the SQL text (and the finding's object type as a fallback), so it
// works with whatever form the diff writes a fix in.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "driftwatch/check.hpp"

namespace driftwatch {

// Splits SQL text into statements at top-level semicolons. Quotes ('...', E'...', "..."),
// dollar quotes ($$...$$, $tag$...$tag$), comments (-- and nested /* */) and the BEGIN ... END of
// SQL-standard routine bodies (CREATE FUNCTION ... BEGIN ATOMIC ... END) are not split.
// Comments before a statement stay with it; each statement ends with ';' (added when missing).
// Whitespace-only and comment-only pieces at the end are attached to the previous statement.
std::vector<std::string> split_sql_statements(const std::string& sql);

// Dependency order of object kinds (the order in which a fix script creates them; drops run in
// the reverse order). Indexes come after views and functions: an index may be on a materialized
// view or call a function. Enum and range types come before domains (a domain may be over an
// enum), domains before composite types (an attribute may use either), all before tables.
enum class FixRank {
  kSchema = 0,
  kExtension,
  kType,           // enum and range types
  kDomain,         // domains
  kCompositeType,  // composite types
  kSequence,
  kTable,
  kColumn,
  kConstraint,
  kView,
  kFunction,
  kIndex,
  kTrigger,
  kPolicy,
  kPrivilege,
  kComment,
};

struct FixStatement {
  std::string sql;      // as split: leading comments + the statement, ending in ';'
  std::string command;  // the statement without comments, whitespace collapsed
  FixRank rank = FixRank::kTable;
  bool removal = false;              // DROP ..., ALTER TABLE ... DROP COLUMN/CONSTRAINT, REVOKE
  bool destructive = false;          // loses data or objects (marked `-- destructive: ...`)
  std::string destructive_reason;    // why, e.g. "drops the column and its data"
  bool transactional = true;         // false: CONCURRENTLY, ALTER TYPE ... ADD VALUE, VACUUM, ...
  std::string outside_reason;        // why it runs outside a transaction
  bool changes_column_type = false;  // ALTER TABLE ... ALTER COLUMN ... TYPE: first of its rank
  int finding = -1;                  // index of the finding it came from, -1 when none
  std::vector<int> also;             // further findings merged into this statement
};

// Classifies one statement (as returned by split_sql_statements) by its text; `fallback` is the
// rank when the text names no object kind the classifier knows.
FixStatement classify_statement(const std::string& statement, FixRank fallback);
FixRank rank_of(ObjectType type);

// Every finding's fix statements in dependency order, in three phases: removals of dependent
// objects (privileges, policies, triggers, indexes, functions, views, constraints, columns: the
// reverse order), then creations and changes (schemas, extensions, types, sequences, tables,
// columns, constraints, views, functions, indexes, triggers, policies, privileges, comments),
// then removals of what others depend on (tables, sequences, types, extensions, schemas), after
// the changes that move uses away from them. A fix that also creates something (drop and
// recreate) has its removals in the first phase. Within one rank column type changes come first
// (a column's new default may not fit its old type), otherwise the findings' order and each
// fix's own statement order are kept; a statement several fixes share runs once. Adjacent drops of
// the same kind are merged into one statement (DROP TABLE IF EXISTS a, b), so PostgreSQL resolves
// the dependencies among them.
std::vector<FixStatement> order_fix_statements(const std::vector<Finding>& findings);

// The fix script of one target: a header, the findings without fix SQL listed as comments,
// destructive statements preceded by `-- destructive: REASON`, statements that cannot run in a
// transaction on their own, the others grouped in BEGIN; ... COMMIT; blocks (dependency order
// is kept across blocks). A target without findings gets a script that says so.
std::string render_fix_script(const std::string& target, const std::vector<Finding>& findings);

// The same statement rewritten so that running it on a database that already has its effect is
// a no-op: IF [NOT] EXISTS inserted where PostgreSQL has it, CREATE OR REPLACE for views, and a
// DO block that ignores "already exists" for statements without such a form (ADD CONSTRAINT,
// CREATE TYPE, CREATE POLICY, CREATE TRIGGER). Statements that are idempotent already (ALTER
// COLUMN ... SET NOT NULL, GRANT, COMMENT, ...) are returned unchanged.
std::string idempotent_statement(const FixStatement& statement);

// ---- fix-forward migrations ---------------------------------------------------------------

// One finding's part of a fix-forward migration.
struct FixForwardItem {
  Finding finding;      // as `check` reports it (expected = code, actual = database)
  bool revert = false;  // false (adopt): the code adopts the database; true: the DB is reverted
  // Adopt: SQL that turns a database at the code's schema into the database's reality (the fix
  // of the finding with the sides swapped); nullopt when there is none.
  std::optional<std::string> adopt_sql;
};

struct FixForwardMigration {
  std::string revision;       // new revision id
  std::string down_revision;  // the current head
  std::string target;         // the target whose drift it records
  std::string create_date;    // "YYYY-MM-DD HH:MM:SS"
  std::vector<FixForwardItem> items;
};

// The text of an Alembic revision file: upgrade() runs, in dependency order and idempotently,
// each adopted finding's adopt_sql and each reverted finding's fix_sql (statements that cannot
// run in a transaction inside op.get_context().autocommit_block()); downgrade() runs the adopted
// findings' fix_sql (back to the code's previous schema). Findings without SQL are listed as
// comments to handle by hand.
std::string render_fix_forward_migration(const FixForwardMigration& migration);

}  // namespace driftwatch
