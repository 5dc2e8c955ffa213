// The decision tables of src/core/derive.cc, row by row: operational state, transport medium,
// reachability (every reason), betterVerdict() and Verdict::explanation().
#include "core/derive.h"

#include <gtest/gtest.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netmon::detail {
namespace {

// The kernel's own numbers, so the constants spelt out in derive.cc are checked against them.
constexpr uint32_t kIffLowerUp = IFF_LOWER_UP;
constexpr uint8_t kOperUp = IF_OPER_UP;
constexpr uint8_t kOperDormant = IF_OPER_DORMANT;
constexpr uint8_t kOperUnknown = IF_OPER_UNKNOWN;
constexpr uint8_t kOperDown = IF_OPER_DOWN;

// ─── Builders ────────────────────────────────────────────────────────────────────────────────

IpAddress ip(std::string_view text) {
  auto address = IpAddress::parse(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(IpAddress());
}

IpPrefix prefix(std::string_view text) {
  auto parsed = IpPrefix::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(IpPrefix());
}

// An up link with carrier; tweak the result for the other states.
Link link(int index, std::string name, std::string kind = "") {
  Link l;
  l.index = index;
  l.name = std::move(name);
  l.kind = std::move(kind);
  l.flags = IFF_UP | IFF_RUNNING | kIffLowerUp;
  l.kernelOperState = kOperUp;
  l.hardwareType = ARPHRD_ETHER;
  l.mtu = 1500;
  return l;
}

Link loopback() {
  Link l = link(1, "lo");
  l.flags |= IFF_LOOPBACK;
  l.kernelOperState = kOperUnknown;
  l.hardwareType = ARPHRD_LOOPBACK;
  return l;
}

Link withoutCarrier(Link l) {
  l.flags &= ~(kIffLowerUp | IFF_RUNNING);
  l.kernelOperState = kOperDown;
  return l;
}

Link adminDown(Link l) {
  l.flags &= ~(IFF_UP | IFF_RUNNING | kIffLowerUp);
  l.kernelOperState = kOperDown;
  return l;
}

Link dormant(Link l) {
  l.kernelOperState = kOperDormant;
  return l;
}

Link ignored(Link l) {
  l.ignored = true;
  return l;
}

// The scope the kernel gives: host for loopback addresses, link for link-local, else global.
Address address(int link_index, std::string_view cidr, uint32_t flags = 0) {
  Address a;
  a.linkIndex = link_index;
  const IpPrefix p = prefix(cidr);
  a.address = p.address;
  a.prefixLength = p.length;
  a.flags = flags;
  a.scope = p.address.isLoopback() ? Scope::Host : p.address.isLinkLocal() ? Scope::Link : Scope::Global;
  return a;
}

Address withScope(Address a, Scope scope) {
  a.scope = scope;
  return a;
}

Route route(std::string_view destination, int link_index, std::string_view gateway = "", uint32_t table = kTableMain) {
  Route r;
  r.destination = prefix(destination);
  r.family = r.destination.address.family();
  r.table = table;
  r.linkIndex = link_index;
  if (!gateway.empty()) r.gateway = ip(gateway);
  r.type = RouteType::Unicast;
  r.protocol = 4;  // static
  r.scope = gateway.empty() ? Scope::Link : Scope::Global;
  return r;
}

Route reject(std::string_view destination, RouteType type, uint32_t table = kTableMain) {
  Route r = route(destination, 0, "", table);
  r.type = type;
  r.scope = Scope::Global;
  return r;
}

Route withMetric(Route r, uint32_t metric) {
  r.metric = metric;
  return r;
}

Route multipath(std::string_view destination, std::vector<std::pair<int, std::string_view>> hops) {
  Route r = route(destination, 0);
  r.scope = Scope::Global;
  for (const auto& [link_index, gateway] : hops) {
    NextHop hop;
    hop.linkIndex = link_index;
    hop.gateway = ip(gateway);
    r.nextHops.push_back(hop);
  }
  return r;
}

Rule lookup(Family family, uint32_t priority, uint32_t table) {
  Rule r;
  r.family = family;
  r.priority = priority;
  r.table = table;
  r.action = RuleAction::ToTable;
  return r;
}

Rule ruleAction(Family family, uint32_t priority, RuleAction action) {
  Rule r = lookup(family, priority, 0);
  r.action = action;
  return r;
}

// The kernel's default rules, as a dump shows them.
std::vector<Rule> defaultRules(Family family) {
  std::vector<Rule> rules{lookup(family, 0, kTableLocal), lookup(family, 32766, kTableMain)};
  if (family == Family::Ipv4) rules.push_back(lookup(family, 32767, kTableDefault));
  return rules;
}

// A host: lo with its addresses and local-table routes; tests add the rest.
struct Host {
  std::vector<Link> links{loopback()};
  std::vector<Address> addresses{address(1, "127.0.0.1/8"), address(1, "::1/128")};
  std::vector<Route> routes{[] {
    Route r = route("127.0.0.0/8", 1, "", kTableLocal);
    r.type = RouteType::Local;
    r.scope = Scope::Host;
    return r;
  }()};
  std::vector<Rule> rules;

  Verdict derive(Family family = Family::Ipv4) const {
    return deriveReachability(ReachabilityInput{family, links, addresses, routes, rules});
  }
};

// eth0 (2) with 192.0.2.10/24 and 2001:db8::10/64, default routes via 192.0.2.1 and fe80::1.
Host homeHost() {
  Host host;
  host.links.push_back(link(2, "eth0"));
  host.addresses.push_back(address(2, "192.0.2.10/24"));
  host.addresses.push_back(address(2, "fe80::10/64"));
  host.addresses.push_back(address(2, "2001:db8::10/64"));
  host.routes.push_back(withMetric(route("0.0.0.0/0", 2, "192.0.2.1"), 100));
  host.routes.push_back(withMetric(route("::/0", 2, "fe80::1"), 1024));
  return host;
}

void expectOnline(const Verdict& v, std::string_view destination, std::string_view link_name,
                  uint32_t table = kTableMain) {
  EXPECT_EQ(v.reachability, Reachability::Online) << v.explanation();
  EXPECT_EQ(v.reason, Reason::InternetRoute);
  ASSERT_TRUE(v.route.has_value());
  EXPECT_EQ(v.route->destination, prefix(destination));
  EXPECT_EQ(v.linkName, link_name);
  EXPECT_EQ(v.ruleTable, table);
  EXPECT_TRUE(v.source.isSpecified());
  EXPECT_FALSE(v.uncovered.has_value());
}

// ─── Operational state ───────────────────────────────────────────────────────────────────────

struct OperRow {
  bool adminUp, carrier;
  uint8_t operState;
  bool hasMaster, portWithoutCarrier;
  AddressLevel addresses;
  OperationalState expected;
};

TEST(DeriveOperationalStateTest, TableRows) {
  using A = AddressLevel;
  using S = OperationalState;
  const OperRow rows[] = {
      // Row 1: admin down, whatever else holds.
      {false, false, kOperDown, false, false, A::None, S::Off},
      {false, true, kOperUp, true, true, A::Routable, S::Off},
      // Row 2: up without carrier; dormant without carrier is still no-carrier.
      {true, false, kOperDown, false, false, A::None, S::NoCarrier},
      {true, false, kOperDormant, false, false, A::Routable, S::NoCarrier},
      {true, false, IF_OPER_LOWERLAYERDOWN, true, false, A::None, S::NoCarrier},
      // Row 3: carrier but dormant beats master and addresses.
      {true, true, kOperDormant, false, false, A::None, S::Dormant},
      {true, true, kOperDormant, true, false, A::Routable, S::Dormant},
      // Row 4: a port is enslaved whatever its addresses.
      {true, true, kOperUp, true, false, A::None, S::Enslaved},
      {true, true, kOperUp, true, false, A::LinkLocal, S::Enslaved},
      {true, true, kOperUp, true, false, A::Routable, S::Enslaved},
      // Row 5: routable, also for a master with a port lacking carrier.
      {true, true, kOperUp, false, false, A::Routable, S::Routable},
      {true, true, kOperUp, false, true, A::Routable, S::Routable},
      // Row 6: degraded.
      {true, true, kOperUp, false, false, A::LinkLocal, S::Degraded},
      {true, true, kOperUp, false, true, A::LinkLocal, S::Degraded},
      // Row 7: degraded-carrier.
      {true, true, kOperUp, false, true, A::None, S::DegradedCarrier},
      // Row 8: carrier.
      {true, true, kOperUp, false, false, A::None, S::Carrier},
      // Loopback and tun report IF_OPER_UNKNOWN yet have carrier.
      {true, true, kOperUnknown, false, false, A::Routable, S::Routable},
      {true, true, kOperUnknown, false, false, A::None, S::Carrier},
  };
  for (const OperRow& row : rows) {
    LinkFacts facts;
    facts.adminUp = row.adminUp;
    facts.carrier = row.carrier;
    facts.kernelOperState = row.operState;
    facts.hasMaster = row.hasMaster;
    facts.portWithoutCarrier = row.portWithoutCarrier;
    facts.addresses = row.addresses;
    EXPECT_EQ(deriveOperationalState(facts), row.expected)
        << "adminUp=" << row.adminUp << " carrier=" << row.carrier << " oper=" << int(row.operState)
        << " master=" << row.hasMaster << " portWithoutCarrier=" << row.portWithoutCarrier
        << " addresses=" << int(row.addresses) << " got " << toString(deriveOperationalState(facts));
  }
}

// ─── Transport medium ────────────────────────────────────────────────────────────────────────

struct MediumRow {
  std::string_view kind;
  uint16_t hardwareType;
  std::string_view devtype;
  bool wireless, loopback;
  TransportMedium expected;
};

TEST(DeriveTransportMediumTest, TableRows) {
  using M = TransportMedium;
  const MediumRow rows[] = {
      // Row 1: loopback beats everything.
      {"", ARPHRD_LOOPBACK, "", false, true, M::Loopback},
      {"", ARPHRD_LOOPBACK, "", false, false, M::Loopback},
      {"veth", ARPHRD_ETHER, "wlan", true, true, M::Loopback},
      // Row 2: Wi-Fi by DEVTYPE or the wireless directory.
      {"", ARPHRD_ETHER, "wlan", false, false, M::Wifi},
      {"", ARPHRD_ETHER, "", true, false, M::Wifi},
      {"", ARPHRD_IEEE80211_RADIOTAP, "wlan", false, false, M::Wifi},
      // Row 3: cellular; DEVTYPE wins over ARPHRD_NONE (qmi_wwan raw-IP) and ARPHRD_ETHER (cdc_ether).
      {"", ARPHRD_NONE, "wwan", false, false, M::Cellular},
      {"", ARPHRD_ETHER, "wwan", false, false, M::Cellular},
      {"rmnet", ARPHRD_RAWIP, "", false, false, M::Cellular},
      {"qmi_wwan", ARPHRD_ETHER, "", false, false, M::Cellular},
      {"wwan", ARPHRD_NONE, "", false, false, M::Cellular},
      {"", ARPHRD_RAWIP, "", false, false, M::Cellular},
      // Row 4: Bluetooth PAN.
      {"", ARPHRD_ETHER, "bluetooth", false, false, M::Bluetooth},
      {"bnep", ARPHRD_ETHER, "", false, false, M::Bluetooth},
      // Row 5: software kinds and tunnel hardware types.
      {"veth", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"bridge", ARPHRD_ETHER, "bridge", false, false, M::Virtual},
      {"bond", ARPHRD_ETHER, "bond", false, false, M::Virtual},
      {"team", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"tun", ARPHRD_NONE, "", false, false, M::Virtual},
      {"tun", ARPHRD_ETHER, "", false, false, M::Virtual},  // a tap device
      {"tap", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"wireguard", ARPHRD_NONE, "wireguard", false, false, M::Virtual},
      {"vxlan", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"geneve", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"gre", ARPHRD_IPGRE, "", false, false, M::Virtual},
      {"gretap", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"ip6gre", ARPHRD_IP6GRE, "", false, false, M::Virtual},
      {"ipip", ARPHRD_TUNNEL, "", false, false, M::Virtual},
      {"sit", ARPHRD_SIT, "", false, false, M::Virtual},
      {"ip6tnl", ARPHRD_TUNNEL6, "", false, false, M::Virtual},
      {"vti", ARPHRD_TUNNEL, "", false, false, M::Virtual},
      {"vti6", ARPHRD_TUNNEL6, "", false, false, M::Virtual},
      {"vlan", ARPHRD_ETHER, "vlan", false, false, M::Virtual},
      {"macvlan", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"macvtap", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"ipvlan", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"vrf", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"dummy", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"xfrm", ARPHRD_NONE, "", false, false, M::Virtual},
      {"nlmon", ARPHRD_NETLINK, "", false, false, M::Virtual},
      {"ifb", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"netdevsim", ARPHRD_ETHER, "", false, false, M::Virtual},
      {"", ARPHRD_NONE, "", false, false, M::Virtual},
      {"", ARPHRD_TUNNEL, "", false, false, M::Virtual},
      {"", ARPHRD_TUNNEL6, "", false, false, M::Virtual},
      {"", ARPHRD_SIT, "", false, false, M::Virtual},
      {"", ARPHRD_IPGRE, "", false, false, M::Virtual},
      {"", ARPHRD_IP6GRE, "", false, false, M::Virtual},
      // Row 6: Ethernet hardware.
      {"", ARPHRD_ETHER, "", false, false, M::Ethernet},
      {"", ARPHRD_ETHER, "gadget", false, false, M::Ethernet},
      // Row 7: the rest.
      {"", ARPHRD_PPP, "", false, false, M::Unknown},
      {"ppp", ARPHRD_PPP, "", false, false, M::Unknown},
      {"", ARPHRD_INFINIBAND, "", false, false, M::Unknown},
      {"", ARPHRD_CAN, "", false, false, M::Unknown},
      {"something-new", ARPHRD_ETHER, "", false, false, M::Unknown},
      {"", 0, "", false, false, M::Unknown},
  };
  for (const MediumRow& row : rows) {
    MediumFacts facts{row.kind, row.hardwareType, row.devtype, row.wireless, row.loopback};
    EXPECT_EQ(deriveTransportMedium(facts), row.expected)
        << "kind=" << row.kind << " type=" << row.hardwareType << " devtype=" << row.devtype
        << " wireless=" << row.wireless << " loopback=" << row.loopback << " got "
        << toString(deriveTransportMedium(facts));
  }
}

// ─── Reachability: disconnected (step c) ─────────────────────────────────────────────────────

TEST(DeriveReachabilityTest, OnlyLoopbackIsNoLinkUp) {
  Host host;
  for (Family family : {Family::Ipv4, Family::Ipv6}) {
    const Verdict v = host.derive(family);
    EXPECT_EQ(v.reachability, Reachability::Disconnected);
    EXPECT_EQ(v.reason, Reason::NoLinkUp);
    EXPECT_EQ(v.linkIndex, 0);
    EXPECT_EQ(v.explanation(), "disconnected: no link is up");
  }
}

TEST(DeriveReachabilityTest, AdminDownLinkIsNoLinkUp) {
  Host host = homeHost();
  host.links[1] = adminDown(host.links[1]);
  host.links.push_back(adminDown(link(3, "wlan0")));
  const Verdict v = host.derive();
  EXPECT_EQ(v.reachability, Reachability::Disconnected);
  EXPECT_EQ(v.reason, Reason::NoLinkUp);
  EXPECT_EQ(v.linkName, "eth0");
  EXPECT_EQ(v.explanation(), "disconnected: no link is up (eth0 is down)");
}

TEST(DeriveReachabilityTest, IgnoredUpLinkDoesNotCount) {
  Host host = homeHost();
  host.links[1] = ignored(host.links[1]);
  EXPECT_EQ(host.derive().reason, Reason::NoLinkUp);
  EXPECT_EQ(host.derive(Family::Ipv6).reason, Reason::NoLinkUp);
}

TEST(DeriveReachabilityTest, UpWithoutCarrierIsNoCarrier) {
  Host host = homeHost();
  host.links[1] = withoutCarrier(host.links[1]);
  for (Family family : {Family::Ipv4, Family::Ipv6}) {
    const Verdict v = host.derive(family);
    EXPECT_EQ(v.reachability, Reachability::Disconnected);
    EXPECT_EQ(v.reason, Reason::NoCarrier);
    EXPECT_EQ(v.linkIndex, 2);
    EXPECT_EQ(v.linkName, "eth0");
    EXPECT_FALSE(v.route.has_value());
    EXPECT_EQ(v.explanation(), "disconnected: eth0 has no carrier");
  }
}

TEST(DeriveReachabilityTest, DormantIsNoCarrierAndALinkWithoutCarrierIsNamedFirst) {
  Host host;
  host.links.push_back(dormant(link(2, "wlan0")));
  host.addresses.push_back(address(2, "192.0.2.10/24"));
  Verdict v = host.derive();
  EXPECT_EQ(v.reason, Reason::NoCarrier);
  EXPECT_EQ(v.linkName, "wlan0");

  host.links.push_back(withoutCarrier(link(3, "eth0")));
  v = host.derive();
  EXPECT_EQ(v.reason, Reason::NoCarrier);
  EXPECT_EQ(v.linkName, "eth0");
}

TEST(DeriveReachabilityTest, TentativeAddressIsAddressesTentative) {
  Host host;
  host.links.push_back(link(2, "eth0"));
  host.addresses.push_back(address(2, "192.0.2.10/24", IFA_F_TENTATIVE));
  host.addresses.push_back(address(2, "fe80::10/64", IFA_F_TENTATIVE));
  host.addresses.push_back(address(2, "2001:db8::10/64", IFA_F_TENTATIVE));
  host.routes.push_back(route("0.0.0.0/0", 2, "192.0.2.1"));
  for (Family family : {Family::Ipv4, Family::Ipv6}) {
    const Verdict v = host.derive(family);
    EXPECT_EQ(v.reachability, Reachability::Disconnected);
    EXPECT_EQ(v.reason, Reason::AddressesTentative);
    EXPECT_EQ(v.linkName, "eth0");
    EXPECT_EQ(v.explanation(),
              "disconnected: the addresses on eth0 are tentative or failed duplicate address detection");
  }
}

TEST(DeriveReachabilityTest, DadFailedAddressIsAddressesTentative) {
  Host host;
  host.links.push_back(link(2, "eth0"));
  host.links.push_back(link(3, "eth1"));
  host.addresses.push_back(address(3, "2001:db8::10/64", IFA_F_DADFAILED | IFA_F_TENTATIVE));
  const Verdict v = host.derive(Family::Ipv6);
  EXPECT_EQ(v.reason, Reason::AddressesTentative);
  EXPECT_EQ(v.linkName, "eth1");
}

TEST(DeriveReachabilityTest, CarrierWithoutAddressIsNoAddress) {
  Host host;
  host.links.push_back(link(2, "eth0"));
  host.addresses.push_back(address(2, "2001:db8::10/64"));  // of the other family
  host.addresses.push_back(withScope(address(2, "192.0.2.10/32"), Scope::Host));
  const Verdict v = host.derive(Family::Ipv4);
  EXPECT_EQ(v.reachability, Reachability::Disconnected);
  EXPECT_EQ(v.reason, Reason::NoAddress);
  EXPECT_EQ(v.linkName, "eth0");
  EXPECT_EQ(v.explanation(), "disconnected: eth0 has no address");
}

TEST(DeriveReachabilityTest, AddressesOnLoopbackOrOnADeadLinkDoNotCount) {
  Host host;
  host.addresses.push_back(address(1, "192.0.2.53/32"));  // anycast service address on lo
  host.links.push_back(withoutCarrier(link(2, "eth0")));
  host.addresses.push_back(address(2, "198.51.100.10/24"));
  host.routes.push_back(route("0.0.0.0/0", 2, "198.51.100.1"));
  EXPECT_EQ(host.derive().reason, Reason::NoCarrier);
}

// ─── Reachability: local (step d) ────────────────────────────────────────────────────────────

TEST(DeriveReachabilityTest, Ipv4LinkLocalOnlyIsLocal) {
  Host host;
  host.links.push_back(link(2, "eth0"));
  host.addresses.push_back(address(2, "169.254.7.9/16"));
  host.routes.push_back(route("0.0.0.0/0", 2));  // avahi-autoipd's default dev eth0
  const Verdict v = host.derive();
  EXPECT_EQ(v.reachability, Reachability::Local);
  EXPECT_EQ(v.reason, Reason::LinkLocalOnly);
  EXPECT_EQ(v.linkName, "eth0");
  EXPECT_EQ(v.explanation(), "local: only link-local addresses (eth0)");
}

TEST(DeriveReachabilityTest, Ipv6FeEightyOnlyIsLocal) {
  Host host;
  host.links.push_back(link(2, "eth0"));
  host.addresses.push_back(address(2, "fe80::10/64"));
  host.routes.push_back(route("::/0", 2, "fe80::1"));
  const Verdict v = host.derive(Family::Ipv6);
  EXPECT_EQ(v.reachability, Reachability::Local);
  EXPECT_EQ(v.reason, Reason::LinkLocalOnly);
}

TEST(DeriveReachabilityTest, LinkScopeAddressIsLinkLocal) {
  Host host;
  host.links.push_back(link(2, "eth0"));
  host.addresses.push_back(withScope(address(2, "192.0.2.10/24"), Scope::Link));
  host.routes.push_back(route("0.0.0.0/0", 2, "192.0.2.1"));
  EXPECT_EQ(host.derive().reachability, Reachability::Local);
}

// ─── Reachability: site (step e, failures) ───────────────────────────────────────────────────

TEST(DeriveReachabilityTest, NoRouteIsSiteWithUncoveredBlock) {
  Host host = homeHost();
  host.routes.resize(1);  // only lo's local route
  host.routes.push_back(route("192.0.2.0/24", 2));  // not a candidate, but harmless if passed
  Verdict v = host.derive();
  EXPECT_EQ(v.reachability, Reachability::Site);
  EXPECT_EQ(v.reason, Reason::NoInternetRoute);
  ASSERT_TRUE(v.uncovered.has_value());
  EXPECT_EQ(*v.uncovered, prefix("1.0.0.0/8"));
  EXPECT_FALSE(v.route.has_value());
  EXPECT_EQ(v.explanation(), "site: no route covers 1.0.0.0/8");

  v = host.derive(Family::Ipv6);
  EXPECT_EQ(v.reason, Reason::NoInternetRoute);
  ASSERT_TRUE(v.uncovered.has_value());
  EXPECT_EQ(*v.uncovered, prefix("2000::/3"));
  EXPECT_EQ(v.explanation(), "site: no route covers 2000::/3");
}

TEST(DeriveReachabilityTest, PrivateSlashEightOnlyIsNotOnline) {
  Host host = homeHost();
  host.routes.resize(1);
  host.routes.push_back(route("10.0.0.0/8", 2, "192.0.2.1"));
  const Verdict v = host.derive();
  EXPECT_EQ(v.reachability, Reachability::Site);
  EXPECT_EQ(v.reason, Reason::NoInternetRoute);
  EXPECT_EQ(v.uncovered, prefix("1.0.0.0/8"));
}

TEST(DeriveReachabilityTest, PartialSplitIsSiteWithTheUncoveredHalf) {
  Host host = homeHost();
  host.routes.resize(1);
  host.routes.push_back(route("0.0.0.0/1", 2, "192.0.2.1"));
  Verdict v = host.derive();
  EXPECT_EQ(v.reachability, Reachability::Site);
  EXPECT_EQ(v.reason, Reason::NoInternetRoute);
  // [128, 224) is not one aligned block: its first /8 is named.
  EXPECT_EQ(v.uncovered, prefix("128.0.0.0/8"));

  // With 192.0.0.0/2 also routed the gap is exactly 128.0.0.0/2.
  host.routes.push_back(route("192.0.0.0/2", 2, "192.0.2.1"));
  v = host.derive();
  EXPECT_EQ(v.reason, Reason::NoInternetRoute);
  EXPECT_EQ(v.uncovered, prefix("128.0.0.0/2"));
  EXPECT_EQ(v.explanation(), "site: no route covers 128.0.0.0/2");
}

TEST(DeriveReachabilityTest, Ipv6PartialCoverage) {
  Host host = homeHost();
  host.routes.resize(1);
  host.routes.push_back(route("2000::/4", 2, "fe80::1"));
  const Verdict v = host.derive(Family::Ipv6);
  EXPECT_EQ(v.reason, Reason::NoInternetRoute);
  EXPECT_EQ(v.uncovered, prefix("3000::/4"));
}

TEST(DeriveReachabilityTest, RejectRoutesAreSiteRejected) {
  const std::pair<RouteType, std::string_view> rows[] = {
      {RouteType::Blackhole, "site: the route to the Internet (0.0.0.0/0) is a blackhole"},
      {RouteType::Unreachable, "site: the route to the Internet (0.0.0.0/0) is unreachable"},
      {RouteType::Prohibit, "site: the route to the Internet (0.0.0.0/0) is prohibited"},
  };
  for (const auto& [type, text] : rows) {
    Host host = homeHost();
    host.routes[1] = reject("0.0.0.0/0", type);
    const Verdict v = host.derive();
    EXPECT_EQ(v.reachability, Reachability::Site) << toString(type);
    EXPECT_EQ(v.reason, Reason::InternetRouteRejected);
    ASSERT_TRUE(v.route.has_value());
    EXPECT_EQ(v.route->type, type);
    EXPECT_EQ(v.ruleTable, kTableMain);
    EXPECT_EQ(v.explanation(), text);
  }
}

TEST(DeriveReachabilityTest, RejectRouteWinsOverLongerMetric) {
  // Same prefix: the lower metric decides, even when it is the reject.
  Host host = homeHost();
  host.routes.push_back(withMetric(reject("0.0.0.0/0", RouteType::Unreachable), 50));
  EXPECT_EQ(host.derive().reason, Reason::InternetRouteRejected);
  host.routes.back().metric = 200;
  EXPECT_EQ(host.derive().reachability, Reachability::Online);
}

TEST(DeriveReachabilityTest, LocalRouteCoveringTheInternetIsRejected) {
  Host host = homeHost();
  Route local = route("0.0.0.0/0", 1, "", 100);
  local.type = RouteType::Local;
  host.routes.push_back(local);
  host.rules = defaultRules(Family::Ipv4);
  host.rules.push_back(lookup(Family::Ipv4, 100, 100));
  const Verdict v = host.derive();
  EXPECT_EQ(v.reason, Reason::InternetRouteRejected);
  EXPECT_EQ(v.explanation(), "site: the route to the Internet (0.0.0.0/0, table 100) is a local route");
}

TEST(DeriveReachabilityTest, UnicastRouteThroughLoopbackIsRejected) {
  Host host = homeHost();
  host.routes[1] = route("0.0.0.0/0", 1);
  const Verdict v = host.derive();
  EXPECT_EQ(v.reason, Reason::InternetRouteRejected);
  EXPECT_EQ(v.linkName, "lo");
  EXPECT_EQ(v.explanation(), "site: the route to the Internet (0.0.0.0/0) leads back to this host through lo");
}

TEST(DeriveReachabilityTest, ThrowFallsThroughToTheNextRule) {
  Host host = homeHost();
  host.rules = defaultRules(Family::Ipv4);
  host.rules.push_back(lookup(Family::Ipv4, 100, 100));
  host.routes.push_back(reject("0.0.0.0/0", RouteType::Throw, 100));
  expectOnline(host.derive(), "0.0.0.0/0", "eth0");

  // Nothing after the throw: no route.
  host.routes[1].table = 200;
  const Verdict v = host.derive();
  EXPECT_EQ(v.reachability, Reachability::Site);
  EXPECT_EQ(v.reason, Reason::NoInternetRoute);
}

TEST(DeriveReachabilityTest, RouteThroughLinkWithoutCarrierIsLinkDown) {
  Host host = homeHost();
  host.links.push_back(withoutCarrier(link(3, "wlan0")));
  host.routes[1] = route("0.0.0.0/0", 3, "198.51.100.1");
  const Verdict v = host.derive();
  EXPECT_EQ(v.reachability, Reachability::Site);
  EXPECT_EQ(v.reason, Reason::InternetRouteLinkDown);
  EXPECT_EQ(v.linkIndex, 3);
  EXPECT_EQ(v.linkName, "wlan0");
  EXPECT_EQ(v.gateway, ip("198.51.100.1"));
  ASSERT_TRUE(v.route.has_value());
  EXPECT_EQ(v.explanation(),
            "site: the route to the Internet (0.0.0.0/0) leaves through wlan0, which is down or has no carrier");
}

TEST(DeriveReachabilityTest, RouteThroughDormantOrDownOrMissingLinkIsLinkDown) {
  for (int variant = 0; variant < 3; ++variant) {
    Host host = homeHost();
    if (variant == 0) host.links.push_back(dormant(link(3, "wlan0")));
    if (variant == 1) host.links.push_back(adminDown(link(3, "wlan0")));
    host.routes[1] = route("0.0.0.0/0", 3, "198.51.100.1");
    const Verdict v = host.derive();
    EXPECT_EQ(v.reason, Reason::InternetRouteLinkDown) << variant;
    EXPECT_EQ(v.linkIndex, 3);
  }
}

TEST(DeriveReachabilityTest, LowerMetricRouteOverDeadLinkStillDecides) {
  // ignore_routes_with_linkdown=0 (the default): the kernel keeps picking the metric-100 route.
  Host host = homeHost();
  host.links[1] = withoutCarrier(host.links[1]);
  host.links.push_back(link(3, "wlan0"));
  host.addresses.push_back(address(3, "198.51.100.10/24"));
  host.routes.push_back(withMetric(route("0.0.0.0/0", 3, "198.51.100.1"), 600));
  EXPECT_EQ(host.derive().reason, Reason::InternetRouteLinkDown);
  EXPECT_EQ(host.derive().linkName, "eth0");

  host.routes[1].metric = 700;
  expectOnline(host.derive(), "0.0.0.0/0", "wlan0");
}

TEST(DeriveReachabilityTest, RouteThroughIgnoredLinkIsIgnoredLink) {
  Host host = homeHost();
  host.links.push_back(ignored(link(3, "tun0", "tun")));
  host.addresses.push_back(address(3, "10.8.0.2/24"));
  host.routes.push_back(route("0.0.0.0/1", 3));
  host.routes.push_back(route("128.0.0.0/1", 3));
  const Verdict v = host.derive();
  EXPECT_EQ(v.reachability, Reachability::Site);
  EXPECT_EQ(v.reason, Reason::InternetRouteIgnoredLink);
  EXPECT_EQ(v.linkName, "tun0");
  EXPECT_EQ(v.route->destination, prefix("0.0.0.0/1"));
  EXPECT_EQ(v.explanation(), "site: the route to the Internet (0.0.0.0/1) leaves through tun0, which netmon ignores");
}

TEST(DeriveReachabilityTest, Ipv6RouteThroughLinkWithoutGlobalAddressIsNoSourceAddress) {
  Host host = homeHost();
  host.links.push_back(link(3, "wg0", "wireguard"));
  host.links.back().hardwareType = ARPHRD_NONE;
  host.addresses.push_back(address(3, "fe80::abcd/64"));
  host.routes.push_back(route("::/1", 3));
  host.routes.push_back(route("8000::/1", 3));
  const Verdict v = host.derive(Family::Ipv6);
  EXPECT_EQ(v.reachability, Reachability::Site);
  EXPECT_EQ(v.reason, Reason::NoSourceAddress);
  EXPECT_EQ(v.linkName, "wg0");
  EXPECT_FALSE(v.source.isSpecified());
  EXPECT_EQ(v.explanation(), "site: no usable source address for the route to the Internet (::/1) through wg0");
}

TEST(DeriveReachabilityTest, Ipv4BorrowsASourceFromAnotherLink) {
  // inet_select_addr() falls back to any device's address.
  Host host = homeHost();
  host.links.push_back(link(3, "wg0", "wireguard"));
  host.routes.push_back(route("0.0.0.0/1", 3));
  host.routes.push_back(route("128.0.0.0/1", 3));
  const Verdict v = host.derive();
  expectOnline(v, "0.0.0.0/1", "wg0");
  EXPECT_EQ(v.source, ip("192.0.2.10"));
}

TEST(DeriveReachabilityTest, RejectRuleIsSiteRejectedWithoutRoute) {
  for (RuleAction action : {RuleAction::Blackhole, RuleAction::Unreachable, RuleAction::Prohibit}) {
    Host host = homeHost();
    host.rules = defaultRules(Family::Ipv4);
    host.rules.push_back(ruleAction(Family::Ipv4, 100, action));
    const Verdict v = host.derive();
    EXPECT_EQ(v.reachability, Reachability::Site) << toString(action);
    EXPECT_EQ(v.reason, Reason::InternetRouteRejected);
    EXPECT_FALSE(v.route.has_value());
    EXPECT_EQ(v.explanation(), "site: a policy rule rejects traffic to the Internet");
    // The list has no IPv6 rules, so IPv6 keeps the kernel's defaults.
    EXPECT_EQ(host.derive(Family::Ipv6).reachability, Reachability::Online);
  }
}

TEST(DeriveReachabilityTest, RuleWithDestinationRejectsPartOfTheInternet) {
  Host host = homeHost();
  host.rules = defaultRules(Family::Ipv4);
  Rule r = ruleAction(Family::Ipv4, 100, RuleAction::Prohibit);
  r.destination = prefix("64.0.0.0/2");
  host.rules.push_back(r);
  Verdict v = host.derive();
  EXPECT_EQ(v.reason, Reason::InternetRouteRejected);

  // Negated, it rejects everything else.
  host.rules.back().invert = true;
  v = host.derive();
  EXPECT_EQ(v.reason, Reason::InternetRouteRejected);

  // A destination longer than /8 cannot be judged on /8 blocks: the rule does not apply.
  host.rules.back().invert = false;
  host.rules.back().destination = prefix("203.0.113.0/24");
  EXPECT_EQ(host.derive().reachability, Reachability::Online);
  host.rules.back().invert = true;
  EXPECT_EQ(host.derive().reachability, Reachability::Online);
}

// ─── Reachability: online (step e, success) ──────────────────────────────────────────────────

TEST(DeriveReachabilityTest, DefaultRouteIsOnline) {
  const Host host = homeHost();
  const Verdict v = host.derive();
  expectOnline(v, "0.0.0.0/0", "eth0");
  EXPECT_EQ(v.linkIndex, 2);
  EXPECT_EQ(v.gateway, ip("192.0.2.1"));
  EXPECT_EQ(v.source, ip("192.0.2.10"));
  EXPECT_EQ(v.route->metric, 100u);
  EXPECT_EQ(v.explanation(), "online: default route via 192.0.2.1 dev eth0 (table main), source 192.0.2.10");
}

TEST(DeriveReachabilityTest, DefaultRouteWithUnspecifiedDestinationAddressIsOnline) {
  Host host = homeHost();
  host.routes[1].destination = IpPrefix();  // a parser may leave RTA_DST out of a default route
  const Verdict v = host.derive();
  EXPECT_EQ(v.reachability, Reachability::Online);
  ASSERT_TRUE(v.route.has_value());
  EXPECT_EQ(v.route->destination.length, 0);
  EXPECT_EQ(v.explanation(), "online: default route via 192.0.2.1 dev eth0 (table main), source 192.0.2.10");
  host.routes[1] = reject("0.0.0.0/0", RouteType::Blackhole);
  host.routes[1].destination = IpPrefix();
  EXPECT_EQ(host.derive().explanation(), "site: the route to the Internet (0.0.0.0/0) is a blackhole");
}

TEST(DeriveReachabilityTest, Ipv6DefaultWithGlobalAddressIsOnline) {
  const Host host = homeHost();
  const Verdict v = host.derive(Family::Ipv6);
  expectOnline(v, "::/0", "eth0");
  EXPECT_EQ(v.gateway, ip("fe80::1"));
  EXPECT_EQ(v.source, ip("2001:db8::10"));
  EXPECT_EQ(v.explanation(), "online: default route via fe80::1 dev eth0 (table main), source 2001:db8::10");
}

TEST(DeriveReachabilityTest, SplitDefaultsAreOnlineThroughTheLargerShare) {
  // An OpenVPN client: 0/1 and 128/1 via tun0 shadow the DHCP default.
  Host host = homeHost();
  host.links.push_back(link(3, "tun0", "tun"));
  host.links.back().hardwareType = ARPHRD_NONE;
  host.addresses.push_back(address(3, "10.8.0.2/24"));
  host.routes.push_back(route("0.0.0.0/1", 3, "10.8.0.1"));
  host.routes.push_back(route("128.0.0.0/1", 3, "10.8.0.1"));
  const Verdict v = host.derive();
  // 0/1 carries [1,10)+[11,127) = 125 /8s, 128/1 carries 96.
  expectOnline(v, "0.0.0.0/1", "tun0");
  EXPECT_EQ(v.source, ip("10.8.0.2"));
  EXPECT_EQ(v.explanation(), "online: route 0.0.0.0/1 via 10.8.0.1 dev tun0 (table main), source 10.8.0.2");

  // Without the default route too.
  host.routes.erase(host.routes.begin() + 1);
  expectOnline(host.derive(), "0.0.0.0/1", "tun0");
}

TEST(DeriveReachabilityTest, EqualSharesPickTheFirstInAddressOrder) {
  Host host = homeHost();
  host.links.push_back(link(3, "eth1"));
  host.addresses.push_back(address(3, "2001:db8:1::10/64"));
  host.routes.resize(1);
  host.routes.push_back(route("3000::/4", 3, "fe80::2"));
  host.routes.push_back(route("2000::/4", 2, "fe80::1"));
  expectOnline(host.derive(Family::Ipv6), "2000::/4", "eth0");
}

TEST(DeriveReachabilityTest, LongerPrefixBeatsBlackholeDefault) {
  Host host = homeHost();
  host.routes[1] = reject("0.0.0.0/0", RouteType::Blackhole);
  host.routes.push_back(route("0.0.0.0/1", 2, "192.0.2.1"));
  host.routes.push_back(route("128.0.0.0/1", 2, "192.0.2.1"));
  expectOnline(host.derive(), "0.0.0.0/1", "eth0");
}

TEST(DeriveReachabilityTest, DefaultInTableSelectedByRuleIsOnline) {
  Host host = homeHost();
  host.routes[1].table = 100;  // main has no default any more
  host.rules = defaultRules(Family::Ipv4);
  Rule r = lookup(Family::Ipv4, 1000, 100);
  r.inputInterface = "lo";  // `iif lo` selects locally originated traffic
  host.rules.push_back(r);
  const Verdict v = host.derive();
  expectOnline(v, "0.0.0.0/0", "eth0", 100);
  EXPECT_EQ(v.explanation(), "online: default route via 192.0.2.1 dev eth0 (table 100), source 192.0.2.10");

  // Without the rule, table 100 is never consulted.
  host.rules.pop_back();
  EXPECT_EQ(host.derive().reason, Reason::NoInternetRoute);
}

TEST(DeriveReachabilityTest, WgQuickPattern) {
  // wg-quick up: `ip rule add not fwmark 0xca6c table 51820` (pref 32765) and
  // `ip rule add table main suppress_prefixlength 0` (pref 32764); default dev wg0 in 51820.
  Host host = homeHost();
  host.links.push_back(link(3, "wg0", "wireguard"));
  host.links.back().hardwareType = ARPHRD_NONE;
  host.addresses.push_back(address(3, "10.0.0.2/32"));
  host.routes.push_back(route("0.0.0.0/0", 3, "", 51820));
  host.rules = defaultRules(Family::Ipv4);
  Rule suppress = lookup(Family::Ipv4, 32764, kTableMain);
  suppress.suppressPrefixLength = 0;
  Rule wg = lookup(Family::Ipv4, 32765, 51820);
  wg.invert = true;
  wg.fwmark = 0xca6c;
  wg.fwmask = 0xffffffff;
  host.rules.push_back(suppress);
  host.rules.push_back(wg);

  Verdict v = host.derive();
  expectOnline(v, "0.0.0.0/0", "wg0", 51820);
  EXPECT_EQ(v.source, ip("10.0.0.2"));
  EXPECT_FALSE(v.gateway.isSpecified());
  EXPECT_EQ(v.explanation(), "online: default route dev wg0 (table 51820), source 10.0.0.2");

  // The kernel only reports the mask it defaulted; a mark without a mask means all ones.
  host.rules.back().fwmask = 0;
  expectOnline(host.derive(), "0.0.0.0/0", "wg0", 51820);

  // wg0 losing carrier does not fall back to eth0: the rule still sends traffic to wg0.
  host.links.back() = withoutCarrier(host.links.back());
  v = host.derive();
  EXPECT_EQ(v.reason, Reason::InternetRouteLinkDown);
  EXPECT_EQ(v.linkName, "wg0");
  EXPECT_EQ(v.ruleTable, 51820u);
}

TEST(DeriveReachabilityTest, SuppressPrefixLengthDoesNotSuppressRejects) {
  // fib_rules_lookup() consults suppress only after a successful lookup: a blackhole stays.
  Host host = homeHost();
  host.routes[1] = reject("0.0.0.0/0", RouteType::Blackhole);
  host.routes.push_back(route("0.0.0.0/0", 2, "192.0.2.1", 100));
  host.rules = defaultRules(Family::Ipv4);
  Rule suppress = lookup(Family::Ipv4, 100, kTableMain);
  suppress.suppressPrefixLength = 0;
  host.rules.push_back(suppress);
  host.rules.push_back(lookup(Family::Ipv4, 200, 100));
  EXPECT_EQ(host.derive().reason, Reason::InternetRouteRejected);

  // A unicast default is suppressed, and the lookup goes on to table 100.
  host.routes[1] = route("0.0.0.0/0", 2, "192.0.2.254");
  const Verdict v = host.derive();
  expectOnline(v, "0.0.0.0/0", "eth0", 100);
  EXPECT_EQ(v.gateway, ip("192.0.2.1"));

  // suppress_prefixlength 0 lets a longer prefix through.
  host.routes.push_back(route("0.0.0.0/1", 2, "192.0.2.254"));
  host.routes.push_back(route("128.0.0.0/1", 2, "192.0.2.254"));
  EXPECT_EQ(host.derive().ruleTable, kTableMain);
}

TEST(DeriveReachabilityTest, MultipathWithOneDeadNextHopIsOnline) {
  Host host = homeHost();
  host.links[1] = withoutCarrier(host.links[1]);
  host.links.push_back(link(3, "eth1"));
  host.addresses.push_back(address(3, "198.51.100.10/24"));
  host.routes[1] = multipath("0.0.0.0/0", {{2, "192.0.2.1"}, {3, "198.51.100.1"}});
  const Verdict v = host.derive();
  expectOnline(v, "0.0.0.0/0", "eth1");
  EXPECT_EQ(v.gateway, ip("198.51.100.1"));
  EXPECT_EQ(v.source, ip("198.51.100.10"));

  // Both next hops dead (a third link keeps an address, so the host is not disconnected).
  host.links[2] = withoutCarrier(host.links[2]);
  host.links.push_back(link(4, "eth2"));
  host.addresses.push_back(address(4, "203.0.113.10/24"));
  const Verdict dead = host.derive();
  EXPECT_EQ(dead.reason, Reason::InternetRouteLinkDown);
  EXPECT_EQ(dead.linkName, "eth0");
  EXPECT_EQ(dead.gateway, ip("192.0.2.1"));
}

TEST(DeriveReachabilityTest, MultipathThroughIgnoredAndLiveLinksIsOnlineThroughTheLiveOne) {
  Host host = homeHost();
  host.links.push_back(ignored(link(3, "eth1")));
  host.routes[1] = multipath("0.0.0.0/0", {{3, "198.51.100.1"}, {2, "192.0.2.1"}});
  expectOnline(host.derive(), "0.0.0.0/0", "eth0");

  // Only the ignored hop and a dead one: the first hop's failure is reported.
  host.links[1] = withoutCarrier(host.links[1]);
  host.links.push_back(link(4, "eth2"));
  host.addresses.push_back(address(4, "203.0.113.10/24"));
  const Verdict v = host.derive();
  EXPECT_EQ(v.reason, Reason::InternetRouteIgnoredLink);
  EXPECT_EQ(v.linkName, "eth1");
}

TEST(DeriveReachabilityTest, MultipathWithALiveHopLackingSourceIsNoSourceAddress) {
  Host host = homeHost();
  host.links[1] = withoutCarrier(host.links[1]);
  host.links.push_back(link(3, "eth1"));  // live, but only fe80::
  host.addresses.push_back(address(3, "fe80::11/64"));
  host.links.push_back(link(4, "eth2"));  // keeps a global address elsewhere
  host.addresses.push_back(address(4, "2001:db8:2::10/64"));
  host.routes[2] = multipath("::/0", {{2, "fe80::1"}, {3, "fe80::2"}});
  const Verdict v = host.derive(Family::Ipv6);
  EXPECT_EQ(v.reason, Reason::NoSourceAddress);
  EXPECT_EQ(v.linkName, "eth1");
  EXPECT_EQ(v.gateway, ip("fe80::2"));
}

TEST(DeriveReachabilityTest, PreferredSourceIsUsedWhenUsable) {
  Host host = homeHost();
  host.addresses.push_back(address(2, "192.0.2.20/24"));
  host.routes[1].preferredSource = ip("192.0.2.20");
  EXPECT_EQ(host.derive().source, ip("192.0.2.20"));

  host.addresses.back().flags = IFA_F_DADFAILED;
  EXPECT_EQ(host.derive().source, ip("192.0.2.10"));
}

TEST(DeriveReachabilityTest, RoutesKeyedOnTosOrIpv6SourceDoNotMatch) {
  Host host = homeHost();
  host.routes[1].tos = 0x10;
  EXPECT_EQ(host.derive().reason, Reason::NoInternetRoute);
  host.routes[2].sourceLength = 48;
  EXPECT_EQ(host.derive(Family::Ipv6).reason, Reason::NoInternetRoute);
}

// ─── Reachability: which rules apply ─────────────────────────────────────────────────────────

// homeHost plus table 100 holding a blackhole default; `r` (pref 100, lookup 100) decides
// whether traffic hits it.
Verdict withBlackholeTable(const Rule& r) {
  Host host = homeHost();
  host.routes.push_back(reject("0.0.0.0/0", RouteType::Blackhole, 100));
  host.rules = defaultRules(Family::Ipv4);
  host.rules.push_back(r);
  return host.derive();
}

TEST(DeriveReachabilityTest, RuleSelectorsRowByRow) {
  struct Row {
    std::string_view name;
    void (*tweak)(Rule&);
    bool applies;
  };
  const Row rows[] = {
      {"plain", [](Rule&) {}, true},
      {"not (plain)", [](Rule& r) { r.invert = true; }, false},
      {"from 192.0.2.0/24", [](Rule& r) { r.source = prefix("192.0.2.0/24"); }, false},
      {"not from 192.0.2.0/24", [](Rule& r) { r.source = prefix("192.0.2.0/24"); r.invert = true; }, false},
      {"to 0.0.0.0/1", [](Rule& r) { r.destination = prefix("0.0.0.0/1"); }, true},
      {"tos 0x10", [](Rule& r) { r.tos = 0x10; }, false},
      {"not tos 0x10", [](Rule& r) { r.tos = 0x10; r.invert = true; }, true},
      {"fwmark 0x1", [](Rule& r) { r.fwmark = 1; r.fwmask = 0xffffffff; }, false},
      {"not fwmark 0x1", [](Rule& r) { r.fwmark = 1; r.fwmask = 0xffffffff; r.invert = true; }, true},
      {"fwmark 0x1/0x2", [](Rule& r) { r.fwmark = 1; r.fwmask = 2; }, true},
      {"fwmark 0/0xff", [](Rule& r) { r.fwmask = 0xff; }, true},
      {"iif lo", [](Rule& r) { r.inputInterface = "lo"; }, true},
      {"iif eth0", [](Rule& r) { r.inputInterface = "eth0"; }, false},
      {"not iif eth0", [](Rule& r) { r.inputInterface = "eth0"; r.invert = true; }, true},
      {"oif eth0", [](Rule& r) { r.outputInterface = "eth0"; }, false},
      {"not oif eth0", [](Rule& r) { r.outputInterface = "eth0"; r.invert = true; }, true},
      {"uidrange", [](Rule& r) { r.hasUidRange = true; }, false},
      {"not uidrange", [](Rule& r) { r.hasUidRange = true; r.invert = true; }, false},
      {"dport", [](Rule& r) { r.hasPortRange = true; }, false},
      {"not dport", [](Rule& r) { r.hasPortRange = true; r.invert = true; }, false},
      {"ipproto tcp", [](Rule& r) { r.ipProtocol = 6; }, false},
      {"not ipproto tcp", [](Rule& r) { r.ipProtocol = 6; r.invert = true; }, false},
      {"l3mdev", [](Rule& r) { r.l3mdev = true; }, false},
  };
  for (const Row& row : rows) {
    Rule r = lookup(Family::Ipv4, 100, 100);
    row.tweak(r);
    const Verdict v = withBlackholeTable(r);
    if (row.applies) {
      EXPECT_EQ(v.reason, Reason::InternetRouteRejected) << row.name;
      EXPECT_EQ(v.ruleTable, 100u) << row.name;
    } else {
      EXPECT_EQ(v.reachability, Reachability::Online) << row.name;
    }
  }
}

TEST(DeriveReachabilityTest, GotoAndNop) {
  Host host = homeHost();
  host.rules = defaultRules(Family::Ipv4);
  Rule jump = ruleAction(Family::Ipv4, 100, RuleAction::Goto);
  jump.gotoPriority = 300;
  host.rules.push_back(jump);
  host.rules.push_back(ruleAction(Family::Ipv4, 200, RuleAction::Blackhole));
  host.rules.push_back(ruleAction(Family::Ipv4, 300, RuleAction::Nop));
  // 100 jumps over the blackhole at 200 to the nop at 300, then main.
  expectOnline(host.derive(), "0.0.0.0/0", "eth0");

  // An unresolved goto is skipped (the kernel has no target for it): the blackhole catches.
  host.rules[3].gotoPriority = 250;
  EXPECT_EQ(host.derive().reason, Reason::InternetRouteRejected);

  // A backward goto is not something the kernel accepts; it is skipped, not looped on.
  host.rules[3].gotoPriority = 50;
  host.rules.push_back(lookup(Family::Ipv4, 50, kTableMain));
  expectOnline(host.derive(), "0.0.0.0/0", "eth0");
}

TEST(DeriveReachabilityTest, UnspecifiedRuleActionRejects) {
  Host host = homeHost();
  host.rules = defaultRules(Family::Ipv4);
  host.rules.push_back(ruleAction(Family::Ipv4, 100, RuleAction::Unspecified));
  EXPECT_EQ(host.derive().reason, Reason::InternetRouteRejected);
}

TEST(DeriveReachabilityTest, DefaultRulesOnlyWhenTheFamilyHasNone) {
  Host host = homeHost();
  // Only IPv6 rules: IPv4 uses the kernel's defaults.
  host.rules = defaultRules(Family::Ipv6);
  expectOnline(host.derive(), "0.0.0.0/0", "eth0");
  // IPv4 rules without a main lookup: main is never consulted.
  host.rules.push_back(lookup(Family::Ipv4, 0, kTableLocal));
  EXPECT_EQ(host.derive().reason, Reason::NoInternetRoute);
  expectOnline(host.derive(Family::Ipv6), "::/0", "eth0");
}

TEST(DeriveReachabilityTest, RulesAreTakenInPriorityOrderWhateverTheInputOrder) {
  Host host = homeHost();
  host.routes.push_back(reject("0.0.0.0/0", RouteType::Prohibit, 100));
  host.rules = {lookup(Family::Ipv4, 32766, kTableMain), lookup(Family::Ipv4, 100, 100),
                lookup(Family::Ipv4, 0, kTableLocal)};
  EXPECT_EQ(host.derive().reason, Reason::InternetRouteRejected);
}

TEST(DeriveReachabilityTest, NeverUnknown) {
  std::vector<Host> hosts{Host(), homeHost()};
  hosts.push_back(homeHost());
  hosts.back().links.clear();
  hosts.push_back(homeHost());
  hosts.back().addresses.clear();
  for (const Host& host : hosts) {
    for (Family family : {Family::Ipv4, Family::Ipv6}) {
      EXPECT_NE(host.derive(family).reachability, Reachability::Unknown);
      EXPECT_NE(host.derive(family).reason, Reason::NotYetKnown);
    }
  }
}

// ─── betterVerdict ───────────────────────────────────────────────────────────────────────────

TEST(BetterVerdictTest, OrderAndTie) {
  const Reachability order[] = {Reachability::Unknown, Reachability::Disconnected, Reachability::Local,
                                Reachability::Site, Reachability::Online};
  for (Reachability a : order) {
    for (Reachability b : order) {
      Verdict v4;
      v4.reachability = a;
      Verdict v6;
      v6.reachability = b;
      const Verdict& better = betterVerdict(v4, v6);
      const Verdict* expected = static_cast<int>(b) > static_cast<int>(a) ? &v6 : &v4;
      EXPECT_EQ(&better, expected) << toString(a) << " vs " << toString(b);
    }
  }
}

TEST(BetterVerdictTest, Examples) {
  Verdict site;
  site.reachability = Reachability::Site;
  Verdict online;
  online.reachability = Reachability::Online;
  Verdict local;
  local.reachability = Reachability::Local;
  EXPECT_EQ(&betterVerdict(site, online), &online);
  EXPECT_EQ(&betterVerdict(online, site), &online);
  EXPECT_EQ(&betterVerdict(local, site), &site);
  Verdict online2 = online;
  EXPECT_EQ(&betterVerdict(online, online2), &online);
}

// ─── Explanation ─────────────────────────────────────────────────────────────────────────────

TEST(VerdictExplanationTest, EveryReasonHasASentence) {
  Verdict v;
  EXPECT_EQ(v.explanation(), "unknown: not known yet");

  v.reachability = Reachability::Disconnected;
  v.reason = Reason::NoCarrier;
  EXPECT_EQ(v.explanation(), "disconnected: no link that is up has carrier");
  v.reason = Reason::NoAddress;
  EXPECT_EQ(v.explanation(), "disconnected: no link with carrier has an address");

  v.reachability = Reachability::Local;
  v.reason = Reason::LinkLocalOnly;
  EXPECT_EQ(v.explanation(), "local: only link-local addresses");

  v.reachability = Reachability::Site;
  v.reason = Reason::NoInternetRoute;
  EXPECT_EQ(v.explanation(), "site: no route covers the Internet");
  v.reason = Reason::InternetRouteLinkDown;
  EXPECT_EQ(v.explanation(), "site: the route to the Internet leaves through a link that is down");
  v.reason = Reason::InternetRouteIgnoredLink;
  EXPECT_EQ(v.explanation(), "site: the route to the Internet leaves through an ignored link");
  v.reason = Reason::NoSourceAddress;
  EXPECT_EQ(v.explanation(), "site: no usable source address for the Internet");

  Route r = route("::/0", 0);
  r.table = 51820;
  v.route = r;
  v.ruleTable = 51820;
  v.linkIndex = 7;
  v.reason = Reason::InternetRouteLinkDown;
  EXPECT_EQ(v.explanation(),
            "site: the route to the Internet (::/0, table 51820) leaves through link 7, "
            "which is down or has no carrier");
}

}  // namespace
}  // namespace netmon::detail
