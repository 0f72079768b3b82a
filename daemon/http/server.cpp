#include "http/server.hpp"

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "driftwatch/error.hpp"

namespace driftwatch {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

class Session;

std::atomic<std::uint64_t> g_connections_rejected{0};

}  // namespace

struct HttpServer::Shared {
  net::io_context& io;
  tcp::acceptor acceptor;
  Handler handler;
  Options options;
  net::thread_pool blocking;
  net::thread_pool quick;  // POST/DELETE handlers that do not wait for checks (acks)
  std::mutex mu;
  bool stopping = false;
  std::list<std::weak_ptr<Session>> sessions;
  std::atomic<int> requests_in_progress{0};  // responses being written
  std::atomic<int> handlers_running{0};      // POST handlers on the blocking pool
  std::atomic<int> connections{0};           // open client connections (sessions)

  Shared(net::io_context& context, Handler h, Options o)
      : io(context),
        acceptor(net::make_strand(context)),
        handler(std::move(h)),
        options(o),
        blocking(static_cast<std::size_t>(std::max(1, o.blocking_threads))),
        quick(1) {}

  bool is_stopping() {
    std::lock_guard<std::mutex> lock(mu);
    return stopping;
  }
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<HttpServer::Shared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)) {
    ++shared_->connections;
  }
  ~Session() { --shared_->connections; }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

  void close() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      // Only idle connections (waiting for a request) are closed; a response in progress
      // finishes with Connection: close.
      if (!self->busy_) {
        beast::error_code ec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        self->stream_.close();
      }
    });
  }

 private:
  // A request in three timed steps: the connection may idle (idle_timeout, a fresh connection
  // header_timeout) until its first byte; then the request line and headers must arrive within
  // header_timeout (a client trickling headers cannot hold the connection); then the body
  // within read_timeout.
  void do_read() {
    busy_ = false;
    if (shared_->is_stopping()) {
      return do_close();
    }
    parser_.emplace();
    parser_->body_limit(kMaxRequestBody);
    parser_->header_limit(16 * 1024);
    if (buffer_.size() > 0) {
      return read_header();  // pipelined bytes of the next request are already here
    }
    stream_.expires_after(requests_ == 0 ? shared_->options.header_timeout
                                         : shared_->options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->buffer_.commit(n);
                              if (ec) {
                                return self->on_read(ec, 0);
                              }
                              self->read_header();
                            });
  }

  void read_header() {
    stream_.expires_after(shared_->options.header_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) {
                                return self->on_read(ec, 0);
                              }
                              self->stream_.expires_after(self->shared_->options.read_timeout);
                              http::async_read(self->stream_, self->buffer_, *self->parser_,
                                               beast::bind_front_handler(&Session::on_read, self));
                            });
  }

  void on_read(beast::error_code ec, std::size_t) {
    busy_ = true;
    ++requests_;
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::error::connection_reset ||
        ec == net::error::eof || ec == net::error::bad_descriptor) {
      return do_close();
    }
    if (ec == http::error::body_limit) {
      return send(json_error(413, "request body larger than 64 KiB"), 11, false, false);
    }
    if (ec == http::error::header_limit) {
      return send(json_error(431, "request headers too large"), 11, false, false);
    }
    if (ec) {
      return send(json_error(400, "malformed request"), 11, false, false);
    }

    const auto& req = parser_->get();
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    for (const auto& field : req) {
      std::string name(field.name_string());
      for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      request.headers[name] = std::string(field.value());
    }
    request.body = req.body();
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    const bool head = req.method() == http::verb::head;

    const bool writes = req.method() == http::verb::post || req.method() == http::verb::delete_;
    if (writes && shared_->options.admit) {
      // Authentication and routing first, here: a request that will be refused is answered at
      // once, never queued behind running checks.
      if (auto answer = shared_->options.admit(request)) {
        return send(std::move(*answer), version, keep_alive, false);
      }
      const bool slow = !shared_->options.is_slow || shared_->options.is_slow(request);
      return run_on_worker(std::move(request), slow ? shared_->blocking : shared_->quick, version,
                           keep_alive);
    }
    if (req.method() == http::verb::post) {
      return run_on_worker(std::move(request), shared_->blocking, version, keep_alive);
    }
    send(shared_->handler(request), version, keep_alive, head);
  }

  // Runs the handler on a worker pool; the client gets its answer, or 503 at post_timeout,
  // whichever comes first (the later one is dropped). A request still queued at its deadline
  // is not run at all.
  void run_on_worker(HttpRequest request, net::thread_pool& pool, unsigned version,
                     bool keep_alive) {
    auto answered = std::make_shared<std::atomic<bool>>(false);
    auto timer = std::make_shared<net::steady_timer>(stream_.get_executor());
    timer->expires_after(shared_->options.post_timeout);
    timer->async_wait([self = shared_from_this(), answered, version](beast::error_code ec) {
      if (ec || answered->exchange(true)) {
        return;
      }
      HttpResponse busy = json_error(
          503, "no answer within " +
                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                      self->shared_->options.post_timeout)
                                      .count()) +
                   "s: the workers are busy with other checks; the request may still complete, "
                   "see GET /api/v1/targets");
      busy.headers["Retry-After"] = "30";
      self->send(std::move(busy), version, false, false);
    });
    ++shared_->handlers_running;
    net::post(pool, [self = shared_from_this(), request = std::move(request), version, keep_alive,
                     answered, timer] {
      std::optional<HttpResponse> response;
      if (!answered->load()) {
        response = self->shared_->handler(request);
      }
      net::post(self->stream_.get_executor(), [self, response = std::move(response), version,
                                               keep_alive, answered, timer]() mutable {
        --self->shared_->handlers_running;
        if (!response || answered->exchange(true)) {
          return;
        }
        timer->cancel();
        self->send(std::move(*response), version, keep_alive, false);
      });
    });
  }

  void send(HttpResponse response, unsigned version, bool keep_alive, bool head) {
    busy_ = true;
    ++shared_->requests_in_progress;
    res_ = {};
    res_.version(version);
    res_.result(static_cast<unsigned>(response.status));
    res_.set(http::field::server, "driftwatch/" DRIFTWATCH_VERSION);
    res_.set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) {
      res_.set(name, value);
    }
    // The body stays alive in body_ until the write completes; a shared (cached) body is not
    // copied.
    body_ = response.shared_body ? std::move(response.shared_body)
                                 : std::make_shared<const std::string>(std::move(response.body));
    res_.body() = Body::value_type(body_->data(), body_->size());
    res_.keep_alive(keep_alive && !shared_->is_stopping());
    res_.prepare_payload();
    if (head) {
      res_.body() = Body::value_type();  // Content-Length still tells the size of the GET body
    }
    stream_.expires_after(shared_->options.read_timeout);
    http::async_write(stream_, res_,
                      beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    --shared_->requests_in_progress;
    if (ec) {
      return do_close();
    }
    if (!res_.keep_alive()) {
      return do_close();
    }
    do_read();
  }

  // Lingering close: closing a socket with unread request bytes (e.g. the rest of a body that
  // got a 413) makes the kernel send RST, which can destroy the response before the client
  // reads it. So shut down the sending side, then drain what the client still sends for a
  // short while before closing.
  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      stream_.close();
      return;
    }
    drained_ = 0;
    stream_.expires_after(std::chrono::seconds(2));
    do_drain();
  }

  void do_drain() {
    stream_.async_read_some(net::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kMaxDrainBytes) {
                                self->stream_.close();
                                return;
                              }
                              self->do_drain();
                            });
  }

  static constexpr std::size_t kMaxDrainBytes = 1 << 20;
  std::array<char, 8192> drain_buffer_{};
  std::size_t drained_ = 0;

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<HttpServer::Shared> shared_;
  std::optional<http::request_parser<http::string_body>> parser_;
  using Body = http::span_body<const char>;
  std::shared_ptr<const std::string> body_;
  http::response<Body> res_;
  bool busy_ = false;
  std::uint64_t requests_ = 0;
};

