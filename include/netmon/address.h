#pragma once
// IP addresses and prefixes, family-tagged and value-typed.
// Thread safety: plain values; const methods may be called concurrently.
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "netmon/export.h"

namespace netmon {

enum class Family : uint8_t { Unspecified = 0, Ipv4 = 4, Ipv6 = 6 };

// An IPv4 or IPv6 address in network byte order. A default-constructed address is
// Family::Unspecified ("none"), which is how optional addresses (a route without gateway) are spelt.
class NETMON_EXPORT IpAddress {
 public:
  IpAddress() = default;
  static IpAddress v4(const uint8_t bytes[4]);
  static IpAddress v4(uint32_t host_order);
  static IpAddress v6(const uint8_t bytes[16]);
  // Parses "192.0.2.1" or "2001:db8::1". No scope ids, no ports.
  static std::optional<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool isSpecified() const { return family_ != Family::Unspecified; }
  // 4 or 16 (0 when unspecified).
  size_t size() const { return family_ == Family::Ipv4 ? 4 : family_ == Family::Ipv6 ? 16 : 0; }
  const uint8_t* data() const { return bytes_.data(); }
  // Host-order value of an IPv4 address (0 for other families).
  uint32_t v4HostOrder() const;

  bool isLinkLocal() const;  // 169.254.0.0/16, fe80::/10
  bool isLoopback() const;   // 127.0.0.0/8, ::1
  // "192.0.2.1", "2001:db8::1", or "" when unspecified.
  std::string toString() const;

  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::Unspecified;
  std::array<uint8_t, 16> bytes_{};
};

// An address and a prefix length: a route destination or an address with its subnet.
struct NETMON_EXPORT IpPrefix {
  IpAddress address;
  uint8_t length = 0;

  static std::optional<IpPrefix> parse(std::string_view text);  // "192.0.2.0/24"
  // "192.0.2.0/24"; a default route prints as "default" only through Route helpers, never here.
  std::string toString() const;
  friend auto operator<=>(const IpPrefix&, const IpPrefix&) = default;
};

}  // namespace netmon
