#include "rtnl/parse.h"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

// Every length below is checked by this file before libmnl sees a pointer: libmnl's accessors
// trust the lengths they are given (mnl_attr_ok is the only check it makes, and the
// mnl_attr_for_each walk stops silently where this parser must count a malformed message).
//
// libmnl dereferences `struct nlattr *` directly, so the walk needs 4-byte-aligned input. Netlink
// pads every message and attribute to 4 bytes, so an aligned datagram keeps every header aligned;
// a datagram handed over at an odd address is copied once into an aligned buffer (the socket path
// never does this: its receive buffer is aligned).
//
// Wrong-size attributes. An attribute that only describes the record (IFLA_MTU, RTA_GATEWAY,
// IFA_LABEL, ...) is dropped and the record kept. An attribute that is part of the record's
// identity — the key the mirror files it under (RTA_DST, RTA_TABLE, RTA_PRIORITY; IFA_LOCAL,
// IFA_ADDRESS; FRA_SRC, FRA_DST, FRA_TABLE, FRA_PRIORITY) — makes the whole message malformed:
// a record with a silently defaulted key would add a phantom entry, or miss the one a delete meant.

namespace netmon::rtnl {

ParseStats& ParseStats::operator+=(const ParseStats& o) {
  messages += o.messages;
  malformed += o.malformed;
  unknown += o.unknown;
  skippedFamily += o.skippedFamily;
  dumpInterrupted = dumpInterrupted || o.dumpInterrupted;
  return *this;
}

namespace {

// A checked byte range: the only way the parser reads memory.
struct Bytes {
  const uint8_t* data = nullptr;
  size_t size = 0;

  Bytes sub(size_t offset, size_t length) const { return {data + offset, length}; }
  template <typename T>
  T read(size_t offset = 0) const {
    T value;
    std::memcpy(&value, data + offset, sizeof(T));
    return value;
  }
};

// Attributes of one level, indexed by type; the last of duplicates wins, as with the kernel's
// nla_parse().
template <size_t N>
using AttrTable = std::array<const nlattr*, N>;

// libmnl's mnl_attr_get_payload/_payload_len/_type/_len and mnl_attr_ok, written out so that they
// inline: called several times per attribute, six attributes per route, they were 15% of the
// user-space instructions of a 300k-route initial dump as calls into libmnl.so.
Bytes payloadOf(const nlattr* attr) {
  return {reinterpret_cast<const uint8_t*>(attr) + MNL_ATTR_HDRLEN, size_t(attr->nla_len - MNL_ATTR_HDRLEN)};
}
bool attributeFits(const nlattr* attr, size_t remaining) {  // mnl_attr_ok
  return remaining >= sizeof(nlattr) && attr->nla_len >= sizeof(nlattr) && attr->nla_len <= remaining;
}
uint16_t attributeType(const nlattr* attr) { return attr->nla_type & NLA_TYPE_MASK; }  // mnl_attr_get_type

// Walks the attributes in `region` into `table`, skipping types the table does not hold (newer
// kernels add attributes; see libmnl's mnl_attr_type_valid). Returns false when an attribute
// header or its nla_len runs past the region. Up to 3 trailing bytes are tolerated, as the kernel
// itself does (nla_parse only warns "bytes leftover after parsing attributes").
template <size_t N>
bool collectAttributes(Bytes region, AttrTable<N>& table) {
  table.fill(nullptr);
  size_t offset = 0;
  while (region.size - offset >= sizeof(nlattr)) {
    const auto* attr = reinterpret_cast<const nlattr*>(region.data + offset);
    const size_t remaining = region.size - offset;
    if (!attributeFits(attr, remaining)) return false;
    const uint16_t type = attributeType(attr);
    if (type < N) table[type] = attr;
    const size_t step = MNL_ALIGN(attr->nla_len);
    if (step >= remaining) break;  // the last attribute may lack its padding
    offset += step;
  }
  return true;
}

// Per-message bookkeeping of malformed attributes: counted once per attribute dropped.
class AttrReader {
 public:
  explicit AttrReader(ParseStats& stats) : stats_(stats) {}

