// Derived state as pure functions: operational state, transport medium, reachability, and the
// sentence that explains a verdict. Each function carries its decision table; the rows are
// tested one by one in tests/unit/derive_test.cc.
#include "core/derive.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace netmon::detail {

namespace {

// Kernel numbers are spelt out here rather than taken from <linux/*.h>: core is platform-neutral
// and is built for the Windows backend too. The unit tests compare them with the kernel headers.
constexpr uint8_t kIfOperDormant = 5;           // IF_OPER_DORMANT (RFC 2863)
constexpr uint16_t kArphrdEther = 1;            // ARPHRD_ETHER
constexpr uint16_t kArphrdRawIp = 519;          // ARPHRD_RAWIP
constexpr uint16_t kArphrdTunnel = 768;         // ARPHRD_TUNNEL (ipip)
constexpr uint16_t kArphrdTunnel6 = 769;        // ARPHRD_TUNNEL6 (ip6tnl)
constexpr uint16_t kArphrdLoopback = 772;       // ARPHRD_LOOPBACK
constexpr uint16_t kArphrdSit = 776;            // ARPHRD_SIT
constexpr uint16_t kArphrdIpGre = 778;          // ARPHRD_IPGRE
constexpr uint16_t kArphrdIp6Gre = 823;         // ARPHRD_IP6GRE
constexpr uint16_t kArphrdNone = 0xFFFE;        // ARPHRD_NONE (tun, wireguard)

}  // namespace

// ─── Operational state ───────────────────────────────────────────────────────────────────────
//
// First matching row wins; "·" matches anything.
//
//   adminUp  carrier  dormant  hasMaster  addresses   portWithoutCarrier │ state
//   ───────  ───────  ───────  ─────────  ──────────  ────────────────── ┼──────────────────
//   no       ·        ·        ·          ·           ·                  │ off
//   yes      no       ·        ·          ·           ·                  │ no-carrier
//   yes      yes      yes      ·          ·           ·                  │ dormant
//   yes      yes      no       yes        ·           ·                  │ enslaved
//   yes      yes      no       no         routable    ·                  │ routable
//   yes      yes      no       no         link-local  ·                  │ degraded
//   yes      yes      no       no         none        yes                │ degraded-carrier
//   yes      yes      no       no         none        no                 │ carrier
//
// "carrier" is IFF_LOWER_UP, not the kernel's operstate: loopback, tun and wireguard report
// IF_OPER_UNKNOWN for their whole life yet pass traffic, and IFF_LOWER_UP is set on them. Only
// IF_OPER_DORMANT is read from the operstate, because nothing else says "carrier, but 802.1X or
// Wi-Fi association is not done yet" (the supplicant sets IFLA_LINKMODE=dormant).
//
// A bridge/bond whose ports are not all carrying follows systemd: its own addresses still make it
// routable or degraded; only without addresses does it show degraded-carrier.
//
// Deliberate difference from systemd-networkd, whose table turns an enslaved link with a routable
// address into "routable": here enslaved wins over any address level, because a port's frames
// belong to its master and an address on the port itself does not make the port route anything.
OperationalState deriveOperationalState(const LinkFacts& facts) {
  if (!facts.adminUp) return OperationalState::Off;
  if (!facts.carrier) return OperationalState::NoCarrier;
  if (facts.kernelOperState == kIfOperDormant) return OperationalState::Dormant;
  if (facts.hasMaster) return OperationalState::Enslaved;
  switch (facts.addresses) {
    case AddressLevel::Routable:
      return OperationalState::Routable;
    case AddressLevel::LinkLocal:
      return OperationalState::Degraded;
    case AddressLevel::None:
      break;
  }
  return facts.portWithoutCarrier ? OperationalState::DegradedCarrier : OperationalState::Carrier;
}

