// Scheduler for `driftwatch serve`: owns per-target state and runs checks on a bounded worker
// pool, off the HTTP threads.
//
// Timing rules:
// - first check of a target (at start, or when a reload adds it): uniformly spread over
//   [0, min(interval, 10 s)) so a fleet does not hit the databases at the same instant;
// - after a successful check (status ok/drift/migrating): interval ± 10 %;
// - after n >= 1 consecutive errors: min(interval, 30 s * 2^(n-1)) ± 10 %, so a target that
//   just went down is retried soon, and a long outage is polled no more often than the interval;
// - a target is never checked twice at once; an on-demand check joins a running one;
// - every check gets a deadline of now + check.timeout, passed to the check function; a check
//   still running 1 s after it is abandoned: its target gets a `timeout` result at once, a new
//   worker takes its place, and the late result is discarded when the check returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "driftwatch/alert_policy.hpp"
#include "driftwatch/check.hpp"
#include "driftwatch/config.hpp"

namespace driftwatch {

// Runs one check; must not throw (a throw is turned into an "internal" error result).
using CheckFunction = std::function<TargetResult(const TargetConfig&,
                                                 std::chrono::steady_clock::time_point deadline)>;

// What the scheduler knows about one target (a copy, safe to keep).
struct TargetStatus {
  TargetConfig config;
  // Shared, immutable: copying a status (every scrape copies all of them) does not copy findings.
  std::shared_ptr<const TargetResult> last_result;
  // The last result that said something about the schema (status ok or drift): what the drift,
  // findings and revision metrics keep showing while checks fail or the target migrates.
  std::shared_ptr<const TargetResult> last_known;
  int consecutive_failures = 0;  // consecutive checks with status "error"
  std::uint64_t checks_total = 0;
  std::map<std::string, std::uint64_t> errors_by_reason;  // reason -> count
  // Last check that reached the target (target_reached: no error, or one on the expected side).
  std::optional<std::chrono::system_clock::time_point> last_success;
  bool running = false;
  std::chrono::milliseconds interval{0};  // effective interval
  // Changes whenever anything above changes, and differs between targets (the scheduler's
  // version() at the change): renderings of an unchanged target can be reused.
  std::uint64_t revision = 0;
  // Acknowledgement of the target's alerts in force; filled by `serve` from its alert service
  // (the scheduler leaves it empty).
  std::optional<Acknowledgement> ack;
};

// Pure timing helpers (exposed for tests).
namespace sched_timing {
inline constexpr std::chrono::milliseconds kFirstCheckSpread{10000};
inline constexpr std::chrono::milliseconds kBackoffBase{30000};
// Uniform in [0, min(interval, 10 s)).
std::chrono::milliseconds first_check_delay(std::chrono::milliseconds interval,
                                            std::mt19937_64& rng);
// Uniform in [0.9 * base, 1.1 * base].
std::chrono::milliseconds jittered(std::chrono::milliseconds base, std::mt19937_64& rng);
// Base delay before the next check: interval when failures == 0, else
// min(interval, 30 s * 2^(failures-1)).
std::chrono::milliseconds retry_base(std::chrono::milliseconds interval, int failures);
// Same with another backoff base (tests).
std::chrono::milliseconds retry_base_with(std::chrono::milliseconds interval, int failures,
                                          std::chrono::milliseconds backoff_base);
}  // namespace sched_timing

struct SchedulerOptions {
  std::uint64_t seed = std::random_device{}();  // jitter randomness; fixed in tests
  // Overrides the 30 s backoff base and 10 s first-check spread (tests use short ones).
  std::chrono::milliseconds backoff_base = sched_timing::kBackoffBase;
  std::chrono::milliseconds first_check_spread = sched_timing::kFirstCheckSpread;
  // Run the worker threads as background work (Linux SCHED_IDLE; nice 19 where that is
  // refused): `serve` sets it so answering HTTP comes before checking when the CPU is short.
  // Workers mostly wait for the database; they still get every CPU cycle nothing else wants.
  bool background_workers = false;
};

class Scheduler {
 public:
  // Called on a worker thread after every finished check (logging, alerts). Must not block long.
  using ResultCallback = std::function<void(const TargetStatus&)>;
  // Called on the scheduler thread before a batch of due checks is dispatched (e.g.
  // Engine::refresh_expected_state).
  using PrepareCallback = std::function<void()>;

  Scheduler(CheckFunction check, const Config& config, SchedulerOptions options = {});
  // Stops without waiting for stuck checks longer than needed: equivalent to
  // drain(0) then shutdown.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void set_result_callback(ResultCallback callback);
  void set_prepare_callback(PrepareCallback callback);

  // Starts the scheduler thread and the worker pool (size check.concurrency). Call once.
  void start();

  // Reload: keeps state of targets that still exist (their config is replaced), drops removed
  // ones, schedules new ones as first checks. Also replaces the check function when given.
  void apply(const Config& config, CheckFunction check = nullptr);

  // On-demand check: joins the running check of that target, or queues one ahead of scheduled
  // ones. nullopt for an unknown target or while draining.
  std::optional<std::shared_future<TargetResult>> trigger(const std::string& name);

  // Stops scheduling (no new or on-demand checks, queued ones are dropped) and waits for the
  // in-flight checks until `deadline`. Returns true when none is left running.
  bool drain(std::chrono::steady_clock::time_point deadline);
  bool draining() const;

  std::vector<TargetStatus> targets() const;  // sorted by name
  std::optional<TargetStatus> target(const std::string& name) const;
  // Grows whenever targets() would return something else (a result, a check starting, a
  // reload); equal values mean equal targets(). Cheap: no lock.
  std::uint64_t version() const;
  // True once every target configured at start has a result (stays true after reloads).
  bool first_round_done() const;
  int in_flight() const;

  struct Core;  // shared with worker threads (which may outlive a timed-out drain)

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace driftwatch
