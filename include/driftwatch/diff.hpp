// Schema diff: compares an expected schema (what the migrations produce) with a live one and
// returns findings (DESIGN.md "Findings" and "Risk"), each with the SQL that would make the
// database match the expected schema.
#pragma once

#include <string>
#include <vector>

#include "driftwatch/check.hpp"
#include "driftwatch/ignore.hpp"
#include "driftwatch/schema.hpp"

namespace driftwatch {

struct DiffOptions {
  bool compare_privileges = false;  // off: privilege objects are skipped on both sides
  bool compare_comments = false;    // off: `comment` attributes are skipped on both sides
  IgnoreRules ignore;               // findings matching any rule are dropped
  // PostgreSQL major version (e.g. 15) the fix SQL is written for; 0 = the actual snapshot's
  // server_version. Newer forms (CREATE OR REPLACE TRIGGER, 14+) are used only where it has them;
  // when unknown, fixes use forms every supported version accepts.
  int fix_server_major = 0;
};

// Findings for every difference, sorted by sort_findings. Inputs need not be sorted. Children
// (columns, indexes, constraints, triggers, policies, privileges, owned sequences) of a table
// that is missing or extra as a whole are folded into that table's one finding.
std::vector<Finding> diff_schemas(const SchemaSnapshot& expected, const SchemaSnapshot& actual,
                                  const DiffOptions& options = {});

// Severity (most severe first), then object_type (declaration order), object, attribute, kind.
void sort_findings(std::vector<Finding>& findings);

// The one normalisation applied to both sides of a compared attribute before deciding that two
// different texts are drift. Returns the canonical form of `value` (see normalize.cpp for the
// rules, each of which removes representation noise only).
std::string normalize_attr(ObjectType type, const std::string& attr, const std::string& value);

// True when a column of type `actual` cannot hold every value of type `expected` (format_type
// texts), e.g. bigint -> integer, varchar(32) -> varchar(16), text -> varchar(n),
// timestamptz <-> timestamp.
bool type_narrows(const std::string& expected, const std::string& actual);

// Like PostgreSQL's quote_ident: bare when [a-z_][a-z0-9_$]* and not a keyword, else "..."
// with embedded quotes doubled.
std::string quote_ident(const std::string& ident);
// 'text' with embedded single quotes doubled (standard_conforming_strings, the default).
std::string quote_literal(const std::string& text);

}  // namespace driftwatch