// ─── Transport medium ────────────────────────────────────────────────────────────────────────
//
// First matching row wins.
//
//   row  evidence                                                                  medium
//   ───  ────────────────────────────────────────────────────────────────────────  ─────────
//   1    IFF_LOOPBACK, or ARPHRD_LOOPBACK                                          loopback
//   2    DEVTYPE=wlan, or /sys/class/net/NAME/wireless (or phy80211) exists        wifi
//   3    DEVTYPE=wwan, or kind rmnet / qmi_wwan / wwan, or ARPHRD_RAWIP            cellular
//   4    DEVTYPE=bluetooth, or kind bnep                                           bluetooth
//   5    a software kind (kVirtualKinds below), or ARPHRD_NONE, ARPHRD_TUNNEL,     virtual
//        ARPHRD_TUNNEL6, ARPHRD_SIT, ARPHRD_IPGRE, ARPHRD_IP6GRE
//   6    no kind and ARPHRD_ETHER                                                  ethernet
//   7    anything else: ARPHRD_PPP (a modem or DSL: the medium beneath cannot be   unknown
//        told), InfiniBand, CAN, a kind netmon does not know
//
// The sysfs DEVTYPE rows come before the hardware-type rows because the hardware type lies about
// the medium: qmi_wwan in raw-IP mode is ARPHRD_NONE like tun, and cdc_ether modems, Wi-Fi and
// bnep devices are all ARPHRD_ETHER.
TransportMedium deriveTransportMedium(const MediumFacts& facts) {
  static constexpr std::array<std::string_view, 29> kVirtualKinds{
      "veth",   "bridge", "bond",   "team",    "tun",   "tap",    "wireguard", "vxlan", "geneve",  "gre",
      "gretap", "ip6gre", "ipip",   "sit",     "ip6tnl", "vti",   "vti6",      "vlan",  "macvlan", "macvtap",
      "ipvlan", "vrf",    "dummy",  "xfrm",    "nlmon", "ifb",    "netdevsim", "ip6gretap", "ipvtap",
  };
  const auto kindIs = [&](std::initializer_list<std::string_view> kinds) {
    return std::find(kinds.begin(), kinds.end(), facts.kind) != kinds.end();
  };

  if (facts.loopback || facts.hardwareType == kArphrdLoopback) return TransportMedium::Loopback;
  if (facts.devtype == "wlan" || facts.wireless) return TransportMedium::Wifi;
  if (facts.devtype == "wwan" || kindIs({"rmnet", "qmi_wwan", "wwan"}) || facts.hardwareType == kArphrdRawIp) {
    return TransportMedium::Cellular;
  }
  if (facts.devtype == "bluetooth" || facts.kind == "bnep") return TransportMedium::Bluetooth;
  if (std::find(kVirtualKinds.begin(), kVirtualKinds.end(), facts.kind) != kVirtualKinds.end()) {
    return TransportMedium::Virtual;
  }
  switch (facts.hardwareType) {
    case kArphrdNone:
    case kArphrdTunnel:
    case kArphrdTunnel6:
    case kArphrdSit:
    case kArphrdIpGre:
    case kArphrdIp6Gre:
      return TransportMedium::Virtual;
    default:
      break;
  }
  if (facts.kind.empty() && facts.hardwareType == kArphrdEther) return TransportMedium::Ethernet;
  return TransportMedium::Unknown;
}

// ─── Reachability ────────────────────────────────────────────────────────────────────────────
//
// For one family F:
//
//   a. A usable link is not ignored, not IFF_LOOPBACK, IFF_UP, IFF_LOWER_UP, and not
//      IF_OPER_DORMANT.
//   b. A usable address is of F, on a usable link, neither tentative nor dadfailed, not host
//      scope, and not a loopback address.
//   c. No usable address → disconnected, because (first that holds; "links" are the non-loopback,
//      non-ignored ones):
//        no link is up                                           no-link-up
//        no link that is up has carrier (dormant counts as none) no-carrier  (the first up link
//                                                                             without carrier,
//                                                                             else a dormant one)
//        a link with carrier holds a tentative/dadfailed address addresses-tentative (that link)
//        otherwise                                               no-address  (first carrying link)
//   d. Every usable address link-local (169.254/16, fe80::/10, or scope link) → local,
//      link-local-only.
//   e. Otherwise: does the kernel send the whole public Internet through a usable route?
//      Only the top K bits of a destination matter (K = candidatePrefixLimit(F): 8 for IPv4, 16 for
//      IPv6), because only routes of prefix length ≤ K are candidates. The public targets in K-bit
//      values are IPv4 [1,10) [11,127) [128,224) (1.0.0.0–223.255.255.255 without 10/8 and
//      127/8) and IPv6 [0x2000,0x4000) (2000::/3). They are cut into elementary intervals at
//      every boundary of a candidate route or rule destination, so the kernel's answer is the
//      same for every value of an interval; it is evaluated at the interval's first value by
//      resolve() below (policy rules, then the table) and by useRoute() (link, source address).
//        every interval reaches a usable unicast route  online, internet-route, with the route
//                                                       that covers the largest share (first on
//                                                       a tie), its table, link, gateway, source
//        otherwise, for the first failing interval:     site, with its reason:
//          no rule led to a route                       no-internet-route (uncovered: the interval
//                                                       if it is one aligned block, else its
//                                                       first K-bit block)
//          a blackhole/unreachable/prohibit route, a    internet-route-rejected
//          reject rule, or a route that keeps the
//          packet on this host (type local, or via lo)
//          the route leaves through a link that is      internet-route-link-down
//          down, lacks carrier, dormant, or gone
//          the route leaves through an ignored link     internet-route-ignored-link
//          no routable source address                   no-source-address
//   f. Unknown is never returned: it means "no data", which only the monitor can say.
//
// The route of a link without carrier is still chosen: with the default
// net.ipv4.conf.*.ignore_routes_with_linkdown=0 (and its IPv6 twin) the kernel keeps selecting a
// route whose next hop is RTNH_F_LINKDOWN, so a lower-priority route behind it does not help, and
// the verdict names the dead link.

