#pragma once
// Test-only: a tiny HTTP/1.1 server of the tests' own that plays one connectivity-check case, in a
// network namespace the test created (the listening socket is opened by a short-lived thread that
// entered that namespace; the serving thread then needs no namespace of its own). One connection
// at a time, as the probe makes them. Plain sockets: no dependency, every byte under the test's
// control.
//
// Thread safety: construct, query and destroy from the test's thread; the server runs its own.
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace netmon::test {

class HttpTestServer {
 public:
  enum class Mode {
    NoContent,   // 204, empty
    Body,        // 200 with `body`
    Redirect,    // 302 to `location`
    LoginPage,   // 200 with an HTML login page
    Hang,        // reads the request, never answers (the connection stays open)
    HugeBody,    // 200 announcing 100 MiB and sending until the client stops reading
  };

  // Listens on `address`:0 inside namespace `namespace_path` (e.g. /run/netns/NAME).
  HttpTestServer(const std::string& namespace_path, const std::string& address, Mode mode);
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  bool valid() const { return listen_fd_ >= 0; }
  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/nm") const;

  std::string body = "NetworkManager is online\n";
  std::string location = "http://198.51.100.1/login";

  size_t requests() const { return requests_.load(); }
  uint64_t bytesSent() const { return bytes_sent_.load(); }  // body bytes, HugeBody

 private:
  void serve();
  void answer(int fd);

  std::string address_;
  Mode mode_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> held_;  // Hang: connections kept open until the end (serving thread only)
  std::atomic<size_t> requests_{0};
  std::atomic<uint64_t> bytes_sent_{0};
  std::thread thread_;
};

}  // namespace netmon::test
