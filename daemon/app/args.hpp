// Minimal command-line option parsing shared by the subcommands: `--name value`,
// `--name=value`, repeatable options and boolean flags. Unknown options are usage errors.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace driftwatch {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ParsedArgs {
  std::map<std::string, std::vector<std::string>> values;  // option -> every value given
  std::set<std::string> flags;

  bool has(const std::string& name) const { return values.count(name) > 0; }
  bool flag(const std::string& name) const { return flags.count(name) > 0; }
  const std::vector<std::string>& all(const std::string& name) const {
    static const std::vector<std::string> kEmpty;
    auto it = values.find(name);
    return it == values.end() ? kEmpty : it->second;
  }
  // Last value, or fallback when absent.
  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() || it->second.empty() ? fallback : it->second.back();
  }
};

// value_options / flag_options name options without the leading "--".
inline ParsedArgs parse_args(const std::vector<std::string>& args,
                             const std::set<std::string>& value_options,
                             const std::set<std::string>& flag_options = {}) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0) {
      throw UsageError("unexpected argument '" + arg + "'");
    }
    std::string name = arg.substr(2);
    std::string value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    if (flag_options.count(name)) {
      if (inline_value) {
        throw UsageError("option --" + name + " takes no value");
      }
      parsed.flags.insert(name);
      continue;
    }
    if (!value_options.count(name)) {
      throw UsageError("unknown option --" + name);
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        throw UsageError("option --" + name + " needs a value");
      }
      value = args[++i];
    }
    parsed.values[name].push_back(value);
  }
  return parsed;
}

}  // namespace driftwatch
