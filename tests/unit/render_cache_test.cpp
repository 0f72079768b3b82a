// RenderCache: one render per version, expiry, stale text only while another render runs.
#include "driftwatch/render_cache.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace driftwatch;
using namespace std::chrono_literals;

namespace {

RenderCache::Render counting(int& calls, const std::string& text) {
  return [&calls, text] {
    ++calls;
    return RenderCache::Rendered{text + std::to_string(calls), std::nullopt};
  };
}

}  // namespace

TEST_CASE("render cache renders once per version") {
  RenderCache cache;
  int calls = 0;
  CHECK(*cache.get(1, counting(calls, "v")) == "v1");
  CHECK(*cache.get(1, counting(calls, "v")) == "v1");
  CHECK(calls == 1);
  CHECK(*cache.get(2, counting(calls, "v")) == "v2");
  CHECK(calls == 2);
  // An older version than the cached one is served from the cache (versions only grow).
  CHECK(*cache.get(1, counting(calls, "v")) == "v2");
  CHECK(cache.renders() == 2);
}

TEST_CASE("render cache honours valid_until") {
  auto now = std::chrono::system_clock::time_point{} + 1000s;
  RenderCache cache([&now] { return now; });
  int calls = 0;
  auto render = [&calls, &now] {
    ++calls;
    return RenderCache::Rendered{"r" + std::to_string(calls), now + 10s};
  };
  CHECK(*cache.get(7, render) == "r1");
  now += 9s;
  CHECK(*cache.get(7, render) == "r1");
  now += 1s;  // at valid_until: expired
  CHECK(*cache.get(7, render) == "r2");
  CHECK(calls == 2);
}

TEST_CASE("render cache: a failed render leaves the previous text and is retried") {
  RenderCache cache;
  int calls = 0;
  CHECK(*cache.get(1, counting(calls, "ok")) == "ok1");
  CHECK_THROWS(cache.get(2, []() -> RenderCache::Rendered { throw std::runtime_error("x"); }));
  CHECK(*cache.get(2, counting(calls, "ok")) == "ok2");
}

TEST_CASE("render cache serves the previous text while a render runs, and waits without one") {
  RenderCache cache;
  int calls = 0;
  CHECK(*cache.get(1, counting(calls, "a")) == "a1");

  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  bool release = false;
  std::thread slow([&] {
    cache.get(2, [&] {
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
  CHECK(*cache.get(2, counting(other_calls, "b")) == "a1");
  CHECK(other_calls == 0);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  slow.join();
  CHECK(*cache.get(2, counting(other_calls, "b")) == "slow");
  CHECK(other_calls == 0);
  CHECK(cache.renders() == 2);
}

TEST_CASE("render cache: the first request waits for the first render") {
  RenderCache cache;
  std::atomic<int> calls{0};
  std::vector<std::thread> readers;
  std::vector<std::string> seen(8);
  for (int i = 0; i < 8; ++i) {
    readers.emplace_back([&, i] {
      seen[static_cast<std::size_t>(i)] = *cache.get(5, [&] {
        ++calls;
        std::this_thread::sleep_for(20ms);
        return RenderCache::Rendered{"first", std::nullopt};
      });
    });
  }
  for (auto& t : readers) t.join();
  for (const auto& s : seen) CHECK(s == "first");  // nobody got an empty or missing text
  CHECK(calls.load() == 1);
}