  std::optional<uint32_t> u32(const nlattr* a) { return fixed<uint32_t>(a); }
  std::optional<uint8_t> u8(const nlattr* a) { return fixed<uint8_t>(a); }

  // A NUL-terminated string (nla_put_string); the text ends at the first NUL.
  std::optional<std::string> string(const nlattr* a) {
    if (a == nullptr) return std::nullopt;
    const Bytes p = payloadOf(a);
    const void* nul = p.size > 0 ? std::memchr(p.data, 0, p.size) : nullptr;
    if (nul == nullptr) return bad();
    return std::string(reinterpret_cast<const char*>(p.data),
                       static_cast<const uint8_t*>(nul) - p.data);
  }

  // An address of the message's family: exactly 4 or 16 bytes.
  std::optional<IpAddress> address(const nlattr* a, uint8_t family) {
    if (a == nullptr) return std::nullopt;
    const Bytes p = payloadOf(a);
    return addressBytes(p, family);
  }

  // struct rtvia: a family and an address of that family. Only the IP families are mirrored; a via
  // of another family (AF_PACKET for MPLS) is well formed but has nothing netmon can name.
  std::optional<IpAddress> via(const nlattr* a) {
    if (a == nullptr) return std::nullopt;
    const Bytes p = payloadOf(a);
    const size_t head = offsetof(rtvia, rtvia_addr);
    if (p.size < head) return bad();
    const auto family = p.read<__kernel_sa_family_t>();
    if (family != AF_INET && family != AF_INET6) return std::nullopt;
    return addressBytes(p.sub(head, p.size - head), static_cast<uint8_t>(family));
  }

  // A struct attribute; kernels may append fields, so a longer payload is accepted.
  template <typename T>
  std::optional<T> structure(const nlattr* a) {
    if (a == nullptr) return std::nullopt;
    const Bytes p = payloadOf(a);
    if (p.size < sizeof(T)) return bad();
    return p.read<T>();
  }

  // Presence of an attribute whose payload must be exactly sizeof(T).
  template <typename T>
  bool present(const nlattr* a) {
    return fixed<T>(a).has_value();
  }

  std::nullopt_t bad() {
    ++stats_.malformed;
    return std::nullopt;
  }

  // Running count of malformed items; comparing two readings tells whether an identity
  // attribute was just dropped.
  size_t malformedCount() const { return stats_.malformed; }

 private:
  template <typename T>
  std::optional<T> fixed(const nlattr* a) {
    if (a == nullptr) return std::nullopt;
    const Bytes p = payloadOf(a);
    if (p.size != sizeof(T)) return bad();
    return p.read<T>();
  }

  std::optional<IpAddress> addressBytes(Bytes p, uint8_t family) {
    if (family == AF_INET && p.size == 4) return IpAddress::v4(p.data);
    if (family == AF_INET6 && p.size == 16) return IpAddress::v6(p.data);
    return bad();
  }

  ParseStats& stats_;
};

std::optional<Family> ipFamily(uint8_t af) {
  if (af == AF_INET) return Family::Ipv4;
  if (af == AF_INET6) return Family::Ipv6;
  return std::nullopt;
}

uint8_t maxPrefix(uint8_t af) { return af == AF_INET ? 32 : 128; }

IpAddress zeroAddress(uint8_t af) {
  static constexpr uint8_t kZero[16] = {};
  return af == AF_INET ? IpAddress::v4(kZero) : IpAddress::v6(kZero);
}

// One netlink message whose nlmsg_len has been checked against the datagram.
struct Message {
  nlmsghdr header;
  Bytes payload;  // nlmsg_len - NLMSG_HDRLEN bytes after the header
};

// The fixed header and the attributes after it. False when either does not fit.
template <typename Fixed, size_t N>
bool splitMessage(const Message& m, Fixed& fixed, AttrTable<N>& attrs) {
  if (m.payload.size < sizeof(Fixed)) return false;
  static_assert(sizeof(Fixed) % NLMSG_ALIGNTO == 0, "attributes follow the fixed header directly");
  fixed = m.payload.read<Fixed>();
  return collectAttributes(m.payload.sub(sizeof(Fixed), m.payload.size - sizeof(Fixed)), attrs);
}

class Parser {
 public:
  Parser(ParseSink& sink, ParseStats& stats) : sink_(sink), stats_(stats) {}