namespace {

// A half-open interval [begin, end) of K-bit destination values.
struct Span {
  uint32_t begin = 0;
  uint32_t end = 0;
  bool contains(uint32_t value) const { return begin <= value && value < end; }
};

constexpr std::array<Span, 3> kIpv4Targets{{{1, 10}, {11, 127}, {128, 224}}};
constexpr std::array<Span, 1> kIpv6Targets{{{0x2000, 0x4000}}};

std::span<const Span> publicTargets(Family family) {
  if (family == Family::Ipv4) return kIpv4Targets;
  return kIpv6Targets;
}

bool isUsableLink(const Link& link) {
  return !link.ignored && !link.isLoopback() && link.isUp() && link.hasCarrier() &&
         link.kernelOperState != kIfOperDormant;
}

bool isLinkLocalAddress(const Address& address) {
  return address.address.isLinkLocal() || address.scope == Scope::Link;
}

// Route types the kernel answers with an error (fib_props[].error): the lookup stops there and
// suppress_prefixlength is not consulted. RTN_THROW (-EAGAIN) is handled apart: it continues.
bool isRejectType(RouteType type) {
  switch (type) {
    case RouteType::Blackhole:
    case RouteType::Unreachable:
    case RouteType::Prohibit:
    case RouteType::Nat:
    case RouteType::ExternalResolve:
      return true;
    default:
      return false;
  }
}

// The default policy of a kernel nobody has configured (`ip rule` on a fresh boot). IPv6 has no
// 32767 rule, but its table default is empty, so one list serves both families.
std::vector<Rule> defaultRules(Family family) {
  const auto lookup = [family](uint32_t priority, uint32_t table) {
    Rule rule;
    rule.family = family;
    rule.priority = priority;
    rule.table = table;
    rule.action = RuleAction::ToTable;
    return rule;
  };
  return {lookup(0, kTableLocal), lookup(32766, kTableMain), lookup(32767, kTableDefault)};
}

// What the kernel does with a packet to one elementary interval.
enum class Outcome : uint8_t { Usable, NoRoute, Rejected, LinkDown, IgnoredLink, NoSource };

struct Resolution {
  Outcome outcome = Outcome::NoRoute;
  const Route* route = nullptr;
  uint32_t table = 0;
  int linkIndex = 0;
  IpAddress gateway;
  IpAddress source;
};

class ReachabilityEvaluator {
 public:
  explicit ReachabilityEvaluator(const ReachabilityInput& input)
      : family_(input.family), bits_(candidatePrefixLimit(input.family)) {
    for (const Link& link : input.links) {
      links_.emplace(link.index, &link);
      sorted_links_.push_back(&link);
    }
    std::sort(sorted_links_.begin(), sorted_links_.end(),
              [](const Link* a, const Link* b) { return a->index < b->index; });

    for (const Address& address : input.addresses) {
      if (address.family() != family_) continue;
      family_addresses_.push_back(&address);
      const Link* link = findLink(address.linkIndex);
      if (link == nullptr || !isUsableLink(*link)) continue;
      if (!address.isUsable() || address.scope == Scope::Host || address.address.isLoopback()) continue;
      usable_addresses_.push_back(&address);
    }
    // The kernel walks devices in index order when it looks for a source on another link.
    std::stable_sort(usable_addresses_.begin(), usable_addresses_.end(),
                     [](const Address* a, const Address* b) { return a->linkIndex < b->linkIndex; });

    for (const Route& route : input.candidateRoutes) {
      if (route.family != family_ || !spanOf(route.destination)) continue;
      // The notional packet has tos 0 and no particular source, so routes keyed on a tos or on
      // an IPv6 source prefix never match it.
      if (route.tos != 0 || route.sourceLength != 0) continue;
      tables_[route.table].push_back(&route);
    }

    for (const Rule& rule : input.rules) {
      if (rule.family == family_) rules_.push_back(rule);
    }
    if (rules_.empty()) rules_ = defaultRules(family_);
    std::stable_sort(rules_.begin(), rules_.end(),
                     [](const Rule& a, const Rule& b) { return a.priority < b.priority; });
  }

