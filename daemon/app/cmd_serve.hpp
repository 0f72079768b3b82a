#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace driftwatch {

// `driftwatch serve --config FILE [--json-logs]`: the daemon. Runs checks on a schedule and
// serves /metrics, the JSON API and the status page until SIGTERM/SIGINT.
// Signals: SIGHUP reloads the config file (an invalid one is logged and the old one kept);
// SIGTERM/SIGINT drain (readyz 503, no new checks, in-flight checks get up to
// server.drain_timeout) and exit 0; a second SIGTERM/SIGINT during the drain exits at once
// with status 1.
// Exit codes: 0 after a drain, 2 for usage / invalid config / address that cannot be bound.
int run_serve(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace driftwatch
