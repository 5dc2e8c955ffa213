#include "support/netlink_builder.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

namespace netmon::test {

namespace {

struct ParsedAddress {
  uint16_t family = AF_UNSPEC;
  uint8_t bytes[16] = {};
  size_t size = 0;
};

ParsedAddress parseAddress(std::string_view text) {
  ParsedAddress a;
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), a.bytes) == 1) {
    a.family = AF_INET;
    a.size = 4;
  } else if (inet_pton(AF_INET6, s.c_str(), a.bytes) == 1) {
    a.family = AF_INET6;
    a.size = 16;
  } else {
    ADD_FAILURE() << "netlink_builder: not an IP address: " << s;
  }
  return a;
}

}  // namespace

Message::Message(uint16_t type, uint16_t flags, uint32_t seq, uint32_t portid)
    : buffer_(kCapacity, 0) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buffer_.data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = seq;
  nlh->nlmsg_pid = portid;
}

Message Message::link(uint16_t type, const LinkHeader& h, uint16_t flags, uint32_t seq) {
  ifinfomsg ifi{};
  ifi.ifi_family = h.family;
  ifi.ifi_type = h.type;
  ifi.ifi_index = h.index;
  ifi.ifi_flags = h.flags;
  ifi.ifi_change = h.change;
  Message m(type, flags, seq);
  m.fixedHeader(&ifi, sizeof ifi);
  return m;
}

Message Message::addr(uint16_t type, const AddressHeader& h, uint16_t flags, uint32_t seq) {
  ifaddrmsg ifa{};
  ifa.ifa_family = h.family;
  ifa.ifa_prefixlen = h.prefixLength;
  ifa.ifa_flags = h.flags;
  ifa.ifa_scope = h.scope;
  ifa.ifa_index = h.index;
  Message m(type, flags, seq);
  m.fixedHeader(&ifa, sizeof ifa);
  return m;
}

Message Message::route(uint16_t type, const RouteHeader& h, uint16_t flags, uint32_t seq) {
  rtmsg rtm{};
  rtm.rtm_family = h.family;
  rtm.rtm_dst_len = h.dstLength;
  rtm.rtm_src_len = h.srcLength;
  rtm.rtm_tos = h.tos;
  rtm.rtm_table = h.table;
  rtm.rtm_protocol = h.protocol;
  rtm.rtm_scope = h.scope;
  rtm.rtm_type = h.type;
  rtm.rtm_flags = h.flags;
  Message m(type, flags, seq);
  m.fixedHeader(&rtm, sizeof rtm);
  return m;
}

Message Message::rule(uint16_t type, const RuleHeader& h, uint16_t flags, uint32_t seq) {
  fib_rule_hdr frh{};
  frh.family = h.family;
  frh.dst_len = h.dstLength;
  frh.src_len = h.srcLength;
  frh.tos = h.tos;
  frh.table = h.table;
  frh.action = h.action;
  frh.flags = h.flags;
  Message m(type, flags, seq);
  m.fixedHeader(&frh, sizeof frh);
  return m;
}

Message Message::done(uint32_t seq, int status, bool withStatus) {
  Message m(NLMSG_DONE, NLM_F_MULTI, seq);
  if (withStatus) m.fixedHeader(&status, sizeof status);
  return m;
}

Message Message::error(uint32_t seq, int error) {
  Message m(NLMSG_ERROR, 0, seq);
  nlmsgerr e{};
  e.error = error;
  e.msg.nlmsg_len = sizeof(nlmsghdr);
  e.msg.nlmsg_seq = seq;
  m.fixedHeader(&e, sizeof e);
  return m;
}

nlmsghdr* Message::header() { return reinterpret_cast<nlmsghdr*>(buffer_.data()); }

size_t Message::builtLength() const {
  uint32_t len;
  std::memcpy(&len, buffer_.data(), sizeof len);
  return len;
}

bool Message::room(size_t len) {
  if (builtLength() + MNL_ALIGN(len) + MNL_ATTR_HDRLEN <= kCapacity) return true;
  ADD_FAILURE() << "netlink_builder: message exceeds " << kCapacity << " bytes";
  return false;
}

Message& Message::fixedHeader(const void* data, size_t len) {
  if (!room(len)) return *this;
  void* p = mnl_nlmsg_put_extra_header(header(), len);
  std::memcpy(p, data, len);
  return *this;
}

Message& Message::raw(uint16_t type, const void* data, size_t len) {
  const size_t offset = builtLength();
  if (!mnl_attr_put_check(header(), kCapacity, type, len, data)) {
    ADD_FAILURE() << "netlink_builder: attribute " << type << " does not fit";
    return *this;
  }
  last_attribute_ = offset;
  return *this;
}

Message& Message::u8(uint16_t type, uint8_t value) { return raw(type, &value, sizeof value); }
Message& Message::u16(uint16_t type, uint16_t value) { return raw(type, &value, sizeof value); }
Message& Message::u32(uint16_t type, uint32_t value) { return raw(type, &value, sizeof value); }

Message& Message::string(uint16_t type, std::string_view value) {
  std::string s(value);
  return raw(type, s.c_str(), s.size() + 1);
}

Message& Message::unterminated(uint16_t type, std::string_view value) {
  return raw(type, value.data(), value.size());
}

