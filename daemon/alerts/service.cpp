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

std::string source_signature(const UrlSource& u) { return u.url + "|" + u.env + "|" + u.file; }

// Per receiver name, what it sends to: a reload keeps the queues (and what waits in them) of
// receivers whose endpoint did not change; a changed endpoint is a removed receiver plus a new
// one.
std::map<std::string, std::string> receiver_signatures(const AlertsConfig& a) {
  std::map<std::string, std::string> out;
  const AlertPolicyConfig routes = alert_policy_config(a);
  std::size_t am = 0, slack = 0, pd = 0, hook = 0;
  for (const ReceiverRoute& route : routes.receivers) {
    std::string s = route.kind;
    if (route.kind == receiver_kind::kAlertmanager) {
      for (const auto& u : a.alertmanager[am].urls) s += "|" + u;
      ++am;
    } else if (route.kind == receiver_kind::kSlack) {
      s += "|" + source_signature(a.slack[slack++].webhook_url);
    } else if (route.kind == receiver_kind::kPagerDuty) {
      const auto& r = a.pagerduty[pd++];
      s += "|" + source_signature(r.routing_key) + "|" + r.events_url;
    } else {
      s += "|" + source_signature(a.webhook[hook++].url);
    }
    out[route.name] = s;
  }
  return out;
}

std::set<std::string> target_names(const Config& config) {
  std::set<std::string> out;
  for (const auto& t : config.targets) out.insert(t.name);
  return out;
}

// The migrations sources that have targets here (their alerts have no one to end them else).
std::set<std::string> source_names(const Config& config) {
  std::set<std::string> out;
  for (const auto& t : config.targets) out.insert(t.migrations);
  return out;
}

std::map<std::string, std::string> target_sources(const Config& config) {
  std::map<std::string, std::string> out;
  for (const auto& t : config.targets) out[t.name] = t.migrations;
  return out;
}

}  // namespace

struct AlertService::Impl {
  // One queue per URL of a receiver (Alertmanager HA: one per member); `id` tells a live
  // queue's acceptances from those of a queue a reload retired.
  struct Channel {
    std::uint64_t id = 0;
    std::unique_ptr<DeliveryQueue> queue;
  };
  using QueueList = std::vector<Channel>;

  // Grows with every change that ack() may show (observe, apply, acknowledge, unacknowledge).
  std::atomic<std::uint64_t> version{0};

