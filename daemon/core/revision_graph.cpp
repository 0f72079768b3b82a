// The Alembic revision graph: reading version directories and the graph's structure.
//
// Rules follow Alembic (alembic/script/base.py and script/revision.py) wherever DESIGN.md is
// silent; each place where that matters says so.
#include "driftwatch/revision_graph.hpp"

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "driftwatch/bounded_read.hpp"

namespace driftwatch {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Alembic's `_only_source_rev_file = re.compile(r"(?!\.\#|__init__)(.*\.py)$")` (matched
// from the start): any name ending in `.py` except those starting with `__init__` or `.#`
// (editor lock files).
bool is_revision_file_name(const std::string& name) {
  return ends_with(name, ".py") && !starts_with(name, "__init__") && !starts_with(name, ".#");
}

// Alembic walks like os.walk(topdown=True): a directory's files sorted by name, then its
// subdirectories sorted by name; `__pycache__` is skipped and directory symlinks are not
// followed (os.walk's default).
void walk(const fs::path& directory, bool recursive, std::vector<std::string>& out,
          std::vector<RevisionIssue>& errors) {
  std::error_code ec;
  fs::directory_iterator it(directory, ec);
  if (ec) {
    errors.push_back({directory.string(), 0, "cannot read version directory: " + ec.message()});
    return;
  }
  std::vector<std::string> files;
  std::vector<std::string> subdirectories;
  for (const fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) {
      break;
    }
    const fs::directory_entry& entry = *it;
    std::string name = entry.path().filename().string();
    std::error_code type_ec;
    if (entry.is_directory(type_ec)) {
      if (!entry.is_symlink(type_ec)) {
        subdirectories.push_back(std::move(name));
      }
    } else {
      files.push_back(std::move(name));
    }
  }
  if (ec) {
    errors.push_back({directory.string(), 0, "cannot read version directory: " + ec.message()});
    return;
  }
  std::sort(files.begin(), files.end());
  for (const std::string& name : files) {
    if (is_revision_file_name(name)) {
      out.push_back((directory / name).string());
    }
  }
  if (!recursive) {
    return;
  }
  std::sort(subdirectories.begin(), subdirectories.end());
  for (const std::string& name : subdirectories) {
    if (ends_with(name, "__pycache__")) {
      continue;
    }
    walk(directory / name, recursive, out, errors);
  }
}

std::string quoted(const std::string& text) { return "'" + text + "'"; }

template <typename T>
void sort_unique(std::vector<T>& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

}  // namespace

std::vector<std::string> list_revision_files(const std::string& directory, bool recursive,
                                             std::vector<RevisionIssue>& errors) {
  std::vector<std::string> files;
  walk(fs::path(directory), recursive, files, errors);
  return files;
}

RevisionGraph RevisionGraph::load(const std::vector<std::string>& version_directories,
                                  bool recursive) {
  std::vector<RevisionIssue> errors;
  std::vector<RevisionIssue> warnings;
  std::vector<RevisionScript> scripts;
  std::unordered_set<std::string> loaded;  // real paths: a file reached twice loads once
  std::string text;
  for (const std::string& directory : version_directories) {
    for (const std::string& file : list_revision_files(directory, recursive, errors)) {
      std::error_code ec;
      fs::path real = fs::weakly_canonical(fs::path(file), ec);
      if (!loaded.insert(ec ? file : real.string()).second) {
        // Alembic: "File ... loaded twice! ignoring. Please ensure version_locations is unique."
        warnings.push_back({file, 0,
                            "file is reached twice through the version directories; "
                            "loaded once"});
        continue;
      }
      std::string why;
      if (!read_regular_file(file, kMaxRevisionFileBytes, text, why)) {
        errors.push_back({file, 0, "cannot read migration file: " + why});
        continue;
      }
      RevisionParseResult parsed = parse_revision_source(text, file);
      errors.insert(errors.end(), parsed.errors.begin(), parsed.errors.end());
      if (parsed.script) {
        scripts.push_back(std::move(*parsed.script));
      }
    }
  }
  return from_scripts(std::move(scripts), std::move(errors), std::move(warnings));
}

