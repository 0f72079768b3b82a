// alerts-state.json: open alerts and acknowledgements, so a restart neither re-pages an alert
// that was already sent nor forgets a resolution that is still owed.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "driftwatch/alerts.hpp"
#include "driftwatch/error.hpp"
#include "driftwatch/schema.hpp"

namespace driftwatch {

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kFormat = "driftwatch-alert-state/1";

// Times as integer Unix milliseconds: exact round trips, no time zone parsing.
std::int64_t to_ms(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Every number read from the file is range-checked before use: the file may be damaged or
// edited by hand, and an out-of-range value would overflow (times become nanoseconds in
// system_clock; counters are incremented).
// Latest time accepted: about the year 2255, below what system_clock's nanoseconds hold.
constexpr std::int64_t kMaxTimeMs = 9'000'000'000'000;
constexpr std::int64_t kMaxCount = 1'000'000'000;

std::int64_t integer_in(const Json& value, const std::string& what, std::int64_t lo,
                        std::int64_t hi) {
  std::int64_t n = 0;
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi)) {
      throw std::runtime_error(what + " out of range: " + value.dump());
    }
    n = static_cast<std::int64_t>(u);
  } else if (value.is_number_integer()) {
    n = value.get<std::int64_t>();
  } else {
    throw std::runtime_error(what + " is not an integer: " + value.dump());
  }
  if (n < lo || n > hi) throw std::runtime_error(what + " out of range: " + value.dump());
  return n;
}
std::int64_t integer_at(const Json& j, const char* key, std::int64_t lo, std::int64_t hi) {
  return integer_in(j.at(key), key, lo, hi);
}
SystemTime time_at(const Json& j, const char* key) {
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(
      std::chrono::milliseconds(integer_at(j, key, 0, kMaxTimeMs))));
}

Json optional_time(const std::optional<SystemTime>& t) {
  return t ? Json(to_ms(*t)) : Json(nullptr);
}
std::optional<SystemTime> read_optional_time(const Json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return time_at(j, key);
}

Severity severity_at(const Json& j, const char* key) {
  auto severity = severity_from_string(j.at(key).get<std::string>());
  if (!severity) throw std::runtime_error(std::string("unknown ") + key + " " + j.at(key).dump());
  return *severity;
}

Json optional_text(const std::optional<std::string>& text) {
  return text ? Json(*text) : Json(nullptr);
}
std::optional<std::string> read_optional_text(const Json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return j.at(key).get<std::string>();
}

Json finding_json(const Finding& f) {
  return {{"kind", f.kind},
          {"object_type", to_string(f.object_type)},
          {"object", f.object},
          {"attribute", f.attribute},
          {"severity", to_string(f.severity)},
          {"risk", f.risk},
          {"expected", optional_text(f.expected)},
          {"actual", optional_text(f.actual)},
          {"message", f.message},
          {"fix_sql", optional_text(f.fix_sql)}};
}
Finding finding_from(const Json& j) {
  Finding f;
  f.kind = j.at("kind").get<std::string>();
  auto type = object_type_from_string(j.at("object_type").get<std::string>());
  if (!type) throw std::runtime_error("unknown object_type " + j.at("object_type").dump());
  f.object_type = *type;
  f.object = j.at("object").get<std::string>();
  f.attribute = j.at("attribute").get<std::string>();
  f.severity = severity_at(j, "severity");
  f.risk = j.at("risk").get<std::string>();
  f.expected = read_optional_text(j, "expected");
  f.actual = read_optional_text(j, "actual");
  f.message = j.at("message").get<std::string>();
  f.fix_sql = read_optional_text(j, "fix_sql");
  return f;
}

Json ack_json(const Acknowledgement& ack) {
  return {{"target", ack.target},
          {"owner", ack.owner},
          {"reason", ack.reason},
          {"created_at_ms", to_ms(ack.created_at)},
          {"expires_at_ms", to_ms(ack.expires_at)},
          {"findings_fingerprint", ack.findings_fingerprint}};
}
Acknowledgement ack_from(const Json& j) {
  Acknowledgement ack;
  ack.target = j.at("target").get<std::string>();
  ack.owner = j.at("owner").get<std::string>();
  ack.reason = j.at("reason").get<std::string>();
  ack.created_at = time_at(j, "created_at_ms");
  ack.expires_at = time_at(j, "expires_at_ms");
  ack.findings_fingerprint = j.at("findings_fingerprint").get<std::string>();
  return ack;
}

