// Boost.Beast HTTP/1.1 listener for `driftwatch serve`. Moves bytes only: every request is
// handed to a Handler (normally route()) and its HttpResponse written back. Keep-alive, read
// timeouts, a 64 KiB body limit (413) and a graceful stop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "driftwatch/http_route.hpp"

namespace driftwatch {

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  struct Options {
    std::chrono::seconds read_timeout{30};  // per request, headers and body
    int blocking_threads = 2;               // POST handlers wait for checks; they run here
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

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace driftwatch
