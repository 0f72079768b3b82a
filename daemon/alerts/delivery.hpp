// One receiver's delivery: a bounded queue (the oldest notification is dropped when full) and
// a worker thread that sends with timeouts and retries, so a slow or dead receiver never
// blocks the checks that produce notifications.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "alerts/senders.hpp"
#include "driftwatch/alerts.hpp"

namespace driftwatch {

// Delay before retry number `retry` (1-based): backoff_base * 2^(retry-1), at least the
// server's Retry-After, capped at backoff_max.
std::chrono::milliseconds retry_delay(const DeliveryOptions& options, int retry,
                                      std::optional<std::chrono::milliseconds> retry_after);

class DeliveryQueue {
 public:
  // Called on the worker thread once a notification is finished: delivered (true) or given up
  // (false). Not called for notifications still queued when the queue stops.
  using Done = std::function<void(const Notification&, bool delivered)>;
  using Clock = std::function<SystemTime()>;

  DeliveryQueue(std::string receiver, std::unique_ptr<Sender> sender, DeliveryOptions options,
                AlertNotificationCounters* counters, Done done, Clock clock);
  ~DeliveryQueue();
  DeliveryQueue(const DeliveryQueue&) = delete;
  DeliveryQueue& operator=(const DeliveryQueue&) = delete;

  // Never blocks on I/O. Returns the notification pushed out when the queue was full (the
  // caller decides what a lost notification means; "dropped" is already counted).
  std::optional<Notification> push(Notification notification);
  // Waits until nothing is queued or in flight, or the deadline passes. True when idle.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);
  // Stops the worker (an attempt in flight finishes within the timeout) and joins it.
  void stop();

  const std::string& receiver() const { return receiver_; }

 private:
  void run();

  std::string receiver_;
  std::unique_ptr<Sender> sender_;
  DeliveryOptions options_;
  AlertNotificationCounters* counters_;
  Done done_;
  Clock clock_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Notification> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace driftwatch