  void message(const Message& m) {
    switch (m.header.nlmsg_type) {
      case NLMSG_NOOP:
      case NLMSG_OVERRUN:
        return;
      case NLMSG_DONE:
        return done(m);
      case NLMSG_ERROR:
        return error(m);
      case RTM_NEWLINK:
      case RTM_DELLINK:
        return link(m);
      case RTM_NEWADDR:
      case RTM_DELADDR:
        return address(m);
      case RTM_NEWROUTE:
      case RTM_DELROUTE:
        return route(m);
      case RTM_NEWRULE:
      case RTM_DELRULE:
        return rule(m);
      default:
        ++stats_.unknown;
        return;
    }
  }

 private:
  // The DONE that ends a kernel dump carries the dump's final status as an int (netlink_dump();
  // nlk->dump_done_errno since Linux 4.14). A negative value means the dump stopped early
  // (-EMSGSIZE, -ENOBUFS...): it is reported as that request's error, never as a complete dump.
  // A DONE without payload (user-space peers) is a plain end of dump.
  void done(const Message& m) {
    const int status = m.payload.size >= sizeof(int) ? m.payload.read<int>() : 0;
    if (status == INT_MIN) return malformed();
    ++stats_.messages;
    if (status < 0) {
      sink_.onError(m.header.nlmsg_seq, -status);
    } else {
      sink_.onDone(m.header.nlmsg_seq);
    }
  }

  // struct nlmsgerr: the (negative) errno and the request's header; ACK when error == 0. The kernel
  // only sends values <= 0; like libmnl's mnl_cb_error the magnitude is taken either way, and
  // INT_MIN (which has no positive counterpart) is malformed.
  void error(const Message& m) {
    if (m.payload.size < sizeof(nlmsgerr)) {
      ++stats_.malformed;
      return;
    }
    const int err = m.payload.read<int>();
    if (err == INT_MIN) {
      ++stats_.malformed;
      return;
    }
    ++stats_.messages;
    sink_.onError(m.header.nlmsg_seq, err < 0 ? -err : err);
  }

  void link(const Message& m) {
    ifinfomsg ifi{};
    AttrTable<IFLA_MAX + 1> tb;
    if (!splitMessage(m, ifi, tb)) return malformed();
    // The bridge module announces its ports' STP/VLAN state on the link group as AF_BRIDGE
    // RTM_NEWLINK messages that lack most link attributes; as link state they would erase the
    // port's kind. Only AF_UNSPEC messages describe the link itself.
    if (ifi.ifi_family != AF_UNSPEC) return skippedFamily();
    // Interface indexes start at 1 (dev_new_index); 0 means "no link" in routes and addresses, so a
    // link 0 would take over every route without an output link (found by tests/fuzz/mirror).
    if (ifi.ifi_index <= 0) return malformed();
    AttrReader r(stats_);

    Link l;
    l.index = ifi.ifi_index;
    l.flags = ifi.ifi_flags;
    l.hardwareType = ifi.ifi_type;
    if (auto name = r.string(tb[IFLA_IFNAME])) l.name = std::move(*name);
    if (auto mtu = r.u32(tb[IFLA_MTU])) l.mtu = *mtu;
    if (auto oper = r.u8(tb[IFLA_OPERSTATE])) l.kernelOperState = *oper;
    if (auto master = r.u32(tb[IFLA_MASTER])) l.master = static_cast<int>(*master);
    if (const nlattr* a = tb[IFLA_ADDRESS]) {
      const Bytes p = payloadOf(a);
      if (p.size <= l.hardwareAddress.bytes.size()) {
        std::memcpy(l.hardwareAddress.bytes.data(), p.data, p.size);
        l.hardwareAddress.length = static_cast<uint8_t>(p.size);
      } else {
        r.bad();
      }
    }
    if (const nlattr* a = tb[IFLA_LINKINFO]) {
      AttrTable<IFLA_INFO_MAX + 1> info;
      if (!collectAttributes(payloadOf(a), info)) {
        r.bad();
      } else if (auto kind = r.string(info[IFLA_INFO_KIND])) {
        l.kind = std::move(*kind);
      }
    }
    ++stats_.messages;
    sink_.onLink(m.header.nlmsg_type == RTM_DELLINK, std::move(l), m.header.nlmsg_flags);
  }

