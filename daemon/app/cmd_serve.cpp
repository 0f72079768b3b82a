#include "app/cmd_serve.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "app/args.hpp"
#include "app/child_process.hpp"
#include "app/engine.hpp"
#include "driftwatch/alerts.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/http_route.hpp"
#include "driftwatch/metrics.hpp"
#include "driftwatch/render.hpp"
#include "driftwatch/render_cache.hpp"
#include "driftwatch/scheduler.hpp"
#include "driftwatch/serve_state.hpp"
#include "driftwatch/sharding.hpp"
#include "http/gzip.hpp"
#include "http/server.hpp"

namespace driftwatch {

namespace {

constexpr const char* kUsage =
    "usage: driftwatch serve --config FILE [--json-logs] [--shard-index N|auto] "
    "[--shard-count M]\n";

// Names shard_index = "auto" reads the StatefulSet ordinal from.
ShardIdentity shard_identity() {
  ShardIdentity identity;
  if (const char* pod = std::getenv("POD_NAME")) {
    identity.pod_name_env = pod;
  }
  if (const char* host = std::getenv("HOSTNAME")) {
    identity.hostname_env = host;
  }
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) {
    identity.system_hostname = host;
  }
  return identity;
}

std::string describe_shard(const ShardAssignment& shard, std::size_t owned, std::size_t total) {
  if (!shard.sharded()) {
    return "not sharded";
  }
  return "shard " + std::to_string(shard.index) + " of " + std::to_string(shard.count) + " (" +
         shard.source + ") owns " + std::to_string(owned) + " of " + std::to_string(total) +
         " targets";
}

// One JSON object per line: {"time","level","msg"}; nlohmann does the escaping.
class JsonLineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit JsonLineSink(std::ostream& out) : out_(out) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const auto time = std::chrono::time_point_cast<std::chrono::system_clock::duration>(msg.time);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() %
        1000;
    std::string stamp = format_rfc3339(time);
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03lldZ", static_cast<long long>(millis));
    if (!stamp.empty() && stamp.back() == 'Z') {
      stamp.pop_back();
    }
    stamp += frac;
    const auto level = spdlog::level::to_string_view(msg.level);
    nlohmann::json line = {{"time", stamp},
                           {"level", std::string(level.data(), level.size())},
                           {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    out_ << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    out_.flush();
  }
  void flush_() override { out_.flush(); }

 private:
  std::ostream& out_;
};

std::shared_ptr<spdlog::logger> make_logger(std::ostream& err, bool json) {
  spdlog::sink_ptr sink;
  if (json) {
    sink = std::make_shared<JsonLineSink>(err);
  } else {
    sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(err, /*force_flush=*/true);
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc));
  }
  auto logger = std::make_shared<spdlog::logger>("driftwatch", sink);
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::trace);
  return logger;
}

// HTTP limits from [server]. Descriptors: the soft RLIMIT_NOFILE is raised to the hard limit,
// and client connections never take more than half of it, so many (slow) clients cannot make
// checks fail with "Too many open files".
HttpServer::Options http_options(const ServerConfig& server, const AppStateView& state,
                                 spdlog::logger& log) {
  rlimit limit{};
  long long descriptors = 1024;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    if (limit.rlim_cur < limit.rlim_max) {
      rlimit raised = limit;
      raised.rlim_cur = limit.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    descriptors =
        limit.rlim_cur == RLIM_INFINITY ? 1 << 20 : static_cast<long long>(limit.rlim_cur);
  }
  HttpServer::Options options;
  options.max_connections = static_cast<int>(
      std::min<long long>(server.max_connections, std::max(16LL, descriptors / 2)));
  if (options.max_connections < server.max_connections) {
    log.warn("server.max_connections {} lowered to {}: half of the descriptor limit {}",
             server.max_connections, options.max_connections, descriptors);
  }
  options.header_timeout = server.header_timeout;
  options.idle_timeout = server.idle_timeout;
  options.post_timeout = server.post_timeout;
  options.admit = [&state](const HttpRequest& request) { return admit(request, state); };
  options.is_slow = [](const HttpRequest& request) { return waits_for_check(request); };
  return options;
}

