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

DeliveryQueue::DeliveryQueue(std::string receiver, std::unique_ptr<Sender> sender,
                             DeliveryOptions options, AlertNotificationCounters* counters,
                             Done done, Clock clock)
    : receiver_(std::move(receiver)),
      sender_(std::move(sender)),
      options_(options),
      counters_(counters),
      done_(std::move(done)),
      clock_(std::move(clock)) {
  worker_ = std::thread([this] { run(); });
}

DeliveryQueue::~DeliveryQueue() { stop(); }

std::optional<Notification> DeliveryQueue::push(Notification notification) {
  std::optional<Notification> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return notification;
    if (queue_.size() >= std::max<std::size_t>(1, options_.queue_capacity)) {
      dropped = std::move(queue_.front());
      queue_.pop_front();
    }
    queue_.push_back(std::move(notification));
  }
  wake_.notify_one();
  if (dropped) {
    if (counters_) counters_->record(receiver_, delivery_outcome::kDropped);
    spdlog::warn("alert receiver {}: queue full, dropped {} of target {}", receiver_,
                 dropped->alertname, dropped->target);
  }
  return dropped;
}

bool DeliveryQueue::wait_idle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_until(lock, deadline, [this] { return queue_.empty() && !busy_; });
}

void DeliveryQueue::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void DeliveryQueue::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    Notification n = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    bool finished = false;
    bool delivered = false;
    for (int attempt = 1; !finished; ++attempt) {
      lock.unlock();
      const HttpPostResult result = sender_->send(n, clock_());
      lock.lock();
      const std::string what =
          n.alertname + " (" + n.state + ", " + n.reason + ") of target " + n.target;
      if (is_success(result)) {
        if (counters_) counters_->record(receiver_, delivery_outcome::kSuccess);
        spdlog::info("alert receiver {}: sent {}", receiver_, what);
        finished = delivered = true;
        break;
      }
      const std::string problem =
          result.error.empty() ? "HTTP " + std::to_string(result.status) : result.error;
      if (!is_retryable(result) || attempt >= options_.max_attempts) {
        if (counters_) counters_->record(receiver_, delivery_outcome::kFailure);
        spdlog::error("alert receiver {}: giving up on {} after {} attempt(s): {}", receiver_, what,
                      attempt, problem);
        finished = true;
        break;
      }
      if (counters_) counters_->record(receiver_, delivery_outcome::kRetry);
      const auto delay = retry_delay(options_, attempt, result.retry_after);
      spdlog::warn("alert receiver {}: sending {} failed ({}); retry in {} ms", receiver_, what,
                   problem, delay.count());
      if (wake_.wait_for(lock, delay, [this] { return stopping_; })) break;
    }
    if (finished && done_) {
      lock.unlock();
      done_(n, delivered);
      lock.lock();
    }
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
    if (stopping_) break;
  }
  busy_ = false;
  idle_.notify_all();
}

}  // namespace driftwatch