RevisionGraph RevisionGraph::from_scripts(std::vector<RevisionScript> scripts,
                                          std::vector<RevisionIssue> errors,
                                          std::vector<RevisionIssue> warnings) {
  RevisionGraph graph;
  graph.errors_ = std::move(errors);
  graph.warnings_ = std::move(warnings);
  graph.nodes_.reserve(scripts.size());
  graph.index_.reserve(scripts.size() * 2);
  for (RevisionScript& script : scripts) {
    const std::string& id = script.revision;
    if (id.empty()) {
      graph.errors_.push_back({script.file, script.revision_line, "revision id is empty"});
      continue;
    }
    // Alembic rejects '@', '-' and '+' (they are revision-spec syntax: branch@head, head-1,
    // base+2); ':' separates ranges (a:b), so such an id could never be named on the command
    // line either.
    std::string illegal;
    for (char c : std::string("@-+:")) {
      if (id.find(c) != std::string::npos) {
        illegal += c;
      }
    }
    if (!illegal.empty()) {
      std::string chars;
      for (char c : illegal) {
        chars += (chars.empty() ? "" : ", ") + quoted(std::string(1, c));
      }
      graph.errors_.push_back(
          {script.file, script.revision_line,
           "revision id " + quoted(id) + " contains illegal character(s) " + chars});
    }
    auto [it, inserted] = graph.index_.emplace(id, static_cast<int>(graph.nodes_.size()));
    if (inserted) {
      graph.nodes_.push_back(Node{std::move(script), {}, {}, 0});
      continue;
    }
    // Alembic warns "Revision X is present more than once" and keeps the later file.
    RevisionScript& earlier = graph.nodes_[static_cast<size_t>(it->second)].script;
    graph.warnings_.push_back({script.file, script.revision_line,
                               "revision " + quoted(id) + " is also defined in " + earlier.file +
                                   ":" + std::to_string(earlier.revision_line) +
                                   "; this later file wins, as in Alembic"});
    earlier = std::move(script);
  }
  graph.build();
  return graph;
}

