// Delivery queue: retried until accepted (no give-up), one pending notification per alert (a
// newer one supersedes, another alert's is never dropped), accepted callback only on 2xx.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "alerts/delivery.hpp"

namespace driftwatch {
namespace {

using std::chrono::milliseconds;

// A receiver that refuses (503) while `down`, then accepts; records what it was sent.
class FakeSender : public Sender {
 public:
  std::atomic<bool> down{true};
  std::atomic<int> attempts{0};
  HttpPostResult send(const Notification& n, SystemTime) override {
    ++attempts;
    std::lock_guard<std::mutex> lock(mu);
    if (down) return {503, "", std::nullopt};
    received.push_back(n.target + "/" + std::to_string(n.seq));
    return {202, "", std::nullopt};
  }
  std::vector<std::string> got() {
    std::lock_guard<std::mutex> lock(mu);
    return received;
  }
  std::mutex mu;
  std::vector<std::string> received;
};

Notification notification(const std::string& target, std::uint64_t seq) {
  Notification n;
  n.receiver = "webhook";
  n.alertname = alertname::kSchemaDrift;
  n.target = target;
  n.seq = seq;
  return n;
}

template <typename Predicate>
bool eventually(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

DeliveryOptions fast() {
  DeliveryOptions o;
  o.backoff_base = milliseconds(2);
  o.backoff_max = milliseconds(10);
  return o;
}

TEST_CASE("delivery queue: retried past any attempt limit until the receiver accepts") {
  auto owned = std::make_unique<FakeSender>();
  FakeSender* sender = owned.get();
  AlertNotificationCounters counters;
  std::mutex mu;
  std::vector<std::uint64_t> accepted;
  DeliveryQueue queue(
      "webhook", std::move(owned), fast(), &counters,
      [&](const Notification& n) {
        std::lock_guard<std::mutex> lock(mu);
        accepted.push_back(n.seq);
      },
      [] { return std::chrono::system_clock::now(); });
  queue.push(notification("prod", 1));
  CHECK(eventually([&] { return sender->attempts >= 20; }));
  CHECK(queue.pending() == 1);
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK(accepted.empty());
  }
  sender->down = false;
  CHECK(queue.wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  CHECK(sender->got() == std::vector<std::string>{"prod/1"});
  std::lock_guard<std::mutex> lock(mu);
  CHECK(accepted == std::vector<std::uint64_t>{1});
  CHECK(counters.snapshot()[{"webhook", "success"}] == 1);
  CHECK(counters.snapshot()[{"webhook", "retry"}] >= 19);
}

TEST_CASE("delivery queue: a newer notification supersedes the same alert's, never another's") {
  auto owned = std::make_unique<FakeSender>();
  FakeSender* sender = owned.get();
  AlertNotificationCounters counters;
  DeliveryQueue queue("webhook", std::move(owned), fast(), &counters, nullptr,
                      [] { return std::chrono::system_clock::now(); });
  // Many alerts pending at once, each updated several times while the receiver is down.
  for (std::uint64_t round = 0; round < 3; ++round) {
    for (int t = 0; t < 300; ++t)
      queue.push(notification("t" + std::to_string(t), round * 1000 + t + 1));
  }
  CHECK(queue.pending() == 300);
  CHECK(counters.snapshot()[{"webhook", "superseded"}] >= 590);
  sender->down = false;
  CHECK(queue.wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  const auto got = sender->got();
  // Every alert arrives, each with its newest notification (an in-flight older one may also
  // have been accepted just before it was superseded).
  std::set<std::string> newest;
  for (const auto& item : got) newest.insert(item);
  for (int t = 0; t < 300; ++t) {
    CHECK(newest.count("t" + std::to_string(t) + "/" + std::to_string(2000 + t + 1)) == 1);
  }
  CHECK(got.size() <= 302);
}

}  // namespace
}  // namespace driftwatch
