// Scheduler tests with an injected check function (a fake that sleeps and returns canned
// results): timing rules, per-target exclusion, on-demand joins, reload and drain.
#include <doctest/doctest.h>
#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "driftwatch/scheduler.hpp"

using namespace driftwatch;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

Config make_config(const std::vector<std::string>& names, std::chrono::milliseconds interval,
                   int concurrency = 4) {
  Config config;
  config.check.interval = interval;
  config.check.timeout = 5s;
  config.check.concurrency = concurrency;
  for (const auto& name : names) {
    TargetConfig target;
    target.name = name;
    target.migrations = "m";
    config.targets.push_back(target);
  }
  return config;
}

TargetResult ok_result(const std::string& name) {
  TargetResult r;
  r.name = name;
  r.status = check_status::kOk;
  r.checked_at = std::chrono::system_clock::now();
  return r;
}

TargetResult err_result(const std::string& name, const std::string& reason) {
  TargetResult r = ok_result(name);
  r.status = check_status::kError;
  r.error = CheckError{reason, "boom"};
  return r;
}

// Polls until pred() or timeout; returns pred().
template <typename Pred>
bool wait_for(Pred pred, std::chrono::milliseconds timeout = 3000ms) {
  const auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

SchedulerOptions quiet_options() {
  SchedulerOptions options;
  options.seed = 42;
  // First checks far in the future: only on-demand checks run.
  options.first_check_spread = std::chrono::hours(1);
  return options;
}

}  // namespace

TEST_CASE("first check delay is spread over min(interval, 10s)") {
  std::mt19937_64 rng(1);
  long long max_seen = 0;
  long long min_seen = 1LL << 60;
  for (int i = 0; i < 2000; ++i) {
    long long d = sched_timing::first_check_delay(5min, rng).count();
    CHECK(d >= 0);
    CHECK(d < 10000);
    max_seen = std::max(max_seen, d);
    min_seen = std::min(min_seen, d);
  }
  CHECK(max_seen > 9000);  // actually spread, not a constant
  CHECK(min_seen < 1000);
  for (int i = 0; i < 500; ++i) {
    auto d = sched_timing::first_check_delay(2s, rng).count();
    CHECK(d >= 0);
    CHECK(d < 2000);
  }
  CHECK(sched_timing::first_check_delay(0ms, rng).count() == 0);
}

TEST_CASE("jittered interval stays within plus/minus 10 percent") {
  std::mt19937_64 rng(7);
  std::set<long long> seen;
  for (int i = 0; i < 2000; ++i) {
    auto d = sched_timing::jittered(300s, rng).count();
    CHECK(d >= 270000);
    CHECK(d <= 330000);
    seen.insert(d);
  }
  CHECK(seen.size() > 100);
}

TEST_CASE("backoff doubles from 30s and is capped at the interval") {
  CHECK(sched_timing::retry_base(5min, 0) == 5min);
  CHECK(sched_timing::retry_base(5min, 1) == 30s);
  CHECK(sched_timing::retry_base(5min, 2) == 60s);
  CHECK(sched_timing::retry_base(5min, 3) == 120s);
  CHECK(sched_timing::retry_base(5min, 4) == 240s);
  CHECK(sched_timing::retry_base(5min, 5) == 5min);
  CHECK(sched_timing::retry_base(5min, 1000) == 5min);
  CHECK(sched_timing::retry_base(10s, 1) == 10s);  // never later than the interval
}

