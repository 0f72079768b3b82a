// RenderCache: reuse per version, lag for scheduled changes, floor and exact changes never
// hidden, expiry, stale text only while another render runs; PartCache.
#include "driftwatch/render_cache.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace driftwatch;
using namespace std::chrono_literals;
using Version = RenderCache::Version;

namespace {

RenderCache::Render counting(int& calls, const std::string& text) {
  return [&calls, text] {
    ++calls;
    return RenderCache::Rendered{text + std::to_string(calls), std::nullopt};
  };
}

std::string text(const RenderCache::Served& served) { return *served.bytes; }

}  // namespace

TEST_CASE("render cache renders once per version without a lag") {
  RenderCache cache;
  int calls = 0;
  CHECK(text(cache.get({0, 1, 0}, counting(calls, "v"))) == "v1");
  CHECK(text(cache.get({0, 1, 0}, counting(calls, "v"))) == "v1");
  CHECK(calls == 1);
  CHECK(text(cache.get({0, 2, 0}, counting(calls, "v"))) == "v2");
  CHECK(text(cache.get({1, 2, 0}, counting(calls, "v"))) == "v3");
  CHECK(calls == 3);
  // An older version than the cached one is served from the cache (versions only grow).
  const auto served = cache.get({0, 1, 0}, counting(calls, "v"));
  CHECK(text(served) == "v3");
  CHECK(served.lagging == 2);
  CHECK(cache.renders() == 3);
}

TEST_CASE("render cache: lagging changes wait up to max_lag, exact changes and the floor do not") {
  auto now = std::chrono::system_clock::time_point{} + 1000s;
  RenderCache cache(1000ms, nullptr, [&now] { return now; });
  int calls = 0;
  CHECK(text(cache.get({0, 10, 0}, counting(calls, "r"))) == "r1");
  now += 500ms;
  CHECK(text(cache.get({0, 11, 0}, counting(calls, "r"))) == "r1");  // lagging: within max_lag
  CHECK(text(cache.get({1, 11, 0}, counting(calls, "r"))) == "r2");  // exact: at once
  now += 200ms;
  CHECK(text(cache.get({1, 12, 0}, counting(calls, "r"))) == "r2");
  // The reader saw version 12 elsewhere: the rendering at 11 must not be shown to it.
  CHECK(text(cache.get({1, 12, 12}, counting(calls, "r"))) == "r3");
  now += 999ms;
  CHECK(text(cache.get({1, 13, 0}, counting(calls, "r"))) == "r3");
  now += 1ms;  // max_lag reached
  CHECK(text(cache.get({1, 13, 0}, counting(calls, "r"))) == "r4");
  CHECK(calls == 4);
}

TEST_CASE("render cache honours valid_until") {
  auto now = std::chrono::system_clock::time_point{} + 1000s;
  RenderCache cache(1000ms, nullptr, [&now] { return now; });
  int calls = 0;
  auto render = [&calls, &now] {
    ++calls;
    return RenderCache::Rendered{"r" + std::to_string(calls), now + 10s};
  };
  CHECK(text(cache.get({0, 7, 0}, render)) == "r1");
  now += 9s;
  CHECK(text(cache.get({0, 7, 0}, render)) == "r1");
  now += 1s;  // at valid_until: expired, even within the lag
  CHECK(text(cache.get({0, 7, 0}, render)) == "r2");
  CHECK(calls == 2);
}

TEST_CASE("render cache: a failed render leaves the previous text and is retried") {
  RenderCache cache;
  int calls = 0;
  CHECK(text(cache.get({0, 1, 0}, counting(calls, "ok"))) == "ok1");
  CHECK_THROWS(
      cache.get({0, 2, 0}, []() -> RenderCache::Rendered { throw std::runtime_error("x"); }));
  CHECK(text(cache.get({0, 2, 0}, counting(calls, "ok"))) == "ok2");
}

TEST_CASE("render cache serves the previous text while a render runs, unless it is too old") {
  RenderCache cache;
  int calls = 0;
  CHECK(text(cache.get({0, 1, 0}, counting(calls, "a"))) == "a1");

  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  bool release = false;
  std::thread slow([&] {
    cache.get({0, 2, 0}, [&] {
      std::unique_lock<std::mutex> lock(mu);
      started = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
      return RenderCache::Rendered{"slow", std::nullopt};
    });
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return started; });
  }
  // Version 2 is being rendered: a second reader gets the previous text at once.
  int other_calls = 0;
  CHECK(text(cache.get({0, 2, 0}, counting(other_calls, "b"))) == "a1");
  CHECK(other_calls == 0);
  std::thread floored([&] {
    // A reader that saw version 2 elsewhere waits for the render instead.
    CHECK(text(cache.get({0, 2, 2}, counting(other_calls, "c"))) == "slow");
  });
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  slow.join();
  floored.join();
  CHECK(text(cache.get({0, 2, 0}, counting(other_calls, "b"))) == "slow");
  CHECK(other_calls == 0);
  CHECK(cache.renders() == 2);
}

TEST_CASE("render cache: concurrent first requests share one render") {
  RenderCache cache;
  std::atomic<int> calls{0};
  std::vector<std::thread> readers;
  std::vector<std::string> seen(8);
  for (int i = 0; i < 8; ++i) {
    readers.emplace_back([&, i] {
      seen[static_cast<std::size_t>(i)] = text(cache.get({0, 5, 0}, [&] {
        ++calls;
        std::this_thread::sleep_for(20ms);
        return RenderCache::Rendered{"first", std::nullopt};
      }));
    });
  }
  for (auto& t : readers) t.join();
  for (const auto& s : seen) CHECK(s == "first");  // nobody got an empty or missing text
  CHECK(calls.load() == 1);
}

