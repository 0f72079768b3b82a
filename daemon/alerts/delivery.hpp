// One receiver URL's delivery: the notifications it has not accepted yet, at most one per alert
// (a newer one supersedes the older), and a worker thread that sends them with timeouts and
// retries them with a capped backoff until accepted, so a slow or dead receiver never blocks
// the checks that produce notifications and never loses a page.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "alerts/senders.hpp"
#include "driftwatch/alerts.hpp"

namespace driftwatch {

// Delay before retry number `retry` (1-based): backoff_base * 2^(retry-1), at least the
// server's Retry-After, capped at backoff_max.
std::chrono::milliseconds retry_delay(const DeliveryOptions& options, int retry,
                                      std::optional<std::chrono::milliseconds> retry_after);

class DeliveryQueue {
 public:
  // Called on the worker thread when the receiver accepted a notification (2xx).
  using Accepted = std::function<void(const Notification&)>;
  using Clock = std::function<SystemTime()>;

  DeliveryQueue(std::string receiver, std::unique_ptr<Sender> sender, DeliveryOptions options,
                AlertNotificationCounters* counters, Accepted accepted, Clock clock);
  ~DeliveryQueue();
  DeliveryQueue(const DeliveryQueue&) = delete;
  DeliveryQueue& operator=(const DeliveryQueue&) = delete;

  // Never blocks on I/O. Replaces a not yet accepted notification of the same alert (counted
  // "superseded"), keeping its retry schedule; notifications of other alerts are never dropped.
  void push(Notification notification);
  // Alerts with a notification not yet accepted (queued, waiting for a retry, or in flight).
  std::size_t pending() const;
  // Waits until nothing is pending, or the deadline passes. True when idle.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);
  // Stops the worker (an attempt in flight finishes within the timeout) and joins it.
  void stop();
  // New retry settings (a reload of [alerts] retry_initial / retry_max): the next failure uses
  // them, and a notification waiting for a retry is due no later than the new delay after its
  // last failed attempt. What waits in the queue is kept.
  void set_options(const DeliveryOptions& options);

  const std::string& receiver() const { return receiver_; }

 private:
  struct Item {
    Notification notification;
    int attempts = 0;  // failed attempts so far
    std::chrono::steady_clock::time_point due;
    bool in_flight = false;
    std::optional<Notification> replacement;               // pushed while in flight
    std::chrono::steady_clock::time_point failed_at{};     // of the last failed attempt
    std::optional<std::chrono::milliseconds> retry_after;  // the receiver's, at that attempt
  };
  using Key = std::pair<std::string, std::string>;  // target, alertname

  void run();

  std::string receiver_;
  std::unique_ptr<Sender> sender_;
  DeliveryOptions options_;
  AlertNotificationCounters* counters_;
  Accepted accepted_;
  Clock clock_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::map<Key, Item> items_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace driftwatch