TEST_CASE("first checks of all targets happen within the spread after start") {
  std::mutex mu;
  std::map<std::string, Clock::time_point> first;
  auto check = [&](const TargetConfig& t, Clock::time_point) {
    std::lock_guard<std::mutex> lock(mu);
    first.emplace(t.name, Clock::now());
    return ok_result(t.name);
  };
  SchedulerOptions options;
  options.seed = 3;
  Scheduler scheduler(check, make_config({"a", "b", "c", "d", "e", "f"}, 300ms), options);
  std::atomic<int> prepared{0};
  scheduler.set_prepare_callback([&] { ++prepared; });
  CHECK_FALSE(scheduler.first_round_done());
  const auto start = Clock::now();
  scheduler.start();
  REQUIRE(wait_for([&] { return scheduler.first_round_done(); }));
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(first.size() == 6);
  Clock::time_point earliest = first.begin()->second, latest = earliest;
  for (const auto& [name, at] : first) {
    CHECK(at - start < 300ms + 100ms);  // spread is min(300ms, 10s), plus scheduling slack
    earliest = std::min(earliest, at);
    latest = std::max(latest, at);
  }
  CHECK(latest - earliest > 10ms);  // not all at the same instant
  CHECK(prepared.load() >= 1);      // expected state refreshed before scheduled checks
}

TEST_CASE("a target is never checked twice at once, even with triggers") {
  std::mutex mu;
  std::map<std::string, int> running;
  std::map<std::string, int> max_running;
  std::atomic<int> total_running{0};
  std::atomic<int> max_total{0};
  std::atomic<int> calls{0};
  auto check = [&](const TargetConfig& t, Clock::time_point) {
    {
      std::lock_guard<std::mutex> lock(mu);
      int n = ++running[t.name];
      max_running[t.name] = std::max(max_running[t.name], n);
    }
    int total = ++total_running;
    int prev = max_total.load();
    while (total > prev && !max_total.compare_exchange_weak(prev, total)) {
    }
    std::this_thread::sleep_for(15ms);
    --total_running;
    {
      std::lock_guard<std::mutex> lock(mu);
      --running[t.name];
    }
    ++calls;
    return ok_result(t.name);
  };
  SchedulerOptions options;
  options.seed = 5;
  Scheduler scheduler(check, make_config({"a", "b", "c"}, 5ms, /*concurrency=*/2), options);
  scheduler.start();
  for (int i = 0; i < 40; ++i) {
    scheduler.trigger("a");
    scheduler.trigger("b");
    std::this_thread::sleep_for(3ms);
  }
  REQUIRE(wait_for([&] { return calls.load() > 20; }));
  scheduler.drain(Clock::now() + 2s);
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& [name, n] : max_running) CHECK_MESSAGE(n == 1, name);
  CHECK(max_total.load() <= 2);  // bounded by check.concurrency
}

TEST_CASE("deadline passed to the check is now + check.timeout") {
  std::promise<std::chrono::milliseconds> got;
  auto check = [&](const TargetConfig& t, Clock::time_point deadline) {
    got.set_value(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    return ok_result(t.name);
  };
  Config config = make_config({"a"}, 1h);
  config.check.timeout = 1500ms;
  Scheduler scheduler(check, config, quiet_options());
  scheduler.start();
  REQUIRE(scheduler.trigger("a"));
  auto remaining = got.get_future().get();
  CHECK(remaining <= 1500ms);
  CHECK(remaining > 1200ms);
}

TEST_CASE("consecutive errors back off exponentially, capped at the interval") {
  std::mutex mu;
  std::vector<Clock::time_point> times;
  auto check = [&](const TargetConfig& t, Clock::time_point) {
    std::lock_guard<std::mutex> lock(mu);
    times.push_back(Clock::now());
    return err_result(t.name, error_reason::kConnect);
  };
  SchedulerOptions options;
  options.seed = 9;
  options.backoff_base = 40ms;
  options.first_check_spread = 1ms;
  // interval 250ms: retries after 40, 80, 160, then 250 (cap), 250.
  Scheduler scheduler(check, make_config({"down"}, 250ms), options);
  scheduler.start();
  REQUIRE(wait_for([&] {
    std::lock_guard<std::mutex> lock(mu);
    return times.size() >= 6;
  }));
  scheduler.drain(Clock::now() + 1s);
  std::lock_guard<std::mutex> lock(mu);
  std::vector<double> gaps;
  for (std::size_t i = 1; i < 6; ++i) {
    gaps.push_back(std::chrono::duration<double, std::milli>(times[i] - times[i - 1]).count());
  }
  // Lower bounds are exact (the next check is scheduled after the previous one finished); upper
  // bounds leave room for a loaded machine but still exclude "no backoff" (250 ms at once).
  const double expected[] = {40, 80, 160, 250, 250};
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    CHECK_MESSAGE(gaps[i] >= expected[i] * 0.9 - 1, "gap " << i << " = " << gaps[i]);
    CHECK_MESSAGE(gaps[i] <= expected[i] * 1.1 + 150, "gap " << i << " = " << gaps[i]);
  }
  auto status = scheduler.target("down");
  REQUIRE(status);
  CHECK(status->consecutive_failures >= 6);
  CHECK(status->errors_by_reason.at(error_reason::kConnect) == status->checks_total);
  CHECK_FALSE(status->last_success);
}

