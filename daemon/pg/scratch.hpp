// Scratch databases: created and dropped on a server the user names for that purpose (never on a
// watched database), to replay migrations into.
#pragma once

#include <chrono>
#include <string>

namespace driftwatch {

class ScratchServer {
 public:
  // `url`: a postgresql:// URL (or conninfo) of a database on the scratch server whose role may
  // CREATE DATABASE. Nothing is connected until a method runs.
  ScratchServer(std::string url, std::chrono::milliseconds timeout);

  // CREATE DATABASE name [TEMPLATE template]; without a template, from template0 (empty of
  // anything the server's template1 may hold). Throws driftwatch::Error.
  void create_database(const std::string& name, const std::string& template_name = "") const;
  // DROP DATABASE IF EXISTS name WITH (FORCE). Never throws (best effort cleanup); returns "" or
  // the error message.
  std::string drop_database(const std::string& name) const;
  // The scratch URL with its database replaced by `name`.
  std::string url_for(const std::string& name) const;

 private:
  void execute(const std::string& sql) const;

  std::string url_;
  std::chrono::milliseconds timeout_;
};

// `url` (postgresql://... URL or key=value conninfo) naming database `dbname` instead.
std::string url_with_database(const std::string& url, const std::string& dbname);

}  // namespace driftwatch