  Verdict evaluate() const {
    if (usable_addresses_.empty()) return disconnected();
    const bool all_link_local = std::all_of(usable_addresses_.begin(), usable_addresses_.end(),
                                            [](const Address* a) { return isLinkLocalAddress(*a); });
    if (all_link_local) {
      Verdict verdict;
      verdict.reachability = Reachability::Local;
      verdict.reason = Reason::LinkLocalOnly;
      setLink(verdict, usable_addresses_.front()->linkIndex);
      return verdict;
    }
    return coverage();
  }

 private:
  const Link* findLink(int index) const {
    auto it = links_.find(index);
    return it == links_.end() ? nullptr : it->second;
  }

  void setLink(Verdict& verdict, int index) const {
    verdict.linkIndex = index;
    if (const Link* link = findLink(index)) verdict.linkName = link->name;
  }

  // The K-bit span a prefix covers, or nullopt when it is longer than K bits or of another family.
  std::optional<Span> spanOf(const IpPrefix& prefix) const {
    if (prefix.length > bits_) return std::nullopt;
    if (prefix.length == 0) return Span{0, 1u << bits_};
    if (prefix.address.family() != family_) return std::nullopt;
    uint32_t top = 0;
    for (unsigned i = 0; i < bits_ / 8u; ++i) top = top << 8 | prefix.address.data()[i];
    const uint32_t size = 1u << (bits_ - prefix.length);
    top &= ~(size - 1);
    return Span{top, top + size};
  }

  IpPrefix prefixOf(uint32_t top, uint8_t length) const {
    std::array<uint8_t, 16> bytes{};
    for (unsigned i = 0; i < bits_ / 8u; ++i) bytes[i] = uint8_t(top >> (bits_ - 8 * (i + 1)));
    IpPrefix prefix;
    prefix.address = family_ == Family::Ipv4 ? IpAddress::v4(bytes.data()) : IpAddress::v6(bytes.data());
    prefix.length = length;
    return prefix;
  }

  Verdict disconnected() const {
    Verdict verdict;
    verdict.reachability = Reachability::Disconnected;
    std::vector<const Link*> up;
    for (const Link* link : sorted_links_) {
      if (!link->ignored && !link->isLoopback() && link->isUp()) up.push_back(link);
    }
    if (up.empty()) {
      verdict.reason = Reason::NoLinkUp;
      for (const Link* link : sorted_links_) {
        if (link->ignored || link->isLoopback()) continue;
        setLink(verdict, link->index);
        break;
      }
      return verdict;
    }
    std::vector<const Link*> carrying;
    for (const Link* link : up) {
      if (isUsableLink(*link)) carrying.push_back(link);
    }
    if (carrying.empty()) {
      verdict.reason = Reason::NoCarrier;
      // Name a link without carrier rather than a dormant one: that is the likelier fix.
      auto it = std::find_if(up.begin(), up.end(), [](const Link* link) { return !link->hasCarrier(); });
      setLink(verdict, (it != up.end() ? *it : up.front())->index);
      return verdict;
    }
    for (const Link* link : carrying) {
      const bool tentative = std::any_of(family_addresses_.begin(), family_addresses_.end(), [&](const Address* a) {
        return a->linkIndex == link->index && !a->isUsable() && a->scope != Scope::Host && !a->address.isLoopback();
      });
      if (tentative) {
        verdict.reason = Reason::AddressesTentative;
        setLink(verdict, link->index);
        return verdict;
      }
    }
    verdict.reason = Reason::NoAddress;
    setLink(verdict, carrying.front()->index);
    return verdict;
  }

  // The route a table gives for destination value `top`: longest prefix, then lowest metric, then
  // the first one seen (fib_table_lookup walks aliases in metric order).
  const Route* lookupTable(uint32_t table, uint32_t top) const {
    auto it = tables_.find(table);
    if (it == tables_.end()) return nullptr;
    const Route* best = nullptr;
    for (const Route* route : it->second) {
      const auto span = spanOf(route->destination);
      if (!span || !span->contains(top)) continue;
      if (best == nullptr || route->destination.length > best->destination.length ||
          (route->destination.length == best->destination.length && route->metric < best->metric)) {
        best = route;
      }
    }
    return best;
  }

