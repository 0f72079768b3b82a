// heads subcommand: the revision graph of Alembic version directories.
#include "cmd_heads.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.hpp"
#include "driftwatch/revision_graph.hpp"

namespace driftwatch {

namespace {

constexpr const char* kUsage =
    "usage: driftwatch heads --versions DIR [--versions DIR]... [--behind REV]... "
    "[--format text|json] [--recursive]\n";
constexpr int kExitSingleHead = 0;
constexpr int kExitSeveralHeads = 1;
constexpr int kExitUsage = 2;

using Json = nlohmann::ordered_json;

Json issues_json(const std::vector<RevisionIssue>& issues) {
  Json list = Json::array();
  for (const RevisionIssue& issue : issues) {
    list.push_back({{"file", issue.file}, {"line", issue.line}, {"message", issue.message}});
  }
  return list;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) {
      out += separator;
    }
    out += item;
  }
  return out;
}

std::string list_or_none(const std::vector<std::string>& items) {
  return items.empty() ? "(none)" : join(items, ", ");
}

struct BehindRequest {
  std::vector<std::string> from;  // as given, sorted, distinct
  RevisionBehind result;
};

void render_text(const std::vector<std::string>& versions, const RevisionGraph& graph,
                 const BehindRequest* behind, std::ostream& out) {
  out << "versions: " << join(versions, ", ") << "\n";
  out << "revisions: " << graph.size() << "\n";
  out << "heads (" << graph.heads().size() << "): " << list_or_none(graph.heads()) << "\n";
  out << "bases (" << graph.bases().size() << "): " << list_or_none(graph.bases()) << "\n";
  out << "merge points: " << list_or_none(graph.merge_points()) << "\n";
  out << "branch points: " << list_or_none(graph.branch_points()) << "\n";
  if (!graph.branch_labels().empty()) {
    out << "branch labels:\n";
    for (const auto& [rev, labels] : graph.branch_labels()) {
      out << "  " << rev << ": " << join(labels, ", ") << "\n";
    }
  }
  if (!graph.depends_on().empty()) {
    out << "depends on:\n";
    for (const auto& [rev, deps] : graph.depends_on()) {
      out << "  " << rev << ": " << join(deps, ", ") << "\n";
    }
  }
  if (behind != nullptr) {
    out << "behind from " << join(behind->from, ", ") << ": " << behind->result.behind_by
        << " pending\n";
    for (const std::string& rev : behind->result.pending) {
      out << "  " << rev << "\n";
    }
  }
  if (!graph.warnings().empty()) {
    out << "warnings (" << graph.warnings().size() << "):\n";
    for (const RevisionIssue& w : graph.warnings()) {
      out << "  " << w.to_string() << "\n";
    }
  }
  if (!graph.errors().empty()) {
    out << "errors (" << graph.errors().size() << "):\n";
    for (const RevisionIssue& e : graph.errors()) {
      out << "  " << e.to_string() << "\n";
    }
    out << "result: the migration files have errors\n";
  } else if (graph.heads().size() > 1) {
    out << "result: several heads (branched history; merge them with `alembic merge`)\n";
  } else if (graph.heads().empty()) {
    out << "result: no revisions\n";
  } else {
    out << "result: single head\n";
  }
}

std::string render_json(const RevisionGraph& graph, const BehindRequest* behind) {
  Json j;
  j["heads"] = graph.heads();
  j["bases"] = graph.bases();
  j["revisions"] = graph.size();
  j["merge_points"] = graph.merge_points();
  j["branch_points"] = graph.branch_points();
  j["branch_labels"] = Json::object();
  for (const auto& [rev, labels] : graph.branch_labels()) {
    j["branch_labels"][rev] = labels;
  }
  j["depends_on"] = Json::object();
  for (const auto& [rev, deps] : graph.depends_on()) {
    j["depends_on"][rev] = deps;
  }
  j["errors"] = issues_json(graph.errors());
  j["warnings"] = issues_json(graph.warnings());
  if (behind != nullptr) {
    j["behind"] = Json::array({{{"from", behind->from},
                                {"behind_by", behind->result.behind_by},
                                {"pending", behind->result.pending}}});
  }
  // File contents are not guaranteed UTF-8: replace invalid bytes rather than throw.
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace

int run_heads(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ParsedArgs parsed;
  try {
    parsed = parse_args(args, {"versions", "behind", "format"}, {"recursive", "help"});
  } catch (const UsageError& error) {
    err << "driftwatch heads: " << error.what() << "\n" << kUsage;
    return kExitUsage;
  }
  if (parsed.flag("help")) {
    out << kUsage;
    return kExitSingleHead;
  }
  const std::string format = parsed.get("format", "text");
  if (format != "text" && format != "json") {
    err << "driftwatch heads: --format must be text or json\n" << kUsage;
    return kExitUsage;
  }
  const std::vector<std::string>& versions = parsed.all("versions");
  if (versions.empty() ||
      std::any_of(versions.begin(), versions.end(), [](const auto& v) { return v.empty(); })) {
    err << "driftwatch heads: at least one --versions DIR is required\n" << kUsage;
    return kExitUsage;
  }

  const RevisionGraph graph = RevisionGraph::load(versions, parsed.flag("recursive"));

  BehindRequest behind;
  const bool want_behind = parsed.has("behind");
  if (want_behind) {
    std::vector<std::string> unknown;
    // Revision ids, branch labels, or unique prefixes of ids, as Alembic accepts them.
    for (const std::string& rev : parsed.all("behind")) {
      std::string error;
      if (auto resolved = graph.resolve_prefix(rev, &error)) {
        behind.from.push_back(graph.resolve(rev) ? rev : *resolved);
      } else if (error.find("ambiguous") != std::string::npos) {
        err << "driftwatch heads: --behind: " << error << "\n";
        return kExitUsage;
      } else {
        unknown.push_back(rev);
      }
    }
    std::sort(behind.from.begin(), behind.from.end());
    behind.from.erase(std::unique(behind.from.begin(), behind.from.end()), behind.from.end());
    if (!unknown.empty()) {
      err << "driftwatch heads: --behind " << join(unknown, ", ")
          << (unknown.size() == 1 ? " is" : " are")
          << " neither a revision id nor a branch label in " << join(versions, ", ") << "\n";
      return kExitUsage;
    }
    behind.result = graph.behind(behind.from);
  }

  if (format == "json") {
    out << render_json(graph, want_behind ? &behind : nullptr);
  } else {
    render_text(versions, graph, want_behind ? &behind : nullptr, out);
  }
  if (graph.has_errors()) {
    return kExitUsage;
  }
  return graph.heads().size() > 1 ? kExitSeveralHeads : kExitSingleHead;
}

}  // namespace driftwatch