TEST_CASE("a success resets the failure count and records the last success") {
  std::atomic<int> n{0};
  auto check = [&](const TargetConfig& t, Clock::time_point) {
    return ++n <= 2 ? err_result(t.name, error_reason::kTimeout) : ok_result(t.name);
  };
  Scheduler scheduler(check, make_config({"a"}, 1h), quiet_options());
  scheduler.start();
  for (int i = 0; i < 2; ++i) scheduler.trigger("a")->get();
  auto status = scheduler.target("a");
  CHECK(status->consecutive_failures == 2);
  CHECK(status->errors_by_reason.at("timeout") == 2);
  CHECK(scheduler.trigger("a")->get().status == "ok");
  status = scheduler.target("a");
  CHECK(status->consecutive_failures == 0);
  CHECK(status->checks_total == 3);
  CHECK(status->last_success);
}

TEST_CASE("a failure on the expected side reached the target: it records the last success") {
  auto check = [&](const TargetConfig& t, Clock::time_point) {
    return err_result(t.name, t.name == "broken_migrations" ? error_reason::kMigrations
                              : t.name == "no_snapshot"     ? error_reason::kExpectedSchema
                                                            : error_reason::kConnect);
  };
  Scheduler scheduler(check, make_config({"broken_migrations", "no_snapshot", "down"}, 1h),
                      quiet_options());
  scheduler.start();
  for (const char* name : {"broken_migrations", "no_snapshot", "down"}) {
    CHECK(scheduler.trigger(name)->get().status == "error");
    const auto status = scheduler.target(name);
    REQUIRE(status);
    CHECK(status->consecutive_failures == 1);  // still a failed check (backoff, for_checks)
    CHECK_MESSAGE(status->last_success.has_value() == (std::string(name) != "down"), name);
  }
}

TEST_CASE("an on-demand check joins the running one") {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> calls{0};
  auto check = [&](const TargetConfig& t, Clock::time_point) {
    ++calls;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
    auto r = ok_result(t.name);
    r.compared_against = "call " + std::to_string(calls.load());
    return r;
  };
  Scheduler scheduler(check, make_config({"a"}, 1h), quiet_options());
  scheduler.start();
  auto first = scheduler.trigger("a");
  REQUIRE(first);
  REQUIRE(wait_for([&] { return calls.load() == 1; }));
  CHECK(scheduler.target("a")->running);
  auto second = scheduler.trigger("a");
  REQUIRE(second);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  CHECK(first->get().compared_against == "call 1");
  CHECK(second->get().compared_against == "call 1");
  CHECK(calls.load() == 1);
  CHECK_FALSE(scheduler.trigger("nope"));
}

TEST_CASE("a throwing check becomes an internal error result") {
  auto check = [](const TargetConfig&, Clock::time_point) -> TargetResult {
    throw std::runtime_error("kaput");
  };
  Scheduler scheduler(check, make_config({"a"}, 1h), quiet_options());
  scheduler.start();
  auto r = scheduler.trigger("a")->get();
  CHECK(r.status == "error");
  REQUIRE(r.error);
  CHECK(r.error->reason == "internal");
  CHECK(r.name == "a");
  CHECK(scheduler.target("a")->errors_by_reason.at("internal") == 1);
}

