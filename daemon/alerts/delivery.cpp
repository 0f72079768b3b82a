#include "alerts/delivery.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace driftwatch {

std::chrono::milliseconds retry_delay(const DeliveryOptions& options, int retry,
                                      std::optional<std::chrono::milliseconds> retry_after) {
  std::chrono::milliseconds delay = options.backoff_base;
  for (int i = 1; i < retry && delay < options.backoff_max; ++i) delay *= 2;
  if (retry_after) delay = std::max(delay, *retry_after);
  return std::min(delay, options.backoff_max);
}

DeliveryOptions delivery_options(const AlertsConfig& alerts) {
  DeliveryOptions options;
  options.backoff_base = alerts.retry_initial;
  options.backoff_max = std::max(alerts.retry_initial, alerts.retry_max);
  return options;
}

DeliveryQueue::DeliveryQueue(std::string receiver, std::unique_ptr<Sender> sender,
                             DeliveryOptions options, AlertNotificationCounters* counters,
                             Accepted accepted, Clock clock)
    : receiver_(std::move(receiver)),
      sender_(std::move(sender)),
      options_(options),
      counters_(counters),
      accepted_(std::move(accepted)),
      clock_(std::move(clock)) {
  worker_ = std::thread([this] { run(); });
}

DeliveryQueue::~DeliveryQueue() { stop(); }

void DeliveryQueue::push(Notification notification) {
  bool superseded = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    const Key key{notification.target, notification.alertname};
    auto it = items_.find(key);
    if (it == items_.end()) {
      Item item;
      item.notification = std::move(notification);
      item.due = std::chrono::steady_clock::now();
      items_.emplace(key, std::move(item));
    } else if (it->second.in_flight) {
      superseded = it->second.replacement.has_value();
      it->second.replacement = std::move(notification);
    } else {
      // Keeps attempts and due time: a receiver that is down is not hammered by refreshes.
      superseded = true;
      it->second.notification = std::move(notification);
    }
  }
  wake_.notify_one();
  if (superseded && counters_) counters_->record(receiver_, delivery_outcome::kSuperseded);
}

std::size_t DeliveryQueue::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return items_.size();
}

bool DeliveryQueue::wait_idle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_until(lock, deadline, [this] { return items_.empty(); });
}

void DeliveryQueue::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void DeliveryQueue::set_options(const DeliveryOptions& options) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    options_ = options;
    for (auto& [key, item] : items_) {
      if (item.attempts == 0 || item.in_flight) continue;
      item.due = std::min(item.due,
                          item.failed_at + retry_delay(options_, item.attempts, item.retry_after));
    }
  }
  wake_.notify_one();
}

void DeliveryQueue::run() {
  using SteadyClock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    // The next one due: earliest retry time, then oldest notification.
    auto next = items_.end();
    for (auto it = items_.begin(); it != items_.end(); ++it) {
      if (next == items_.end() || it->second.due < next->second.due ||
          (it->second.due == next->second.due &&
           it->second.notification.seq < next->second.notification.seq)) {
        next = it;
      }
    }
    if (next == items_.end()) {
      idle_.notify_all();
      wake_.wait(lock);
      continue;
    }
    if (next->second.due > SteadyClock::now()) {
      wake_.wait_until(lock, next->second.due);
      continue;
    }
    const Key key = next->first;
    Item* item = &next->second;
    item->in_flight = true;
    const Notification n = item->notification;
    lock.unlock();
    const HttpPostResult result = sender_->send(n, clock_());
    lock.lock();
    item = &items_.at(key);  // only this thread erases items
    item->in_flight = false;
    const std::string what =
        n.alertname + " (" + n.state + ", " + n.reason + ") of target " + n.target;
    if (is_success(result)) {
      if (counters_) counters_->record(receiver_, delivery_outcome::kSuccess);
      spdlog::info("alert receiver {}: sent {}", receiver_, what);
      if (item->replacement) {
        item->notification = std::move(*item->replacement);
        item->replacement.reset();
        item->attempts = 0;
        item->due = SteadyClock::now();
      } else {
        items_.erase(key);
      }
      // The receiver answers again: what waits for a retry goes now.
      for (auto& [other, waiting] : items_) waiting.due = std::min(waiting.due, SteadyClock::now());
      lock.unlock();
      if (accepted_) accepted_(n);
      lock.lock();
      continue;
    }
    const std::string problem =
        result.error.empty() ? "HTTP " + std::to_string(result.status) : result.error;
    const bool retryable = is_retryable(result);
    if (counters_) {
      counters_->record(receiver_,
                        retryable ? delivery_outcome::kRetry : delivery_outcome::kFailure);
    }
    ++item->attempts;
    const auto delay = retry_delay(options_, item->attempts, result.retry_after);
    item->failed_at = SteadyClock::now();
    item->retry_after = result.retry_after;
    item->due = item->failed_at + delay;
    if (item->replacement) {
      item->notification = std::move(*item->replacement);
      item->replacement.reset();
    }
    if (retryable) {
      spdlog::warn("alert receiver {}: sending {} failed ({}); attempt {}, retry in {} ms",
                   receiver_, what, problem, item->attempts, delay.count());
    } else {
      spdlog::error("alert receiver {}: {} refused ({}); attempt {}, retry in {} ms", receiver_,
                    what, problem, item->attempts, delay.count());
    }
  }
  idle_.notify_all();
}

}  // namespace driftwatch