  // Whether `rule` selects a generic locally-originated packet to `top`: fwmark 0, iif lo, no oif,
  // tos 0, and an unknown uid, source, protocol and ports. Selectors netmon cannot evaluate make
  // the rule not apply whatever its `not`: guessing would let one app's VPN rule decide for all.
  bool ruleApplies(const Rule& rule, uint32_t top) const {
    if (rule.source.length != 0 || rule.hasUidRange || rule.hasPortRange || rule.ipProtocol != 0) return false;
    bool match = true;
    if (rule.destination.length != 0) {
      const auto span = spanOf(rule.destination);
      if (!span) return false;
      match = span->contains(top);
    }
    if (rule.tos != 0) match = false;
    // FRA_FWMASK defaults to all ones when only a mark is given (fib_nl2rule); the kernel's test
    // is ((rule mark ^ packet mark) & mask) == 0, and the packet's mark is 0.
    const uint32_t mask = rule.fwmask != 0 ? rule.fwmask : (rule.fwmark != 0 ? 0xFFFFFFFFu : 0u);
    if ((rule.fwmark & mask) != 0) match = false;
    // Locally originated packets carry the loopback device as their input interface.
    if (!rule.inputInterface.empty() && rule.inputInterface != "lo") match = false;
    if (!rule.outputInterface.empty() || rule.l3mdev) match = false;
    return rule.invert ? !match : match;
  }

  // fib_rules_lookup() for one destination value.
  Resolution resolve(uint32_t top) const {
    size_t i = 0;
    while (i < rules_.size()) {
      const Rule& rule = rules_[i];
      if (!ruleApplies(rule, top)) {
        ++i;
        continue;
      }
      switch (rule.action) {
        case RuleAction::Goto: {
          // The kernel jumps to the first rule whose priority equals the target and only forward
          // (fib_nl_newrule refuses a target <= the rule's own); an unresolved goto is skipped.
          size_t next = i + 1;
          if (rule.gotoPriority > rule.priority) {
            auto target = std::find_if(rules_.begin() + static_cast<std::ptrdiff_t>(i) + 1, rules_.end(),
                                       [&](const Rule& r) { return r.priority == rule.gotoPriority; });
            if (target != rules_.end()) next = static_cast<size_t>(target - rules_.begin());
          }
          i = next;
          continue;
        }
        case RuleAction::Nop:
          ++i;
          continue;
        case RuleAction::ToTable: {
          const Route* route = lookupTable(rule.table, top);
          if (route == nullptr || route->type == RouteType::Throw) {
            ++i;
            continue;
          }
          if (isRejectType(route->type)) {
            Resolution resolution;
            resolution.outcome = Outcome::Rejected;
            resolution.route = route;
            resolution.table = rule.table;
            return resolution;
          }
          // wg-quick's `table main suppress_prefixlength 0` lets every main route but the
          // default through; the kernel checks this only for a successful lookup.
          if (rule.suppressPrefixLength != Rule::kNoSuppress &&
              route->destination.length <= rule.suppressPrefixLength) {
            ++i;
            continue;
          }
          return useRoute(*route, rule.table);
        }
        default: {
          // Blackhole, unreachable, prohibit; and FR_ACT_UNSPEC, which fib4_rule_action() also
          // answers with -EINVAL.
          Resolution resolution;
          resolution.outcome = Outcome::Rejected;
          return resolution;
        }
      }
    }
    return Resolution{};
  }

  // A source address the kernel would pick for a packet leaving through `link_index`, or none.
  // RTA_PREFSRC first; then an address of the output link; then, for IPv4, any link's address as
  // inet_select_addr() does. IPv6 insists on the output link: the kernel's RFC 6724 selection
  // would borrow another link's address, but such a packet is one an upstream router drops under
  // BCP 38, so it does not count as reaching the Internet.
  std::optional<IpAddress> selectSource(const Route& route, int link_index) const {
    const auto routable = [](const Address* a) { return !isLinkLocalAddress(*a); };
    if (route.preferredSource.isSpecified()) {
      for (const Address* a : usable_addresses_) {
        if (routable(a) && a->address == route.preferredSource) return a->address;
      }
    }
    for (const Address* a : usable_addresses_) {
      if (routable(a) && a->linkIndex == link_index) return a->address;
    }
    if (family_ == Family::Ipv4) {
      for (const Address* a : usable_addresses_) {
        if (routable(a)) return a->address;
      }
    }
    return std::nullopt;
  }

