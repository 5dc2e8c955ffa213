#pragma once
// The neutral model of the kernel's network state: links, addresses, routes, policy rules, and the
// words netmon uses for derived state. Every enum has exactly one spelling, given by toString()
// and accepted by the matching *FromString(); the CLI, JSON and metric labels all use it.
//
// Thread safety: plain values.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netmon/address.h"
#include "netmon/export.h"

namespace netmon {

// How reachable the network is, in Qt's words (QNetworkInformation::Reachability).
//   Unknown      — netmon has no answer (only before the first kernel dump, or a backend that
//                  cannot tell, such as the stub). Never a guess in either direction.
//   Disconnected — no usable address: no non-loopback link that is up, has carrier and holds a
//                  non-tentative, non-dadfailed address of the family.
//   Local        — usable addresses exist but all are link-local (169.254.0.0/16, fe80::/10).
//   Site         — a routable address exists, but the kernel has no usable route covering the
//                  public Internet (see Online). Typical of an isolated LAN or a captive VLAN.
//   Online       — the kernel's routing (policy rules in priority order, then longest-prefix match
//                  in each table) sends every public unicast destination (IPv4: 1.0.0.0–223.255.
//                  255.255 minus 10/8 and 127/8; IPv6: 2000::/3) through a unicast route whose
//                  output link is up with carrier, not ignored, and for which a routable source
//                  address exists. A default route, or split routes such as 0.0.0.0/1 +
//                  128.0.0.0/1 as VPNs install them, both qualify. Blackhole, unreachable and
//                  prohibit routes do not, nor does a route through a link that is down.
// Online does NOT mean that a remote server answers: it is what the kernel would do with a packet,
// not a probe of the path beyond the first hop.
enum class Reachability : uint8_t { Unknown, Disconnected, Local, Site, Online };

// Per-link operational state, in systemd-networkd's vocabulary (networkctl), decided by
// detail::deriveOperationalState() — its decision table is in src/core/derive.cc.
enum class OperationalState : uint8_t {
  Off,              // administratively down
  NoCarrier,        // up, but no carrier
  Dormant,          // carrier, but the kernel says dormant (e.g. Wi-Fi not yet authenticated)
  DegradedCarrier,  // a bridge/bond with carrier whose ports are not all carrying
  Carrier,          // carrier, no address
  Degraded,         // carrier and only link-local addresses
  Enslaved,         // carrier and a master (bridge port, bond member)
  Routable,         // carrier and a routable (global or site scope) address
};

// The medium of a link (and, in a Snapshot, of the link that carries the Internet route).
// None means "no link carries an Internet route"; Unknown means the link exists but its medium
// cannot be told.
enum class TransportMedium : uint8_t { None, Ethernet, Wifi, Cellular, Bluetooth, Loopback, Virtual, Unknown };

// Address and route scope, with the kernel's values (RT_SCOPE_*).
enum class Scope : uint8_t { Global = 0, Site = 200, Link = 253, Host = 254, Nowhere = 255 };

// Route types, with the kernel's values (RTN_*).
enum class RouteType : uint8_t {
  Unspecified = 0, Unicast = 1, Local = 2, Broadcast = 3, Anycast = 4, Multicast = 5,
  Blackhole = 6, Unreachable = 7, Prohibit = 8, Throw = 9, Nat = 10, ExternalResolve = 11,
};

// Policy-rule actions, with the kernel's values (FR_ACT_*).
enum class RuleAction : uint8_t {
  Unspecified = 0, ToTable = 1, Goto = 2, Nop = 3, Blackhole = 6, Unreachable = 7, Prohibit = 8,
};

// Well-known routing tables (RT_TABLE_*).
inline constexpr uint32_t kTableDefault = 253;
inline constexpr uint32_t kTableMain = 254;
inline constexpr uint32_t kTableLocal = 255;

// Link-layer address (MAC); length 0 when the link has none (tun, wireguard).
struct NETMON_EXPORT HardwareAddress {
  std::array<uint8_t, 32> bytes{};
  uint8_t length = 0;
  std::string toString() const;  // "02:00:5e:10:00:01"
  friend bool operator==(const HardwareAddress&, const HardwareAddress&) = default;
};

struct NETMON_EXPORT Link {
  int index = 0;
  std::string name;
  std::string kind;            // IFLA_INFO_KIND: "veth", "bridge", "wireguard"; "" for hardware
  uint32_t flags = 0;          // IFF_* as the kernel reports them
  uint8_t kernelOperState = 0; // IF_OPER_* (RFC 2863)
  uint32_t mtu = 0;
  HardwareAddress hardwareAddress;
  int master = 0;              // index of the bridge/bond this link is a port of; 0 for none
  uint16_t hardwareType = 0;   // ARPHRD_*
  // Derived by netmon from the whole mirror (not by the kernel):
  OperationalState operationalState = OperationalState::Off;
  TransportMedium medium = TransportMedium::Unknown;
  bool ignored = false;        // matched MonitorOptions::ignore; left out of reachability

  bool isUp() const;           // IFF_UP
  bool hasCarrier() const;     // IFF_LOWER_UP
  bool isLoopback() const;     // IFF_LOOPBACK
  friend bool operator==(const Link&, const Link&) = default;
};

struct NETMON_EXPORT Address {
  int linkIndex = 0;
  IpAddress address;             // IFA_LOCAL (or IFA_ADDRESS when there is no IFA_LOCAL)
  IpAddress peer;                // IFA_ADDRESS on point-to-point links when it differs; else none
  uint8_t prefixLength = 0;
  Scope scope = Scope::Global;
  uint32_t flags = 0;            // IFA_F_* (IFA_FLAGS when present)
  uint32_t preferredLifetime = kForever;  // seconds left; kForever = permanent
  uint32_t validLifetime = kForever;
  std::string label;             // IFA_LABEL (IPv4 only)

