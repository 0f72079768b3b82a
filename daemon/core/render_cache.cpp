#include "driftwatch/render_cache.hpp"

namespace driftwatch {

bool RenderCache::usable(const Entry& entry, const Version& version, SystemTime now,
                         bool lag_ok) const {
  if (!entry.text || entry.version.exact < version.exact || entry.version.lagging < version.floor ||
      (entry.valid_until && now >= *entry.valid_until)) {
    return false;
  }
  return entry.version.lagging >= version.lagging || lag_ok;
}

RenderCache::Served RenderCache::form(const Entry& entry, bool encoded) const {
  if (!encoded || !encode_) {
    return {entry.text, entry.version.lagging};
  }
  Encoded& slot = *entry.encoded;
  std::call_once(slot.once,
                 [&] { slot.bytes = std::make_shared<const std::string>(encode_(*entry.text)); });
  return {slot.bytes, entry.version.lagging};
}

RenderCache::~RenderCache() { wait_background(); }

void RenderCache::wait_background() {
  std::thread done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(refresher_);
  }
  if (done.joinable()) {
    done.join();
  }
}

RenderCache::Entry RenderCache::render_and_publish(const Version& version, const Render& render,
                                                   bool encode_now) {
  const SystemTime made = clock_();
  Rendered rendered;
  try {
    rendered = render();
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    rendering_ = false;
    throw;
  }
  Entry entry{std::make_shared<const std::string>(std::move(rendered.text)), version, made,
              rendered.valid_until, std::make_shared<Encoded>()};
  if (encode_now) {
    // Once clients asked for the encoded form, make it before publishing, so readers keep
    // getting the previous rendering instead of waiting for the encoding.
    form(entry, true);
  }
  std::lock_guard<std::mutex> lock(mu_);
  rendering_ = false;
  ++renders_;
  // A render that started earlier may finish later: keep the newer one.
  if (!entry_.text ||
      (version.exact >= entry_.version.exact && version.lagging >= entry_.version.lagging)) {
    entry_ = entry;
  }
  return entry;
}

RenderCache::Served RenderCache::get(const Version& version, const Render& render, bool encoded) {
  Entry entry;
  bool encode_now = encoded;
  {
    std::lock_guard<std::mutex> lock(mu_);
    encoded_asked_ = encoded_asked_ || encoded;
    encode_now = encoded_asked_;
    const SystemTime now = clock_();
    const bool busy = rendering_ || refreshing_;
    if (usable(entry_, version, now, busy || now - entry_.made < max_lag_)) {
      entry = entry_;
      if (refresh_after_.count() > 0 && !busy && entry_.version.lagging < version.lagging &&
          now - entry_.made >= refresh_after_ && now - refresh_started_ >= refresh_after_) {
        // Behind and getting old: render the current state in the background (at most once
        // per refresh_after, also when renders fail).
        refreshing_ = true;
        refresh_started_ = now;
        if (refresher_.joinable()) {
          refresher_.join();  // finished: refreshing_ was false
        }
        refresher_ = std::thread([this, version, render, encode_now] {
          try {
            std::lock_guard<std::mutex> one_render(render_mu_);
            bool needed = true;
            {
              std::lock_guard<std::mutex> lock(mu_);
              needed = !usable(entry_, version, clock_(), false);
              rendering_ = rendering_ || needed;
            }
            if (needed) {
              render_and_publish(version, render, encode_now);
            }
          } catch (...) {  // NOLINT(bugprone-empty-catch): the next reader renders and reports
          }
          std::lock_guard<std::mutex> lock(mu_);
          refreshing_ = false;
        });
      }
    }
  }
  if (entry.text) {
    return form(entry, encoded);
  }
  {
    std::lock_guard<std::mutex> one_render(render_mu_);
    {
      // Another request may have rendered while we waited.
      std::lock_guard<std::mutex> lock(mu_);
      const SystemTime now = clock_();
      if (usable(entry_, version, now, now - entry_.made < max_lag_)) {
        entry = entry_;
      } else {
        rendering_ = true;
      }
    }
    if (!entry.text) {
      entry = render_and_publish(version, render, encode_now);
    }
  }
  return form(entry, encoded);
}

std::uint64_t RenderCache::renders() const {
  std::lock_guard<std::mutex> lock(mu_);
  return renders_;
}

}  // namespace driftwatch