TEST_CASE("reload keeps results of remaining targets, drops removed, adds new") {
  auto check = [](const TargetConfig& t, Clock::time_point) { return ok_result(t.name); };
  Scheduler scheduler(check, make_config({"a", "b"}, 1h), quiet_options());
  scheduler.start();
  scheduler.trigger("a")->get();
  scheduler.trigger("b")->get();
  CHECK(scheduler.first_round_done());
  Config next = make_config({"b", "c"}, 1h);
  next.targets[0].schemas = {"public"};
  scheduler.apply(next);
  auto all = scheduler.targets();
  REQUIRE(all.size() == 2);
  CHECK(all[0].config.name == "b");
  CHECK(all[0].checks_total == 1);
  CHECK(all[0].last_result.get() != nullptr);
  CHECK(all[0].config.schemas == std::vector<std::string>{"public"});
  CHECK(all[1].config.name == "c");
  CHECK(all[1].last_result.get() == nullptr);
  CHECK_FALSE(scheduler.target("a"));
  CHECK_FALSE(scheduler.trigger("a"));
  CHECK(scheduler.first_round_done());  // readiness is not lost on reload
  auto r = scheduler.trigger("c");
  REQUIRE(r);
  CHECK(r->get().name == "c");
}

TEST_CASE("a removed target's in-flight result is discarded, re-added target starts fresh") {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  auto check = [&](const TargetConfig& t, Clock::time_point) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
    return ok_result(t.name);
  };
  Scheduler scheduler(check, make_config({"a"}, 1h), quiet_options());
  scheduler.start();
  auto pending = scheduler.trigger("a");
  REQUIRE(wait_for([&] { return scheduler.in_flight() == 1; }));
  scheduler.apply(make_config({}, 1h));
  scheduler.apply(make_config({"a"}, 1h));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  pending->get();
  REQUIRE(wait_for([&] { return scheduler.in_flight() == 0; }));
  auto status = scheduler.target("a");
  REQUIRE(status);
  CHECK(status->checks_total == 0);
  CHECK(status->last_result.get() == nullptr);
}

TEST_CASE("drain stops new checks and waits for in-flight ones up to the deadline") {
  auto check = [](const TargetConfig& t, Clock::time_point) {
    std::this_thread::sleep_for(400ms);
    return ok_result(t.name);
  };
  Scheduler scheduler(check, make_config({"a", "b"}, 1h, 1), quiet_options());
  scheduler.start();
  auto running = scheduler.trigger("a");
  auto queued = scheduler.trigger("b");  // concurrency 1: waits in the queue
  REQUIRE(wait_for([&] { return scheduler.in_flight() == 1; }));
  const auto t0 = Clock::now();
  CHECK_FALSE(scheduler.drain(t0 + 50ms));
  const auto waited = Clock::now() - t0;
  CHECK(waited >= 50ms);
  CHECK(waited < 300ms);
  CHECK(scheduler.draining());
  CHECK_FALSE(scheduler.trigger("a"));
  // The queued check was dropped, not run.
  auto dropped = queued->get();
  CHECK(dropped.status == "error");
  CHECK(scheduler.drain(Clock::now() + 2s));
  CHECK(running->get().status == "ok");
  CHECK(scheduler.target("b")->checks_total == 0);
}

TEST_CASE("result callback sees the updated status") {
  std::promise<TargetStatus> seen;
  auto check = [](const TargetConfig& t, Clock::time_point) {
    return err_result(t.name, error_reason::kAuth);
  };
  Scheduler scheduler(check, make_config({"a"}, 1h), quiet_options());
  scheduler.set_result_callback([&](const TargetStatus& s) { seen.set_value(s); });
  scheduler.start();
  scheduler.trigger("a");
  auto status = seen.get_future().get();
  CHECK(status.checks_total == 1);
  CHECK(status.consecutive_failures == 1);
  CHECK(status.last_result->error->reason == "auth");
}

