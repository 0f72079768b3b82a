#include "driftwatch/render_cache.hpp"

namespace driftwatch {

bool RenderCache::fresh(const Entry& entry, std::uint64_t version, SystemTime now) const {
  return entry.text && entry.version >= version && (!entry.valid_until || now < *entry.valid_until);
}

std::shared_ptr<const std::string> RenderCache::get(std::uint64_t version, const Render& render) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fresh(entry_, version, clock_()) || (rendering_ && entry_.text)) {
      return entry_.text;
    }
  }
  std::lock_guard<std::mutex> one_render(render_mu_);
  {
    // Another request may have rendered this version while we waited.
    std::lock_guard<std::mutex> lock(mu_);
    if (fresh(entry_, version, clock_())) {
      return entry_.text;
    }
    rendering_ = true;
  }
  Rendered rendered;
  try {
    rendered = render();
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    rendering_ = false;
    throw;
  }
  auto text = std::make_shared<const std::string>(std::move(rendered.text));
  std::lock_guard<std::mutex> lock(mu_);
  rendering_ = false;
  ++renders_;
  entry_ = Entry{text, version, rendered.valid_until};
  return text;
}

std::uint64_t RenderCache::renders() const {
  std::lock_guard<std::mutex> lock(mu_);
  return renders_;
}

}  // namespace driftwatch