  // Whether a unicast route found by the lookup carries traffic. A multipath route does when any
  // next hop does (fib_select_multipath() skips dead next hops).
  Resolution useRoute(const Route& route, uint32_t table) const {
    Resolution base;
    base.route = &route;
    base.table = table;
    if (route.type != RouteType::Unicast) {
      // local, broadcast, multicast, anycast: the packet stays on this host or never leaves as
      // unicast, which for the Internet is the same as a reject.
      base.outcome = Outcome::Rejected;
      return base;
    }
    std::vector<NextHop> hops = route.nextHops;
    if (hops.empty()) {
      NextHop single;
      single.linkIndex = route.linkIndex;
      single.gateway = route.gateway;
      hops.push_back(single);
    }
    std::optional<Resolution> first_failure;
    std::optional<Resolution> no_source;
    for (const NextHop& hop : hops) {
      Resolution resolution = base;
      resolution.linkIndex = hop.linkIndex;
      resolution.gateway = hop.gateway.isSpecified() ? hop.gateway : route.gateway;
      const Link* link = findLink(hop.linkIndex);
      if (link != nullptr && link->ignored) {
        resolution.outcome = Outcome::IgnoredLink;
      } else if (link != nullptr && link->isLoopback()) {
        resolution.outcome = Outcome::Rejected;  // back to this host
      } else if (link == nullptr || !isUsableLink(*link)) {
        resolution.outcome = Outcome::LinkDown;
      } else if (auto source = selectSource(route, hop.linkIndex)) {
        resolution.outcome = Outcome::Usable;
        resolution.source = *source;
        return resolution;
      } else {
        resolution.outcome = Outcome::NoSource;
        if (!no_source) no_source = resolution;
        continue;
      }
      if (!first_failure) first_failure = resolution;
    }
    // A live next hop without a source says more than a dead one.
    return no_source ? *no_source : *first_failure;
  }