std::string read_token(const std::string& path, spdlog::logger& log) {
  if (path.empty()) {
    return "";
  }
  std::ifstream in(path);
  if (!in) {
    log.warn("cannot read server.admin_token_file {}: POST endpoints answer 403", path);
    return "";
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string token = buffer.str();
  // Secret files usually end with a newline.
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
    token.pop_back();
  }
  std::size_t start = 0;
  while (start < token.size() && std::isspace(static_cast<unsigned char>(token[start]))) {
    ++start;
  }
  token = token.substr(start);
  if (token.empty()) {
    log.warn("server.admin_token_file {} is empty: POST endpoints answer 403", path);
  }
  return token;
}

std::string describe_check(const TargetStatus& status) {
  const TargetResult& r = *status.last_result;
  int counts[3] = {0, 0, 0};
  for (const auto& f : r.findings) {
    ++counts[static_cast<int>(f.severity)];
  }
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", r.duration_seconds);
  std::string line = "check target=" + r.name + " status=" + r.status +
                     " revision=" + (r.revision.state.empty() ? "-" : r.revision.state);
  if (r.revision.state == revision_state::kBehind) {
    line += " behind_by=" + std::to_string(r.revision.behind_by);
  }
  line += " critical=" + std::to_string(counts[2]) + " warning=" + std::to_string(counts[1]) +
          " info=" + std::to_string(counts[0]) + " duration=" + duration + "s";
  if (r.error) {
    line += " reason=" + r.error->reason + " error=\"" + r.error->message + "\"";
  }
  if (status.consecutive_failures > 1) {
    line += " consecutive_failures=" + std::to_string(status.consecutive_failures);
  }
  return line;
}

// How late a scheduled check's result may show in /metrics and /api/v1/targets (see
// RenderCache): a fleet whose checks finish every few milliseconds is rendered at most once a
// second however hard it is scraped.
constexpr std::chrono::milliseconds kCacheLag{1000};
// From this age on, a request that finds the rendering behind starts the next one in the
// background and is answered at once; renders faster than kCacheLag - kCacheRefresh never make a
// request wait.
constexpr std::chrono::milliseconds kCacheRefresh{500};

CheckFunction check_function(const std::shared_ptr<Engine>& engine) {
  return [engine](const TargetConfig& target, std::chrono::steady_clock::time_point deadline) {
    return engine->check(target, deadline);
  };
}

// Everything the routes read; config and engine are swapped on SIGHUP.
class ServeState : public AppStateView {
 public:
  ServeState(Config config, std::shared_ptr<spdlog::logger> log, ShardFlags shard_flags = {},
             ShardAssignment shard = {})
      : log_(std::move(log)),
        config_(std::move(config)),
        shard_flags_(std::move(shard_flags)),
        shard_(std::move(shard)) {
    engine_ = make_engine(config_);
    token_ = read_token(config_.server.admin_token_file, *log_);
    last_reload_success_ = std::chrono::system_clock::now();
    // Alerts, like checks, only for owned targets: a target resharded away is treated as removed.
    alerts_ = std::make_unique<AlertService>(owned_config(config_, shard_), &alert_counters_,
                                             delivery_options(config_.alerts));
    // Only the owned targets reach the scheduler; the full config stays for owner_shard().
    SchedulerOptions options;
    options.background_workers = true;
    scheduler_ = std::make_unique<Scheduler>(check_function(engine_), owned_config(config_, shard_),
                                             options);
    scheduler_->set_prepare_callback([this] { current_engine()->refresh_expected_state(); });
    replay_triggers_->log = log_;
    replay_triggers_->scheduler = scheduler_.get();
    scheduler_->set_result_callback([this](const TargetStatus& status) {
      if (!status.last_result) {
        return;
      }
      if (status.last_result->status == check_status::kError) {
        log_->warn("{}", describe_check(status));
      } else {
        log_->info("{}", describe_check(status));
      }
      alerts_->observe(*status.last_result, status.config.labels, status.interval);
    });
  }

  Scheduler& scheduler() { return *scheduler_; }
  AlertNotificationCounters& alert_counters() { return alert_counters_; }

  std::shared_ptr<Engine> current_engine() const {
    std::lock_guard<std::mutex> lock(mu_);
    return engine_;
  }

