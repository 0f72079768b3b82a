// Boost.Beast HTTP/1.1 listener for `driftwatch serve`. Moves bytes only: every request is
// handed to a Handler (normally route()) and its HttpResponse written back. Keep-alive, header,
// idle and read timeouts, a connection limit, a 64 KiB body limit (413) and a graceful stop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "driftwatch/http_route.hpp"

namespace driftwatch {

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // The final answer for a request that needs no worker (see admit() in http_route.hpp), or
  // nullopt to run Handler on a worker thread.
  using Admit = std::function<std::optional<HttpResponse>(const HttpRequest&)>;
  using IsSlow = std::function<bool(const HttpRequest&)>;

  struct Options {
    std::chrono::seconds read_timeout{30};  // a request's body, and writing its response
    int blocking_threads = 2;               // POST handlers that wait for checks run here
    // Open client connections beyond this are refused at accept (503, then closed).
    int max_connections = 512;
    std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};  // request line+headers
    std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};    // keep-alive, between
    // Without an answer from the worker within this, a POST gets 503 (the check continues).
    std::chrono::milliseconds post_timeout{std::chrono::seconds(120)};
    // POST/DELETE requests: answered on the I/O thread when admit gives an answer; otherwise
    // the Handler runs on the blocking pool when is_slow, else on a pool of its own, so an
    // acknowledgement never waits behind running checks. Without admit, every POST runs the
    // Handler on the blocking pool.
    Admit admit;
    IsSlow is_slow;
  };

  // Binds `listen` ("host:port", "[v6]:port"; port 0 = any free port). Throws
  // driftwatch::Error (reason "config") when the address is invalid or cannot be bound.
  HttpServer(boost::asio::io_context& io, const std::string& listen, Handler handler,
             Options options);
  HttpServer(boost::asio::io_context& io, const std::string& listen, Handler handler)
      : HttpServer(io, listen, std::move(handler), Options{}) {}
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // "127.0.0.1:9731" / "[::1]:9731" of the bound socket.
  std::string local_address() const;

  void start();  // begins accepting (on the io_context's threads)
  // Stops accepting, answers requests in progress with "Connection: close" and closes idle
  // connections. Safe to call from any thread, more than once.
  void stop();
  // After stop(): waits until responses in progress are written (or the deadline passes).
  bool wait_idle(std::chrono::steady_clock::time_point deadline);

  // Connections refused because max_connections were open, since the process started.
  static std::uint64_t connections_rejected_total();

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace driftwatch