void RevisionGraph::build() {
  const int n = static_cast<int>(nodes_.size());

  // Branch labels share Alembic's name space with revision ids (both can be named in
  // depends_on and on the command line), so a label may equal neither another label nor an id.
  for (int i = 0; i < n; ++i) {
    const RevisionScript& script = nodes_[static_cast<size_t>(i)].script;
    if (script.branch_labels.empty()) {
      continue;
    }
    for (const std::string& label : script.branch_labels) {
      auto owner = labels_.find(label);
      if (index_.count(label)) {
        errors_.push_back({script.file, script.branch_labels_line,
                           "branch label " + quoted(label) + " of revision " +
                               quoted(script.revision) + " is also a revision id"});
      } else if (owner != labels_.end()) {
        const RevisionScript& other = nodes_[static_cast<size_t>(owner->second)].script;
        errors_.push_back({script.file, script.branch_labels_line,
                           owner->second == i
                               ? "branch label " + quoted(label) + " is listed twice"
                               : "branch label " + quoted(label) + " of revision " +
                                     quoted(script.revision) + " is already used by revision " +
                                     quoted(other.revision) + " (" + other.file + ")"});
      } else {
        labels_.emplace(label, i);
      }
    }
    std::vector<std::string> own = script.branch_labels;
    sort_unique(own);
    branch_labels_.emplace(script.revision, std::move(own));
  }

  for (int i = 0; i < n; ++i) {
    Node& node = nodes_[static_cast<size_t>(i)];
    const RevisionScript& script = node.script;
    const std::string& id = script.revision;
    for (const std::string& down : script.down_revisions) {
      if (down == id) {
        errors_.push_back({script.file, script.down_revision_line,
                           "revision " + quoted(id) + " names itself in down_revision"});
        continue;
      }
      auto it = index_.find(down);
      if (it == index_.end()) {
        errors_.push_back({script.file, script.down_revision_line,
                           labels_.count(down) ? "down_revision " + quoted(down) +
                                                     " is a branch label, not a revision id"
                                               : "down_revision " + quoted(down) + " of revision " +
                                                     quoted(id) + " is not present"});
        continue;
      }
      if (std::find(node.parents.begin(), node.parents.end(), it->second) != node.parents.end()) {
        warnings_.push_back({script.file, script.down_revision_line,
                             "down_revision lists " + quoted(down) + " more than once"});
        continue;
      }
      node.parents.push_back(it->second);
      ++nodes_[static_cast<size_t>(it->second)].children;
    }
    node.needs = node.parents;
    for (const std::string& dep : script.depends_on) {
      int target = index_of(dep);
      if (dep == id || target == i) {
        errors_.push_back({script.file, script.depends_on_line,
                           "revision " + quoted(id) + " names itself in depends_on" +
                               (dep == id ? "" : " (through branch label " + quoted(dep) + ")")});
        continue;
      }
      if (target < 0) {
        errors_.push_back({script.file, script.depends_on_line,
                           "depends_on " + quoted(dep) + " of revision " + quoted(id) +
                               " is neither a revision id nor a branch label"});
        continue;
      }
      if (std::find(node.needs.begin(), node.needs.end(), target) == node.needs.end()) {
        node.needs.push_back(target);
      }
    }
    if (!script.depends_on.empty()) {
      std::vector<std::string> deps = script.depends_on;
      sort_unique(deps);
      depends_on_.emplace(id, std::move(deps));
    }
  }

  for (const Node& node : nodes_) {
    const RevisionScript& script = node.script;
    if (node.children == 0) {
      heads_.push_back(script.revision);
    }
    if (script.down_revisions.empty() && script.down_revision_valid) {
      bases_.push_back(script.revision);
    }
    std::vector<std::string> distinct = script.down_revisions;
    sort_unique(distinct);
    if (distinct.size() > 1) {
      merge_points_.push_back(script.revision);
    }
    if (node.children > 1) {
      branch_points_.push_back(script.revision);
    }
  }
  std::sort(heads_.begin(), heads_.end());
  std::sort(bases_.begin(), bases_.end());
  std::sort(merge_points_.begin(), merge_points_.end());
  std::sort(branch_points_.begin(), branch_points_.end());

  // Cycles through down_revision and depends_on (Alembic's CycleDetected and
  // DependencyCycleDetected): strongly connected components by an iterative Tarjan, so that a
  // chain of 100,000 revisions cannot overflow the stack.
  std::vector<int> order(static_cast<size_t>(n), -1);
  std::vector<int> low(static_cast<size_t>(n), 0);
  std::vector<char> on_stack(static_cast<size_t>(n), 0);
  std::vector<int> stack;
  std::vector<std::pair<int, size_t>> frames;  // node, next edge
  int counter = 0;
  for (int root = 0; root < n; ++root) {
    if (order[static_cast<size_t>(root)] >= 0) {
      continue;
    }
    frames.push_back({root, 0});
    order[static_cast<size_t>(root)] = low[static_cast<size_t>(root)] = counter++;
    stack.push_back(root);
    on_stack[static_cast<size_t>(root)] = 1;
    while (!frames.empty()) {
      auto& [v, edge] = frames.back();
      const std::vector<int>& needs = nodes_[static_cast<size_t>(v)].needs;
      if (edge < needs.size()) {
        int w = needs[edge++];
        if (order[static_cast<size_t>(w)] < 0) {
          order[static_cast<size_t>(w)] = low[static_cast<size_t>(w)] = counter++;
          stack.push_back(w);
          on_stack[static_cast<size_t>(w)] = 1;
          frames.push_back({w, 0});
        } else if (on_stack[static_cast<size_t>(w)]) {
          low[static_cast<size_t>(v)] =
              std::min(low[static_cast<size_t>(v)], order[static_cast<size_t>(w)]);
        }
        continue;
      }
      const int done = v;
      frames.pop_back();
      if (!frames.empty()) {
        int parent = frames.back().first;
        low[static_cast<size_t>(parent)] =
            std::min(low[static_cast<size_t>(parent)], low[static_cast<size_t>(done)]);
      }
      if (low[static_cast<size_t>(done)] != order[static_cast<size_t>(done)]) {
        continue;
      }
      std::vector<int> component;
      int w = -1;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack[static_cast<size_t>(w)] = 0;
        component.push_back(w);
      } while (w != done);
      if (component.size() > 1) {
        report_cycle(component);
      }
    }
  }

  std::sort(errors_.begin(), errors_.end());
  errors_.erase(std::unique(errors_.begin(), errors_.end()), errors_.end());
  std::sort(warnings_.begin(), warnings_.end());
  warnings_.erase(std::unique(warnings_.begin(), warnings_.end()), warnings_.end());
}