  void reload() {
    const std::string path = [this] {
      std::lock_guard<std::mutex> lock(mu_);
      return config_.path;
    }();
    log_->info("SIGHUP: reloading configuration from {}", path);
    ConfigParseResult loaded = load_config_file(path);
    if (!loaded.config) {
      for (const auto& e : loaded.errors) {
        log_->error("{}", e.to_string());
      }
      log_->error("configuration reload failed with {} error(s); keeping the previous one",
                  loaded.errors.size());
      std::lock_guard<std::mutex> lock(mu_);
      reload_success_ = false;
      ++state_version_;
      return;
    }
    std::shared_ptr<Engine> engine;
    try {
      engine = make_engine(*loaded.config);
    } catch (const std::exception& e) {
      log_->error("configuration reload failed: {}; keeping the previous one", e.what());
      std::lock_guard<std::mutex> lock(mu_);
      reload_success_ = false;
      ++state_version_;
      return;
    }
    // Flags still override the reloaded [server] shard settings.
    ShardResolution shard = resolve_shard(loaded.config->server, shard_flags_, shard_identity());
    if (!shard.assignment) {
      log_->error("configuration reload failed: {}; keeping the previous one", shard.error);
      std::lock_guard<std::mutex> lock(mu_);
      reload_success_ = false;
      ++state_version_;
      return;
    }
    const Config owned = owned_config(*loaded.config, *shard.assignment);
    std::set<std::string> before;
    for (const auto& t : scheduler_->targets()) {
      before.insert(t.config.name);
    }
    std::string token = read_token(loaded.config->server.admin_token_file, *log_);
    if (loaded.config->server.listen != config_.server.listen) {
      log_->warn("server.listen changed to {}: takes effect after a restart",
                 loaded.config->server.listen);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      config_ = *loaded.config;
      engine_ = engine;
      token_ = std::move(token);
      shard_ = *shard.assignment;
      reload_success_ = true;
      last_reload_success_ = std::chrono::system_clock::now();
      ++state_version_;
    }
    scheduler_->apply(owned, check_function(engine));
    alerts_->apply(owned);
    int added = 0;
    int kept = 0;
    for (const auto& t : owned.targets) {
      (before.count(t.name) ? kept : added)++;
    }
    const int removed = static_cast<int>(before.size()) - kept;
    log_->info(
        "configuration reloaded: {} targets ({} added, {} removed; {})", owned.targets.size(),
        added, removed,
        describe_shard(*shard.assignment, owned.targets.size(), loaded.config->targets.size()));
  }

  ~ServeState() { close_replay_triggers(); }

  void begin_drain() {
    draining_ = true;
    close_replay_triggers();
  }
  // After the checks drained: deliver what is queued until the deadline, save alert state.
  void stop_alerts(std::chrono::steady_clock::time_point deadline) { alerts_->stop(deadline); }

