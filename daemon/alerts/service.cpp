#include <spdlog/spdlog.h>

#include <atomic>
#include <set>
#include <tuple>

#include "alerts/delivery.hpp"
#include "alerts/senders.hpp"
#include "driftwatch/alerts.hpp"
#include "driftwatch/render.hpp"

namespace driftwatch {

namespace {

// Identifies the receiver set, so a reload that does not change receivers keeps the queues
// (and what is queued in them).
std::string receivers_signature(const AlertsConfig& a) {
  std::string s;
  for (const auto& am : a.alertmanager) {
    s += "am";
    for (const auto& u : am.urls) s += "|" + u;
    s += "\n";
  }
  auto source = [](const UrlSource& u) { return u.url + "|" + u.env + "|" + u.file; };
  for (const auto& r : a.slack) s += "slack|" + source(r.webhook_url) + "\n";
  for (const auto& r : a.pagerduty) s += "pd|" + source(r.routing_key) + "|" + r.events_url + "\n";
  for (const auto& r : a.webhook) s += "hook|" + source(r.url) + "\n";
  return s;
}

}  // namespace

struct AlertService::Impl {
  using ResolutionKey = std::tuple<std::string, std::string, std::string>;

  // Grows with every change that ack() may show (observe, apply, acknowledge, unacknowledge).
  std::atomic<std::uint64_t> version{0};

  Impl(const Config& config, AlertNotificationCounters* counters_in, DeliveryOptions options_in,
       Clock clock_in)
      : counters(counters_in),
        options(options_in),
        clock(clock_in ? std::move(clock_in) : [] { return std::chrono::system_clock::now(); }),
        state_dir(config.alerts.state_dir),
        policy(alert_policy_config(config.alerts)) {
    if (!state_dir.empty()) {
      AlertStateLoad load = load_alert_state(state_dir, clock());
      if (!load.problem.empty()) spdlog::error("alerts: {}", load.problem);
      policy = AlertPolicy(alert_policy_config(config.alerts), std::move(load.state));
      last_saved = alert_state_to_json(policy.state());
      spdlog::info("alerts: loaded {} open alert(s) and {} acknowledgement(s) from {}",
                   policy.state().alerts.size(), policy.state().acks.size(), state_dir);
    }
    build_queues(config.alerts);
    std::lock_guard<std::mutex> lock(mu);
    std::set<std::string> targets;
    for (const auto& t : config.targets) targets.insert(t.name);
    policy.retain_targets(targets);
    // Resolutions owed from before the restart.
    dispatch(policy.pending_resolutions());
    save_if_changed();
  }

  void build_queues(const AlertsConfig& alerts) {
    signature = receivers_signature(alerts);
    const AlertPolicyConfig routes = alert_policy_config(alerts);
    std::size_t am = 0, slack = 0, pd = 0, hook = 0;
    for (const ReceiverRoute& route : routes.receivers) {
      std::vector<std::unique_ptr<DeliveryQueue>>& list = queues[route.name];
      auto add = [&](std::unique_ptr<Sender> sender) {
        list.push_back(std::make_unique<DeliveryQueue>(
            route.name, std::move(sender), options, counters,
            [this](const Notification& n, bool delivered) { finished(n, delivered); }, clock));
      };
      if (route.kind == receiver_kind::kAlertmanager) {
        for (const auto& url : alerts.alertmanager[am].urls) {
          add(make_alertmanager_sender(url, options.timeout));
        }
        ++am;
      } else if (route.kind == receiver_kind::kSlack) {
        add(make_slack_sender(alerts.slack[slack++].webhook_url, options.timeout));
      } else if (route.kind == receiver_kind::kPagerDuty) {
        const auto& r = alerts.pagerduty[pd++];
        add(make_pagerduty_sender(r.routing_key, r.events_url, options.timeout));
      } else {
        add(make_webhook_sender(alerts.webhook[hook++].url, options.timeout));
      }
    }
  }

  // Called with mu held.
  void dispatch(std::vector<Notification> notifications) {
    for (Notification& n : notifications) {
      spdlog::info("alert {} target={} severity={} {} ({}) -> {}", n.alertname, n.target,
                   to_string(n.severity), n.state, n.reason, n.receiver);
      auto it = queues.find(n.receiver);
      if (it == queues.end() || it->second.empty()) continue;
      if (n.state == "resolved") {
        outstanding[{n.target, n.alertname, n.receiver}] += static_cast<int>(it->second.size());
      }
      for (auto& queue : it->second) {
        std::optional<Notification> dropped = queue->push(n);
        if (dropped) finished_locked(*dropped, false);
      }
    }
  }

  void finished(const Notification& n, bool delivered) {
    std::lock_guard<std::mutex> lock(mu);
    finished_locked(n, delivered);
    save_if_changed();
  }

