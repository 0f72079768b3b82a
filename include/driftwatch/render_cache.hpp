// Reuse of an expensive rendering (the /metrics text, the /api/v1/targets body) between requests.
//
// A rendering is reused while the version it was made from is current (and, when it said so,
// until a point in time, e.g. the earliest acknowledgement expiry it shows). When the version
// moved on, the next request renders again; requests that arrive while that render runs get the
// previous text instead of queueing behind it, so a burst of scrapes costs one render, not one
// per request, and stale text is never older than one render. A client that saw a change and
// then asks (with no render in flight) always gets a rendering made after the change.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace driftwatch {

class RenderCache {
 public:
  using SystemTime = std::chrono::system_clock::time_point;
  struct Rendered {
    std::string text;
    std::optional<SystemTime> valid_until;  // nullopt: valid while the version is current
  };
  using Render = std::function<Rendered()>;
  using Clock = std::function<SystemTime()>;

  explicit RenderCache(Clock clock = [] { return std::chrono::system_clock::now(); })
      : clock_(std::move(clock)) {}

  // `version` identifies the state `render` reads: it only grows, and equal versions mean equal
  // output. Read it before the state, so a change during the render shows as a newer version
  // next time.
  std::shared_ptr<const std::string> get(std::uint64_t version, const Render& render);

  // Renders since construction (tests, benchmarks).
  std::uint64_t renders() const;

 private:
  struct Entry {
    std::shared_ptr<const std::string> text;
    std::uint64_t version = 0;
    std::optional<SystemTime> valid_until;
  };
  bool fresh(const Entry& entry, std::uint64_t version, SystemTime now) const;

  Clock clock_;
  mutable std::mutex mu_;  // guards entry_ and rendering_
  std::mutex render_mu_;   // one render at a time
  Entry entry_;
  bool rendering_ = false;
  std::uint64_t renders_ = 0;
};

}  // namespace driftwatch
