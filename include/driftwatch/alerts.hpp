// Direct alert notifications of `driftwatch serve`: the alert policy (alert_policy.hpp) fed with
// every check result, per-receiver delivery queues with their own threads (a dead receiver
// never blocks checks), and the state file that carries open alerts and acknowledgements
// across restarts.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "driftwatch/alert_policy.hpp"
#include "driftwatch/check.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/metrics.hpp"

namespace driftwatch {

// ---- State file: <state_dir>/alerts-state.json ------------------------------------------------

inline constexpr const char* kAlertStateFileName = "alerts-state.json";

std::string alert_state_to_json(const AlertState& state);
// nullopt (with *error set) when the text is not a valid state document.
std::optional<AlertState> alert_state_from_json(const std::string& text, std::string* error);

struct AlertStateLoad {
  AlertState state;
  std::string problem;   // "" when the file was absent or loaded cleanly
  std::string moved_to;  // where a corrupt file was set aside ("" if not)
};
// Never throws: a missing file is an empty state; a corrupt one (not JSON, a missing field, a
// number out of range) is renamed to
// alerts-state.json.corrupt-<unix seconds> and an empty state returned with `problem` set.
AlertStateLoad load_alert_state(const std::string& dir, SystemTime now);
// Atomic replace: write <file>.tmp, fsync, rename over the file, fsync the directory.
// Throws driftwatch::Error (reason "internal") on failure.
void save_alert_state(const std::string& dir, const AlertState& state);
// The same with the document already rendered (alert_state_to_json), so a caller can render
// under its lock and write (and fsync) outside it.
void save_alert_state_text(const std::string& dir, const std::string& text);

// ---- Delivery -----------------------------------------------------------------------------------

struct DeliveryOptions {
  std::chrono::milliseconds timeout{5000};        // per HTTP request (connect + transfer)
  std::chrono::milliseconds backoff_base{5000};   // first retry delay, doubled each retry
  std::chrono::milliseconds backoff_max{300000};  // cap of one delay (Retry-After capped too)
  // How long a reload waits for a removed receiver to take the resolutions of its open alerts
  // before its queue is dropped.
  std::chrono::milliseconds removed_receiver_grace{10000};
};
// Retry settings from [alerts] retry_initial / retry_max.
DeliveryOptions delivery_options(const AlertsConfig& alerts);

// Outcome labels of driftwatch_alert_notifications_total{receiver,outcome}.
namespace delivery_outcome {
inline constexpr const char* kSuccess = "success";  // accepted (2xx)
inline constexpr const char* kRetry = "retry";      // failed attempt (429, 5xx, transport error)
inline constexpr const char* kFailure = "failure";  // failed attempt with another status (4xx)
// Replaced by a newer notification of the same alert before it was accepted.
inline constexpr const char* kSuperseded = "superseded";
}  // namespace delivery_outcome

// ---- The service --------------------------------------------------------------------------------

class AlertService {
 public:
  using Clock = std::function<SystemTime()>;

  // Loads the state file from config.alerts.state_dir (if set) and starts one delivery thread
  // per receiver (one per URL for Alertmanager). `counters` may be null; it must outlive this.
  AlertService(const Config& config, AlertNotificationCounters* counters,
               DeliveryOptions options = {}, Clock clock = nullptr);
  ~AlertService();  // stop(now)
  AlertService(const AlertService&) = delete;
  AlertService& operator=(const AlertService&) = delete;

  // True when any receiver is configured (otherwise observe only tracks acks).
  bool enabled() const;

  // Feeds one finished check (called on a scheduler worker thread; never blocks on I/O).
  // check_interval sets how long Alertmanager keeps a firing alert without a refresh
  // (3 x interval, at least 5 minutes).
  void observe(const TargetResult& result, const std::map<std::string, std::string>& labels,
               std::chrono::milliseconds check_interval = std::chrono::minutes(5));

  // SIGHUP: new receivers, policy and retry settings (retry_initial / retry_max apply to the
  // receivers that stay too); open alerts, acks and pending deliveries are kept. Open alerts of
  // removed targets, and those a removed (or re-pointed) receiver had, are resolved first;
  // unchanged receivers keep their queues, so nothing is skipped meanwhile.
  void apply(const Config& config);

  Acknowledgement acknowledge(const std::string& target, const std::string& owner,
                              const std::string& reason, SystemTime expires_at);
  bool unacknowledge(const std::string& target);
  std::optional<Acknowledgement> ack(const std::string& target) const;
  // Grows with every change ack() may show (apart from an ack's expiry, which is a point in
  // time); cheap, no lock.
  std::uint64_t version() const;
  // Open alerts (firing or counting) of a target, for the API.
  std::vector<OpenAlert> open_alerts(const std::string& target) const;

  // Per configured receiver, the alerts whose latest notification it has not accepted yet
  // (driftwatch_alert_undelivered{receiver}).
  std::map<std::string, std::uint64_t> undelivered() const;

  // Waits until every queue is empty or the deadline passes, stops the threads, saves state.
  // Notifications not accepted stay owed (in the state file; sent again at the next start).
  void stop(std::chrono::steady_clock::time_point deadline);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace driftwatch
