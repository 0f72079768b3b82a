// Sharding of targets across replicas of `driftwatch serve`: every replica reads the same config
// and checks only the targets it owns. Ownership is rendezvous (highest random weight) hashing of
// the target name, so replicas agree without talking to each other and growing the fleet from N
// to N+1 shards moves only about 1/(N+1) of the targets, all of them to the new shard.
//
// The hash is part of the contract: changing it reshuffles every sharded fleet. It is
//   name_hash(name)      = FNV-1a 64 over the bytes of the name (offset basis 0xcbf29ce484222325,
//                          prime 0x100000001b3)
//   weight(name, shard)  = splitmix64_mix(name_hash(name) ^ ((shard + 1) * 0x9e3779b97f4a7c15))
//   owner(name, count)   = the shard in [0, count) with the highest weight (lowest index on a tie)
// where splitmix64_mix is the splitmix64 output function (Steele, Lea, Flood 2014):
//   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9; z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
//   z ^ (z >> 31). All arithmetic is on uint64_t, so results are the same on every platform.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "driftwatch/config.hpp"

namespace driftwatch {

// FNV-1a 64 of the bytes of `text`.
std::uint64_t fnv1a64(std::string_view text);
// The splitmix64 output (finaliser) function of `z`.
std::uint64_t splitmix64_mix(std::uint64_t z);
// Rendezvous weight of target `name` on shard `shard` (>= 0).
std::uint64_t shard_weight(std::string_view name, int shard);
// The shard in [0, shard_count) that owns target `name`; 0 when shard_count <= 1.
int shard_owner(std::string_view name, int shard_count);

// Which shard this instance is.
struct ShardAssignment {
  int index = 0;
  int count = 1;
  std::string source;  // how the index was chosen, for logs: "default", "config", "--shard-index",
                       // "POD_NAME=driftwatch-2", ...
  bool sharded() const { return count > 1; }
  bool owns(std::string_view target_name) const { return shard_owner(target_name, count) == index; }
};

// --shard-index / --shard-count as given on the command line (nullopt: not given). They
// override [server] shard_index / shard_count.
struct ShardFlags {
  std::optional<std::string> index;  // "N" or "auto"
  std::optional<std::string> count;  // "M"
};

// Where shard_index = "auto" looks for a StatefulSet pod name ending in "-N", in this order:
// env POD_NAME (set it from metadata.name with the downward API), env HOSTNAME (Kubernetes sets
// it to the pod name), then the host name from the system. Empty strings are skipped.
struct ShardIdentity {
  std::string pod_name_env;
  std::string hostname_env;
  std::string system_hostname;
};

struct ShardResolution {
  std::optional<ShardAssignment> assignment;  // set when error is empty
  std::string error;                          // one sentence for the operator
};

// Combines config, flags and identity into this instance's assignment. Errors: a count that is
// not an integer >= 1, an index that is not an integer >= 0 or "auto", an index >= count (also a
// pod ordinal >= count: more replicas than shards), "auto" with no name ending in -N when
// count > 1 (with count 1 that resolves to shard 0), and count > 1 with no index anywhere.
ShardResolution resolve_shard(const ServerConfig& server, const ShardFlags& flags,
                              const ShardIdentity& identity);

// The StatefulSet ordinal at the end of a pod or host name: "driftwatch-2" -> 2, also for an
// FQDN ("driftwatch-2.driftwatch.ns.svc" -> 2). nullopt when the (first label of the) name does
// not end in "-" followed by digits.
std::optional<int> ordinal_from_name(std::string_view name);

// `config` with only the targets `shard` owns, in their original order (everything else copied).
Config owned_config(const Config& config, const ShardAssignment& shard);

}  // namespace driftwatch
