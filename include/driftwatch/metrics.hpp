// Prometheus metrics of `driftwatch serve` (DESIGN.md "Metrics"), built from the scheduler's
// latest state on every scrape so a removed target's series disappear.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "driftwatch/scheduler.hpp"
#include "driftwatch/serve_state.hpp"

namespace driftwatch {

// driftwatch_alert_notifications_total{receiver,outcome}: the alerts module records every
// notification attempt here. Thread-safe.
class AlertNotificationCounters {
 public:
  using Key = std::pair<std::string, std::string>;  // receiver, outcome ("sent", "failed", ...)

  void record(const std::string& receiver, const std::string& outcome) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_[{receiver, outcome}];
    ++version_;
  }
  // Grows with every record(); equal values mean equal snapshot().
  std::uint64_t version() const { return version_.load(); }
  std::map<Key, std::uint64_t> snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_;
  }

 private:
  mutable std::mutex mu_;
  std::map<Key, std::uint64_t> counts_;
  std::atomic<std::uint64_t> version_{0};
};

// Everything one scrape reports.
struct MetricsSnapshot {
  std::string version;
  std::vector<TargetStatus> targets;
  std::vector<MigrationsStatus> migrations;
  bool config_reload_success = true;  // last load/reload of the config file succeeded
  std::optional<std::chrono::system_clock::time_point> last_reload_success;
  std::string shard = "0";  // shard index of this instance
  int shards = 1;
  std::map<AlertNotificationCounters::Key, std::uint64_t> alert_notifications;
  // Per receiver: alerts whose latest notification it has not accepted yet.
  std::map<std::string, std::uint64_t> alert_undelivered;
  // Scrape time, for driftwatch_last_result_age_seconds (unset: the clock when rendering).
  std::optional<std::chrono::system_clock::time_point> now;
  std::uint64_t http_connections_rejected = 0;  // refused at accept: max_connections open
};

// Text exposition format 0.0.4 (what GET /metrics returns).
std::string render_metrics(const MetricsSnapshot& snapshot);

// The same text, reusing each target's lines while its status revision is unchanged, so a
// scrape of 1,000 targets serializes only those checked since the previous one (a revision of
// 0 is never reused). Not thread-safe: one render at a time (e.g. inside a RenderCache).
class MetricsRenderer {
 public:
  MetricsRenderer();
  ~MetricsRenderer();
  MetricsRenderer(const MetricsRenderer&) = delete;
  MetricsRenderer& operator=(const MetricsRenderer&) = delete;
  std::string render(const MetricsSnapshot& snapshot);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace driftwatch