  void address(const Message& m) {
    ifaddrmsg ifa{};
    AttrTable<IFA_MAX + 1> tb;
    if (!splitMessage(m, ifa, tb)) return malformed();
    const auto family = ipFamily(ifa.ifa_family);
    if (!family) return skippedFamily();
    if (ifa.ifa_prefixlen > maxPrefix(ifa.ifa_family)) return malformed();
    AttrReader r(stats_);

    const size_t before = r.malformedCount();
    const auto local = r.address(tb[IFA_LOCAL], ifa.ifa_family);
    const auto addr = r.address(tb[IFA_ADDRESS], ifa.ifa_family);
    if (r.malformedCount() != before) return;  // identity attribute dropped: already counted
    if (!local && !addr) return malformed();

    Address a;
    a.linkIndex = static_cast<int>(ifa.ifa_index);
    a.address = local ? *local : *addr;
    // Point-to-point links: IFA_LOCAL is our end, IFA_ADDRESS the peer. On broadcast links the
    // kernel sends both with the same value (IPv4) or only IFA_ADDRESS (IPv6).
    if (local && addr && *local != *addr) a.peer = *addr;
    a.prefixLength = ifa.ifa_prefixlen;
    a.scope = static_cast<Scope>(ifa.ifa_scope);
    // ifa_flags is 8 bits; flags from IFA_F_MANAGETEMPADDR (0x100) up only exist in IFA_FLAGS,
    // which carries the low 8 as well (Linux 3.14+).
    a.flags = ifa.ifa_flags;
    if (auto flags = r.u32(tb[IFA_FLAGS])) a.flags = *flags;
    if (auto ci = r.structure<ifa_cacheinfo>(tb[IFA_CACHEINFO])) {
      a.preferredLifetime = ci->ifa_prefered;
      a.validLifetime = ci->ifa_valid;
    }
    if (auto label = r.string(tb[IFA_LABEL])) a.label = std::move(*label);
    ++stats_.messages;
    sink_.onAddress(m.header.nlmsg_type == RTM_DELADDR, std::move(a), m.header.nlmsg_flags);
  }

  void route(const Message& m) {
    rtmsg rtm{};
    AttrTable<RTA_MAX + 1> tb;
    if (!splitMessage(m, rtm, tb)) return malformed();
    const auto family = ipFamily(rtm.rtm_family);
    if (!family) return skippedFamily();
    const uint8_t af = rtm.rtm_family;
    if (rtm.rtm_dst_len > maxPrefix(af) || rtm.rtm_src_len > maxPrefix(af)) return malformed();
    AttrReader r(stats_);

    const size_t before = r.malformedCount();
    const auto dst = r.address(tb[RTA_DST], af);
    const auto table = r.u32(tb[RTA_TABLE]);
    const auto metric = r.u32(tb[RTA_PRIORITY]);
    if (r.malformedCount() != before) return;

    Route rt;
    rt.family = *family;
    // rtm_table is 8 bits; tables above 255 only exist in RTA_TABLE (rtm_table then says
    // RT_TABLE_COMPAT), which the kernel always sends since 2.6.19.
    rt.table = table ? *table : rtm.rtm_table;
    rt.destination = {dst ? *dst : zeroAddress(af), rtm.rtm_dst_len};
    rt.sourceLength = rtm.rtm_src_len;
    rt.tos = rtm.rtm_tos;
    rt.metric = metric.value_or(0);
    rt.type = static_cast<RouteType>(rtm.rtm_type);
    rt.protocol = rtm.rtm_protocol;
    rt.scope = static_cast<Scope>(rtm.rtm_scope);
    rt.flags = rtm.rtm_flags;
    if (auto oif = r.u32(tb[RTA_OIF])) rt.linkIndex = static_cast<int>(*oif);
    // An IPv4 route via an IPv6 gateway (RFC 5549, Linux 5.2+) carries RTA_VIA instead of
    // RTA_GATEWAY; the kernel refuses both at once, so RTA_GATEWAY is simply preferred.
    if (auto gw = r.address(tb[RTA_GATEWAY], af)) {
      rt.gateway = *gw;
    } else if (auto via = r.via(tb[RTA_VIA])) {
      rt.gateway = *via;
    }
    if (auto src = r.address(tb[RTA_PREFSRC], af)) rt.preferredSource = *src;
    if (const nlattr* mp = tb[RTA_MULTIPATH]) {
      if (!nextHops(payloadOf(mp), af, rt.nextHops)) {
        rt.nextHops.clear();
        r.bad();
      }
    }
    ++stats_.messages;
    sink_.onRoute(m.header.nlmsg_type == RTM_DELROUTE, std::move(rt), m.header.nlmsg_flags);
  }

