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

// The connection string for a server: resolve_url_source, then the login `auth` says. With
// auth.rds_iam(): host/port/user/database from `auth` override the URL's (which may be absent:
// `source` empty), the region comes from auth.region, else an *.REGION.rds.amazonaws.com host,
// else AWS_REGION / AWS_DEFAULT_REGION; the password is an RDS IAM token (aws::RdsTokenProvider,
// cached) and sslmode=verify-full with sslrootcert = auth.ca_bundle. Returns a libpq key=value
// conninfo (its password redacted by redact_url). Errors: driftwatch::Error, reason "config"
// (URL, region) or "auth" (no AWS credentials), never with a secret.
std::string resolve_connection_url(const UrlSource& source, const DbAuthConfig& auth,
                                   std::chrono::milliseconds timeout = kUrlCommandTimeout);

}  // namespace driftwatch
