#include "serve/http_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <list>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "netmon/version.h"
#include "serve/request_screen.h"

namespace netmon::serve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Protocol = asio::generic::stream_protocol;
using Socket = Protocol::socket;
using Acceptor = asio::basic_socket_acceptor<Protocol>;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

Response textResponse(unsigned status, std::string_view body, std::string_view handler) {
  Response response;
  response.status = status;
  response.contentType = "text/plain; charset=utf-8";
  response.body = std::string(body);
  response.handler = handler;
  return response;
}

namespace {

constexpr std::string_view kServerName = "netmon/" NETMON_VERSION_STRING;
// After the last response of a connection, how long unread request bytes are drained before the
// socket closes (closing with unread data sends a reset that can destroy the response in flight).
constexpr std::chrono::milliseconds kLingerTimeout{2'000};
// Pipelined bytes kept beyond one request's headers.
constexpr size_t kReadBufferSlack = size_t{4} * 1024;

// A socket call failed for a reason worth counting: not the peer's EOF (misc category), not a
// cancellation, not an HTTP parse error (Beast's category).
bool isSocketError(const error_code& error) {
  return error && error.category() == boost::system::system_category() && error != asio::error::operation_aborted;
}

// Answers a just-accepted connection with 503 and closes it, without blocking (its send buffer is
// empty). Returns false when even that send failed.
bool refuseAccepted(int fd, std::string_view reason) {
  const std::string response = fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n"
      "Retry-After: 1\r\nConnection: close\r\n\r\n{}",
      reason.size(), reason);
  const ssize_t sent = ::send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  return sent >= 0;
}

// Formats a sockaddr the way --listen spells it.
std::string describe(const Protocol::endpoint& endpoint) {
  const sockaddr* address = endpoint.data();
  if (address->sa_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(address);
    const size_t length = endpoint.size() > offsetof(sockaddr_un, sun_path) ? endpoint.size() - offsetof(sockaddr_un, sun_path) : 0;
    std::string path(un->sun_path, strnlen(un->sun_path, length));
    return "unix:" + (path.empty() ? std::string("(unnamed)") : path);
  }
  asio::ip::tcp::endpoint tcp;
  std::memcpy(tcp.data(), address, std::min<size_t>(endpoint.size(), sizeof(sockaddr_storage)));
  ListenAddress listen;
  listen.tcp = tcp;
  return listen.toString();
}

}  // namespace

class Session;

class HttpServer::Impl : public std::enable_shared_from_this<HttpServer::Impl> {
 public:
  Impl(asio::io_context& io, ServerLimits limits, std::vector<std::string> allowed_hosts, RequestHandler handler,
       DaemonMetrics& metrics)
      : io_(io), limits_(limits), allowedHosts_(std::move(allowed_hosts)), handler_(std::move(handler)),
        metrics_(metrics), reserveFd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}
  ~Impl() {
    if (reserveFd_ >= 0) ::close(reserveFd_);
  }

  asio::io_context& io_;
  const ServerLimits limits_;
  const std::vector<std::string> allowedHosts_;
  RequestHandler handler_;
  DaemonMetrics& metrics_;
  // False once the HttpServer is gone: sessions still held by pending handlers then only wind down.
  bool attached_ = true;
  bool stopped_ = false;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  struct SocketFile {
    std::string path;
    dev_t device;
    ino_t inode;
  };
  std::vector<SocketFile> socketFiles_;  // Unix sockets we created, removed at stop() if still ours
  std::list<Session*> sessions_;          // every session object alive, open or winding down
  size_t open_ = 0;                       // sessions not yet closed
  size_t streams_ = 0;                    // open event streams
  // A descriptor held back for the moment the process runs out of them (see refuseOutOfDescriptors).
  int reserveFd_ = -1;

  void accept(Acceptor& acceptor);
  enum class Refusal { Refused, NothingPending, Failed };
  Refusal refuseOutOfDescriptors(Acceptor& acceptor);
  void countSocketError(SocketOperation operation) {
    if (attached_) metrics_.countSocketError(operation);
  }
  void onAccepted(Socket socket);
  bool evictOne();
  void publishGauges() {
    if (!attached_) return;
    metrics_.setOpenConnections(open_);
    metrics_.setStreamClients(streams_);
  }
  void stop();
};