  // RTA_MULTIPATH: struct rtnexthop entries, each followed by its own attributes and padded to
  // RTNH_ALIGN. All or nothing: a route with half its next hops would misstate where traffic goes,
  // so any fault drops the whole list (the caller counts it once).
  bool nextHops(Bytes region, uint8_t af, std::vector<NextHop>& out) {
    ParseStats scratch;  // faults inside are reported as one malformed attribute by the caller
    AttrReader r(scratch);
    size_t offset = 0;
    while (offset < region.size) {
      // Leftover bytes too short for an entry are an error for the kernel too
      // (fib_count_nexthops() rejects a non-zero remainder).
      if (region.size - offset < sizeof(rtnexthop)) return false;
      const auto nh = region.read<rtnexthop>(offset);
      if (nh.rtnh_len < sizeof(rtnexthop) || nh.rtnh_len > region.size - offset) return false;
      AttrTable<RTA_MAX + 1> tb;
      const size_t attrs = RTNH_ALIGN(sizeof(rtnexthop));
      if (!collectAttributes(region.sub(offset + attrs, nh.rtnh_len - attrs), tb)) return false;
      NextHop hop;
      hop.linkIndex = nh.rtnh_ifindex;
      hop.flags = nh.rtnh_flags;
      // The kernel's weight is rtnh_hops + 1 (1..256); NextHop::weight is 8 bits, so 256
      // saturates at 255.
      hop.weight = static_cast<uint8_t>(nh.rtnh_hops == 255 ? 255 : nh.rtnh_hops + 1);
      if (auto gw = r.address(tb[RTA_GATEWAY], af)) {
        hop.gateway = *gw;
      } else if (auto via = r.via(tb[RTA_VIA])) {
        hop.gateway = *via;
      }
      if (scratch.malformed != 0) return false;
      out.push_back(hop);
      offset += RTNH_ALIGN(nh.rtnh_len);  // may step past the end when the last lacks padding
    }
    return !out.empty();
  }