  // Elementary intervals of the public targets: cut at every candidate route's and every rule
  // destination's boundary.
  std::vector<Span> elementaryIntervals() const {
    std::vector<uint32_t> cuts;
    const auto addCuts = [&](const IpPrefix& prefix) {
      if (auto span = spanOf(prefix)) {
        cuts.push_back(span->begin);
        cuts.push_back(span->end);
      }
    };
    for (const auto& [table, routes] : tables_) {
      for (const Route* route : routes) addCuts(route->destination);
    }
    for (const Rule& rule : rules_) {
      if (rule.destination.length != 0) addCuts(rule.destination);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

    std::vector<Span> intervals;
    for (const Span& target : publicTargets(family_)) {
      uint32_t begin = target.begin;
      for (auto it = std::upper_bound(cuts.begin(), cuts.end(), target.begin);
           it != cuts.end() && *it < target.end; ++it) {
        intervals.push_back(Span{begin, *it});
        begin = *it;
      }
      intervals.push_back(Span{begin, target.end});
    }
    return intervals;
  }

  // The interval as one prefix if it is an aligned power-of-two block, else its first K-bit block.
  IpPrefix uncoveredPrefix(const Span& interval) const {
    const uint32_t size = interval.end - interval.begin;
    if ((size & (size - 1)) == 0 && interval.begin % size == 0) {
      uint8_t log2 = 0;
      while ((1u << log2) < size) ++log2;
      return prefixOf(interval.begin, uint8_t(bits_ - log2));
    }
    return prefixOf(interval.begin, bits_);
  }

  Verdict verdictFor(const Resolution& resolution) const {
    Verdict verdict;
    if (resolution.route != nullptr) verdict.route = *resolution.route;
    verdict.ruleTable = resolution.table;
    if (resolution.linkIndex != 0) setLink(verdict, resolution.linkIndex);
    verdict.gateway = resolution.gateway;
    return verdict;
  }

  Verdict coverage() const {
    struct Share {
      const Resolution* resolution;
      uint64_t width;
    };
    const std::vector<Span> intervals = elementaryIntervals();
    std::vector<Resolution> resolutions;
    resolutions.reserve(intervals.size());
    for (size_t i = 0; i < intervals.size(); ++i) {
      const Resolution& resolution = resolutions.emplace_back(resolve(intervals[i].begin));
      if (resolution.outcome == Outcome::Usable) continue;
      Verdict verdict = verdictFor(resolution);
      verdict.reachability = Reachability::Site;
      switch (resolution.outcome) {
        case Outcome::NoRoute:
          verdict.reason = Reason::NoInternetRoute;
          verdict.uncovered = uncoveredPrefix(intervals[i]);
          break;
        case Outcome::Rejected:
          verdict.reason = Reason::InternetRouteRejected;
          break;
        case Outcome::LinkDown:
          verdict.reason = Reason::InternetRouteLinkDown;
          break;
        case Outcome::IgnoredLink:
          verdict.reason = Reason::InternetRouteIgnoredLink;
          break;
        case Outcome::NoSource:
        case Outcome::Usable:
          verdict.reason = Reason::NoSourceAddress;
          break;
      }
      return verdict;
    }

    std::vector<Share> shares;
    for (size_t i = 0; i < intervals.size(); ++i) {
      const uint64_t width = intervals[i].end - intervals[i].begin;
      auto it = std::find_if(shares.begin(), shares.end(),
                             [&](const Share& s) { return s.resolution->route == resolutions[i].route; });
      if (it == shares.end()) {
        shares.push_back(Share{&resolutions[i], width});
      } else {
        it->width += width;
      }
    }
    const Share* best = &shares.front();
    for (const Share& share : shares) {
      if (share.width > best->width) best = &share;
    }
    Verdict verdict = verdictFor(*best->resolution);
    verdict.reachability = Reachability::Online;
    verdict.reason = Reason::InternetRoute;
    verdict.source = best->resolution->source;
    return verdict;
  }

  Family family_;
  uint8_t bits_;
  std::unordered_map<int, const Link*> links_;
  std::vector<const Link*> sorted_links_;
  std::vector<const Address*> family_addresses_;
  std::vector<const Address*> usable_addresses_;
  std::unordered_map<uint32_t, std::vector<const Route*>> tables_;
  std::vector<Rule> rules_;
};

}  // namespace

Verdict deriveReachability(const ReachabilityInput& input) { return ReachabilityEvaluator(input).evaluate(); }

// Online > Site > Local > Disconnected > Unknown: the enum's own order.
// ─── Probe refinement ────────────────────────────────────────────────────────────────────────
//
// First matching row wins; "·" matches anything.
//
//   routed       probe result                                   │ refined
//   ───────────  ─────────────────────────────────────────────  ┼──────────────────────────────
//   not online   ·                                              │ routed, unchanged
//   online       none (not probed yet)                          │ routed, unchanged
//   online       bound to another interface than the route's    │ routed, unchanged (stale)
//   online       online                                         │ routed, unchanged
//   online       captive-portal                                 │ site, captive-portal
//   online       no-answer                                      │ site, probe-no-answer
//
// A probe only ever lowers reachability: it is advice that can be forged on the path (probe.h),
// and a forged "online" must not be able to make a routed Site look Online. Routes below Online
// are already explained better by routing than by a probe.
//
// "Stale": the probe was bound to the interface the Internet route used when it ran. A family
// whose route leaves through another interface (the other family, or the same family after the
// route moved) was not tested by it; it keeps its routed verdict until a probe of its own route
// says otherwise (a route change schedules one, debounced). The same interface coming back keeps
// the old verdict meanwhile: a portal does not go away because a link flapped.
// The refined verdict keeps the route, gateway, link and source of the routed one, so the
// explanation still says which route was tested.
Verdict refineWithProbe(const Verdict& routed, const std::optional<ProbeResult>& probe) {
  if (routed.reachability != Reachability::Online || !probe) return routed;
  if (probe->interface != routed.linkName) return routed;
  if (probe->outcome == ProbeOutcome::Online) return routed;
  Verdict refined = routed;
  refined.reachability = Reachability::Site;
  refined.reason = probe->outcome == ProbeOutcome::CaptivePortal ? Reason::CaptivePortal : Reason::ProbeNoAnswer;
  refined.probeUrl = probe->url;
  refined.probeRedirect = probe->redirect;
  return refined;
}

const Verdict& betterVerdict(const Verdict& ipv4, const Verdict& ipv6) {
  return ipv6.reachability > ipv4.reachability ? ipv6 : ipv4;
}

}  // namespace netmon::detail

// ─── Explanation ─────────────────────────────────────────────────────────────────────────────

