// Reuse of an expensive rendering (the /metrics text, the /api/v1/targets body) between requests.
//
// A rendering is made from a state identified by a Version (see there). It is reused while
// nothing changed; after a change that may lag (a scheduled check finished) it is still reused
// for up to max_lag, so a fleet whose checks finish every few milliseconds renders at most once
// per max_lag however hard it is scraped. Changes that must show at once (a reload, an
// acknowledgement) and changes the reader may already have seen elsewhere (the floor) are never
// hidden. Requests that arrive while a render runs get the previous rendering (when it is
// allowed) instead of queueing behind it. With refresh_after (< max_lag), a reader that finds
// the rendering older than that and behind the state starts a new rendering on a background
// thread and is answered from the previous one, so under steady load no request waits for a
// render (the request threads stay free for I/O). A rendering may also say until when it is
// valid (e.g. the earliest acknowledgement expiry it shows).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace driftwatch {

class RenderCache {
 public:
  using SystemTime = std::chrono::system_clock::time_point;
  // Every field only grows.
  struct Version {
    std::uint64_t exact = 0;    // changes a reader must see at once
    std::uint64_t lagging = 0;  // changes that may show up to max_lag late
    // The oldest `lagging` this reader may be shown: what it may have seen in other answers.
    std::uint64_t floor = 0;
  };
  struct Rendered {
    std::string text;
    std::optional<SystemTime> valid_until;  // nullopt: valid while the version allows
  };
  using Render = std::function<Rendered()>;
  // A second form of a rendering (e.g. gzip), made once per rendering when first asked for.
  using Encode = std::function<std::string(const std::string&)>;
  using Clock = std::function<SystemTime()>;

  static SystemTime wall_clock() { return std::chrono::system_clock::now(); }

  // The render functions given to get() must stay callable after get() returns when
  // refresh_after is set (they may run on the background thread): capture by value.
  explicit RenderCache(std::chrono::milliseconds max_lag = std::chrono::milliseconds(0),
                       Encode encode = nullptr, Clock clock = wall_clock,
                       std::chrono::milliseconds refresh_after = std::chrono::milliseconds(0))
      : max_lag_(max_lag),
        refresh_after_(refresh_after),
        encode_(std::move(encode)),
        clock_(std::move(clock)) {}
  ~RenderCache();
  RenderCache(const RenderCache&) = delete;
  RenderCache& operator=(const RenderCache&) = delete;

  struct Served {
    std::shared_ptr<const std::string> bytes;
    std::uint64_t lagging = 0;  // the `lagging` version the bytes were rendered at
  };
  // Read `version` before the state `render` reads, so a change during the render shows as a
  // newer version next time. With `encoded` (and an Encode given), the encoded form.
  Served get(const Version& version, const Render& render, bool encoded = false);

  // Renders since construction (tests, benchmarks).
  std::uint64_t renders() const;
  // Waits for a background render in progress, if any (tests).
  void wait_background();

 private:
  struct Encoded {
    std::once_flag once;
    std::shared_ptr<const std::string> bytes;
  };
  struct Entry {
    std::shared_ptr<const std::string> text;
    Version version;
    SystemTime made{};
    std::optional<SystemTime> valid_until;
    std::shared_ptr<Encoded> encoded;
  };
  // May `entry` answer a reader at `version`? `lag_ok`: changes that may lag are allowed to.
  bool usable(const Entry& entry, const Version& version, SystemTime now, bool lag_ok) const;
  Served form(const Entry& entry, bool encoded) const;
  // Renders at `version` and publishes the result. render_mu_ held, rendering_ or refreshing_
  // set by the caller; clears rendering_.
  Entry render_and_publish(const Version& version, const Render& render, bool encode_now);

  std::chrono::milliseconds max_lag_;
  std::chrono::milliseconds refresh_after_;  // 0: no background renders
  Encode encode_;
  Clock clock_;
  mutable std::mutex mu_;  // guards everything below but render_mu_
  std::mutex render_mu_;   // one render at a time
  Entry entry_;
  bool rendering_ = false;
  bool refreshing_ = false;  // a background render is queued or running in refresher_
  std::thread refresher_;
  SystemTime refresh_started_{};
  bool encoded_asked_ = false;  // some reader asked for the encoded form
  std::uint64_t renders_ = 0;
};

// The parts of a rendering (one per target), reused while a part's key is unchanged. A pass
// asks for every part it needs; parts not asked for since the previous pass are dropped. Not
// thread-safe: use it inside a RenderCache render, which runs one at a time. An empty key is
// never reused.
template <typename Part>
class PartCache {
 public:
  template <typename Make>
  const Part& get(const std::string& name, const std::string& key, Make&& make) {
    auto it = current_.find(name);
    if (!key.empty() && it != current_.end() && it->second.first == key) {
      return next_.insert_or_assign(name, std::move(it->second)).first->second.second;
    }
    return next_.insert_or_assign(name, std::pair<std::string, Part>{key, make()})
        .first->second.second;
  }
  // Ends a pass: what was asked for becomes what the next pass can reuse.
  void finish() {
    current_.swap(next_);
    next_.clear();
  }
  std::size_t size() const { return current_.size(); }

 private:
  std::map<std::string, std::pair<std::string, Part>> current_;
  std::map<std::string, std::pair<std::string, Part>> next_;
};

}  // namespace driftwatch