  Impl(const Config& config, AlertNotificationCounters* counters_in, DeliveryOptions options_in,
       Clock clock_in)
      : counters(counters_in),
        options(options_in),
        clock(clock_in ? std::move(clock_in) : [] { return std::chrono::system_clock::now(); }),
        state_dir(config.alerts.state_dir),
        sources(target_sources(config)),
        policy(alert_policy_config(config.alerts)) {
    if (!state_dir.empty()) {
      AlertStateLoad load = load_alert_state(state_dir, clock());
      if (!load.problem.empty()) spdlog::error("alerts: {}", load.problem);
      policy = AlertPolicy(alert_policy_config(config.alerts), std::move(load.state));
      last_saved = alert_state_to_json(policy.state());
      spdlog::info(
          "alerts: loaded {} open alert(s), {} acknowledgement(s) and {} pending delivery(ies) "
          "from {}",
          policy.state().alerts.size(), policy.state().acks.size(), policy.state().outbox.size(),
          state_dir);
    }
    bool changed = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      // Receivers removed while the daemon was down cannot be told any more.
      std::set<std::string> gone;
      std::set<std::string> configured;
      for (const auto& route : policy.config().receivers) configured.insert(route.name);
      for (const auto& [key, alert] : policy.state().alerts) {
        for (const auto& name : alert.notified) {
          if (!configured.count(name)) gone.insert(name);
        }
        for (const auto& name : alert.pending_resolution) {
          if (!configured.count(name)) gone.insert(name);
        }
      }
      for (const auto& [key, n] : policy.state().outbox) {
        if (!configured.count(std::get<2>(key))) gone.insert(std::get<2>(key));
      }
      // Targets removed while the daemon was down: their alerts are resolved now (into the
      // outbox, which is dispatched below).
      policy.resolve_removed(target_names(config), gone, clock(), source_names(config));
      build_queues(config.alerts);
      // Everything not accepted before the restart.
      dispatch(policy.pending_deliveries());
      changed = state_changed();
    }
    write_state(changed);
  }

  // Starts queues for receivers that have none (new, or endpoint changed). Called with mu held.
  // Returns the names of the receivers whose queues are new.
  std::set<std::string> build_queues(const AlertsConfig& alerts) {
    std::set<std::string> added;
    const std::map<std::string, std::string> wanted = receiver_signatures(alerts);
    const AlertPolicyConfig routes = alert_policy_config(alerts);
    std::size_t am = 0, slack = 0, pd = 0, hook = 0;
    for (const ReceiverRoute& route : routes.receivers) {
      std::vector<std::unique_ptr<Sender>> senders;
      if (route.kind == receiver_kind::kAlertmanager) {
        for (const auto& url : alerts.alertmanager[am].urls) {
          senders.push_back(make_alertmanager_sender(url, options.timeout));
        }
        ++am;
      } else if (route.kind == receiver_kind::kSlack) {
        senders.push_back(make_slack_sender(alerts.slack[slack++].webhook_url, options.timeout));
      } else if (route.kind == receiver_kind::kPagerDuty) {
        const auto& r = alerts.pagerduty[pd++];
        senders.push_back(make_pagerduty_sender(r.routing_key, r.events_url, options.timeout));
      } else {
        senders.push_back(make_webhook_sender(alerts.webhook[hook++].url, options.timeout));
      }
      if (queues.count(route.name) && signatures[route.name] == wanted.at(route.name)) continue;
      QueueList& list = queues[route.name];
      for (auto& sender : senders) {
        const std::uint64_t id = next_queue_id++;
        live_queue_ids.insert(id);
        list.push_back({id, std::make_unique<DeliveryQueue>(
                                route.name, std::move(sender), options, counters,
                                [this, id](const Notification& n) { accepted(n, id); }, clock)});
      }
      signatures[route.name] = wanted.at(route.name);
      added.insert(route.name);
    }
    return added;
  }

  // Called with mu held.
  void dispatch(const std::vector<Notification>& notifications,
                const std::set<std::string>* only = nullptr) {
    for (const Notification& n : notifications) {
      if (only != nullptr && only->count(n.receiver) == 0) continue;
      spdlog::info("alert {} target={} severity={} {} ({}) -> {}", n.alertname, n.target,
                   to_string(n.severity), n.state, n.reason, n.receiver);
      auto it = queues.find(n.receiver);
      if (it == queues.end()) continue;
      for (auto& channel : it->second) channel.queue->push(n);
    }
  }

  // A receiver accepted `n` (on the queue's thread). With several URLs (Alertmanager HA), the
  // first acceptance counts: the alert reached the receiver.
  void accepted(const Notification& n, std::uint64_t queue_id) {
    bool changed = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (live_queue_ids.count(queue_id) == 0) return;  // retired by a reload
      policy.delivered(n);
      ++version;
      changed = state_changed();
    }
    write_state(changed);
  }

  // Called with mu held: renders the state and notes whether it changed since the last
  // rendering (most checks change nothing). Without state_dir: never.
  bool state_changed() {
    if (state_dir.empty()) return false;
    std::string text = alert_state_to_json(policy.state());
    if (text == last_saved) return false;
    last_saved = std::move(text);
    ++text_seq;
    return true;
  }

  // Writes (and fsyncs) the newest rendering outside mu, so readers (acks on GET) never wait
  // for the disk. Call without mu.
  void write_state(bool changed) {
    if (!changed) return;
    std::lock_guard<std::mutex> lock(write_mu);
    std::string text;
    std::uint64_t seq = 0;
    {
      std::lock_guard<std::mutex> state_lock(mu);
      if (text_seq <= written_seq) return;  // a later call wrote it already
      text = last_saved;
      seq = text_seq;
    }
    try {
      save_alert_state_text(state_dir, text);
      written_seq = seq;
    } catch (const std::exception& e) {
      spdlog::error("alerts: cannot save state: {}", e.what());
    }
  }

  // Takes every queue out (under mu), then waits and stops them outside it.
  void stop_queues(std::chrono::steady_clock::time_point deadline) {
    std::map<std::string, QueueList> old;
    {
      std::lock_guard<std::mutex> lock(mu);
      old.swap(queues);
      signatures.clear();
    }
    // At shutdown the receivers still exist: what they accept meanwhile is recorded.
    for (auto& [name, list] : old) {
      for (auto& channel : list) channel.queue->wait_idle(deadline);
    }
    retire(old, std::chrono::steady_clock::now());
  }

  // Lets `old` queues deliver what they hold until the deadline, then stops them. Their
  // acceptances no longer change the state: the receivers they served are gone (or point
  // elsewhere now).
  void retire(std::map<std::string, QueueList>& old,
              std::chrono::steady_clock::time_point deadline) {
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& [name, list] : old) {
        for (auto& channel : list) live_queue_ids.erase(channel.id);
      }
    }
    for (auto& [name, list] : old) {
      for (auto& channel : list) channel.queue->wait_idle(deadline);
    }
    for (auto& [name, list] : old) {
      for (auto& channel : list) channel.queue->stop();
    }
  }

  AlertNotificationCounters* counters;
  DeliveryOptions options;
  Clock clock;
  std::string state_dir;

  mutable std::mutex mu;
  std::map<std::string, std::string> sources;  // target -> its migrations source
  AlertPolicy policy;
  std::map<std::string, QueueList> queues;        // by receiver name
  std::map<std::string, std::string> signatures;  // by receiver name: its endpoint
  std::set<std::uint64_t> live_queue_ids;
  std::uint64_t next_queue_id = 1;
  std::string last_saved;
  std::uint64_t text_seq = 0;
  bool stopped = false;

  std::mutex write_mu;  // serialises state file writes; taken before mu, never while holding it
  std::uint64_t written_seq = 0;
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
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    const auto validity =
        std::max<std::chrono::milliseconds>(3 * check_interval, std::chrono::minutes(5));
    auto source = impl_->sources.find(result.name);
    std::vector<Notification> out =
        impl_->policy.observe(result, labels, impl_->clock(),
                              source == impl_->sources.end() ? std::string() : source->second);
    for (Notification& n : out) n.alertmanager_validity = validity;
    impl_->dispatch(out);
    changed = impl_->state_changed();
    ++impl_->version;
  }
  impl_->write_state(changed);
}

