// Convergence of fix scripts: the script `driftwatch check --fix-script` prints for a drifted
// database, run by psql as the superuser (a separate admin connection, never driftwatch), must
// leave no findings, or only the leftovers documented in kLeftovers below.
//
// Every drift scenario that goes through a test's drift() helper is checked this way (see
// drift_matrix_pgtest.cpp and drift_depth_pgtest.cpp), so a scenario added there is covered
// without a copy here.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "driftwatch/check.hpp"
#include "driftwatch/diff.hpp"
#include "driftwatch/fix_script.hpp"
#include "pg_test_support.hpp"

namespace driftwatch {
namespace pgtest {

// The finding's one-line form, as the drift matrix writes it.
inline std::string finding_line(const Finding& f) {
  std::string line = f.kind + " " + to_string(f.object_type) + " " + f.object;
  if (!f.attribute.empty()) line += " [" + f.attribute + "]";
  return line + " " + to_string(f.severity) + " " + f.risk;
}

// Leftovers allowed after a scenario's fix:
// - a finding without fix SQL (the script lists it under "handle by hand"), e.g. an extra enum
//   label;
// - an extra NOT NULL column without default, fixed by DROP NOT NULL (the column and its data are
//   kept), stays as an extra nullable column (info);
// - an enum with a missing label and an extra one: the fix adds the missing label, PostgreSQL
//   cannot drop the extra one, so the labels still differ (info: only extra labels).
inline bool documented_leftover(const Finding& after, const std::vector<Finding>& before) {
  for (const Finding& b : before) {
    if (b.object_type != after.object_type || b.object != after.object) continue;
    if (!b.fix_sql && b.kind == after.kind && b.attribute == after.attribute) return true;
    if (b.kind == "extra" && after.kind == "extra" && b.object_type == ObjectType::kColumn &&
        b.risk == risk::kNotNullViolation && after.risk == risk::kNone) {
      return true;
    }
    if (b.kind == "changed" && after.kind == "changed" && b.object_type == ObjectType::kEnum &&
        after.attribute == "labels" && after.severity == Severity::kInfo) {
      return true;
    }
  }
  return false;
}

// Scenarios known not to converge with today's fix SQL: a distinctive part of their drift SQL
// and the reason. A scenario listed here must still not converge (the list cannot go stale
// silently).
inline const std::vector<std::pair<std::string, std::string>>& known_divergent() {
  static const std::vector<std::pair<std::string, std::string>> known = {};
  return known;
}

// Runs `script` with psql -v ON_ERROR_STOP=1 against `url`; returns psql's exit status and its
// stderr in `errors`. The password travels in the environment, not in argv.
inline int run_psql_script(const std::string& url, const std::string& script, std::string& errors) {
  const UrlParts parts = parse_url(url);
  const std::string base = "/tmp/dw_converge_" + unique_name("s");
  const std::string sql_file = base + ".sql";
  const std::string err_file = base + ".err";
  {
    std::ofstream out(sql_file);
    out << script;
  }
  ::setenv("PGPASSWORD", parts.password.c_str(), 1);
  const std::string command = "psql -X -q -v ON_ERROR_STOP=1 -h '" + parts.host + "' -p '" +
                              parts.port + "' -U '" + parts.user + "' -d '" + parts.dbname +
                              "' -f '" + sql_file + "' >/dev/null 2>'" + err_file + "'";
  const int rc = std::system(command.c_str());
  ::unsetenv("PGPASSWORD");
  std::ifstream in(err_file);
  errors.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::remove(sql_file.c_str());
  std::remove(err_file.c_str());
  return rc;
}

// Applies the fix script of `findings` to the drifted database at `url`, re-reads it with
// `reread` and diffs it against `expected`; CHECKs that nothing but documented leftovers remain.
// Returns true when the database is then exactly at `expected` (no finding at all), so that a
// caller may use it as a clean copy.
template <typename Reread>
bool check_convergence(const std::string& scenario, const std::string& url,
                       const SchemaSnapshot& expected, const std::vector<Finding>& findings,
                       const DiffOptions& diff_options, Reread reread) {
  if (findings.empty()) return true;
  const std::string script = render_fix_script("scenario", findings);
  std::string errors;
  const int rc = run_psql_script(url, script, errors);
  std::vector<std::string> remaining;
  bool exact = false;
  if (rc == 0) {
    const std::vector<Finding> after = diff_schemas(expected, reread(), diff_options);
    exact = after.empty();
    for (const Finding& f : after) {
      if (!documented_leftover(f, findings)) remaining.push_back(finding_line(f));
    }
  }
  const bool converged = rc == 0 && remaining.empty();
  std::string why = rc != 0 ? "the script failed: " + errors : "";
  for (const auto& line : remaining) why += "still: " + line + "\n";
  for (const auto& [part, reason] : known_divergent()) {
    if (scenario.find(part) == std::string::npos) continue;
    CHECK_MESSAGE(!converged,
                  "scenario now converges, remove it from known_divergent(): " << scenario);
    MESSAGE("known not to converge (" << reason << "): " << scenario << "\n" << why);
    return false;
  }
  CHECK_MESSAGE(converged, "fix script did not converge for drift `" << scenario << "`:\n"
                                                                     << why << "script:\n"
                                                                     << script);
  return exact;
}

// Scenarios whose adoption (fix-forward's default) is known not to converge: a distinctive part
// of their drift SQL and the reason. Listed ones must still not converge.
inline const std::vector<std::pair<std::string, std::string>>& known_not_adoptable() {
  static const std::vector<std::pair<std::string, std::string>> known = {
      {"CREATE EXTENSION pg_trgm VERSION '1.5'",
       "adopting an older extension version: pg_trgm has no downgrade path from 1.6 to 1.5"},
  };
  return known;
}

// Fix-forward's adopt direction: the SQL that turns a database at the code's schema into the
// drifted one (the fixes of the reversed comparison, in idempotent form and dependency order, as
// `driftwatch fix-forward` writes them) is run statement by statement in autocommit mode on the
// drifted database, where it must change nothing, and on a clean copy at head, which must end up
// equal to the drifted one (up to documented leftovers). `clean_url()` is called once the
// drifted side is checked and returns that clean copy's URL (drift_matrix_pgtest.cpp first
// converges the drifted database with its fix script and reuses it when it is exactly at head,
// which saves a database copy per scenario); `reread_clean()` reads it.
template <typename RereadDrifted, typename CleanUrl, typename RereadClean>
void check_adoption(const std::string& scenario, const std::string& drifted_url, CleanUrl clean_url,
                    const SchemaSnapshot& drifted, const SchemaSnapshot& expected,
                    const DiffOptions& diff_options, RereadDrifted reread_drifted,
                    RereadClean reread_clean) {
  const std::vector<Finding> adopt = diff_schemas(drifted, expected, diff_options);
  if (adopt.empty()) return;
  const std::vector<FixStatement> statements = order_fix_statements(adopt);
  std::string why;
  auto apply = [&](const std::string& url, const char* side) {
    for (const FixStatement& s : statements) {
      const std::string sql = idempotent_statement(s);
      try {
        exec_sql(url, sql);
      } catch (const std::exception& e) {
        why += std::string("on the ") + side + " database `" + sql + "` failed: " + e.what() + "\n";
        return false;
      }
    }
    return true;
  };
  bool converged = apply(drifted_url, "drifted");
  if (converged) {
    for (const Finding& f : diff_schemas(drifted, reread_drifted(), diff_options)) {
      why += "drifted database changed: " + finding_line(f) + "\n";
      converged = false;
    }
  }
  if (converged && apply(clean_url(), "clean")) {
    for (const Finding& f : diff_schemas(drifted, reread_clean(), diff_options)) {
      if (documented_leftover(f, adopt)) continue;
      why += "clean database still: " + finding_line(f) + "\n";
      converged = false;
    }
  } else {
    converged = false;
  }
  for (const auto& [part, reason] : known_not_adoptable()) {
    if (scenario.find(part) == std::string::npos) continue;
    CHECK_MESSAGE(!converged,
                  "adoption now converges, remove it from known_not_adoptable(): " << scenario);
    MESSAGE("adoption known not to converge (" << reason << "): " << scenario << "\n" << why);
    return;
  }
  std::string sql;
  for (const FixStatement& s : statements) sql += idempotent_statement(s) + "\n";
  CHECK_MESSAGE(converged, "adopting drift `" << scenario << "` did not converge:\n"
                                              << why << "statements:\n"
                                              << sql);
}

}  // namespace pgtest
}  // namespace driftwatch
