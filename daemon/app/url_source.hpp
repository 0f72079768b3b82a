// Resolving a UrlSource (config.hpp) to its secret value at the moment it is needed, so rotated
// secrets (env of a restarted sidecar, re-mounted files, short-lived tokens from a command) are
// picked up without a reload.
#pragma once

#include <chrono>
#include <string>

#include "driftwatch/config.hpp"

namespace driftwatch {

// How long a url_command may run before it is killed.
inline constexpr std::chrono::milliseconds kUrlCommandTimeout{10000};

// Returns the value of the source:
//   url      the literal;
//   env      the variable's value (unset or empty is an error);
//   file     the file's content, surrounding whitespace trimmed (missing/empty is an error);
//   command  the program's stdout, trimmed; run without a shell, stdin from /dev/null, stderr
//            inherited; killed (with its process group) after `timeout`; non-zero exit, death by
//            signal, empty output or more than 1 MiB of output are errors.
// Throws driftwatch::Error with reason error_reason::kConfig. Messages name the source with
// UrlSource::describe() and never contain the value or the command's output.
std::string resolve_url_source(const UrlSource& source,
                               std::chrono::milliseconds timeout = kUrlCommandTimeout);

}  // namespace driftwatch
