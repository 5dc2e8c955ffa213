#include "support/http_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace netmon::test {

namespace {

bool sendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t sent = ::send(fd, data, size, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    data += sent;
    size -= size_t(sent);
  }
  return true;
}

}  // namespace

HttpTestServer::HttpTestServer(const std::string& namespace_path, const std::string& address, Mode mode)
    : address_(address), mode_(mode) {
  // A socket belongs to the namespace of the thread that made it; only this thread enters it.
  std::thread opener([&] {
    const int ns = ::open(namespace_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) return;
    const bool entered = setns(ns, CLONE_NEWNET) == 0;
    ::close(ns);
    if (!entered) return;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, address.c_str(), &sin.sin_addr);
    socklen_t length = sizeof sin;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) < 0 || ::listen(fd, 8) < 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &length) < 0) {
      ::close(fd);
      return;
    }
    port_ = ntohs(sin.sin_port);
    listen_fd_ = fd;
  });
  opener.join();
  if (listen_fd_ < 0) return;
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { serve(); });
}

HttpTestServer::~HttpTestServer() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

std::string HttpTestServer::url(const std::string& path) const {
  return fmt::format("http://{}:{}{}", address_, port_, path);
}

void HttpTestServer::serve() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    answer(fd);
  }
  for (int fd : held_) ::close(fd);
}

void HttpTestServer::answer(int fd) {
  // The request head, bounded; the probe sends no body.
  std::string request;
  char buffer[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, 5000) <= 0 || fds[1].revents) break;
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) break;
    request.append(buffer, size_t(got));
  }
  ++requests_;
  std::string head;
  switch (mode_) {
    case Mode::NoContent:
      head = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      break;
    case Mode::Body:
      head = fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                         body.size(), body);
      break;
    case Mode::Redirect:
      head = fmt::format("HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", location);
      break;
    case Mode::LoginPage: {
      const std::string page = "<html><body><form action=\"/login\">Log in to continue</form></body></html>\n";
      head = fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                         page.size(), page);
      break;
    }
    case Mode::Hang:
      held_.push_back(fd);
      return;
    case Mode::HugeBody: {
      constexpr uint64_t kSize = uint64_t{100} << 20;
      head = fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                         kSize);
      if (!sendAll(fd, head.data(), head.size())) break;
      const std::string chunk(64 * 1024, 'x');
      for (uint64_t sent = 0; sent < kSize; sent += chunk.size()) {
        pollfd fds[2] = {{fd, POLLOUT, 0}, {stop_fd_, POLLIN, 0}};
        // The client stops reading at its limit and closes: send then fails, or stalls until this
        // bound.
        if (::poll(fds, 2, 5000) <= 0 || fds[1].revents || !(fds[0].revents & POLLOUT)) break;
        if (!sendAll(fd, chunk.data(), chunk.size())) break;
        bytes_sent_ += chunk.size();
      }
      ::close(fd);
      return;
    }
  }
  sendAll(fd, head.data(), head.size());
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

}  // namespace netmon::test