// Refuses a connection over the limit: one non-blocking write of a 503, then close. No session,
// no buffers, no timers: the descriptor is gone again at once.
void refuse(tcp::socket& socket) {
  static const std::string kAnswer =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Connection: close\r\nContent-Length: 39\r\n\r\n{\"error\": \"too many open connections\"}\n";
  beast::error_code ec;
  socket.non_blocking(true, ec);
  socket.send(net::buffer(kAnswer), 0, ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
  ++g_connections_rejected;
}

void do_accept(const std::shared_ptr<HttpServer::Shared>& shared) {
  shared->acceptor.async_accept(
      net::make_strand(shared->io), [shared](beast::error_code ec, tcp::socket socket) {
        if (ec) {
          if (!shared->acceptor.is_open() || shared->is_stopping()) {
            return;
          }
          // Out of file descriptors and the like: keep accepting after a pause (an immediate
          // retry would spin on the same error).
          auto timer = std::make_shared<net::steady_timer>(shared->acceptor.get_executor());
          timer->expires_after(std::chrono::milliseconds(100));
          timer->async_wait([shared, timer](beast::error_code) { do_accept(shared); });
          return;
        }
        if (shared->connections.load() >= shared->options.max_connections) {
          refuse(socket);
          return do_accept(shared);
        }
        auto session = std::make_shared<Session>(std::move(socket), shared);
        {
          std::lock_guard<std::mutex> lock(shared->mu);
          if (shared->stopping) {
            return;
          }
          shared->sessions.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
          shared->sessions.push_back(session);
        }
        session->run();
        do_accept(shared);
      });
}

tcp::endpoint resolve_listen(net::io_context& io, const std::string& listen) {
  std::string host;
  std::string port;
  if (!listen.empty() && listen[0] == '[') {
    const auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      throw Error("config", "invalid server.listen address: " + listen);
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
      throw Error("config", "invalid server.listen address (want host:port): " + listen);
    }
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535) {
    throw Error("config", "invalid port in server.listen: " + listen);
  }
  const auto port_number = static_cast<unsigned short>(std::stoi(port));
  if (host.empty()) {
    host = "0.0.0.0";
  }
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (!ec) {
    return {address, port_number};
  }
  tcp::resolver resolver(io);
  auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty()) {
    throw Error("config", "cannot resolve server.listen host " + host + ": " + ec.message());
  }
  return results.begin()->endpoint();
}

}  // namespace