TEST_CASE("background workers run checks under SCHED_IDLE, others under the default policy") {
  for (const bool background : {false, true}) {
    CAPTURE(background);
    std::promise<int> policy;
    auto check = [&policy](const TargetConfig& t, Clock::time_point) {
      policy.set_value(sched_getscheduler(0));  // the calling thread's policy
      return ok_result(t.name);
    };
    SchedulerOptions options = quiet_options();
    options.background_workers = background;
    Scheduler scheduler(check, make_config({"a"}, 1h), options);
    scheduler.start();
    scheduler.trigger("a");
    CHECK(policy.get_future().get() == (background ? SCHED_IDLE : SCHED_OTHER));
  }
  // The test thread itself is untouched.
  CHECK(sched_getscheduler(0) == SCHED_OTHER);
}

TEST_CASE("a hung check of a target a reload removed is still abandoned: its worker is freed") {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<bool> stuck_running{false};
  auto check = [&](const TargetConfig& t, Clock::time_point) {
    if (t.name == "stuck") {
      stuck_running = true;
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return release; });
    }
    return ok_result(t.name);
  };
  Config config = make_config({"stuck", "other"}, 1h, /*concurrency=*/1);
  config.check.timeout = 200ms;
  {
    Scheduler scheduler(check, config, quiet_options());
    scheduler.start();
    auto stuck = scheduler.trigger("stuck");
    REQUIRE(stuck);
    REQUIRE(wait_for([&] { return stuck_running.load(); }));
    Config reloaded = make_config({"other"}, 1h, /*concurrency=*/1);
    reloaded.check.timeout = 200ms;
    scheduler.apply(reloaded);
    // The waiter gets a timeout at deadline + grace, and the slot of the only worker is free.
    REQUIRE(stuck->wait_for(10s) == std::future_status::ready);
    const TargetResult result = stuck->get();
    REQUIRE(result.error);
    CHECK(result.error->reason == "timeout");
    CHECK(wait_for([&] { return scheduler.in_flight() == 0; }));
    auto other = scheduler.trigger("other");
    REQUIRE(other);
    REQUIRE(other->wait_for(10s) == std::future_status::ready);
    CHECK(other->get().status == "ok");
    CHECK_FALSE(scheduler.target("stuck"));
    {
      std::lock_guard<std::mutex> lock(mu);
      release = true;
    }
    cv.notify_all();
  }
}

TEST_CASE("a check stuck past its deadline is abandoned: timeout result, worker slot freed") {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  auto check = [&](const TargetConfig& t, Clock::time_point) {
    if (t.name == "stuck") {  // blocks in something no deadline reaches
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return release; });
    }
    return ok_result(t.name);
  };
  Config config = make_config({"stuck", "other"}, 1h, /*concurrency=*/1);
  config.check.timeout = 200ms;
  {
    Scheduler scheduler(check, config, quiet_options());
    scheduler.start();
    auto stuck = scheduler.trigger("stuck");
    REQUIRE(stuck);
    // Published at deadline + grace, while the check is still blocked.
    REQUIRE(stuck->wait_for(10s) == std::future_status::ready);
    const TargetResult result = stuck->get();
    CHECK(result.status == "error");
    REQUIRE(result.error);
    CHECK(result.error->reason == "timeout");
    CHECK(scheduler.target("stuck")->errors_by_reason.at("timeout") == 1);
    CHECK_FALSE(scheduler.target("stuck")->running);
    CHECK(scheduler.in_flight() == 0);
    // The only worker is blocked, yet another target is checked: a new worker took its place.
    auto other = scheduler.trigger("other");
    REQUIRE(other);
    REQUIRE(other->wait_for(10s) == std::future_status::ready);
    CHECK(other->get().status == "ok");
    // When the stuck check finally returns, its late result is discarded.
    {
      std::lock_guard<std::mutex> lock(mu);
      release = true;
    }
    cv.notify_all();
    auto again = scheduler.trigger("stuck");
    REQUIRE(again);
    REQUIRE(again->wait_for(10s) == std::future_status::ready);
    CHECK(again->get().status == "ok");
    CHECK(scheduler.target("stuck")->checks_total == 2);
  }
}