// One connection: requests answered in turn, or (after GET /v1/events) an event stream.
class Session : public StreamClient, public std::enable_shared_from_this<Session> {
 public:
  enum class Phase { ReadingHeader, Idle, Responding, Streaming, Closing };

  Session(std::shared_ptr<HttpServer::Impl> server, Socket socket)
      : server_(std::move(server)), socket_(std::move(socket)), timer_(server_->io_),
        buffer_(server_->limits_.maxHeaderBytes + kReadBufferSlack) {
    position_ = server_->sessions_.insert(server_->sessions_.end(), this);
    ++server_->open_;
    server_->publishGauges();
  }

  ~Session() override {
    server_->sessions_.erase(position_);
    if (!closed_) markClosed();
  }

  void start() { readHeader(); }

  // Closes the socket at once; pending operations end with operation_aborted.
  void close() {
    if (closed_) return;
    markClosed();
    error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
    queue_.clear();
  }

  // Closes after a failed read or write; a real socket error (not EOF) is counted.
  void fail(const error_code& error, SocketOperation operation) {
    if (isSocketError(error)) server_->countSocketError(operation);
    close();
  }

  bool closed() const { return closed_; }
  // Waiting for a request (a slowloris peer, or an idle keep-alive): may be evicted.
  bool evictable() const { return !closed_ && (phase_ == Phase::ReadingHeader || phase_ == Phase::Idle); }
  Clock::time_point phaseSince() const { return since_; }

  void send(std::shared_ptr<const std::string> frame) override {
    if (closed_ || phase_ != Phase::Streaming) return;
    if (queue_.size() >= server_->limits_.streamQueueLimit) {
      if (server_->attached_) server_->metrics_.countStreamOverflow();
      close();
      return;
    }
    queue_.push_back(std::move(frame));
    writeFrames();
  }

 private:
  const ServerLimits& limits() const { return server_->limits_; }

  void enter(Phase phase) {
    phase_ = phase;
    since_ = Clock::now();
  }

  void markClosed() {
    closed_ = true;
    --server_->open_;
    if (countedAsStream_) --server_->streams_;
    server_->publishGauges();
  }

