// The one exception base used at I/O boundaries. A failed check becomes a TargetResult with
// status "error" built from these fields; the scheduler never dies of one.
#pragma once

#include <stdexcept>
#include <string>

namespace driftwatch {

class Error : public std::runtime_error {
 public:
  // reason: one of error_reason::* (check.hpp). message must never contain a secret.
  Error(std::string reason, const std::string& message, std::string target = "",
        std::string sqlstate = "")
      : std::runtime_error(message),
        reason_(std::move(reason)),
        target_(std::move(target)),
        sqlstate_(std::move(sqlstate)) {}

  const std::string& reason() const { return reason_; }
  const std::string& target() const { return target_; }
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string reason_;
  std::string target_;
  std::string sqlstate_;
};

}  // namespace driftwatch
