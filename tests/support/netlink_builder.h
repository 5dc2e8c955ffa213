#pragma once
// Test-only construction of rtnetlink messages and datagrams, well formed or deliberately broken.
//
// A Message is built with libmnl exactly as a kernel or iproute2 would lay it out: the nlmsghdr,
// a fixed header (ifinfomsg, ifaddrmsg, rtmsg, fib_rule_hdr, ...), then attributes padded to 4
// bytes. Corruptions (wrong nlmsg_len, an attribute length past the end, truncation) are recorded
// separately and applied only when bytes() is called, so they can be requested in any order and
// never confuse libmnl while the message is still being built.
//
//   using namespace netmon::test;
//   Message link = Message::link(RTM_NEWLINK, {.index = 2, .flags = IFF_UP})
//                      .string(IFLA_IFNAME, "veth0")
//                      .u32(IFLA_MTU, 1500);
//   Message route = Message::route(RTM_NEWROUTE, {.family = AF_INET, .dstLength = 0})
//                       .address(RTA_GATEWAY, "192.0.2.1")
//                       .u32(RTA_OIF, 2);
//   std::vector<uint8_t> bytes = Datagram().add(link).add(route).add(Message::done(1)).bytes();
//
// Hostile variants:
//   Message::link(...).u16(IFLA_MTU, 1500)              // known attribute, wrong payload size
//   Message::link(...).u32(999, 1)                       // unknown attribute type
//   Message(0x7777)                                      // unknown message type
//   msg.setLength(4096)                                  // nlmsg_len past the end of the datagram
//   msg.setAttributeLength(msg.lastAttribute(), 200)     // nla_len past the end of the message
//   msg.truncate(10)                                     // only the first 10 bytes are emitted
//   Message(RTM_NEWLINK, NLM_F_MULTI | NLM_F_DUMP_INTR)  // interrupted dump
//   Message::route(...).multipath({...}) then setNextHopLength(0, 3)  // bad rtnh_len
//
// Thread safety: plain values. Errors: a message larger than kCapacity is a test bug and fails the
// current test (ADD_FAILURE) while the attribute is dropped.
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace netmon::test {

// Fixed headers with readable names and defaults, so tests can name only what they vary:
// Message::route(RTM_NEWROUTE, {.family = AF_INET6, .dstLength = 64}). Field order follows the
// kernel structs (designated initializers must keep it).
struct LinkHeader {  // struct ifinfomsg
  uint8_t family = AF_UNSPEC;
  uint16_t type = ARPHRD_ETHER;
  int index = 0;
  uint32_t flags = 0;  // IFF_*
  uint32_t change = 0;
};
struct AddressHeader {  // struct ifaddrmsg
  uint8_t family = AF_INET;
  uint8_t prefixLength = 0;
  uint8_t flags = 0;  // IFA_F_* (low 8 bits)
  uint8_t scope = RT_SCOPE_UNIVERSE;
  uint32_t index = 0;
};
struct RouteHeader {  // struct rtmsg
  uint8_t family = AF_INET;
  uint8_t dstLength = 0;
  uint8_t srcLength = 0;
  uint8_t tos = 0;
  uint8_t table = RT_TABLE_MAIN;
  uint8_t protocol = RTPROT_STATIC;
  uint8_t scope = RT_SCOPE_UNIVERSE;
  uint8_t type = RTN_UNICAST;
  uint32_t flags = 0;
};
struct RuleHeader {  // struct fib_rule_hdr
  uint8_t family = AF_INET;
  uint8_t dstLength = 0;
  uint8_t srcLength = 0;
  uint8_t tos = 0;
  uint8_t table = 0;
  uint8_t action = FR_ACT_TO_TBL;
  uint32_t flags = 0;  // FIB_RULE_*
};

// One next hop of an RTA_MULTIPATH attribute.
struct NextHopSpec {
  int ifindex = 0;
  uint8_t hops = 0;           // rtnh_hops: weight - 1
  uint8_t flags = 0;          // RTNH_F_*
  std::string gateway{};      // "" for none; otherwise "192.0.2.1" / "2001:db8::1"
  bool gatewayAsVia = false;  // put it in RTA_VIA (struct rtvia) instead of RTA_GATEWAY
};

class Message {
 public:
  static constexpr size_t kCapacity = 16 * 1024;

  // A bare message: header only. Add a fixed header with fixedHeader() or use a factory below.
  explicit Message(uint16_t type, uint16_t flags = 0, uint32_t seq = 0, uint32_t portid = 0);

  // RTM_NEWLINK/DELLINK, RTM_NEWADDR/DELADDR, RTM_NEWROUTE/DELROUTE, RTM_NEWRULE/DELRULE with
  // their fixed header; add attributes by chaining.
  static Message link(uint16_t type, const LinkHeader& h, uint16_t flags = 0, uint32_t seq = 0);
  static Message addr(uint16_t type, const AddressHeader& h, uint16_t flags = 0, uint32_t seq = 0);
  static Message route(uint16_t type, const RouteHeader& h, uint16_t flags = 0, uint32_t seq = 0);
  static Message rule(uint16_t type, const RuleHeader& h, uint16_t flags = 0, uint32_t seq = 0);
  // NLMSG_DONE carrying the dump status int (0 = complete, negative errno = dump failed), as the
  // kernel sends it; withStatus = false makes a DONE without payload (older kernels).
  static Message done(uint32_t seq, int status = 0, bool withStatus = true);
  // NLMSG_ERROR with struct nlmsgerr; `error` is as the kernel sends it: 0 (ACK) or -errno.
  static Message error(uint32_t seq, int error);

  // Appends raw bytes after the header (the fixed header, or any payload). Must come before
  // attributes.
  Message& fixedHeader(const void* data, size_t len);

  // Attributes. raw() puts any payload size (for wrong-size cases).
  Message& raw(uint16_t type, const void* data, size_t len);
  Message& u8(uint16_t type, uint8_t value);
  Message& u16(uint16_t type, uint16_t value);
  Message& u32(uint16_t type, uint32_t value);
  Message& string(uint16_t type, std::string_view value);        // with its NUL (nla_put_string)
  Message& unterminated(uint16_t type, std::string_view value);  // without a NUL
  // An IPv4 or IPv6 address in text form; the family follows the text.
  Message& address(uint16_t type, std::string_view text);
  // struct rtvia { family; address } for RTA_VIA.
  Message& via(uint16_t type, std::string_view text);
  Message& beginNest(uint16_t type);
  Message& endNest();
  // RTA_MULTIPATH with the given next hops (struct rtnexthop + nested RTA_GATEWAY/RTA_VIA).
  Message& multipath(std::initializer_list<NextHopSpec> hops);

  // Offset (from the start of the message) of the attribute added last, and of next hop i.
  size_t lastAttribute() const { return last_attribute_; }
  size_t nextHopOffset(size_t i) const { return next_hops_.at(i); }

  // Corruptions, applied by bytes().
  Message& setLength(uint32_t nlmsg_len);  // header's nlmsg_len
  Message& setAttributeLength(size_t attributeOffset, uint16_t nla_len);
  Message& setNextHopLength(size_t i, uint16_t rtnh_len);
  Message& patch(size_t offset, const void* data, size_t len);  // any bytes at any offset
  Message& truncate(size_t len);                                // emit only the first len bytes
  Message& addFlags(uint16_t flags);

  // The message as a datagram would carry it: padded to NLMSG_ALIGN unless truncated.
  std::vector<uint8_t> bytes() const;
  // Length libmnl built, before any corruption.
  size_t builtLength() const;

 private:
  nlmsghdr* header();
  bool room(size_t len);

  std::vector<uint8_t> buffer_;  // kCapacity bytes; malloc's alignment suits nlmsghdr
  std::vector<size_t> nests_;
  std::vector<size_t> next_hops_;
  size_t last_attribute_ = 0;
  struct Patch {
    size_t offset;
    std::vector<uint8_t> data;
  };
  std::vector<Patch> patches_;
  size_t truncate_ = SIZE_MAX;
};

// Messages concatenated as one recvmsg() datagram.
class Datagram {
 public:
  Datagram& add(const Message& message);
  Datagram& addBytes(std::span<const uint8_t> bytes);
  Datagram& truncate(size_t len);
  // The bytes in an aligned buffer (parseDatagram copies unaligned input).
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

// Reads a file written by iproute2's `rtmon file F` (what `ip monitor file F` replays):
// concatenated netlink messages, each padded to NLMSG_ALIGN, with NLMSG_TSTAMP (15) timestamp
// records between them. Returns the messages without the timestamps, one message per element, or
// an empty vector after ADD_FAILURE when the file is missing or a length is inconsistent.
std::vector<std::vector<uint8_t>> readRtmonFile(const std::string& path);

// rtmon's timestamp record type (iproute2 include/libnetlink.h); not a kernel message type.
inline constexpr uint16_t kNlmsgTstamp = 15;

}  // namespace netmon::test