  // A resolution is forgotten once every URL of its receiver has finished with it, delivered
  // or given up (it is re-sent at the next start only if the daemon stopped before that).
  void finished_locked(const Notification& n, bool /*delivered*/) {
    if (n.state != "resolved") return;
    auto it = outstanding.find({n.target, n.alertname, n.receiver});
    if (it == outstanding.end()) return;
    if (--it->second > 0) return;
    outstanding.erase(it);
    policy.resolution_delivered(n.target, n.alertname, n.receiver);
  }

  // Called with mu held. Skips the write when nothing changed (most checks change nothing).
  void save_if_changed() {
    if (state_dir.empty()) return;
    std::string text = alert_state_to_json(policy.state());
    if (text == last_saved) return;
    try {
      save_alert_state(state_dir, policy.state());
      last_saved = std::move(text);
    } catch (const std::exception& e) {
      spdlog::error("alerts: cannot save state: {}", e.what());
    }
  }

  void stop_queues(std::chrono::steady_clock::time_point deadline) {
    std::map<std::string, std::vector<std::unique_ptr<DeliveryQueue>>> old;
    {
      std::lock_guard<std::mutex> lock(mu);
      old.swap(queues);
    }
    for (auto& [name, list] : old) {
      for (auto& q : list) q->wait_idle(deadline);
    }
    for (auto& [name, list] : old) {
      for (auto& q : list) q->stop();
    }
  }

  AlertNotificationCounters* counters;
  DeliveryOptions options;
  Clock clock;
  std::string state_dir;

  mutable std::mutex mu;
  AlertPolicy policy;
  std::string signature;
  std::map<std::string, std::vector<std::unique_ptr<DeliveryQueue>>> queues;
  std::map<ResolutionKey, int> outstanding;
  std::string last_saved;
  bool stopped = false;
};

AlertService::AlertService(const Config& config, AlertNotificationCounters* counters,
                           DeliveryOptions options, Clock clock)
    : impl_(std::make_unique<Impl>(config, counters, options, std::move(clock))) {}

AlertService::~AlertService() { stop(std::chrono::steady_clock::now()); }

bool AlertService::enabled() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return !impl_->policy.config().receivers.empty();
}

void AlertService::observe(const TargetResult& result,
                           const std::map<std::string, std::string>& labels,
                           std::chrono::milliseconds check_interval) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopped) return;
  std::vector<Notification> out = impl_->policy.observe(result, labels, impl_->clock());
  const auto validity =
      std::max<std::chrono::milliseconds>(3 * check_interval, std::chrono::minutes(5));
  for (Notification& n : out) n.alertmanager_validity = validity;
  impl_->dispatch(std::move(out));
  impl_->save_if_changed();
  ++impl_->version;
}

void AlertService::apply(const Config& config) {
  const std::string signature = receivers_signature(config.alerts);
  bool rebuild = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->policy.set_config(alert_policy_config(config.alerts));
    std::set<std::string> targets;
    for (const auto& t : config.targets) targets.insert(t.name);
    impl_->policy.retain_targets(targets);
    impl_->save_if_changed();
    ++impl_->version;
    rebuild = signature != impl_->signature && !impl_->stopped;
  }
  if (!rebuild) return;
  // New receivers: let the old queues finish briefly, then start fresh ones.
  impl_->stop_queues(std::chrono::steady_clock::now() + std::chrono::seconds(2));
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->outstanding.clear();
  impl_->build_queues(config.alerts);
}

Acknowledgement AlertService::acknowledge(const std::string& target, const std::string& owner,
                                          const std::string& reason, SystemTime expires_at) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Acknowledgement ack =
      impl_->policy.acknowledge(target, owner, reason, expires_at, impl_->clock());
  spdlog::info("alerts: target {} acknowledged by {} until {}: {}", target, owner,
               format_rfc3339(expires_at), reason);
  impl_->save_if_changed();
  ++impl_->version;
  return ack;
}

bool AlertService::unacknowledge(const std::string& target) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const bool removed = impl_->policy.unacknowledge(target);
  if (removed) spdlog::info("alerts: acknowledgement of target {} removed", target);
  impl_->save_if_changed();
  ++impl_->version;
  return removed;
}

std::uint64_t AlertService::version() const { return impl_->version.load(); }

std::optional<Acknowledgement> AlertService::ack(const std::string& target) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->policy.ack(target, impl_->clock());
}

std::vector<OpenAlert> AlertService::open_alerts(const std::string& target) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<OpenAlert> out;
  for (const auto& [key, alert] : impl_->policy.state().alerts) {
    if (key.first == target && !alert.resolved_at) out.push_back(alert);
  }
  return out;
}

void AlertService::stop(std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  impl_->stop_queues(deadline);
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->save_if_changed();
}

}  // namespace driftwatch
