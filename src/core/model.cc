// Value types of the public model: addresses, prefixes, links, errors.
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if.h>
#include <linux/if_addr.h>

#include <cstdio>
#include <cstring>

#include "netmon/address.h"
#include "netmon/model.h"
#include "netmon/result.h"

namespace netmon {

std::string Error::message() const {
  std::string text = operation + ": " + code.message();
  if (!detail.empty()) text += " (" + detail + ")";
  return text;
}

Error Error::fromErrno(int errno_value, std::string operation, std::string detail) {
  return Error{std::error_code(errno_value, std::generic_category()), std::move(operation), std::move(detail)};
}

IpAddress IpAddress::v4(const uint8_t bytes[4]) {
  IpAddress a;
  a.family_ = Family::Ipv4;
  std::memcpy(a.bytes_.data(), bytes, 4);
  return a;
}

IpAddress IpAddress::v4(uint32_t host_order) {
  const uint8_t bytes[4] = {uint8_t(host_order >> 24), uint8_t(host_order >> 16), uint8_t(host_order >> 8),
                            uint8_t(host_order)};
  return v4(bytes);
}

IpAddress IpAddress::v6(const uint8_t bytes[16]) {
  IpAddress a;
  a.family_ = Family::Ipv6;
  std::memcpy(a.bytes_.data(), bytes, 16);
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  char buffer[INET6_ADDRSTRLEN + 1] = {};
  std::memcpy(buffer, text.data(), text.size());
  uint8_t bytes[16];
  if (inet_pton(AF_INET, buffer, bytes) == 1) return v4(bytes);
  if (inet_pton(AF_INET6, buffer, bytes) == 1) return v6(bytes);
  return std::nullopt;
}

uint32_t IpAddress::v4HostOrder() const {
  if (family_ != Family::Ipv4) return 0;
  return uint32_t(bytes_[0]) << 24 | uint32_t(bytes_[1]) << 16 | uint32_t(bytes_[2]) << 8 | bytes_[3];
}

bool IpAddress::isLinkLocal() const {
  if (family_ == Family::Ipv4) return bytes_[0] == 169 && bytes_[1] == 254;
  if (family_ == Family::Ipv6) return bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80;
  return false;
}

bool IpAddress::isLoopback() const {
  if (family_ == Family::Ipv4) return bytes_[0] == 127;
  if (family_ == Family::Ipv6) {
    static constexpr uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::memcmp(bytes_.data(), kLoopback, 16) == 0;
  }
  return false;
}

std::string IpAddress::toString() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  if (family_ == Family::Ipv4) inet_ntop(AF_INET, bytes_.data(), buffer, sizeof buffer);
  else if (family_ == Family::Ipv6) inet_ntop(AF_INET6, bytes_.data(), buffer, sizeof buffer);
  return buffer;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const unsigned max_length = address->family() == Family::Ipv4 ? 32 : 128;
  unsigned length = max_length;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    length = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      length = length * 10 + unsigned(c - '0');
    }
    if (length > max_length) return std::nullopt;
  }
  return IpPrefix{*address, uint8_t(length)};
}

std::string IpPrefix::toString() const { return address.toString() + "/" + std::to_string(length); }

std::string HardwareAddress::toString() const {
  std::string text;
  char part[4];
  for (size_t i = 0; i < length && i < bytes.size(); ++i) {
    std::snprintf(part, sizeof part, i ? ":%02x" : "%02x", bytes[i]);
    text += part;
  }
  return text;
}

bool Link::isUp() const { return flags & IFF_UP; }
bool Link::hasCarrier() const { return flags & IFF_LOWER_UP; }
bool Link::isLoopback() const { return flags & IFF_LOOPBACK; }

bool Address::isTentative() const { return flags & IFA_F_TENTATIVE; }
bool Address::isDeprecated() const { return flags & IFA_F_DEPRECATED; }
bool Address::isDadFailed() const { return flags & IFA_F_DADFAILED; }

}  // namespace netmon