// A pending delivery: everything a sender needs, so it is re-sent as it was after a restart.
Json notification_json(const Notification& n) {
  Json findings = Json::array();
  for (const Finding& f : n.top_findings) findings.push_back(finding_json(f));
  return {{"seq", n.seq},
          {"receiver", n.receiver},
          {"receiver_kind", n.receiver_kind},
          {"alertname", n.alertname},
          {"target", n.target},
          {"migrations", n.migrations},
          {"severity", to_string(n.severity)},
          {"previous_severity",
           n.previous_severity ? Json(to_string(*n.previous_severity)) : Json(nullptr)},
          {"previous_labels", n.previous_labels},
          {"state", n.state},
          {"reason", n.reason},
          {"labels", n.labels},
          {"target_labels", n.target_labels},
          {"annotations", n.annotations},
          {"top_findings", findings},
          {"findings_total", n.findings_total},
          {"starts_at_ms", to_ms(n.starts_at)},
          {"ends_at_ms", optional_time(n.ends_at)},
          {"dedup_key", n.dedup_key},
          {"fingerprint", n.fingerprint},
          {"ack", n.ack ? ack_json(*n.ack) : Json(nullptr)},
          {"status_page_link", n.status_page_link},
          {"alertmanager_validity_ms", n.alertmanager_validity.count()}};
}
Notification notification_from(const Json& j) {
  Notification n;
  n.seq = static_cast<std::uint64_t>(integer_at(j, "seq", 1, INT64_MAX / 2));
  n.receiver = j.at("receiver").get<std::string>();
  n.receiver_kind = j.at("receiver_kind").get<std::string>();
  n.alertname = j.at("alertname").get<std::string>();
  n.target = j.at("target").get<std::string>();
  n.migrations = j.value("migrations", "");
  n.severity = severity_at(j, "severity");
  if (!j.at("previous_severity").is_null())
    n.previous_severity = severity_at(j, "previous_severity");
  n.state = j.at("state").get<std::string>();
  if (n.state != "firing" && n.state != "resolved") {
    throw std::runtime_error("unknown notification state " + j.at("state").dump());
  }
  n.reason = j.at("reason").get<std::string>();
  n.labels = j.at("labels").get<std::map<std::string, std::string>>();
  n.previous_labels = j.value("previous_labels", std::map<std::string, std::string>{});
  n.target_labels = j.at("target_labels").get<std::map<std::string, std::string>>();
  n.annotations = j.at("annotations").get<std::map<std::string, std::string>>();
  for (const Json& f : j.at("top_findings")) n.top_findings.push_back(finding_from(f));
  n.findings_total = static_cast<std::size_t>(integer_at(j, "findings_total", 0, kMaxCount));
  n.starts_at = time_at(j, "starts_at_ms");
  n.ends_at = read_optional_time(j, "ends_at_ms");
  n.dedup_key = j.at("dedup_key").get<std::string>();
  n.fingerprint = j.at("fingerprint").get<std::string>();
  if (!j.at("ack").is_null()) n.ack = ack_from(j.at("ack"));
  n.status_page_link = j.at("status_page_link").get<std::string>();
  n.alertmanager_validity = std::chrono::milliseconds(
      integer_at(j, "alertmanager_validity_ms", 0, 365LL * 24 * 3600 * 1000));
  if (n.receiver.empty() || n.target.empty() || n.alertname.empty()) {
    throw std::runtime_error("pending delivery without receiver, target or alertname");
  }
  return n;
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
                      {"migrations", a.migrations},
                      {"labels", a.labels},
                      {"consecutive_by_target", a.consecutive_by_target},
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
                      {"pending_resolution", a.pending_resolution},
                      {"description", a.description},
                      {"findings_text", a.findings_text}});
  }
  Json acks = Json::array();
  for (const auto& [target, ack] : state.acks) acks.push_back(ack_json(ack));
  Json outbox = Json::array();
  for (const auto& [key, n] : state.outbox) outbox.push_back(notification_json(n));
  Json doc = {{"format", kFormat}, {"alerts", alerts},
              {"acks", acks},      {"findings_fingerprints", state.findings_fingerprints},
              {"outbox", outbox},  {"next_seq", state.next_seq}};
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
      a.migrations = j.value("migrations", "");
      a.labels = j.value("labels", std::map<std::string, std::string>{});
      if (j.contains("consecutive_by_target")) {
        for (const auto& [target, count] : j.at("consecutive_by_target").items()) {
          a.consecutive_by_target[target] =
              static_cast<int>(integer_in(count, "consecutive_by_target", 0, 1'000'000));
        }
      }
      a.severity = severity_at(j, "severity");
      a.fingerprint = j.at("fingerprint").get<std::string>();
      a.summary = j.value("summary", "");
      a.target_labels = j.value("target_labels", std::map<std::string, std::string>{});
      a.consecutive = static_cast<int>(integer_at(j, "consecutive", 0, 1'000'000));
      a.firing = j.at("firing").get<bool>();
      a.starts_at = time_at(j, "starts_at_ms");
      a.last_sent = read_optional_time(j, "last_sent_ms");
      a.notified = j.at("notified").get<std::set<std::string>>();
      a.resolved_at = read_optional_time(j, "resolved_at_ms");
      a.pending_resolution = j.at("pending_resolution").get<std::set<std::string>>();
      a.description = j.value("description", "");
      a.findings_text = j.value("findings_text", "");
      if (a.target.empty() || a.alertname.empty()) throw std::runtime_error("alert without name");
      state.alerts[{a.target, a.alertname}] = a;
    }
    for (const Json& j : doc.at("acks")) {
      Acknowledgement ack = ack_from(j);
      state.acks[ack.target] = ack;
    }
    if (doc.contains("outbox")) {
      for (const Json& j : doc.at("outbox")) {
        Notification n = notification_from(j);
        state.next_seq = std::max(state.next_seq, n.seq + 1);
        state.outbox[{n.target, n.alertname, n.receiver}] = std::move(n);
      }
    }
    if (doc.contains("next_seq")) {
      state.next_seq = std::max<std::uint64_t>(
          state.next_seq,
          static_cast<std::uint64_t>(integer_at(doc, "next_seq", 1, INT64_MAX / 2)));
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
  save_alert_state_text(dir, alert_state_to_json(state));
}

void save_alert_state_text(const std::string& dir, const std::string& text) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string path = (fs::path(dir) / kAlertStateFileName).string();
  const std::string tmp = path + ".tmp";
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
