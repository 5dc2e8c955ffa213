// The one spelling of every public enum (systemd's *_to_string/*_from_string shape): each enum has
// a single table of {value, word} pairs that toString() and *FromString() both read, so the CLI,
// JSON and metric labels cannot drift apart.
#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "netmon/connection.h"
#include "netmon/event.h"
#include "netmon/model.h"
#include "netmon/probe.h"
#include "netmon/snapshot.h"

namespace netmon {

namespace {

template <typename Enum>
struct Word {
  Enum value;
  std::string_view word;
};

// What toString() returns for a value outside its table: a cast from an unchecked integer (a
// kernel scope from /etc/iproute2/rt_scopes, a route type newer than RTN_XRESOLVE). It is never
// accepted back by *FromString() unless the enum itself has an "unknown" word.
constexpr std::string_view kUnknownWord = "unknown";

// A table is usable both ways only if no value and no word appears twice.
template <typename Enum, size_t N>
constexpr bool isOneToOne(const std::array<Word<Enum>, N>& table) {
  for (size_t i = 0; i < N; ++i) {
    if (table[i].word.empty()) return false;
    for (size_t j = i + 1; j < N; ++j) {
      if (table[i].value == table[j].value || table[i].word == table[j].word) return false;
    }
  }
  return true;
}

template <typename Enum, size_t N>
constexpr const Word<Enum>* find(const std::array<Word<Enum>, N>& table, Enum value) {
  for (const auto& entry : table) {
    if (entry.value == value) return &entry;
  }
  return nullptr;
}

template <typename Enum, size_t N>
constexpr std::string_view wordOf(const std::array<Word<Enum>, N>& table, Enum value) {
  const Word<Enum>* entry = find(table, value);
  return entry ? entry->word : kUnknownWord;
}

template <typename Enum, size_t N>
constexpr std::optional<Enum> valueOf(const std::array<Word<Enum>, N>& table, std::string_view word) {
  for (const auto& entry : table) {
    if (entry.word == word) return entry.value;
  }
  return std::nullopt;
}

// For enums numbered 0..N-1 the table must name every value; for the others (kernel numbers with
// gaps) isOneToOne() is the check, and the unit test walks all 256 values.
template <typename Enum, size_t N>
constexpr bool coversDense(const std::array<Word<Enum>, N>& table) {
  for (size_t i = 0; i < N; ++i) {
    if (find(table, static_cast<Enum>(i)) == nullptr) return false;
  }
  return true;
}

constexpr std::array<Word<Reachability>, 5> kReachabilityWords{{
    {Reachability::Unknown, "unknown"},
    {Reachability::Disconnected, "disconnected"},
    {Reachability::Local, "local"},
    {Reachability::Site, "site"},
    {Reachability::Online, "online"},
}};
static_assert(isOneToOne(kReachabilityWords) && coversDense(kReachabilityWords));

// networkctl's words (systemd's link_operstate_table).
constexpr std::array<Word<OperationalState>, 8> kOperationalStateWords{{
    {OperationalState::Off, "off"},
    {OperationalState::NoCarrier, "no-carrier"},
    {OperationalState::Dormant, "dormant"},
    {OperationalState::DegradedCarrier, "degraded-carrier"},
    {OperationalState::Carrier, "carrier"},
    {OperationalState::Degraded, "degraded"},
    {OperationalState::Enslaved, "enslaved"},
    {OperationalState::Routable, "routable"},
}};
static_assert(isOneToOne(kOperationalStateWords) && coversDense(kOperationalStateWords));

constexpr std::array<Word<TransportMedium>, 8> kTransportMediumWords{{
    {TransportMedium::None, "none"},
    {TransportMedium::Ethernet, "ethernet"},
    {TransportMedium::Wifi, "wifi"},
    {TransportMedium::Cellular, "cellular"},
    {TransportMedium::Bluetooth, "bluetooth"},
    {TransportMedium::Loopback, "loopback"},
    {TransportMedium::Virtual, "virtual"},
    {TransportMedium::Unknown, "unknown"},
}};
static_assert(isOneToOne(kTransportMediumWords) && coversDense(kTransportMediumWords));

// iproute2's rt_scopes names, except that RT_SCOPE_UNIVERSE is spelt "global" as `ip address`
// prints it.
constexpr std::array<Word<Scope>, 5> kScopeWords{{
    {Scope::Global, "global"},
    {Scope::Site, "site"},
    {Scope::Link, "link"},
    {Scope::Host, "host"},
    {Scope::Nowhere, "nowhere"},
}};
static_assert(isOneToOne(kScopeWords));

// iproute2's rtnl_rtntype_n2a() words.
constexpr std::array<Word<RouteType>, 12> kRouteTypeWords{{
    {RouteType::Unspecified, "unspec"},
    {RouteType::Unicast, "unicast"},
    {RouteType::Local, "local"},
    {RouteType::Broadcast, "broadcast"},
    {RouteType::Anycast, "anycast"},
    {RouteType::Multicast, "multicast"},
    {RouteType::Blackhole, "blackhole"},
    {RouteType::Unreachable, "unreachable"},
    {RouteType::Prohibit, "prohibit"},
    {RouteType::Throw, "throw"},
    {RouteType::Nat, "nat"},
    {RouteType::ExternalResolve, "xresolve"},
}};
static_assert(isOneToOne(kRouteTypeWords) && coversDense(kRouteTypeWords));

// `ip rule` prints "lookup TABLE" for FR_ACT_TO_TBL; a single word is needed here, so "to-table".
constexpr std::array<Word<RuleAction>, 7> kRuleActionWords{{
    {RuleAction::Unspecified, "unspec"},
    {RuleAction::ToTable, "to-table"},
    {RuleAction::Goto, "goto"},
    {RuleAction::Nop, "nop"},
    {RuleAction::Blackhole, "blackhole"},
    {RuleAction::Unreachable, "unreachable"},
    {RuleAction::Prohibit, "prohibit"},
}};
static_assert(isOneToOne(kRuleActionWords));

constexpr std::array<Word<Family>, 3> kFamilyWords{{
    {Family::Unspecified, "any"},
    {Family::Ipv4, "ipv4"},
    {Family::Ipv6, "ipv6"},
}};
static_assert(isOneToOne(kFamilyWords));

constexpr std::array<Word<Reason>, 14> kReasonWords{{
    {Reason::NotYetKnown, "not-yet-known"},
    {Reason::NoLinkUp, "no-link-up"},
    {Reason::NoCarrier, "no-carrier"},
    {Reason::NoAddress, "no-address"},
    {Reason::AddressesTentative, "addresses-tentative"},
    {Reason::LinkLocalOnly, "link-local-only"},
    {Reason::NoInternetRoute, "no-internet-route"},
    {Reason::InternetRouteRejected, "internet-route-rejected"},
    {Reason::InternetRouteLinkDown, "internet-route-link-down"},
    {Reason::InternetRouteIgnoredLink, "internet-route-ignored-link"},
    {Reason::NoSourceAddress, "no-source-address"},
    {Reason::InternetRoute, "internet-route"},
    {Reason::CaptivePortal, "captive-portal"},
    {Reason::ProbeNoAnswer, "probe-no-answer"},
}};
static_assert(isOneToOne(kReasonWords) && coversDense(kReasonWords));

constexpr std::array<Word<Change>, 3> kChangeWords{{
    {Change::Added, "added"},
    {Change::Changed, "changed"},
    {Change::Removed, "removed"},
}};
static_assert(isOneToOne(kChangeWords) && coversDense(kChangeWords));

constexpr std::array<Word<ResyncReason>, 4> kResyncReasonWords{{
    {ResyncReason::Overrun, "overrun"},
    {ResyncReason::SubscriberOverflow, "subscriber-overflow"},
    {ResyncReason::Degraded, "degraded"},
    {ResyncReason::SocketError, "socket-error"},
}};
static_assert(isOneToOne(kResyncReasonWords) && coversDense(kResyncReasonWords));

constexpr std::array<Word<EventKind>, 8> kEventKindWords{{
    {EventKind::Link, "link"},
    {EventKind::Address, "address"},
    {EventKind::Route, "route"},
    {EventKind::Rule, "rule"},
    {EventKind::Reachability, "reachability"},
    {EventKind::Resync, "resync"},
    {EventKind::Connection, "connection"},
    {EventKind::Probe, "probe"},
}};
static_assert(isOneToOne(kEventKindWords));

constexpr std::array<Word<ConnectionReason>, 10> kConnectionReasonWords{{
    {ConnectionReason::None, "none"},
    {ConnectionReason::NoRoute, "no-route"},
    {ConnectionReason::Blackhole, "blackhole"},
    {ConnectionReason::Unreachable, "unreachable"},
    {ConnectionReason::Prohibit, "prohibit"},
    {ConnectionReason::LinkDown, "link-down"},
    {ConnectionReason::LocalAddressGone, "local-address-gone"},
    {ConnectionReason::SourceMismatch, "source-mismatch"},
    {ConnectionReason::InterfaceGone, "interface-gone"},
    {ConnectionReason::LookupFailed, "lookup-failed"},
}};
static_assert(isOneToOne(kConnectionReasonWords) && coversDense(kConnectionReasonWords));

constexpr std::array<Word<ProbeOutcome>, 3> kProbeOutcomeWords{{
    {ProbeOutcome::Online, "online"},
    {ProbeOutcome::CaptivePortal, "captive-portal"},
    {ProbeOutcome::NoAnswer, "no-answer"},
}};
static_assert(isOneToOne(kProbeOutcomeWords) && coversDense(kProbeOutcomeWords));

// iproute2's rtnl_rtprot_tab (lib/rt_names.c) and /usr/share/iproute2/rt_protos.
constexpr std::array<Word<uint8_t>, 23> kRouteProtocolWords{{
    {0, "unspec"},     {1, "redirect"}, {2, "kernel"},    {3, "boot"},      {4, "static"},  {8, "gated"},
    {9, "ra"},         {10, "mrt"},     {11, "zebra"},    {12, "bird"},     {13, "dnrouted"}, {14, "xorp"},
    {15, "ntk"},       {16, "dhcp"},    {17, "mrouted"},  {18, "keepalived"}, {42, "babel"}, {99, "openr"},
    {186, "bgp"},      {187, "isis"},   {188, "ospf"},    {189, "rip"},     {192, "eigrp"},
}};
static_assert(isOneToOne(kRouteProtocolWords));

// iproute2's names for the reserved tables (RT_TABLE_*).
constexpr std::array<Word<uint32_t>, 4> kRouteTableWords{{
    {0, "unspec"},
    {kTableDefault, "default"},
    {kTableMain, "main"},
    {kTableLocal, "local"},
}};
static_assert(isOneToOne(kRouteTableWords));

template <typename Number, size_t N>
std::string nameOrNumber(const std::array<Word<Number>, N>& table, Number value) {
  const Word<Number>* entry = find(table, value);
  return entry ? std::string(entry->word) : std::to_string(value);
}

}  // namespace

std::string_view toString(Reachability value) { return wordOf(kReachabilityWords, value); }
std::string_view toString(OperationalState value) { return wordOf(kOperationalStateWords, value); }
std::string_view toString(TransportMedium value) { return wordOf(kTransportMediumWords, value); }
std::string_view toString(Scope value) { return wordOf(kScopeWords, value); }
std::string_view toString(RouteType value) { return wordOf(kRouteTypeWords, value); }
std::string_view toString(RuleAction value) { return wordOf(kRuleActionWords, value); }
std::string_view toString(Family value) { return wordOf(kFamilyWords, value); }
std::string_view toString(Reason value) { return wordOf(kReasonWords, value); }
std::string_view toString(Change value) { return wordOf(kChangeWords, value); }
std::string_view toString(ResyncReason value) { return wordOf(kResyncReasonWords, value); }
std::string_view toString(EventKind value) { return wordOf(kEventKindWords, value); }
std::string_view toString(ConnectionReason value) { return wordOf(kConnectionReasonWords, value); }
std::optional<ConnectionReason> connectionReasonFromString(std::string_view word) {
  return valueOf(kConnectionReasonWords, word);
}

std::string_view toString(ProbeOutcome value) { return wordOf(kProbeOutcomeWords, value); }
std::optional<ProbeOutcome> probeOutcomeFromString(std::string_view word) { return valueOf(kProbeOutcomeWords, word); }

std::optional<Reachability> reachabilityFromString(std::string_view word) {
  return valueOf(kReachabilityWords, word);
}
std::optional<OperationalState> operationalStateFromString(std::string_view word) {
  return valueOf(kOperationalStateWords, word);
}
std::optional<TransportMedium> transportMediumFromString(std::string_view word) {
  return valueOf(kTransportMediumWords, word);
}
std::optional<Scope> scopeFromString(std::string_view word) { return valueOf(kScopeWords, word); }
std::optional<RouteType> routeTypeFromString(std::string_view word) { return valueOf(kRouteTypeWords, word); }
std::optional<Family> familyFromString(std::string_view word) { return valueOf(kFamilyWords, word); }
std::optional<EventKind> eventKindFromString(std::string_view word) { return valueOf(kEventKindWords, word); }

std::string routeProtocolName(uint8_t protocol) { return nameOrNumber(kRouteProtocolWords, protocol); }
std::string routeTableName(uint32_t table) { return nameOrNumber(kRouteTableWords, table); }

namespace {
// IFA_F_* (include/uapi/linux/if_addr.h), spelt as `ip address` prints them. Bit 0 is
// IFA_F_SECONDARY for IPv4 and IFA_F_TEMPORARY for IPv6: the same bit, two meanings.
struct AddressFlagName {
  uint32_t bit;
  std::string_view name;
};
constexpr AddressFlagName kAddressFlagNames[] = {
    {0x002, "nodad"},      {0x004, "optimistic"}, {0x008, "dadfailed"},     {0x010, "homeaddress"},
    {0x020, "deprecated"}, {0x040, "tentative"},  {0x080, "permanent"},     {0x100, "mngtmpaddr"},
    {0x200, "noprefixroute"}, {0x400, "autojoin"}, {0x800, "stable-privacy"},
};
}  // namespace

std::vector<std::string_view> addressFlagNames(const Address& address) {
  std::vector<std::string_view> names;
  if (address.flags & 0x01) names.emplace_back(address.family() == Family::Ipv6 ? "temporary" : "secondary");
  for (const auto& flag : kAddressFlagNames) {
    if (address.flags & flag.bit) names.push_back(flag.name);
  }
  return names;
}

}  // namespace netmon