  static constexpr uint32_t kForever = 0xFFFFFFFFu;
  Family family() const { return address.family(); }
  bool isTentative() const;      // IFA_F_TENTATIVE: DAD still running, not usable yet
  bool isDeprecated() const;     // IFA_F_DEPRECATED
  bool isDadFailed() const;      // IFA_F_DADFAILED: never usable
  // Usable as a source: neither tentative nor dadfailed.
  bool isUsable() const { return !isTentative() && !isDadFailed(); }
  friend bool operator==(const Address&, const Address&) = default;
};

struct NETMON_EXPORT NextHop {
  int linkIndex = 0;
  IpAddress gateway;
  uint8_t weight = 1;  // rtnh_hops + 1
  uint8_t flags = 0;   // RTNH_F_*
  friend bool operator==(const NextHop&, const NextHop&) = default;
};

// A route, keyed in the kernel (and in netmon's mirror) by family, table, destination, tos and
// metric (IPv6: also source prefix length).
struct NETMON_EXPORT Route {
  Family family = Family::Unspecified;
  uint32_t table = kTableMain;
  IpPrefix destination;         // length 0 = default route
  uint8_t sourceLength = 0;     // IPv6 source-specific routes (RTA_SRC prefix length)
  uint8_t tos = 0;
  uint32_t metric = 0;          // RTA_PRIORITY
  RouteType type = RouteType::Unicast;
  uint8_t protocol = 0;         // RTPROT_*: 2 kernel, 3 boot, 4 static, 16 dhcp, 9 ra, ...
  Scope scope = Scope::Global;
  uint32_t flags = 0;           // RTM_F_* / RTNH_F_* of the route
  int linkIndex = 0;            // RTA_OIF (0 for multipath or reject routes)
  IpAddress gateway;            // RTA_GATEWAY / RTA_VIA, or none
  IpAddress preferredSource;    // RTA_PREFSRC, or none
  std::vector<NextHop> nextHops;  // RTA_MULTIPATH; empty for single-path routes
  friend bool operator==(const Route&, const Route&) = default;
};

// A policy routing rule (ip rule).
struct NETMON_EXPORT Rule {
  Family family = Family::Unspecified;
  uint32_t priority = 0;
  uint32_t table = 0;
  RuleAction action = RuleAction::ToTable;
  IpPrefix source;              // length 0: any
  IpPrefix destination;         // length 0: any
  bool invert = false;          // FIB_RULE_INVERT ("not")
  uint8_t tos = 0;
  uint32_t fwmark = 0;
  uint32_t fwmask = 0;
  std::string inputInterface;   // FRA_IIFNAME
  std::string outputInterface;  // FRA_OIFNAME
  uint32_t suppressPrefixLength = kNoSuppress;  // FRA_SUPPRESS_PREFIXLEN
  uint32_t suppressInterfaceGroup = kNoSuppress;
  uint32_t gotoPriority = 0;    // FRA_GOTO
  bool hasUidRange = false;
  bool hasPortRange = false;    // FRA_SPORT_RANGE / FRA_DPORT_RANGE
  uint8_t ipProtocol = 0;       // FRA_IP_PROTO
  bool l3mdev = false;
  uint8_t protocol = 0;         // FRA_PROTOCOL (who installed it)

  static constexpr uint32_t kNoSuppress = 0xFFFFFFFFu;
  friend bool operator==(const Rule&, const Rule&) = default;
};

// One string table per enum. toString() never fails; *FromString() returns nullopt for words it
// does not know.
NETMON_EXPORT std::string_view toString(Reachability);
NETMON_EXPORT std::string_view toString(OperationalState);
NETMON_EXPORT std::string_view toString(TransportMedium);
NETMON_EXPORT std::string_view toString(Scope);
NETMON_EXPORT std::string_view toString(RouteType);
NETMON_EXPORT std::string_view toString(RuleAction);
NETMON_EXPORT std::string_view toString(Family);  // "ipv4", "ipv6", "any"
NETMON_EXPORT std::optional<Reachability> reachabilityFromString(std::string_view);
NETMON_EXPORT std::optional<OperationalState> operationalStateFromString(std::string_view);
NETMON_EXPORT std::optional<TransportMedium> transportMediumFromString(std::string_view);
NETMON_EXPORT std::optional<Scope> scopeFromString(std::string_view);
NETMON_EXPORT std::optional<RouteType> routeTypeFromString(std::string_view);
NETMON_EXPORT std::optional<Family> familyFromString(std::string_view);
// Route protocol (RTPROT_*) as iproute2 names it ("kernel", "boot", "static", "dhcp", "ra"), or the
// number as text.
NETMON_EXPORT std::string routeProtocolName(uint8_t protocol);
// The IFA_F_* bits of an address as `ip address` names them ("permanent", "tentative", "nodad",
// "secondary" for IPv4 / "temporary" for IPv6, ...), lowest bit first.
NETMON_EXPORT std::vector<std::string_view> addressFlagNames(const Address& address);
// Table as iproute2 names it ("main", "local", "default") or the number as text.
NETMON_EXPORT std::string routeTableName(uint32_t table);

}  // namespace netmon