  void armTimer(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](error_code error) {
      if (!error) self->close();
    });
  }

  // Between requests: wait (up to idleTimeout) for the first byte of the next one.
  void awaitRequest() {
    if (buffer_.size() > 0) return readHeader();  // pipelined: already here
    enter(Phase::Idle);
    armTimer(limits().idleTimeout);
    socket_.async_wait(Socket::wait_read, [self = shared_from_this()](error_code error) {
      if (self->closed_) return;
      if (error) return self->fail(error, SocketOperation::Receive);
      self->readHeader();
    });
  }

  void readHeader() {
    enter(Phase::ReadingHeader);
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(limits().maxHeaderBytes));
    armTimer(limits().headerTimeout);
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](error_code error, size_t) { self->onHeader(error); });
  }

  void onHeader(error_code error) {
    if (closed_) return;
    timer_.cancel();
    const auto data = buffer_.data();
    const std::string_view received(static_cast<const char*>(data.data()), data.size());
    Screening screening = screenRequest(*parser_, error, received, limits(), server_->allowedHosts_);
    head_ = screening.head;
    version_ = screening.version;
    switch (screening.action) {
      case Screening::Action::Close: return fail(error, SocketOperation::Receive);  // counts a real socket error
      case Screening::Action::Refuse: return respond(std::move(screening.response), false);
      case Screening::Action::Respond: return respond(std::move(screening.response), screening.keepAlive);
      case Screening::Action::Handle: break;
    }
    Reply reply = server_->handler_(screening.request);
    if (auto* stream = std::get_if<StreamResponse>(&reply)) return startStream(std::move(*stream));
    respond(std::move(std::get<Response>(reply)), screening.keepAlive);
  }

  void respond(Response response, bool keep_alive) {
    if (server_->attached_) server_->metrics_.countHttpRequest(response.handler, response.status);
    enter(Phase::Responding);
    auto message = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(response.status),
                                                                        version_ == 10 ? 10 : 11);
    message->set(http::field::server, kServerName);
    message->set(http::field::content_type, response.contentType);
    message->set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : response.headers) message->set(name, value);
    message->body() = std::move(response.body);
    message->keep_alive(keep_alive);
    message->prepare_payload();
    auto serializer = std::make_shared<http::response_serializer<http::string_body>>(*message);
    auto done = [self = shared_from_this(), message, serializer, keep_alive](error_code error, size_t) {
      if (self->closed_) return;
      self->timer_.cancel();
      if (error) return self->fail(error, SocketOperation::Send);
      if (keep_alive) return self->awaitRequest();
      self->lingeringClose();
    };
    armTimer(limits().writeTimeout);
    if (head_) {
      http::async_write_header(socket_, *serializer, std::move(done));
    } else {
      http::async_write(socket_, *serializer, std::move(done));
    }
  }

  // Half-closes, then drains what the peer still sends (bounded in time) before closing, so the
  // peer reads our last response instead of a reset.
  void lingeringClose() {
    enter(Phase::Closing);
    error_code ignored;
    socket_.shutdown(Socket::shutdown_send, ignored);
    armTimer(kLingerTimeout);
    drain();
  }

  void drain() {
    socket_.async_read_some(asio::buffer(discard_), [self = shared_from_this()](error_code error, size_t) {
      if (self->closed_) return;
      if (error) return self->fail(error, SocketOperation::Receive);
      self->drain();
    });
  }

  void startStream(StreamResponse stream) {
    if (server_->streams_ >= limits().maxStreams) {
      return respond(textResponse(503, "too many event-stream clients\n", stream.handler), false);
    }
    if (server_->attached_) server_->metrics_.countHttpRequest(stream.handler, 200);
    enter(Phase::Streaming);
    ++server_->streams_;
    countedAsStream_ = true;  // until closed, whatever phase follows (HEAD: a lingering close)
    server_->publishGauges();
    // No Content-Length and no chunking: the stream ends when the connection does.
    queue_.push_back(std::make_shared<const std::string>(fmt::format(
        "HTTP/1.{} 200 OK\r\nServer: {}\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
        "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n",
        version_ == 10 ? 0 : 1, kServerName)));
    if (head_) {
      writeFrames();
      return;
    }
    for (auto& frame : stream.initial) queue_.push_back(std::move(frame));
    if (stream.attach) stream.attach(shared_from_this());
    writeFrames();
    keepAlive();
    discardInput();
  }

  void writeFrames() {
    if (writing_ || queue_.empty() || closed_) return;
    writing_ = true;
    writeStarted_ = Clock::now();
    inFlight_.clear();
    buffers_.clear();
    // Everything queued goes in one gathered write.
    while (!queue_.empty() && inFlight_.size() < 64) {
      inFlight_.push_back(std::move(queue_.front()));
      queue_.pop_front();
      buffers_.emplace_back(inFlight_.back()->data(), inFlight_.back()->size());
    }
    asio::async_write(socket_, buffers_, [self = shared_from_this()](error_code error, size_t) {
      self->writing_ = false;
      self->inFlight_.clear();  // release the frames now, not at the next write
      self->buffers_.clear();
      if (self->closed_) return;
      if (error) return self->fail(error, SocketOperation::Send);
      if (self->head_) return self->lingeringClose();
      self->writeFrames();
    });
  }

  // Every keepAliveInterval: a comment line when nothing else was sent, and the end of a client
  // that has not taken a write for writeTimeout.
  void keepAlive() {
    timer_.expires_after(limits().keepAliveInterval);
    timer_.async_wait([self = shared_from_this()](error_code error) {
      if (error || self->closed_) return;
      if (self->writing_ && Clock::now() - self->writeStarted_ > self->limits().writeTimeout) return self->close();
      static const auto kComment = std::make_shared<const std::string>(": keep-alive\n\n");
      if (!self->writing_ && self->queue_.empty()) self->send(kComment);
      self->keepAlive();
    });
  }

  // A stream client has nothing more to say; read and drop whatever it sends. Its EOF ends the
  // stream at once: EventSource and curl close both directions when they leave, and waiting for a
  // write to fail would hold the client's slot until the next keep-alive.
  void discardInput() {
    buffer_.clear();
    socket_.async_read_some(asio::buffer(discard_), [self = shared_from_this()](error_code error, size_t) {
      if (self->closed_) return;
      if (error) return self->fail(error, SocketOperation::Receive);
      self->discardInput();
    });
  }

  std::shared_ptr<HttpServer::Impl> server_;
  Socket socket_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::list<Session*>::iterator position_;
  Phase phase_ = Phase::ReadingHeader;
  Clock::time_point since_ = Clock::now();
  bool closed_ = false;
  bool countedAsStream_ = false;
  bool head_ = false;
  unsigned version_ = 11;
  std::array<char, 512> discard_{};  // per connection: 1,000 stream clients hold 1,000 of these
  // Event stream.
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::vector<std::shared_ptr<const std::string>> inFlight_;
  std::vector<asio::const_buffer> buffers_;
  bool writing_ = false;
  Clock::time_point writeStarted_;
};

