// alerts-state.json: open alerts and acknowledgements, so a restart neither re-pages an alert
// that was already sent nor forgets a resolution that is still owed.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "driftwatch/alerts.hpp"
#include "driftwatch/error.hpp"

namespace driftwatch {

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kFormat = "driftwatch-alert-state/1";

// Times as integer Unix milliseconds: exact round trips, no time zone parsing.
std::int64_t to_ms(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
SystemTime from_ms(std::int64_t ms) {
  return SystemTime(
      std::chrono::duration_cast<SystemTime::duration>(std::chrono::milliseconds(ms)));
}

Json optional_time(const std::optional<SystemTime>& t) {
  return t ? Json(to_ms(*t)) : Json(nullptr);
}
std::optional<SystemTime> read_optional_time(const Json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return from_ms(j.at(key).get<std::int64_t>());
}

void fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw Error("internal", "cannot open " + path + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) throw Error("internal", "cannot fsync " + path + ": " + std::strerror(saved));
}

}  // namespace

std::string alert_state_to_json(const AlertState& state) {
  Json alerts = Json::array();
  for (const auto& [key, a] : state.alerts) {
    alerts.push_back({{"target", a.target},
                      {"alertname", a.alertname},
                      {"severity", to_string(a.severity)},
                      {"fingerprint", a.fingerprint},
                      {"summary", a.summary},
                      {"target_labels", a.target_labels},
                      {"consecutive", a.consecutive},
                      {"firing", a.firing},
                      {"starts_at_ms", to_ms(a.starts_at)},
                      {"last_sent_ms", optional_time(a.last_sent)},
                      {"notified", a.notified},
                      {"resolved_at_ms", optional_time(a.resolved_at)},
                      {"pending_resolution", a.pending_resolution}});
  }
  Json acks = Json::array();
  for (const auto& [target, ack] : state.acks) {
    acks.push_back({{"target", ack.target},
                    {"owner", ack.owner},
                    {"reason", ack.reason},
                    {"created_at_ms", to_ms(ack.created_at)},
                    {"expires_at_ms", to_ms(ack.expires_at)},
                    {"findings_fingerprint", ack.findings_fingerprint}});
  }
  Json doc = {{"format", kFormat},
              {"alerts", alerts},
              {"acks", acks},
              {"findings_fingerprints", state.findings_fingerprints}};
  return doc.dump(2) + "\n";
}

std::optional<AlertState> alert_state_from_json(const std::string& text, std::string* error) {
  try {
    const Json doc = Json::parse(text);
    if (!doc.is_object() || doc.value("format", "") != kFormat) {
      if (error) *error = std::string("not a ") + kFormat + " document";
      return std::nullopt;
    }
    AlertState state;
    for (const Json& j : doc.at("alerts")) {
      OpenAlert a;
      a.target = j.at("target").get<std::string>();
      a.alertname = j.at("alertname").get<std::string>();
      auto severity = severity_from_string(j.at("severity").get<std::string>());
      if (!severity) throw std::runtime_error("unknown severity in alert of " + a.target);
      a.severity = *severity;
      a.fingerprint = j.at("fingerprint").get<std::string>();
      a.summary = j.value("summary", "");
      a.target_labels = j.value("target_labels", std::map<std::string, std::string>{});
      a.consecutive = j.at("consecutive").get<int>();
      a.firing = j.at("firing").get<bool>();
      a.starts_at = from_ms(j.at("starts_at_ms").get<std::int64_t>());
      a.last_sent = read_optional_time(j, "last_sent_ms");
      a.notified = j.at("notified").get<std::set<std::string>>();
      a.resolved_at = read_optional_time(j, "resolved_at_ms");
      a.pending_resolution = j.at("pending_resolution").get<std::set<std::string>>();
      if (a.target.empty() || a.alertname.empty()) throw std::runtime_error("alert without name");
      state.alerts[{a.target, a.alertname}] = a;
    }
    for (const Json& j : doc.at("acks")) {
      Acknowledgement ack;
      ack.target = j.at("target").get<std::string>();
      ack.owner = j.at("owner").get<std::string>();
      ack.reason = j.at("reason").get<std::string>();
      ack.created_at = from_ms(j.at("created_at_ms").get<std::int64_t>());
      ack.expires_at = from_ms(j.at("expires_at_ms").get<std::int64_t>());
      ack.findings_fingerprint = j.at("findings_fingerprint").get<std::string>();
      state.acks[ack.target] = ack;
    }
    state.findings_fingerprints =
        doc.value("findings_fingerprints", std::map<std::string, std::string>{});
    return state;
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return std::nullopt;
  }
}

AlertStateLoad load_alert_state(const std::string& dir, SystemTime now) {
  AlertStateLoad load;
  const fs::path path = fs::path(dir) / kAlertStateFileName;
  std::error_code ec;
  if (!fs::exists(path, ec)) return load;
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  if (in) buffer << in.rdbuf();
  std::string error;
  std::optional<AlertState> state;
  if (!in) {
    error = "cannot read the file";
  } else {
    state = alert_state_from_json(buffer.str(), &error);
  }
  if (state) {
    load.state = std::move(*state);
    return load;
  }
  load.problem = path.string() + " is corrupt (" + error + "); starting with no open alerts";
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const fs::path aside = path.string() + ".corrupt-" + std::to_string(seconds);
  fs::rename(path, aside, ec);
  if (ec) {
    load.problem += "; could not move it aside: " + ec.message();
  } else {
    load.moved_to = aside.string();
  }
  return load;
}

void save_alert_state(const std::string& dir, const AlertState& state) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string path = (fs::path(dir) / kAlertStateFileName).string();
  const std::string tmp = path + ".tmp";
  const std::string text = alert_state_to_json(state);
  {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw Error("internal", "cannot write " + tmp + ": " + std::strerror(errno));
    std::size_t written = 0;
    while (written < text.size()) {
      const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int saved = errno;
        ::close(fd);
        throw Error("internal", "cannot write " + tmp + ": " + std::strerror(saved));
      }
      written += static_cast<std::size_t>(n);
    }
    const int rc = ::fsync(fd);
    const int saved = errno;
    ::close(fd);
    if (rc != 0) throw Error("internal", "cannot fsync " + tmp + ": " + std::strerror(saved));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    throw Error("internal", "cannot rename " + tmp + ": " + std::strerror(errno));
  }
  // The rename is durable only once the directory entry is.
  fsync_path(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

}  // namespace driftwatch
