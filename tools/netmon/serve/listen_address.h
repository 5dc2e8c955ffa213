#pragma once
// Where the daemon listens, and which Host headers it answers.
//
// `--listen` takes ADDR:PORT with a literal address (127.0.0.1:10933, [::1]:10933, 0.0.0.0:10933)
// or unix:/PATH. Names are not resolved: a daemon must not bind somewhere a resolver decided.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <tl/expected.hpp>

namespace netmon::serve {

// Port 10933: 9100–9999, the range Prometheus exporters use, is full (see Prometheus' "default
// port allocations" page), and 10933 is neither in IANA's registry nor in /etc/services.
inline constexpr uint16_t kDefaultPort = 10933;

struct ListenAddress {
  enum class Kind { Tcp, Unix };
  Kind kind = Kind::Tcp;
  boost::asio::ip::tcp::endpoint tcp;  // Kind::Tcp
  std::string path;                    // Kind::Unix

  // "127.0.0.1:10933", "[::1]:10933", "unix:/run/netmon.sock": what --listen accepts.
  std::string toString() const;
  // Reachable from this host only: a loopback address or a Unix socket.
  bool isLocalOnly() const;
};

// The default --listen: 127.0.0.1:kDefaultPort.
ListenAddress defaultListenAddress();

// Parses a --listen argument. Errors say what is wrong ("missing port in '...'").
tl::expected<ListenAddress, std::string> parseListenAddress(std::string_view text);

// DNS-rebinding guard (CVE-2018-5702): a browser tricked into sending a request here sends the
// attacker's host name in Host. Allowed: a loopback name (localhost, *.localhost, localhost.,
// ip6-localhost), a literal IPv4 or bracketed IPv6 address, or a name in `allowed` (compared
// case-insensitively, without the port). An empty Host is refused.
bool isAllowedHost(std::string_view host_header, const std::vector<std::string>& allowed);

}  // namespace netmon::serve