void HttpServer::Impl::accept(Acceptor& acceptor) {
  acceptor.async_accept([self = shared_from_this(), &acceptor](error_code error, Socket socket) {
    if (self->stopped_) return;
    if (error == asio::error::operation_aborted) return;
    if (error) {
      self->countSocketError(SocketOperation::Accept);
      // Linux reserves the new descriptor before it looks at the backlog, so EMFILE comes even
      // when no connection waits: accept again only once one does (the listener is readable).
      if ((error == asio::error::no_descriptors || error.value() == ENFILE) &&
          self->refuseOutOfDescriptors(acceptor) != Refusal::Failed) {
        acceptor.async_wait(Acceptor::wait_read, [self, &acceptor](error_code waited) {
          if (!self->stopped_ && waited != asio::error::operation_aborted) self->accept(acceptor);
        });
        return;
      }
      // Out of memory, or no descriptor even for a refusal: try again shortly rather than spinning
      // (the connection waits in the backlog meanwhile).
      auto retry = std::make_shared<asio::steady_timer>(self->io_, std::chrono::milliseconds(100));
      retry->async_wait([self, retry, &acceptor](error_code) {
        if (!self->stopped_) self->accept(acceptor);
      });
      return;
    }
    self->onAccepted(std::move(socket));
    self->accept(acceptor);
  });
}

// Out of descriptors (EMFILE/ENFILE), the pending connection would sit in the backlog and make
// epoll report the listener readable again at once: a busy loop, and a client left hanging. The
// reserved descriptor is given up for a moment to accept it, answer 503 with Retry-After and close
// it; then it is taken back. Connections already open are not touched. False when that accept
// failed too (or nothing was reserved): the caller then waits before trying again.
HttpServer::Impl::Refusal HttpServer::Impl::refuseOutOfDescriptors(Acceptor& acceptor) {
  if (reserveFd_ < 0) reserveFd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (reserveFd_ < 0) return Refusal::Failed;
  ::close(reserveFd_);
  const int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  const int error = errno;
  Refusal outcome = Refusal::Refused;
  if (fd >= 0) {
    metrics_.countRejectedConnection(ConnectionRejection::Descriptors);
    metrics_.countHttpRequest("other", 503);
    if (!refuseAccepted(fd, "out of file descriptors\n")) countSocketError(SocketOperation::Send);
    ::close(fd);
  } else if (error == EAGAIN || error == EWOULDBLOCK) {
    outcome = Refusal::NothingPending;
  } else {
    countSocketError(SocketOperation::Accept);
    outcome = Refusal::Failed;
  }
  reserveFd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return outcome;
}

bool HttpServer::Impl::evictOne() {
  Session* oldest = nullptr;
  for (Session* session : sessions_) {
    if (session->evictable() && (!oldest || session->phaseSince() < oldest->phaseSince())) oldest = session;
  }
  if (!oldest) return false;
  oldest->close();
  metrics_.countRejectedConnection(ConnectionRejection::Evicted);
  return true;
}

void HttpServer::Impl::onAccepted(Socket socket) {
  if (open_ >= limits_.maxConnections && !evictOne()) {
    metrics_.countRejectedConnection(ConnectionRejection::Limit);
    metrics_.countHttpRequest("other", 503);
    if (!refuseAccepted(socket.native_handle(), "connection limit reached\n")) countSocketError(SocketOperation::Send);
    error_code ignored;
    socket.close(ignored);
    return;
  }
  const int family = socket.local_endpoint().data()->sa_family;
  if (family == AF_INET || family == AF_INET6) {
    error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);  // event frames are small and urgent
  }
  std::make_shared<Session>(shared_from_this(), std::move(socket))->start();
}

void HttpServer::Impl::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& acceptor : acceptors_) {
    error_code ignored;
    acceptor->close(ignored);
  }
  for (const SocketFile& file : socketFiles_) {
    // Another daemon may have replaced the file since (after we were gone from it): leave theirs.
    struct stat status{};
    if (::lstat(file.path.c_str(), &status) == 0 && status.st_dev == file.device && status.st_ino == file.inode)
      ::unlink(file.path.c_str());
  }
  // Closing ends the session's pending operations; it stays in the list until destroyed.
  const std::vector<Session*> sessions(sessions_.begin(), sessions_.end());
  for (Session* session : sessions) session->close();
}

