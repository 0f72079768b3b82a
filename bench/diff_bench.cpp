// Times diff_schemas on two synthetic schemas of N tables (20 columns, 3 indexes, a primary key
// each) and reports the median over several runs, next to a baseline that only copies the
// snapshot's object vector (the cost floor of touching every object once).
//
//   build-x/bench/driftwatch_diff_bench [tables=1000] [runs=15]
//
// Target (assignment): under 50 ms for 1,000 tables.
// Also: loading a versions directory of 10,000 Alembic revision files (RevisionGraph::load),
// next to a baseline that only reads the same files.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "driftwatch/bounded_read.hpp"
#include "driftwatch/diff.hpp"
#include "driftwatch/revision_graph.hpp"
#include "driftwatch/snapshot_json.hpp"

namespace {

using driftwatch::ObjectType;
using driftwatch::SchemaObject;
using driftwatch::SchemaSnapshot;

SchemaSnapshot synthetic(int tables) {
  static const char* kTypes[] = {
      "bigint",        "integer", "text", "character varying(64)", "timestamp with time zone",
      "numeric(12,2)", "boolean", "jsonb"};
  SchemaSnapshot s;
  s.schemas = {"public"};
  s.objects.push_back({ObjectType::kSchema, "public", {}, {}});
  for (int t = 0; t < tables; ++t) {
    std::string table = "t" + std::to_string(t);
    std::string qualified = "public." + table;
    std::map<std::string, std::string> child_info = {{"parent", qualified}, {"schema", "public"}};
    s.objects.push_back(
        {ObjectType::kTable,
         qualified,
         {{"kind", "table"}, {"row_security", "off"}, {"force_row_security", "off"}},
         {{"schema", "public"}, {"local_name", table}}});
    for (int c = 0; c < 20; ++c) {
      std::string col = "c" + std::to_string(c);
      auto info = child_info;
      info["local_name"] = col;
      info["position"] = std::to_string(c + 1);
      std::map<std::string, std::string> attrs = {{"type", kTypes[c % 8]},
                                                  {"nullable", c % 3 == 0 ? "false" : "true"}};
      if (c == 0) attrs["identity"] = "by default";
      if (c % 5 == 4) attrs["default"] = "0";
      s.objects.push_back({ObjectType::kColumn, qualified + "." + col, attrs, info});
    }
    for (int i = 0; i < 3; ++i) {
      std::string name = table + "_c" + std::to_string(i + 1) + "_idx";
      auto info = child_info;
      info["local_name"] = name;
      s.objects.push_back({ObjectType::kIndex,
                           "public." + name,
                           {{"definition", "CREATE INDEX " + name + " ON " + qualified +
                                               " USING btree (c" + std::to_string(i + 1) + ")"},
                            {"unique", "false"},
                            {"primary", "false"}},
                           info});
    }
    auto info = child_info;
    info["local_name"] = table + "_pkey";
    s.objects.push_back({ObjectType::kConstraint,
                         qualified + "." + table + "_pkey",
                         {{"type", "primary_key"},
                          {"definition", "PRIMARY KEY (c0)"},
                          {"deferrable", "not deferrable"},
                          {"validated", "true"}},
                         info});
  }
  s.normalize_order();
  return s;
}

// A few drifts of each kind, as a real drifted database would have.
SchemaSnapshot drifted(SchemaSnapshot s) {
  for (SchemaObject& o : s.objects) {
    if (o.name == "public.t10.c3") o.attrs["type"] = "integer";
    if (o.name == "public.t20.c1") o.attrs["nullable"] = "false";
    if (o.name == "public.t30.c4") o.attrs.erase("default");
  }
  s.objects.erase(std::remove_if(s.objects.begin(), s.objects.end(),
                                 [](const SchemaObject& o) {
                                   return o.name == "public.t40.c7" ||
                                          o.name == "public.t50_c2_idx";
                                 }),
                  s.objects.end());
  s.objects.push_back({ObjectType::kColumn,
                       "public.t60.extra",
                       {{"type", "text"}, {"nullable", "false"}},
                       {{"parent", "public.t60"}}});
  s.normalize_order();
  return s;
}

template <typename F>
double median_ms(int runs, F&& body) {
  std::vector<double> times;
  for (int r = 0; r < runs; ++r) {
    auto start = std::chrono::steady_clock::now();
    body();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int tables = argc > 1 ? std::atoi(argv[1]) : 1000;
  int runs = argc > 2 ? std::atoi(argv[2]) : 15;
  if (tables <= 0 || runs <= 0) {
    std::fprintf(stderr, "usage: %s [tables] [runs]\n", argv[0]);
    return 2;
  }
  SchemaSnapshot expected = synthetic(tables);
  SchemaSnapshot actual = drifted(expected);
  SchemaSnapshot shuffled = actual;
  std::reverse(shuffled.objects.begin(), shuffled.objects.end());

  size_t findings = 0;
  volatile size_t sink = 0;
  double copy = median_ms(runs, [&] {
    std::vector<SchemaObject> objects = actual.objects;
    sink = sink + objects.size();
  });
  double identical =
      median_ms(runs, [&] { findings = driftwatch::diff_schemas(expected, expected).size(); });
  double drift =
      median_ms(runs, [&] { findings = driftwatch::diff_schemas(expected, actual).size(); });
  size_t drift_findings = findings;
  double unsorted =
      median_ms(runs, [&] { findings = driftwatch::diff_schemas(expected, shuffled).size(); });
  std::string json;
  double to_json =
      median_ms(std::max(1, runs / 3), [&] { json = driftwatch::snapshot_to_json(actual); });
  double from_json = median_ms(std::max(1, runs / 3), [&] {
    sink = sink + driftwatch::snapshot_from_json(json, "bench").objects.size();
  });

  // A linear chain of 10,000 revision files, each like an autogenerated Alembic migration.
  const std::filesystem::path versions =
      std::filesystem::temp_directory_path() /
      ("driftwatch-bench-versions-" + std::to_string(::getpid()));
  std::filesystem::create_directories(versions);
  constexpr int kRevisions = 10000;
  std::vector<std::string> files;
  for (int i = 0; i < kRevisions; ++i) {
    const std::string name = (versions / ("r" + std::to_string(i) + ".py")).string();
    std::ofstream(name)
        << "\"\"\"Step " << i << "\n\nRevision ID: r" << i
        << "\n\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = 'r" << i
        << "'\ndown_revision = "
        << (i == 0 ? std::string("None") : "'r" + std::to_string(i - 1) + "'")
        << "\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n"
           "    op.add_column('t', sa.Column('c"
        << i << "', sa.Integer()))\n\n\ndef downgrade() -> None:\n    pass\n";
    files.push_back(name);
  }
  const int load_runs = std::max(1, runs / 3);
  double read_files = median_ms(load_runs, [&] {
    std::string text, why;
    for (const std::string& file : files) {
      driftwatch::read_regular_file(file, driftwatch::kMaxRevisionFileBytes, text, why);
      sink = sink + text.size();
    }
  });
  size_t loaded = 0;
  double load_graph = median_ms(
      load_runs, [&] { loaded = driftwatch::RevisionGraph::load({versions.string()}).size(); });
  std::filesystem::remove_all(versions);

  std::printf("objects: %zu expected, %zu actual (%d tables)\n", expected.objects.size(),
              actual.objects.size(), tables);
  std::printf("median of %d runs:\n", runs);
  std::printf("  baseline: copy object vector      %8.2f ms\n", copy);
  std::printf("  diff identical                    %8.2f ms\n", identical);
  std::printf("  diff drifted (%zu findings)        %8.2f ms\n", drift_findings, drift);
  std::printf("  diff drifted, actual unsorted     %8.2f ms\n", unsorted);
  std::printf("  snapshot_to_json (%zu bytes)  %8.2f ms\n", json.size(), to_json);
  std::printf("  snapshot_from_json                %8.2f ms\n", from_json);
  std::printf("  baseline: read %d revision files %8.2f ms\n", kRevisions, read_files);
  std::printf("  load revision graph (%zu revisions) %8.2f ms (%.1fx the reads)\n", loaded,
              load_graph, load_graph / read_files);
  return drift < 50.0 ? 0 : 1;
}
