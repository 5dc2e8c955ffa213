#pragma once
// The daemon's HTTP/1.1 server (Boost.Beast on one io_context thread), built to face hostile peers:
//
//   - Request line and headers at most ServerLimits::maxHeaderBytes (8 KiB): past that 414 when the
//     request line alone is too long, else 431; at most maxHeaderFields (100) fields: 431.
//   - GET and HEAD only (405 with Allow otherwise); a request body is refused (413) unread.
//   - Host must be a loopback name, a literal IP or an --allowed-host: 421 otherwise.
//   - Headers must arrive within headerTimeout (10 s) of the first byte; a keep-alive connection may
//     sit idle for idleTimeout (60 s); a response must be taken within writeTimeout.
//   - At most maxConnections (256) connections. When all are taken, a new connection evicts the
//     connection that has been waiting longest for its request headers or idling between requests
//     (slowloris connections hold slots that way, a client that sends its request at once does
//     not); only when every slot is serving a request or a stream is the newcomer answered 503.
//   - At most maxStreams (64) event-stream clients (503 past it). Each has a queue of at most
//     streamQueueLimit frames; a client that falls that far behind is disconnected, so it
//     reconnects with Last-Event-ID and catches up or resyncs, and its queue never grows without
//     bound. Streams get a comment line every keepAliveInterval so proxies do not cut them.
//   - Pipelined requests are answered one at a time, each read only after the previous response
//     is written: a flood of them costs the peer, not the server, its buffers.
//
// Thread safety: none. Create, use and destroy it on the io_context's one thread.
// Lifetime: stop() closes the listeners and every connection; the server must outlive run().
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "serve/listen_address.h"
#include "serve/metrics.h"

namespace netmon::serve {

struct ServerLimits {
  size_t maxConnections = 256;
  size_t maxStreams = 64;
  size_t maxHeaderBytes = size_t{8} * 1024;
  size_t maxHeaderFields = 100;
  size_t streamQueueLimit = 1024;
  std::chrono::milliseconds headerTimeout{10'000};
  std::chrono::milliseconds idleTimeout{60'000};
  std::chrono::milliseconds writeTimeout{30'000};
  std::chrono::milliseconds keepAliveInterval{15'000};
};

// What a handler sees of a request. Views into the server's buffers: valid during the call only.
struct Request {
  std::string_view method;  // "GET" or "HEAD"; others never reach a handler
  std::string_view path;    // "/v1/reach"
  std::string_view query;   // "remote=192.0.2.1" (no '?'), "" when absent
  std::string_view accept;  // the Accept header, "" when absent
  std::optional<std::string_view> lastEventId;  // the Last-Event-ID header
};

struct Response {
  unsigned status = 200;
  std::string contentType = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra header fields
  std::string_view handler = "other";  // the route, for netmon_http_requests_total
};

// An open event stream, as the code that feeds it sees it.
class StreamClient {
 public:
  virtual ~StreamClient() = default;
  // Queues one frame (a complete Server-Sent Events record). A client whose queue is full is
  // disconnected instead (counted in netmon_sse_clients_dropped_total).
  virtual void send(std::shared_ptr<const std::string> frame) = 0;
};

// A handler's answer that opens an event stream: `initial` frames are sent first; `attach` is
// called once with the client, which the caller keeps as a weak_ptr (it expires when the client
// disconnects).
struct StreamResponse {
  std::vector<std::shared_ptr<const std::string>> initial;
  std::function<void(const std::shared_ptr<StreamClient>&)> attach;
  std::string_view handler = "other";
};

using Reply = std::variant<Response, StreamResponse>;
using RequestHandler = std::function<Reply(const Request&)>;

// A response with a short text body ("404 not found\n"), for handlers and the server alike.
Response textResponse(unsigned status, std::string_view body, std::string_view handler = "other");

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, ServerLimits limits, std::vector<std::string> allowed_hosts,
             RequestHandler handler, DaemonMetrics& metrics);
  ~HttpServer();  // NOLINT(bugprone-exception-escape): see the definition in http_server.cc
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens. Returns the address actually bound (port 0 becomes the port chosen).
  // Errors: "listen on ADDR: reason".
  tl::expected<ListenAddress, std::string> listen(const ListenAddress& address);
  // Takes over a listening socket passed by systemd (socket activation). Returns a description.
  tl::expected<std::string, std::string> adopt(int listening_fd);
  // Starts accepting on every listener.
  void start();
  // Closes the listeners and every connection, streams included.
  void stop();

  size_t openConnections() const;
  size_t openStreams() const;

 private:
  friend class Session;  // one connection (http_server.cc)
  class Impl;
  // Shared with the connections: one still winding down in a pending handler keeps it alive.
  std::shared_ptr<Impl> impl_;
};

}  // namespace netmon::serve
