#include "driftwatch/sharding.hpp"

#include <limits>

namespace driftwatch {

namespace {

constexpr std::uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;
constexpr std::uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;
// Large enough for any fleet, small enough that weights never see a wrapped shard number.
constexpr long long kMaxShards = 1000000;

// Non-negative decimal integer without sign or spaces, at most `max`.
std::optional<long long> parse_count(const std::string& text, long long max) {
  if (text.empty() || text.size() > 18) {
    return std::nullopt;
  }
  long long value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  if (value > max) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t hash = kFnvOffsetBasis;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnvPrime;
  }
  return hash;
}

std::uint64_t splitmix64_mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t shard_weight(std::string_view name, int shard) {
  // FNV-1a alone mixes its last bytes poorly ("db-1" and "db-2" differ in few bits); the
  // splitmix64 finaliser spreads every input bit over the whole weight.
  const auto salt = (static_cast<std::uint64_t>(shard) + 1) * kGoldenGamma;
  return splitmix64_mix(fnv1a64(name) ^ salt);
}

int shard_owner(std::string_view name, int shard_count) {
  int owner = 0;
  std::uint64_t best = 0;
  for (int shard = 0; shard < shard_count; ++shard) {
    const std::uint64_t weight = shard_weight(name, shard);
    if (shard == 0 || weight > best) {
      best = weight;
      owner = shard;
    }
  }
  return owner;
}

std::optional<int> ordinal_from_name(std::string_view name) {
  const std::size_t dot = name.find('.');
  if (dot != std::string_view::npos) {
    name = name.substr(0, dot);
  }
  const std::size_t dash = name.rfind('-');
  if (dash == std::string_view::npos || dash == 0) {
    return std::nullopt;
  }
  auto value = parse_count(std::string(name.substr(dash + 1)), std::numeric_limits<int>::max());
  if (!value) {
    return std::nullopt;
  }
  return static_cast<int>(*value);
}

ShardResolution resolve_shard(const ServerConfig& server, const ShardFlags& flags,
                              const ShardIdentity& identity) {
  ShardResolution out;
  ShardAssignment shard;

  long long count = server.shard_count;
  if (flags.count) {
    auto parsed = parse_count(*flags.count, kMaxShards);
    if (!parsed || *parsed < 1) {
      out.error = "--shard-count: expected an integer from 1 to " + std::to_string(kMaxShards) +
                  ", got \"" + *flags.count + "\"";
      return out;
    }
    count = *parsed;
  }
  if (count < 1 || count > kMaxShards) {
    out.error = "shard_count must be from 1 to " + std::to_string(kMaxShards);
    return out;
  }
  shard.count = static_cast<int>(count);

  std::string index_text = server.shard_index;
  std::string source = "config";
  if (flags.index) {
    index_text = *flags.index;
    source = "--shard-index";
  }
  if (index_text.empty()) {
    if (shard.count > 1) {
      out.error = "shard_count is " + std::to_string(shard.count) +
                  " but no shard index is set: give --shard-index N or [server] shard_index "
                  "(an integer or \"auto\")";
      return out;
    }
    shard.index = 0;
    shard.source = "default";
    out.assignment = shard;
    return out;
  }

  long long index = 0;
  if (index_text == "auto") {
    const std::pair<const char*, const std::string*> candidates[] = {
        {"POD_NAME", &identity.pod_name_env},
        {"HOSTNAME", &identity.hostname_env},
        {"host name", &identity.system_hostname},
    };
    std::string tried;
    bool found = false;
    for (const auto& [what, value] : candidates) {
      if (value->empty()) {
        continue;
      }
      // The first name present decides: falling through to another one could pick up an
      // unrelated machine name and silently double-check or skip targets.
      if (auto ordinal = ordinal_from_name(*value)) {
        index = *ordinal;
        source = std::string(what) + "=" + *value;
        found = true;
      } else {
        tried = std::string(what) + " \"" + *value + "\"";
      }
      break;
    }
    if (!found && shard.count == 1) {
      // One shard owns everything whatever its index, so the shipped Kubernetes config
      // (auto, shard_count 1) also runs under `docker run` or a Deployment. Once shard_count > 1
      // a missing ordinal is an error: guessing would check targets twice or not at all.
      shard.index = 0;
      shard.source = "auto without a pod ordinal, shard_count 1";
      out.assignment = shard;
      return out;
    }
    if (!found) {
      out.error =
          "shard_index = \"auto\" needs a StatefulSet pod name ending in -N in POD_NAME "
          "or HOSTNAME; " +
          (tried.empty() ? std::string("neither is set") : tried + " has no ordinal");
      return out;
    }
  } else {
    auto parsed = parse_count(index_text, kMaxShards);
    if (!parsed) {
      out.error = (flags.index ? std::string("--shard-index") : std::string("shard_index")) +
                  ": expected a non-negative integer or \"auto\", got \"" + index_text + "\"";
      return out;
    }
    index = *parsed;
  }
  if (index >= shard.count) {
    out.error = "shard index " + std::to_string(index) + " (" + source +
                ") is out of range for shard_count " + std::to_string(shard.count) +
                " (indexes are 0.." + std::to_string(shard.count - 1) + ")";
    return out;
  }
  shard.index = static_cast<int>(index);
  shard.source = source;
  out.assignment = shard;
  return out;
}

Config owned_config(const Config& config, const ShardAssignment& shard) {
  Config out = config;
  out.targets.clear();
  for (const auto& target : config.targets) {
    if (shard.owns(target.name)) {
      out.targets.push_back(target);
    }
  }
  return out;
}

}  // namespace driftwatch
