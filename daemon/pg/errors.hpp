// Turning PostgreSQL / libpq failures into driftwatch::Error reasons and plain messages.
// Pure string logic (no libpq here) so the rules are visible in one place.
#pragma once

#include <string>

namespace driftwatch {

// error_reason::* for a SQLSTATE: 28P01/28000 -> auth; 42501 -> permission; 57014/55P03 ->
// timeout; class 08 and 57P0x (connection lost, server shutting down) -> connect; else query.
const char* reason_for_sqlstate(const std::string& sqlstate);

struct ConnectFailure {
  std::string reason;   // error_reason::kConnect or kAuth
  std::string message;  // e.g. "connection to 127.0.0.1:5999 refused"
};

// Classifies the text libpq gives for a failed connection attempt (no SQLSTATE is available
// then). `endpoint` is the redacted "host:port" shown in messages; `secret` (the password) is
// removed from anything quoted from libpq.
ConnectFailure describe_connect_failure(const std::string& libpq_message,
                                        const std::string& endpoint, int connect_timeout_seconds,
                                        const std::string& secret);

// Server or libpq error text made presentable: the first meaningful line, without the
// "ERROR:  " / "FATAL:  " prefix, URLs/conninfo redacted, and `secret` replaced by "***" (a
// secret shorter than 4 characters only where it is not part of a longer word).
std::string clean_pg_message(const std::string& text, const std::string& secret);

}  // namespace driftwatch