  // AppStateView
  bool config_loaded() const override { return true; }
  bool first_round_done() const override { return scheduler_->first_round_done(); }
  bool draining() const override { return draining_ || scheduler_->draining(); }
  std::vector<TargetStatus> targets() const override {
    std::vector<TargetStatus> out = scheduler_->targets();
    for (auto& t : out) t.ack = alerts_->ack(t.config.name);
    note_observed(lagging_version());
    return out;
  }
  std::optional<TargetStatus> target(const std::string& name) const override {
    auto out = scheduler_->target(name);
    if (out) out->ack = alerts_->ack(name);
    note_observed(lagging_version());
    return out;
  }
  std::optional<Acknowledgement> acknowledge(
      const std::string& name, const std::string& owner, const std::string& reason,
      std::chrono::system_clock::time_point expires_at) const override {
    auto ack = alerts_->acknowledge(name, owner, reason, expires_at);
    ++state_version_;  // shows at once in the cached answers
    return ack;
  }
  bool unacknowledge(const std::string& name) const override {
    const bool removed = alerts_->unacknowledge(name);
    ++state_version_;
    return removed;
  }
  std::vector<MigrationsStatus> migrations() const override {
    std::vector<MigrationsStatus> out;
    for (const auto& m : current_engine()->migrations()) {
      out.push_back({m.name, m.versions, m.heads, m.revisions, m.errors, m.warnings,
                     m.snapshot_revisions, m.problem, m.problem_message});
    }
    return out;
  }
  ResponseBody targets_body(const TargetRender& render, bool accept_gzip) const override {
    const auto served = targets_cache_.get(
        cache_version(),
        [this, render] {  // by value: may run on the cache's background thread
          RenderCache::Rendered out{"{\"targets\":[", std::nullopt};
          bool first = true;
          for (const auto& t : targets()) {
            std::string key = std::to_string(t.revision);
            if (t.ack) {
              key += "|" + t.ack->owner + "|" + t.ack->reason + "|" +
                     std::to_string(t.ack->created_at.time_since_epoch().count()) + "|" +
                     std::to_string(t.ack->expires_at.time_since_epoch().count());
              // The acknowledgement disappears from the body when it expires.
              if (!out.valid_until || t.ack->expires_at < *out.valid_until) {
                out.valid_until = t.ack->expires_at;
              }
            }
            out.text += first ? "" : ",";
            out.text += target_parts_.get(t.config.name, key, [&] { return render(t); });
            first = false;
          }
          target_parts_.finish();
          out.text += "]}\n";
          return out;
        },
        accept_gzip);
    note_observed(served.lagging);
    return {served.bytes, accept_gzip};
  }
  std::string metrics_text() const override { return *metrics_body(false).bytes; }
  ResponseBody metrics_body(bool accept_gzip) const override {
    const auto served = metrics_cache_.get(
        cache_version(),
        [this] {
          MetricsSnapshot snapshot = metrics_snapshot();
          // driftwatch_last_result_age_seconds grows with time: render again after a second.
          const auto valid_until = *snapshot.now + std::chrono::seconds(1);
          return RenderCache::Rendered{metrics_renderer_.render(snapshot), valid_until};
        },
        accept_gzip);
    note_observed(served.lagging);
    return {served.bytes, accept_gzip};
  }
  // What the cached answers depend on: reloads and acknowledgements over HTTP show at once;
  // scheduled results (and the alerts, counters and expected state that follow them) may lag
  // by kCacheLag, but never behind what any answer already showed.
  std::uint64_t lagging_version() const {
    return scheduler_->version() + alerts_->version() + alert_counters_.version() +
           Engine::expected_state_version();
  }
  RenderCache::Version cache_version() const {
    return {state_version_.load(), lagging_version(), observed_.load()};
  }
  void note_observed(std::uint64_t version) const {
    std::uint64_t seen = observed_.load();
    while (seen < version && !observed_.compare_exchange_weak(seen, version)) {
    }
  }
  MetricsSnapshot metrics_snapshot() const {
    MetricsSnapshot snapshot;
    snapshot.version = DRIFTWATCH_VERSION;
    snapshot.targets = scheduler_->targets();
    snapshot.migrations = migrations();
    {
      std::lock_guard<std::mutex> lock(mu_);
      snapshot.config_reload_success = reload_success_;
      snapshot.last_reload_success = last_reload_success_;
      snapshot.shard = std::to_string(shard_.index);  // resolved, also for "auto"
      snapshot.shards = shard_.count;
    }
    snapshot.alert_notifications = alert_counters_.snapshot();
    snapshot.alert_undelivered = alerts_->undelivered();
    snapshot.now = std::chrono::system_clock::now();
    snapshot.http_connections_rejected = HttpServer::connections_rejected_total();
    return snapshot;
  }
  std::string admin_token() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return token_;
  }
  std::optional<TargetResult> check_now(const std::string& name) const override {
    if (draining_) {
      return std::nullopt;
    }
    auto future = scheduler_->trigger(name);
    if (!future) {
      return std::nullopt;
    }
    log_->info("on-demand check of target {} requested over HTTP", name);
    TargetResult result = future->get();
    note_observed(lagging_version());
    return result;
  }

  std::optional<ShardLocation> owner_shard(const std::string& name) const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!shard_.sharded() || config_.find_target(name) == nullptr || shard_.owns(name)) {
      return std::nullopt;
    }
    return ShardLocation{shard_owner(name, shard_.count), shard_.count};
  }

  std::chrono::milliseconds drain_timeout() const {
    std::lock_guard<std::mutex> lock(mu_);
    return config_.server.drain_timeout;
  }

 private:
  // Finished replays re-check the targets that waited for them. The callback runs on an
  // engine's replay thread, and an engine may outlive this state (a stuck check holds it), so
  // what it uses is shared and closed before the scheduler goes away.
  struct ReplayTriggers {
    std::mutex mutex;
    Scheduler* scheduler = nullptr;  // null: closed
    std::shared_ptr<spdlog::logger> log;
  };
  std::shared_ptr<Engine> make_engine(const Config& config) {
    auto engine = std::make_shared<Engine>(config);
    engine->set_replay_callback([triggers =
                                     replay_triggers_](const std::vector<std::string>& names) {
      std::lock_guard<std::mutex> lock(triggers->mutex);
      if (triggers->scheduler == nullptr) return;
      for (const auto& name : names) {
        triggers->log->info("target '{}': expected schema of its revision built by replay", name);
        triggers->scheduler->trigger(name);
      }
    });
    return engine;
  }
  void close_replay_triggers() {
    std::lock_guard<std::mutex> lock(replay_triggers_->mutex);
    replay_triggers_->scheduler = nullptr;
  }

  std::shared_ptr<ReplayTriggers> replay_triggers_ = std::make_shared<ReplayTriggers>();
  std::shared_ptr<spdlog::logger> log_;
  mutable std::mutex mu_;
  Config config_;  // every configured target, owned or not
  ShardFlags shard_flags_;
  ShardAssignment shard_;
  std::shared_ptr<Engine> engine_;
  std::string token_;
  bool reload_success_ = true;
  std::optional<std::chrono::system_clock::time_point> last_reload_success_;
  std::atomic<bool> draining_{false};
  // Grows with every reload attempt and every acknowledgement change over HTTP.
  mutable std::atomic<std::uint64_t> state_version_{0};
  // The newest lagging_version() any answer has shown (RenderCache::Version::floor).
  mutable std::atomic<std::uint64_t> observed_{0};
  // Only used inside the caches' renders, which run one at a time.
  mutable MetricsRenderer metrics_renderer_;
  mutable PartCache<std::string> target_parts_;
  AlertNotificationCounters alert_counters_;
  std::unique_ptr<AlertService> alerts_;  // outlives the scheduler, whose callback feeds it
  std::unique_ptr<Scheduler> scheduler_;
  // GET /metrics and /api/v1/targets render once per change, not once per request, on a
  // background thread once a rendering is kCacheRefresh old. Declared last: destroyed first,
  // so a background render finishes while everything it reads still exists.
  mutable RenderCache metrics_cache_{kCacheLag, gzip_compress, RenderCache::wall_clock,
                                     kCacheRefresh};
  mutable RenderCache targets_cache_{kCacheLag, gzip_compress, RenderCache::wall_clock,
                                     kCacheRefresh};
};

}  // namespace

