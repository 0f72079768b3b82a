// Private to daemon/pg (and its tests): the libpqxx side of PgSession. Other code uses
// session.hpp only, so libpqxx stays out of the rest of the daemon.
#pragma once

#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "pg/session.hpp"

namespace driftwatch {

using ReadTransaction = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

struct PgSession::Impl {
  std::unique_ptr<pqxx::connection> connection;
  std::unique_ptr<ReadTransaction> transaction;
  std::string target;
  std::string endpoint;  // redacted host:port/db
  std::string secret;    // the password, only to scrub it from messages
  std::string url;       // as given (secret-bearing): for a second connection to the same place
  int queries = 0;
  // The last read_version_table result in this session, keyed by "schema.table", so that
  // introspect_schema(session, options) after read_version_table does not read it twice.
  std::optional<std::pair<std::string, VersionTableRead>> version_read;

  // The open read transaction, begun on first use.
  ReadTransaction& tx();
  // Runs `sql` with text parameters $1..$n in the read transaction; counted. `name` says what
  // was being read in error messages ("columns", "version_table"). Failures become Error and
  // end the (now aborted) transaction.
  pqxx::result exec(const char* name, const std::string& sql,
                    const std::vector<std::string>& params = {});
  // Maps the exception being handled to Error and throws it. Use inside a catch block.
  [[noreturn]] void rethrow_mapped(const char* name);
};

}  // namespace driftwatch