namespace netmon {

namespace {

std::string destinationText(const Route& route) {
  if (route.destination.address.isSpecified()) return route.destination.toString();
  return std::string(route.family == Family::Ipv6 ? "::" : "0.0.0.0") + "/" +
         std::to_string(route.destination.length);
}

std::string linkText(const Verdict& verdict) {
  if (!verdict.linkName.empty()) return verdict.linkName;
  return "link " + std::to_string(verdict.linkIndex);
}

// "the route to the Internet (0.0.0.0/0)", naming the table when it is not main.
std::string internetRouteText(const Verdict& verdict) {
  std::string text = "the route to the Internet (" + destinationText(*verdict.route);
  if (verdict.ruleTable != 0 && verdict.ruleTable != kTableMain) text += ", table " + routeTableName(verdict.ruleTable);
  return text + ")";
}

std::string rejectedText(const Verdict& verdict) {
  if (!verdict.route) return "a policy rule rejects traffic to the Internet";
  const std::string route = internetRouteText(verdict);
  switch (verdict.route->type) {
    case RouteType::Blackhole:
      return route + " is a blackhole";
    case RouteType::Unreachable:
      return route + " is unreachable";
    case RouteType::Prohibit:
      return route + " is prohibited";
    case RouteType::Unicast:
      return route + " leads back to this host through " + linkText(verdict);
    default:
      return route + " is a " + std::string(toString(verdict.route->type)) + " route";
  }
}

std::string onlineText(const Verdict& verdict) {
  if (!verdict.route) return "an Internet route exists";
  const Route& route = *verdict.route;
  std::string text = route.destination.length == 0 ? "default route" : "route " + destinationText(route);
  if (verdict.gateway.isSpecified()) text += " via " + verdict.gateway.toString();
  if (verdict.linkIndex != 0) text += " dev " + linkText(verdict);
  text += " (table " + routeTableName(verdict.ruleTable != 0 ? verdict.ruleTable : route.table) + ")";
  if (verdict.source.isSpecified()) text += ", source " + verdict.source.toString();
  return text;
}

std::string reasonText(const Verdict& verdict) {
  const bool has_link = verdict.linkIndex != 0 || !verdict.linkName.empty();
  switch (verdict.reason) {
    case Reason::NotYetKnown:
      return "not known yet";
    case Reason::NoLinkUp:
      return has_link ? "no link is up (" + linkText(verdict) + " is down)" : "no link is up";
    case Reason::NoCarrier:
      return has_link ? linkText(verdict) + " has no carrier" : "no link that is up has carrier";
    case Reason::NoAddress:
      return has_link ? linkText(verdict) + " has no address" : "no link with carrier has an address";
    case Reason::AddressesTentative:
      return "the addresses on " + (has_link ? linkText(verdict) : std::string("the links")) +
             " are tentative or failed duplicate address detection";
    case Reason::LinkLocalOnly:
      return has_link ? "only link-local addresses (" + linkText(verdict) + ")" : "only link-local addresses";
    case Reason::NoInternetRoute:
      return verdict.uncovered ? "no route covers " + verdict.uncovered->toString() : "no route covers the Internet";
    case Reason::InternetRouteRejected:
      return rejectedText(verdict);
    case Reason::InternetRouteLinkDown:
      if (!verdict.route) return "the route to the Internet leaves through a link that is down";
      return internetRouteText(verdict) + " leaves through " + linkText(verdict) +
             ", which is down or has no carrier";
    case Reason::InternetRouteIgnoredLink:
      if (!verdict.route) return "the route to the Internet leaves through an ignored link";
      return internetRouteText(verdict) + " leaves through " + linkText(verdict) + ", which netmon ignores";
    case Reason::NoSourceAddress:
      if (!verdict.route) return "no usable source address for the Internet";
      return "no usable source address for " + internetRouteText(verdict) +
             (has_link ? " through " + linkText(verdict) : std::string());
    case Reason::InternetRoute:
      return onlineText(verdict);
    case Reason::CaptivePortal:
      if (!verdict.probeRedirect.empty()) {
        return "captive portal: " + verdict.probeUrl + " redirected to " + verdict.probeRedirect + " (through " +
               onlineText(verdict) + ")";
      }
      return "captive portal: " + verdict.probeUrl + " did not give the expected answer (through " +
             onlineText(verdict) + ")";
    case Reason::ProbeNoAnswer:
      return "no answer from " + verdict.probeUrl + " (through " + onlineText(verdict) + ")";
  }
  return std::string(toString(verdict.reason));
}

}  // namespace

std::string Verdict::explanation() const { return std::string(toString(reachability)) + ": " + reasonText(*this); }

}  // namespace netmon
