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

RenderCache::Served RenderCache::get(const Version& version, const Render& render, bool encoded) {
  Entry entry;
  bool encode_now = encoded;
  {
    std::lock_guard<std::mutex> lock(mu_);
    encoded_asked_ = encoded_asked_ || encoded;
    encode_now = encoded_asked_;
    const SystemTime now = clock_();
    if (usable(entry_, version, now, rendering_ || now - entry_.made < max_lag_)) {
      entry = entry_;
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
      const SystemTime made = clock_();
      Rendered rendered;
      try {
        rendered = render();
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        rendering_ = false;
        throw;
      }
      entry = Entry{std::make_shared<const std::string>(std::move(rendered.text)), version, made,
                    rendered.valid_until, std::make_shared<Encoded>()};
      if (encode_now) {
        // Once clients asked for the encoded form, make it before publishing, so readers keep
        // getting the previous rendering instead of waiting for the encoding.
        form(entry, true);
      }
      std::lock_guard<std::mutex> lock(mu_);
      rendering_ = false;
      ++renders_;
      entry_ = entry;
    }
  }
  return form(entry, encoded);
}

std::uint64_t RenderCache::renders() const {
  std::lock_guard<std::mutex> lock(mu_);
  return renders_;
}

}  // namespace driftwatch