// One error per cycle, at the revision of the cycle with the smallest id, showing one closed
// path through it: "a -> b -> c -> a" (each step is a down_revision or depends_on).
void RevisionGraph::report_cycle(const std::vector<int>& component) {
  std::unordered_set<int> members(component.begin(), component.end());
  int start = component.front();
  for (int v : component) {
    if (nodes_[static_cast<size_t>(v)].script.revision <
        nodes_[static_cast<size_t>(start)].script.revision) {
      start = v;
    }
  }
  // Breadth-first from start inside the component until an edge leads back to start.
  std::unordered_map<int, int> previous;
  std::vector<int> queue = {start};
  previous[start] = -1;
  int last = -1;
  for (size_t q = 0; q < queue.size() && last < 0; ++q) {
    int v = queue[q];
    for (int w : nodes_[static_cast<size_t>(v)].needs) {
      if (w == start) {
        last = v;
        break;
      }
      if (members.count(w) && !previous.count(w)) {
        previous[w] = v;
        queue.push_back(w);
      }
    }
  }
  std::vector<int> path;
  for (int v = last; v >= 0; v = previous[v]) {
    path.push_back(v);
  }
  std::reverse(path.begin(), path.end());
  // A long cycle is shown by its ends.
  constexpr size_t kShown = 12;
  if (path.size() > kShown) {
    size_t hidden = path.size() - kShown;
    path.erase(path.begin() + kShown / 2, path.begin() + static_cast<long>(kShown / 2 + hidden));
    path.insert(path.begin() + kShown / 2, -1 - static_cast<int>(hidden));
  }
  std::string text;
  for (int v : path) {
    text += v >= 0 ? nodes_[static_cast<size_t>(v)].script.revision
                   : "... (" + std::to_string(-1 - v) + " more)";
    text += " -> ";
  }
  const RevisionScript& script = nodes_[static_cast<size_t>(start)].script;
  text += script.revision;
  errors_.push_back({script.file,
                     script.down_revision_line ? script.down_revision_line : script.depends_on_line,
                     "revisions form a cycle through down_revision/depends_on: " + text});
}

int RevisionGraph::index_of(const std::string& revision_or_label) const {
  auto it = index_.find(revision_or_label);
  if (it != index_.end()) {
    return it->second;
  }
  auto label = labels_.find(revision_or_label);
  return label == labels_.end() ? -1 : label->second;
}

std::optional<std::string> RevisionGraph::resolve(const std::string& revision_or_label) const {
  int i = index_of(revision_or_label);
  if (i < 0) {
    return std::nullopt;
  }
  return nodes_[static_cast<size_t>(i)].script.revision;
}

const RevisionScript* RevisionGraph::find(const std::string& revision) const {
  auto it = index_.find(revision);
  return it == index_.end() ? nullptr : &nodes_[static_cast<size_t>(it->second)].script;
}

