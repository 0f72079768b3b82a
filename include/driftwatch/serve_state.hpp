// What the HTTP routes, the status page and the metrics read from a running `driftwatch serve`:
// plain values and one read-mostly interface, so routes are tested without sockets or databases.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "driftwatch/check.hpp"
#include "driftwatch/scheduler.hpp"

namespace driftwatch {

// The shard that checks a target: index in [0, shards).
struct ShardLocation {
  int shard = 0;
  int shards = 1;
};

// One migrations source as `GET /api/v1/migrations` and driftwatch_migration_heads show it.
struct MigrationsStatus {
  std::string name;
  std::vector<std::string> versions;  // version directories
  std::vector<std::string> heads;
  int revisions = 0;
  std::vector<std::string> errors;  // "file:line: message"
  std::vector<std::string> warnings;
  std::vector<std::string> snapshot_revisions;
  // Why no expected schema can be had ("" = fine): migrations_problem::* (check.hpp), with a
  // message. driftwatch_migrations_up / driftwatch_migrations_problem.
  std::string problem;
  std::string problem_message;
};

// A response body; `gzip` when the bytes are gzip-compressed (Content-Encoding: gzip).
struct ResponseBody {
  std::shared_ptr<const std::string> bytes;
  bool gzip = false;
};

class AppStateView {
 public:
  virtual ~AppStateView() = default;

  virtual bool config_loaded() const = 0;
  virtual bool first_round_done() const = 0;
  virtual bool draining() const = 0;
  virtual std::vector<TargetStatus> targets() const = 0;  // sorted by name
  // The body of GET /api/v1/targets: {"targets":[...]} of `render` applied to each of targets()
  // (render returns one compact JSON object), gzip-compressed when `accept_gzip` and the state
  // can. A state may reuse earlier renderings of targets whose status (revision, ack) is
  // unchanged.
  using TargetRender = std::function<std::string(const TargetStatus&)>;
  virtual ResponseBody targets_body(const TargetRender& render, bool accept_gzip) const {
    (void)accept_gzip;
    std::string body = "{\"targets\":[";
    bool first = true;
    for (const auto& status : targets()) {
      body += first ? "" : ",";
      body += render(status);
      first = false;
    }
    return {std::make_shared<const std::string>(body + "]}\n"), false};
  }
  virtual std::optional<TargetStatus> target(const std::string& name) const = 0;
  virtual std::vector<MigrationsStatus> migrations() const = 0;
  virtual std::string metrics_text() const = 0;  // Prometheus text exposition 0.0.4
  // The body of GET /metrics: metrics_text(), gzip-compressed when `accept_gzip` and the state
  // can.
  virtual ResponseBody metrics_body(bool accept_gzip) const {
    (void)accept_gzip;
    return {std::make_shared<const std::string>(metrics_text()), false};
  }
  // Bearer token for POST endpoints; "" when none is configured (then POST is forbidden).
  virtual std::string admin_token() const = 0;
  // Runs an on-demand check (or joins the running one) and waits for it. nullopt when the
  // target is unknown or the daemon is draining.
  virtual std::optional<TargetResult> check_now(const std::string& name) const = 0;

  // Sharding: for a target that is configured but owned by another shard (so target() is
  // nullopt here), where to ask instead. nullopt for targets this instance owns, unknown
  // names, and unsharded instances (the default).
  virtual std::optional<ShardLocation> owner_shard(const std::string& name) const {
    (void)name;
    return std::nullopt;
  }

  // Acknowledgements of direct alerts (POST /api/v1/targets/{name}/ack). The defaults answer
  // "not available" for states without an alert service.
  virtual std::optional<Acknowledgement> acknowledge(
      const std::string& name, const std::string& owner, const std::string& reason,
      std::chrono::system_clock::time_point expires_at) const {
    (void)name, (void)owner, (void)reason, (void)expires_at;
    return std::nullopt;
  }
  // True when an acknowledgement was removed.
  virtual bool unacknowledge(const std::string& name) const {
    (void)name;
    return false;
  }
};

}  // namespace driftwatch