void AlertService::apply(const Config& config) {
  std::map<std::string, Impl::QueueList> retired;
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    const std::map<std::string, std::string> wanted = receiver_signatures(config.alerts);
    std::set<std::string> gone;
    for (const auto& [name, signature] : impl_->signatures) {
      auto it = wanted.find(name);
      if (it == wanted.end() || it->second != signature) gone.insert(name);
    }
    // Resolutions of removed targets (to every receiver that had them) and of what removed
    // receivers had, sent through the queues that exist now: a removed receiver's last ones.
    const std::vector<Notification> resolutions = impl_->policy.resolve_removed(
        target_names(config), gone, impl_->clock(), source_names(config));
    impl_->dispatch(resolutions);
    for (const auto& name : gone) {
      auto it = impl_->queues.find(name);
      if (it == impl_->queues.end()) continue;
      retired[name] = std::move(it->second);
      impl_->queues.erase(it);
      impl_->signatures.erase(name);
    }
    impl_->policy.set_config(alert_policy_config(config.alerts));
    impl_->sources = target_sources(config);
    // New retry settings apply to the queues that stay (with what waits in them) as well as
    // to the new ones.
    const DeliveryOptions retry = delivery_options(config.alerts);
    impl_->options.backoff_base = retry.backoff_base;
    impl_->options.backoff_max = retry.backoff_max;
    for (auto& [name, list] : impl_->queues) {
      for (auto& channel : list) channel.queue->set_options(impl_->options);
    }
    // New (and re-pointed) receivers start with what is owed to them; unchanged ones keep
    // their queues and everything in them.
    const std::set<std::string> added = impl_->build_queues(config.alerts);
    impl_->dispatch(impl_->policy.pending_deliveries(), &added);
    changed = impl_->state_changed();
    ++impl_->version;
  }
  impl_->write_state(changed);
  if (!retired.empty()) {
    impl_->retire(retired,
                  std::chrono::steady_clock::now() + impl_->options.removed_receiver_grace);
  }
}

Acknowledgement AlertService::acknowledge(const std::string& target, const std::string& owner,
                                          const std::string& reason, SystemTime expires_at) {
  Acknowledgement ack;
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    ack = impl_->policy.acknowledge(target, owner, reason, expires_at, impl_->clock());
    changed = impl_->state_changed();
    ++impl_->version;
  }
  spdlog::info("alerts: target {} acknowledged by {} until {}: {}", target, owner,
               format_rfc3339(expires_at), reason);
  impl_->write_state(changed);
  return ack;
}

bool AlertService::unacknowledge(const std::string& target) {
  bool removed = false;
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    removed = impl_->policy.unacknowledge(target);
    changed = impl_->state_changed();
    ++impl_->version;
  }
  if (removed) spdlog::info("alerts: acknowledgement of target {} removed", target);
  impl_->write_state(changed);
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
    if (key.first == target && alert.migrations.empty() && !alert.resolved_at) {
      out.push_back(alert);
    }
  }
  return out;
}

std::map<std::string, std::uint64_t> AlertService::undelivered() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::map<std::string, std::uint64_t> out;
  for (const auto& route : impl_->policy.config().receivers) out[route.name] = 0;
  for (const auto& [name, list] : impl_->queues) {
    std::size_t most = 0;
    for (const auto& channel : list) most = std::max(most, channel.queue->pending());
    out[name] = most;
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
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    changed = impl_->state_changed();
  }
  impl_->write_state(changed);
}

}  // namespace driftwatch