std::vector<std::string> RevisionGraph::revisions() const {
  std::vector<std::string> out;
  out.reserve(nodes_.size());
  for (const Node& node : nodes_) {
    out.push_back(node.script.revision);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Ancestry follows depends_on as well as down_revision: Alembic's upgrade to a revision applies
// its dependencies first (they are part of its `_all_down_revisions`), and after that upgrade the
// dependency no longer has its own alembic_version row. So a database has not reached a head
// until every dependency of it is applied, and a dependency is "behind" like a parent.
std::vector<char> RevisionGraph::reach(const std::vector<int>& start) const {
  std::vector<char> marked(nodes_.size(), 0);
  std::vector<int> stack;
  for (int s : start) {
    if (s >= 0 && !marked[static_cast<size_t>(s)]) {
      marked[static_cast<size_t>(s)] = 1;
      stack.push_back(s);
    }
  }
  while (!stack.empty()) {
    int v = stack.back();
    stack.pop_back();
    for (int w : nodes_[static_cast<size_t>(v)].needs) {
      if (!marked[static_cast<size_t>(w)]) {
        marked[static_cast<size_t>(w)] = 1;
        stack.push_back(w);
      }
    }
  }
  return marked;
}

std::vector<std::string> RevisionGraph::ancestry(const std::vector<std::string>& revisions) const {
  std::vector<int> start;
  start.reserve(revisions.size());
  for (const std::string& r : revisions) {
    start.push_back(index_of(r));
  }
  std::vector<char> marked = reach(start);
  std::vector<std::string> out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (marked[i]) {
      out.push_back(nodes_[i].script.revision);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool RevisionGraph::is_ancestor(const std::string& ancestor, const std::string& descendant) const {
  int a = index_of(ancestor);
  int d = index_of(descendant);
  if (a < 0 || d < 0 || a == d) {
    return false;
  }
  return reach(nodes_[static_cast<size_t>(d)].needs)[static_cast<size_t>(a)] != 0;
}

RevisionBehind RevisionGraph::behind(const std::vector<std::string>& current) const {
  std::vector<int> start;
  start.reserve(current.size());
  for (const std::string& r : current) {
    start.push_back(index_of(r));
  }
  std::vector<char> done = reach(start);
  std::vector<int> head_indices;
  for (const std::string& h : heads_) {
    head_indices.push_back(index_of(h));
  }
  std::vector<char> wanted = reach(head_indices);
  RevisionBehind result;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (wanted[i] && !done[i]) {
      result.pending.push_back(nodes_[i].script.revision);
    }
  }
  order_for_upgrade(result.pending);
  result.behind_by = static_cast<int>(result.pending.size());
  return result;
}

// ---------------------------------------------------------------------------------------------
// Upgrade order, revision-set tips, prefixes.

std::vector<std::string> RevisionGraph::apply_order(const std::vector<std::string>& targets) const {
  std::vector<char> state(nodes_.size(), 0);  // 0 unseen, 1 on the stack, 2 emitted
  std::vector<std::string> out;
  std::vector<std::string> sorted_targets = targets;
  std::sort(sorted_targets.begin(), sorted_targets.end());
  for (const std::string& target : sorted_targets) {
    const int start = index_of(target);
    if (start < 0 || state[static_cast<size_t>(start)]) continue;
    // Iterative post-order DFS: (node, next need to visit).
    std::vector<std::pair<int, size_t>> stack{{start, 0}};
    state[static_cast<size_t>(start)] = 1;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      const std::vector<int>& needs = nodes_[static_cast<size_t>(node)].needs;
      if (next < needs.size()) {
        const int need = needs[next++];
        if (!state[static_cast<size_t>(need)]) {
          state[static_cast<size_t>(need)] = 1;
          stack.emplace_back(need, 0);
        }
        continue;
      }
      state[static_cast<size_t>(node)] = 2;
      out.push_back(nodes_[static_cast<size_t>(node)].script.revision);
      stack.pop_back();
    }
  }
  return out;
}

void RevisionGraph::order_for_upgrade(std::vector<std::string>& revisions) const {
  std::unordered_map<std::string, size_t> position;
  const std::vector<std::string> order = apply_order(heads_);
  for (size_t i = 0; i < order.size(); ++i) position.emplace(order[i], i);
  std::stable_sort(revisions.begin(), revisions.end(),
                   [&position](const std::string& a, const std::string& b) {
                     auto pa = position.find(a);
                     auto pb = position.find(b);
                     const size_t ia = pa == position.end() ? SIZE_MAX : pa->second;
                     const size_t ib = pb == position.end() ? SIZE_MAX : pb->second;
                     return ia != ib ? ia < ib : a < b;
                   });
}

std::vector<std::string> RevisionGraph::tips(const std::vector<std::string>& revisions) const {
  std::vector<std::string> out;
  for (const std::string& r : revisions) {
    bool needed_by_other = false;
    for (const std::string& other : revisions) {
      if (other != r && is_ancestor(r, other)) {
        needed_by_other = true;
        break;
      }
    }
    if (!needed_by_other) out.push_back(resolve(r).value_or(r));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::optional<std::string> RevisionGraph::resolve_prefix(const std::string& text,
                                                         std::string* error) const {
  if (auto exact = resolve(text)) return exact;
  std::vector<std::string> matches;
  if (!text.empty()) {
    for (const Node& node : nodes_) {
      if (node.script.revision.compare(0, text.size(), text) == 0) {
        matches.push_back(node.script.revision);
      }
    }
  }
  if (matches.size() == 1) return matches.front();
  if (error != nullptr) {
    std::sort(matches.begin(), matches.end());
    if (matches.empty()) {
      *error = "no revision '" + text + "'";
    } else {
      *error = "revision prefix '" + text + "' is ambiguous: it matches " + matches.front();
      for (size_t i = 1; i < matches.size(); ++i) *error += ", " + matches[i];
    }
  }
  return std::nullopt;
}

}  // namespace driftwatch
