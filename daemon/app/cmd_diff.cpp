#include "app/cmd_diff.hpp"

#include <unistd.h>

#include <cstdlib>

#include "app/args.hpp"
#include "app/schema_source.hpp"
#include "driftwatch/diff.hpp"
#include "driftwatch/render.hpp"

namespace driftwatch {

namespace {

constexpr const char* kUsage =
    "usage: driftwatch diff --expected SNAPSHOT|URL --actual SNAPSHOT|URL [--format text|json]\n"
    "                       [--schema NAME]... [--privileges] [--comments]\n";

}  // namespace

int run_diff(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ParsedArgs parsed;
  try {
    parsed = parse_args(args, {"expected", "actual", "format", "schema"},
                        {"privileges", "comments", "help"});
  } catch (const UsageError& e) {
    err << "driftwatch diff: " << e.what() << "\n" << kUsage;
    return 2;
  }
  if (parsed.flag("help")) {
    out << kUsage;
    return 0;
  }
  const std::string format = parsed.get("format", "text");
  if (!parsed.has("expected") || !parsed.has("actual") || (format != "text" && format != "json")) {
    err << kUsage;
    return 2;
  }
  IntrospectOptions options;
  options.schemas = parsed.all("schema");
  options.privileges = parsed.flag("privileges");
  options.comments = parsed.flag("comments");

  const std::string expected_source = parsed.get("expected");
  const std::string actual_source = parsed.get("actual");
  // Both sides at once; when both fail, the expected side's error is the one reported.
  const std::vector<std::string> sources{expected_source, actual_source};
  const std::vector<LoadedSource> loaded = load_schema_sources(sources, options);
  for (size_t i = 0; i < loaded.size(); ++i) {
    if (loaded[i].error) {
      err << "driftwatch diff: " << describe_schema_source(sources[i]) << ": "
          << loaded[i].error->what() << "\n";
      return 3;
    }
  }
  const SchemaSnapshot& expected = *loaded[0].snapshot;
  const SchemaSnapshot& actual = *loaded[1].snapshot;
  DiffOptions diff_options;
  diff_options.compare_privileges = options.privileges;
  diff_options.compare_comments = options.comments;
  std::vector<Finding> findings = diff_schemas(expected, actual, diff_options);

  if (format == "json") {
    out << render_diff_json(describe_schema_source(expected_source),
                            describe_schema_source(actual_source), findings);
  } else {
    out << "expected: " << describe_schema_source(expected_source) << "\n"
        << "actual:   " << describe_schema_source(actual_source) << "\n"
        << render_findings_text(findings, isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR"));
  }
  return findings.empty() ? 0 : 1;
}

}  // namespace driftwatch