int run_serve(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ParsedArgs parsed;
  try {
    parsed = parse_args(args, {"config", "shard-index", "shard-count"}, {"json-logs", "help"});
  } catch (const UsageError& e) {
    err << "driftwatch serve: " << e.what() << "\n" << kUsage;
    return 2;
  }
  if (parsed.flag("help")) {
    out << kUsage;
    return 0;
  }
  if (!parsed.has("config")) {
    err << kUsage;
    return 2;
  }
  ConfigParseResult loaded = load_config_file(parsed.get("config"));
  if (!loaded.config) {
    for (const auto& e : loaded.errors) {
      err << e.to_string() << "\n";
    }
    err << "driftwatch serve: configuration has " << loaded.errors.size() << " error(s)\n";
    return 2;
  }
  const Config& config = *loaded.config;
  ShardFlags shard_flags;
  if (parsed.has("shard-index")) {
    shard_flags.index = parsed.get("shard-index");
  }
  if (parsed.has("shard-count")) {
    shard_flags.count = parsed.get("shard-count");
  }
  ShardResolution shard = resolve_shard(config.server, shard_flags, shard_identity());
  if (!shard.assignment) {
    err << "driftwatch serve: " << shard.error << "\n";
    return 2;
  }
  auto log = make_logger(err, parsed.flag("json-logs") || config.server.json_logs);
  spdlog::set_default_logger(log);
  // A log reader that goes away (the `tee` of a pipeline, say) must not kill the daemon: its
  // writes then fail with EPIPE instead of raising SIGPIPE. Sockets never raise it (Asio, libpq
  // and curl send with MSG_NOSIGNAL); commands of url_command get the default back.
  std::signal(SIGPIPE, SIG_IGN);

  boost::asio::io_context io;
  ServeState state(config, log, shard_flags, *shard.assignment);
  std::unique_ptr<HttpServer> server;
  try {
    server = std::make_unique<HttpServer>(
        io, config.server.listen,
        [&state](const HttpRequest& request) { return route(request, state); },
        http_options(config.server, state, *log));
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 2;
  }
  const std::size_t owned = owned_config(config, *shard.assignment).targets.size();
  log->info("driftwatch {} serving {} targets from {} ({})", DRIFTWATCH_VERSION, owned, config.path,
            describe_shard(*shard.assignment, owned, config.targets.size()));
  log->info("listening on {}", server->local_address());
  server->start();
  state.scheduler().start();

  auto work = boost::asio::make_work_guard(io);
  // SIGHUP reloads on this thread, never on an HTTP thread: re-reading migrations and snapshots
  // may take seconds, and /metrics must answer meanwhile. Signals during a reload coalesce into
  // one more reload.
  std::mutex reload_mu;
  std::condition_variable reload_cv;
  bool reload_requested = false;
  bool reload_stopping = false;
  std::thread reloader([&] {
    std::unique_lock<std::mutex> lock(reload_mu);
    while (true) {
      reload_cv.wait(lock, [&] { return reload_requested || reload_stopping; });
      if (reload_stopping) break;
      reload_requested = false;
      lock.unlock();
      state.reload();
      lock.lock();
    }
  });
  auto stop_reloader = [&] {
    {
      std::lock_guard<std::mutex> lock(reload_mu);
      reload_stopping = true;
    }
    reload_cv.notify_all();
    if (reloader.joinable()) reloader.join();
  };
  std::atomic<bool> timed_out{false};
  std::thread drainer;
  std::atomic<int> stop_signals{0};
  boost::asio::signal_set signals(io, SIGHUP, SIGTERM, SIGINT);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signal) {
        if (ec) {
          return;
        }
        if (signal == SIGHUP) {
          {
            std::lock_guard<std::mutex> lock(reload_mu);
            reload_requested = true;
          }
          reload_cv.notify_all();
        } else if (stop_signals++ == 0) {
          const auto timeout = state.drain_timeout();
          log->info("{}: draining (up to {} s for in-flight checks)",
                    signal == SIGTERM ? "SIGTERM" : "SIGINT",
                    std::chrono::duration<double>(timeout).count());
          state.begin_drain();
          // A replay build may run for its whole timeout (minutes): it is stopped now, its
          // command killed and its scratch database dropped, instead of being cut off at exit.
          Engine::stop_replays();
          drainer = std::thread([&, timeout] {
            const bool idle = state.scheduler().drain(std::chrono::steady_clock::now() + timeout);
            if (!idle) {
              timed_out = true;
              log->warn("drain deadline passed with {} check(s) still running",
                        state.scheduler().in_flight());
            }
            if (!Engine::wait_for_replays(std::chrono::steady_clock::now() +
                                          std::chrono::seconds(10))) {
              log->warn("a replay build did not stop in time; its scratch database may be left");
            }
            // Up to 5 s (within the drain budget) for queued notifications, e.g. resolutions.
            state.stop_alerts(std::chrono::steady_clock::now() + std::chrono::seconds(5));
            server->stop();
            // Let answers to requests already in progress (e.g. an on-demand check that just
            // finished) reach their clients.
            server->wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(2));
            work.reset();
            io.stop();
          });
        } else {
          // The commands driftwatch started (a replay's upgrade command, url_command) are in
          // process groups of their own: killed here, or they would outlive the process.
          kill_running_children();
          log->warn(
              "second stop signal: exiting without waiting for checks (running commands killed; "
              "a replay's scratch database driftwatch_replay_{}_* may be left)",
              ::getpid());
          log->flush();
          std::_Exit(1);
        }
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);

  std::thread second([&io] { io.run(); });
  io.run();
  second.join();
  stop_reloader();
  if (drainer.joinable()) {
    drainer.join();
  }
  log->info("stopped");
  log->flush();
  if (timed_out) {
    // A stuck check still holds a worker thread (and the engine it uses); running static
    // destructors under it is not safe, so leave without them; the command it runs, if any, is
    // killed first.
    kill_running_children();
    std::_Exit(0);
  }
  server.reset();
  // The logger writes to `err`, which may not outlive this call.
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "driftwatch", std::make_shared<spdlog::sinks::ostream_sink_mt>(std::cerr)));
  return 0;
}

}  // namespace driftwatch