HttpServer::HttpServer(net::io_context& io, const std::string& listen, Handler handler,
                       Options options)
    : shared_(std::make_shared<Shared>(io, std::move(handler), options)) {
  const tcp::endpoint endpoint = resolve_listen(io, listen);
  beast::error_code ec;
  auto& acceptor = shared_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    throw Error("config", "cannot listen on " + listen + ": " + ec.message());
  }
}

HttpServer::~HttpServer() {
  stop();
  shared_->blocking.join();
  shared_->quick.join();
}

std::uint64_t HttpServer::connections_rejected_total() { return g_connections_rejected.load(); }

tcp::endpoint HttpServer::local_endpoint() const { return shared_->acceptor.local_endpoint(); }

std::string HttpServer::local_address() const {
  const auto endpoint = local_endpoint();
  const std::string host = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + host + "]:" + port : host + ":" + port;
}

void HttpServer::start() {
  net::dispatch(shared_->acceptor.get_executor(), [shared = shared_] { do_accept(shared); });
}

bool HttpServer::wait_idle(std::chrono::steady_clock::time_point deadline) {
  while (shared_->requests_in_progress.load() > 0 || shared_->handlers_running.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void HttpServer::stop() {
  std::list<std::weak_ptr<Session>> sessions;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (shared_->stopping) {
      return;
    }
    shared_->stopping = true;
    sessions.swap(shared_->sessions);
  }
  net::post(shared_->acceptor.get_executor(), [shared = shared_] {
    beast::error_code ec;
    shared->acceptor.close(ec);
  });
  for (auto& weak : sessions) {
    if (auto session = weak.lock()) {
      session->close();
    }
  }
}

}  // namespace driftwatch