  void rule(const Message& m) {
    fib_rule_hdr frh{};
    AttrTable<FRA_MAX + 1> tb;
    if (!splitMessage(m, frh, tb)) return malformed();
    const auto family = ipFamily(frh.family);
    if (!family) return skippedFamily();
    const uint8_t af = frh.family;
    if (frh.src_len > maxPrefix(af) || frh.dst_len > maxPrefix(af)) return malformed();
    AttrReader r(stats_);

    const size_t before = r.malformedCount();
    const auto src = r.address(tb[FRA_SRC], af);
    const auto dst = r.address(tb[FRA_DST], af);
    const auto table = r.u32(tb[FRA_TABLE]);
    const auto priority = r.u32(tb[FRA_PRIORITY]);
    if (r.malformedCount() != before) return;

    Rule ru;
    ru.family = *family;
    ru.priority = priority.value_or(0);
    ru.table = table ? *table : frh.table;
    ru.action = static_cast<RuleAction>(frh.action);
    ru.source = {src ? *src : zeroAddress(af), frh.src_len};
    ru.destination = {dst ? *dst : zeroAddress(af), frh.dst_len};
    ru.invert = (frh.flags & FIB_RULE_INVERT) != 0;
    ru.tos = frh.tos;
    if (auto v = r.u32(tb[FRA_FWMARK])) ru.fwmark = *v;
    if (auto v = r.u32(tb[FRA_FWMASK])) ru.fwmask = *v;
    if (auto v = r.string(tb[FRA_IIFNAME])) ru.inputInterface = std::move(*v);
    if (auto v = r.string(tb[FRA_OIFNAME])) ru.outputInterface = std::move(*v);
    if (auto v = r.u32(tb[FRA_SUPPRESS_PREFIXLEN])) ru.suppressPrefixLength = *v;
    if (auto v = r.u32(tb[FRA_SUPPRESS_IFGROUP])) ru.suppressInterfaceGroup = *v;
    if (auto v = r.u32(tb[FRA_GOTO])) ru.gotoPriority = *v;
    ru.hasUidRange = r.present<fib_rule_uid_range>(tb[FRA_UID_RANGE]);
    const bool sport = r.present<fib_rule_port_range>(tb[FRA_SPORT_RANGE]);
    const bool dport = r.present<fib_rule_port_range>(tb[FRA_DPORT_RANGE]);
    ru.hasPortRange = sport || dport;
    if (auto v = r.u8(tb[FRA_IP_PROTO])) ru.ipProtocol = *v;
    if (auto v = r.u8(tb[FRA_L3MDEV])) ru.l3mdev = *v != 0;
    if (auto v = r.u8(tb[FRA_PROTOCOL])) ru.protocol = *v;
    ++stats_.messages;
    sink_.onRule(m.header.nlmsg_type == RTM_DELRULE, std::move(ru), m.header.nlmsg_flags);
  }

  void malformed() { ++stats_.malformed; }
  void skippedFamily() { ++stats_.skippedFamily; }

  ParseSink& sink_;
  ParseStats& stats_;
};

ParseStats walk(Bytes datagram, ParseSink& sink) {
  ParseStats stats;
  Parser parser(sink, stats);
  size_t offset = 0;
  while (offset < datagram.size) {
    const size_t remaining = datagram.size - offset;
    // mnl_nlmsg_ok() semantics, checked here before any pointer is formed: the header fits, and
    // nlmsg_len covers the header and stays within the datagram.
    if (remaining < sizeof(nlmsghdr)) {
      ++stats.malformed;
      break;
    }
    const auto header = datagram.read<nlmsghdr>(offset);
    if (header.nlmsg_len < sizeof(nlmsghdr) || header.nlmsg_len > remaining) {
      ++stats.malformed;
      break;
    }
    if (header.nlmsg_flags & NLM_F_DUMP_INTR) stats.dumpInterrupted = true;
    const size_t hdrlen = NLMSG_HDRLEN;
    const Message m{header, datagram.sub(offset + hdrlen, header.nlmsg_len - hdrlen)};
    parser.message(m);
    offset += NLMSG_ALIGN(header.nlmsg_len);  // may step past the end when the last lacks padding
  }
  return stats;
}

}  // namespace

ParseStats parseDatagram(std::span<const uint8_t> datagram, ParseSink& sink) {
  const Bytes bytes{datagram.data(), datagram.size()};
  if (reinterpret_cast<uintptr_t>(datagram.data()) % alignof(nlmsghdr) == 0)
    return walk(bytes, sink);
  std::vector<uint32_t> aligned((datagram.size() + 3) / 4);
  if (!datagram.empty()) std::memcpy(aligned.data(), datagram.data(), datagram.size());
  return walk({reinterpret_cast<const uint8_t*>(aligned.data()), datagram.size()}, sink);
}

}  // namespace netmon::rtnl