HttpServer::HttpServer(asio::io_context& io, ServerLimits limits, std::vector<std::string> allowed_hosts,
                       RequestHandler handler, DaemonMetrics& metrics)
    : impl_(std::make_shared<Impl>(io, limits, std::move(allowed_hosts), std::move(handler), metrics)) {}

// stop() copies the session list (one allocation); a bad_alloc there ends the daemon, as any
// allocation failure in it does.
HttpServer::~HttpServer() {  // NOLINT(bugprone-exception-escape): see above
  impl_->stop();
  impl_->attached_ = false;
}

tl::expected<ListenAddress, std::string> HttpServer::listen(const ListenAddress& address) {
  const auto failure = [&](std::string_view what, const error_code& error) {
    return tl::unexpected(fmt::format("listen on {}: {}: {}", address.toString(), what, error.message()));
  };
  Protocol::endpoint endpoint;
  if (address.kind == ListenAddress::Kind::Unix) {
    // A socket file left by an earlier run would make bind fail, so it is removed — but only when
    // nobody accepts on it: a live daemon's socket is "in use", as a bound TCP port is.
    endpoint = Protocol::endpoint(asio::local::stream_protocol::endpoint(address.path));
    struct stat status{};
    if (::lstat(address.path.c_str(), &status) == 0 && S_ISSOCK(status.st_mode)) {
      Socket probe(impl_->io_);
      error_code connect_error;
      probe.open(endpoint.protocol(), connect_error);
      if (!connect_error) probe.connect(endpoint, connect_error);
      if (!connect_error) return failure("bind", asio::error::make_error_code(asio::error::address_in_use));
      if (connect_error == asio::error::connection_refused) ::unlink(address.path.c_str());
    }
  } else {
    endpoint = Protocol::endpoint(address.tcp);
  }
  auto acceptor = std::make_unique<Acceptor>(impl_->io_);
  error_code error;
  acceptor->open(endpoint.protocol(), error);
  if (error) return failure("socket", error);
  if (address.kind == ListenAddress::Kind::Tcp) {
    acceptor->set_option(asio::socket_base::reuse_address(true), error);
    // [::]:PORT and 0.0.0.0:PORT are two listeners, as the user wrote them.
    if (address.tcp.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true), error);
  }
  acceptor->bind(endpoint, error);
  if (error) return failure("bind", error);
  acceptor->listen(asio::socket_base::max_listen_connections, error);
  if (error) return failure("listen", error);
  ListenAddress bound = address;
  if (address.kind == ListenAddress::Kind::Tcp) {
    const Protocol::endpoint local = acceptor->local_endpoint(error);
    if (!error) std::memcpy(bound.tcp.data(), local.data(), std::min<size_t>(local.size(), sizeof(sockaddr_in6)));
  } else {
    struct stat status{};
    if (::lstat(address.path.c_str(), &status) == 0)
      impl_->socketFiles_.push_back({address.path, status.st_dev, status.st_ino});
  }
  impl_->acceptors_.push_back(std::move(acceptor));
  return bound;
}

tl::expected<std::string, std::string> HttpServer::adopt(int listening_fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(listening_fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0)
    return tl::unexpected(fmt::format("socket {} passed by systemd: getsockname: {}", listening_fd, std::generic_category().message(errno)));
  auto acceptor = std::make_unique<Acceptor>(impl_->io_);
  error_code error;
  acceptor->assign(Protocol(storage.ss_family, SOCK_STREAM), listening_fd, error);
  if (error) return tl::unexpected(fmt::format("socket {} passed by systemd: {}", listening_fd, error.message()));
  std::string description = describe(acceptor->local_endpoint(error));
  impl_->acceptors_.push_back(std::move(acceptor));
  return description;
}

void HttpServer::start() {
  for (auto& acceptor : impl_->acceptors_) impl_->accept(*acceptor);
}

void HttpServer::stop() { impl_->stop(); }

size_t HttpServer::openConnections() const { return impl_->open_; }
size_t HttpServer::openStreams() const { return impl_->streams_; }

}  // namespace netmon::serve