TEST_CASE("render cache encodes once per rendering, on demand") {
  int encodes = 0;
  RenderCache cache(0ms, [&encodes](const std::string& plain) {
    ++encodes;
    return "<" + plain + ">";
  });
  int calls = 0;
  CHECK(text(cache.get({0, 1, 0}, counting(calls, "t"))) == "t1");
  CHECK(encodes == 0);
  CHECK(text(cache.get({0, 1, 0}, counting(calls, "t"), true)) == "<t1>");
  CHECK(text(cache.get({0, 1, 0}, counting(calls, "t"), true)) == "<t1>");
  CHECK(encodes == 1);
  CHECK(text(cache.get({0, 2, 0}, counting(calls, "t"), true)) == "<t2>");
  CHECK(encodes == 2);
  CHECK(text(cache.get({0, 2, 0}, counting(calls, "t"))) == "t2");
  CHECK(calls == 2);
}

TEST_CASE("render cache: with refresh_after, a reader behind starts a background render") {
  std::mutex clock_mu;
  auto now = std::chrono::system_clock::time_point{} + 1000s;
  auto clock = [&] {
    std::lock_guard<std::mutex> lock(clock_mu);
    return now;
  };
  auto advance = [&](std::chrono::milliseconds by) {
    std::lock_guard<std::mutex> lock(clock_mu);
    now += by;
  };
  RenderCache cache(1000ms, nullptr, clock, 500ms);
  std::atomic<int> calls{0};
  auto render = [&calls] {
    return RenderCache::Rendered{"r" + std::to_string(++calls), std::nullopt};
  };
  CHECK(text(cache.get({0, 1, 0}, render)) == "r1");  // nothing to serve yet: rendered here
  advance(400ms);
  CHECK(text(cache.get({0, 2, 0}, render)) == "r1");  // behind but young: no render
  cache.wait_background();
  CHECK(calls == 1);
  advance(100ms);
  // Behind and 500 ms old: answered from the previous rendering, the next one runs meanwhile.
  const auto served = cache.get({0, 2, 0}, render);
  CHECK(text(served) == "r1");
  CHECK(served.lagging == 1);
  cache.wait_background();
  CHECK(calls == 2);
  CHECK(cache.renders() == 2);
  const auto fresh = cache.get({0, 2, 0}, render);
  CHECK(text(fresh) == "r2");
  CHECK(fresh.lagging == 2);
  // Up to date: no background render however old.
  advance(5s);
  CHECK(text(cache.get({0, 2, 0}, render)) == "r2");
  cache.wait_background();
  CHECK(calls == 2);
  // Exact changes and the floor still render before answering.
  CHECK(text(cache.get({1, 2, 0}, render)) == "r3");
  CHECK(text(cache.get({1, 3, 3}, render)) == "r4");
  cache.wait_background();
  CHECK(calls == 4);
}

TEST_CASE("render cache: a failed background render is retried by the next reader") {
  auto now = std::chrono::system_clock::time_point{} + 1000s;
  std::atomic<long> offset_ms{0};
  RenderCache cache(
      1000ms, nullptr, [&] { return now + std::chrono::milliseconds(offset_ms.load()); }, 500ms);
  std::atomic<int> calls{0};
  std::atomic<bool> fail{false};
  auto render = [&] {
    ++calls;
    if (fail) {
      throw std::runtime_error("render failed");
    }
    return RenderCache::Rendered{"r" + std::to_string(calls.load()), std::nullopt};
  };
  CHECK(text(cache.get({0, 1, 0}, render)) == "r1");
  fail = true;
  offset_ms = 600;
  CHECK(text(cache.get({0, 2, 0}, render)) == "r1");
  cache.wait_background();
  CHECK(calls == 2);
  CHECK(cache.renders() == 1);
  // Past max_lag the reader renders itself and sees the error.
  offset_ms = 1000;
  CHECK_THROWS(cache.get({0, 2, 0}, render));
  fail = false;
  CHECK(text(cache.get({0, 2, 0}, render)) == "r4");
}

TEST_CASE("part cache reuses parts by key and drops parts not asked for") {
  PartCache<std::string> parts;
  int made = 0;
  auto make = [&made](const std::string& value) {
    return [&made, value] {
      ++made;
      return value;
    };
  };
  CHECK(parts.get("a", "1", make("a1")) == "a1");
  CHECK(parts.get("b", "1", make("b1")) == "b1");
  parts.finish();
  CHECK(made == 2);
  CHECK(parts.get("a", "1", make("x")) == "a1");   // same key: reused
  CHECK(parts.get("b", "2", make("b2")) == "b2");  // new key: made again
  parts.finish();
  CHECK(made == 3);
  CHECK(parts.get("b", "2", make("x")) == "b2");
  parts.finish();  // "a" not asked for: dropped
  CHECK(parts.size() == 1);
  CHECK(parts.get("a", "1", make("a1 again")) == "a1 again");
  CHECK(parts.get("c", "", make("c")) == "c");
  parts.finish();
  CHECK(parts.get("c", "", make("c again")) == "c again");  // an empty key is never reused
  CHECK(made == 6);
}
