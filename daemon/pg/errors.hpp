// Turning PostgreSQL / libpq failures into driftwatch::Error reasons and plain messages.
// Pure string logic (no libpq here) so the rules are visible in one place.
#pragma once

#include <string>

namespace driftwatch {

// error_reason::* for a SQLSTATE: 28P01/28000 -> auth; 42501 -> permission; 57014/55P03 ->
// timeout; class 08 and 57P0x (connection lost, server shutting down) -> connect; else query.
const char* reason_for_sqlstate(const std::string& sqlstate);

struct ConnectFailure {
  std::string reason;    // error_reason::kConnect, kAuth or kPermission
  std::string message;   // e.g. "connection to 127.0.0.1:5999 refused"
  std::string sqlstate;  // the server's, when it answered with an error
};

// The SQLSTATE of the last server error in a libpq message rendered with PQERRORS_VERBOSE
// ("SEVERITY:  28P01: text", whatever the server's language), or "" when the failure is
// libpq's own (refused, unknown host: no SQLSTATE exists for those).
std::string sqlstate_in_verbose_message(const std::string& message);

// Classifies the text libpq gives for a failed connection attempt. With a SQLSTATE in it
// (verbose rendering, see above) by the SQLSTATE only: class 28 -> auth, 42501 -> permission,
// anything else -> connect. Without one the failure is libpq's own and always "connect"; its
// English text (libpq's messages are untranslated in driftwatch, which never calls setlocale)
// only picks the wording of the message, except "no password supplied" (auth). `endpoint` is the
// redacted "host:port" shown in messages; `secret` (the password) is removed from anything quoted
// from libpq.
ConnectFailure describe_connect_failure(const std::string& libpq_message,
                                        const std::string& endpoint, int connect_timeout_seconds,
                                        const std::string& secret);

// Server or libpq error text made presentable: the first meaningful line, without the
// "ERROR:  " / "FATAL:  " prefix, URLs/conninfo redacted, and `secret` replaced by "***" (a
// secret shorter than 4 characters only where it is not part of a longer word).
std::string clean_pg_message(const std::string& text, const std::string& secret);

}  // namespace driftwatch