Message& Message::address(uint16_t type, std::string_view text) {
  const ParsedAddress a = parseAddress(text);
  return raw(type, a.bytes, a.size);
}

Message& Message::via(uint16_t type, std::string_view text) {
  const ParsedAddress a = parseAddress(text);
  uint8_t payload[sizeof(__kernel_sa_family_t) + 16];
  const __kernel_sa_family_t family = a.family;
  std::memcpy(payload, &family, sizeof family);
  std::memcpy(payload + sizeof family, a.bytes, a.size);
  return raw(type, payload, sizeof family + a.size);
}

Message& Message::beginNest(uint16_t type) {
  const size_t offset = builtLength();
  if (mnl_attr_nest_start_check(header(), kCapacity, type) == nullptr) {
    ADD_FAILURE() << "netlink_builder: nest " << type << " does not fit";
    return *this;
  }
  nests_.push_back(offset);
  last_attribute_ = offset;
  return *this;
}

Message& Message::endNest() {
  if (nests_.empty()) {
    ADD_FAILURE() << "netlink_builder: endNest() without beginNest()";
    return *this;
  }
  mnl_attr_nest_end(header(), reinterpret_cast<nlattr*>(buffer_.data() + nests_.back()));
  last_attribute_ = nests_.back();
  nests_.pop_back();
  return *this;
}

Message& Message::multipath(std::initializer_list<NextHopSpec> hops) {
  beginNest(RTA_MULTIPATH);
  const size_t nest = last_attribute_;
  for (const NextHopSpec& hop : hops) {
    if (!room(sizeof(rtnexthop))) break;
    const size_t offset = builtLength();
    mnl_nlmsg_put_extra_header(header(), sizeof(rtnexthop));
    if (!hop.gateway.empty()) {
      if (hop.gatewayAsVia) {
        via(RTA_VIA, hop.gateway);
      } else {
        address(RTA_GATEWAY, hop.gateway);
      }
    }
    rtnexthop nh{};
    nh.rtnh_len = static_cast<unsigned short>(builtLength() - offset);
    nh.rtnh_flags = hop.flags;
    nh.rtnh_hops = hop.hops;
    nh.rtnh_ifindex = hop.ifindex;
    std::memcpy(buffer_.data() + offset, &nh, sizeof nh);
    next_hops_.push_back(offset);
  }
  endNest();
  last_attribute_ = nest;
  return *this;
}

Message& Message::setLength(uint32_t nlmsg_len) {
  return patch(offsetof(nlmsghdr, nlmsg_len), &nlmsg_len, sizeof nlmsg_len);
}

Message& Message::setAttributeLength(size_t attributeOffset, uint16_t nla_len) {
  return patch(attributeOffset + offsetof(nlattr, nla_len), &nla_len, sizeof nla_len);
}

Message& Message::setNextHopLength(size_t i, uint16_t rtnh_len) {
  return patch(nextHopOffset(i) + offsetof(rtnexthop, rtnh_len), &rtnh_len, sizeof rtnh_len);
}

Message& Message::patch(size_t offset, const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  patches_.push_back({offset, std::vector<uint8_t>(p, p + len)});
  return *this;
}

Message& Message::truncate(size_t len) {
  truncate_ = len;
  return *this;
}

Message& Message::addFlags(uint16_t flags) {
  header()->nlmsg_flags |= flags;
  return *this;
}

std::vector<uint8_t> Message::bytes() const {
  std::vector<uint8_t> out(buffer_.begin(), buffer_.begin() + MNL_ALIGN(builtLength()));
  for (const Patch& p : patches_) {
    if (p.offset + p.data.size() > out.size()) {
      ADD_FAILURE() << "netlink_builder: patch at " << p.offset << " is outside the message";
      continue;
    }
    std::copy(p.data.begin(), p.data.end(), out.begin() + static_cast<ptrdiff_t>(p.offset));
  }
  if (truncate_ < out.size()) out.resize(truncate_);
  return out;
}

Datagram& Datagram::add(const Message& message) {
  const std::vector<uint8_t> b = message.bytes();
  return addBytes(b);
}

Datagram& Datagram::addBytes(std::span<const uint8_t> bytes) {
  bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  return *this;
}

Datagram& Datagram::truncate(size_t len) {
  if (len < bytes_.size()) bytes_.resize(len);
  return *this;
}

std::vector<std::vector<uint8_t>> readRtmonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot open " << path;
    return {};
  }
  const std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  std::vector<std::vector<uint8_t>> messages;
  size_t offset = 0;
  while (offset < file.size()) {
    nlmsghdr h;
    if (file.size() - offset < sizeof h) {
      ADD_FAILURE() << path << ": truncated header at offset " << offset;
      return {};
    }
    std::memcpy(&h, file.data() + offset, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > file.size() - offset) {
      ADD_FAILURE() << path << ": bad nlmsg_len " << h.nlmsg_len << " at offset " << offset;
      return {};
    }
    if (h.nlmsg_type != kNlmsgTstamp) {
      messages.emplace_back(file.begin() + static_cast<ptrdiff_t>(offset),
                            file.begin() + static_cast<ptrdiff_t>(offset + h.nlmsg_len));
    }
    offset += NLMSG_ALIGN(h.nlmsg_len);
  }
  return messages;
}

}  // namespace netmon::test
