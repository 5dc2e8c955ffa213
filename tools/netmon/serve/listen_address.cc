#include "serve/listen_address.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <boost/asio/ip/address.hpp>
#include <fmt/format.h>

namespace netmon::serve {
namespace {

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The host part of a Host header: "[::1]:80" → "[::1]", "example.org:80" → "example.org".
std::string_view withoutPort(std::string_view host) {
  if (host.starts_with('[')) {
    const size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool isLiteralAddress(std::string_view host) {
  boost::system::error_code error;
  if (host.starts_with('[') && host.ends_with(']')) {
    boost::asio::ip::make_address_v6(std::string(host.substr(1, host.size() - 2)), error);
    return !error;
  }
  boost::asio::ip::make_address_v4(std::string(host), error);
  return !error;
}

}  // namespace

std::string ListenAddress::toString() const {
  if (kind == Kind::Unix) return "unix:" + path;
  const auto address = tcp.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), tcp.port())
                         : fmt::format("{}:{}", address.to_string(), tcp.port());
}

bool ListenAddress::isLocalOnly() const { return kind == Kind::Unix || tcp.address().is_loopback(); }

ListenAddress defaultListenAddress() {
  ListenAddress address;
  address.tcp = {boost::asio::ip::address_v4::loopback(), kDefaultPort};
  return address;
}

tl::expected<ListenAddress, std::string> parseListenAddress(std::string_view text) {
  ListenAddress out;
  if (text.starts_with("unix:")) {
    out.kind = ListenAddress::Kind::Unix;
    out.path = std::string(text.substr(5));
    if (out.path.empty() || out.path.front() != '/')
      return tl::unexpected(fmt::format("'{}': a Unix socket needs an absolute path (unix:/run/netmon.sock)", text));
    if (out.path.size() >= 108)  // sizeof(sockaddr_un::sun_path)
      return tl::unexpected(fmt::format("'{}': the socket path is longer than 107 bytes", text));
    return out;
  }
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return tl::unexpected(fmt::format("'{}': expected [IPV6]:PORT", text));
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return tl::unexpected(fmt::format("missing port in '{}' (expected ADDR:PORT, [IPV6]:PORT or unix:/PATH)", text));
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return tl::unexpected(fmt::format("'{}': put an IPv6 address in brackets, [IPV6]:PORT", text));
  }
  unsigned value = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || value > 65535)
    return tl::unexpected(fmt::format("'{}': the port must be a number from 0 to 65535", text));
  boost::system::error_code parse_error;
  const auto address = boost::asio::ip::make_address(std::string(host), parse_error);
  if (parse_error)
    return tl::unexpected(fmt::format("'{}': '{}' is not a literal IP address (names are not resolved)", text, host));
  out.tcp = {address, static_cast<uint16_t>(value)};
  return out;
}

bool isAllowedHost(std::string_view host_header, const std::vector<std::string>& allowed) {
  const std::string host = lowercase(withoutPort(host_header));
  if (host.empty()) return false;
  if (host == "localhost" || host == "localhost." || host == "ip6-localhost" || host.ends_with(".localhost") ||
      host.ends_with(".localhost."))
    return true;
  if (isLiteralAddress(host)) return true;
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const std::string& name) { return lowercase(withoutPort(name)) == host; });
}

}  // namespace netmon::serve
