// Server-rendered HTML status pages of `driftwatch serve`: no scripts, no external assets,
// every value escaped. Plain semantic tables so a terminal browser shows them well.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "driftwatch/scheduler.hpp"

namespace driftwatch {

std::string html_escape(const std::string& text);
// Percent-encodes a path segment (for links to /targets/{name}).
std::string url_encode_segment(const std::string& text);

// One-line state of a target as the fleet table shows it: "at head", "behind 3",
// "drift: 2 critical, 1 warning, 0 info", "error (connect)", "migrating", "not checked yet".
std::string describe_state(const TargetStatus& status);

// GET /: the fleet table.
std::string render_status_page(const std::vector<TargetStatus>& targets, bool ready, bool draining,
                               std::chrono::system_clock::time_point now);
// GET /targets/{name}: one target with its findings.
std::string render_target_page(const TargetStatus& target,
                               std::chrono::system_clock::time_point now);

}  // namespace driftwatch
