// Every string table row by row: the exact word of each value, the way back for enums that have
// a *FromString(), and the values outside each table.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netmon/event.h"
#include "netmon/model.h"
#include "netmon/probe.h"
#include "netmon/snapshot.h"

namespace netmon {
namespace {

template <typename Enum>
using Rows = std::vector<std::pair<Enum, std::string_view>>;

// Each row's word, no word twice, and (when there is a parser) the word parses back to its value.
template <typename Enum, typename Parse>
void expectTable(const Rows<Enum>& rows, Parse parse) {
  std::set<std::string_view> words;
  for (const auto& [value, word] : rows) {
    SCOPED_TRACE(std::string(word));
    EXPECT_EQ(toString(value), word);
    EXPECT_TRUE(words.insert(word).second) << "word used twice";
    if constexpr (!std::is_same_v<Parse, std::nullptr_t>) {
      const std::optional<Enum> parsed = parse(word);
      ASSERT_TRUE(parsed.has_value());
      EXPECT_EQ(*parsed, value);
      EXPECT_EQ(toString(*parsed), word);
    }
  }
}

// Every underlying value not in `rows` prints as "unknown"; so the table has no rows the test lacks.
template <typename Enum>
void expectOnlyTheseValues(const Rows<Enum>& rows) {
  std::set<unsigned> listed;
  for (const auto& [value, word] : rows) listed.insert(static_cast<unsigned>(value));
  for (unsigned raw = 0; raw <= 255; ++raw) {
    if (listed.count(raw)) continue;
    EXPECT_EQ(toString(static_cast<Enum>(raw)), "unknown") << "value " << raw;
  }
}

const Rows<Reachability> kReachability = {
    {Reachability::Unknown, "unknown"}, {Reachability::Disconnected, "disconnected"}, {Reachability::Local, "local"},
    {Reachability::Site, "site"},       {Reachability::Online, "online"},
};
const Rows<OperationalState> kOperationalState = {
    {OperationalState::Off, "off"},
    {OperationalState::NoCarrier, "no-carrier"},
    {OperationalState::Dormant, "dormant"},
    {OperationalState::DegradedCarrier, "degraded-carrier"},
    {OperationalState::Carrier, "carrier"},
    {OperationalState::Degraded, "degraded"},
    {OperationalState::Enslaved, "enslaved"},
    {OperationalState::Routable, "routable"},
};
const Rows<TransportMedium> kTransportMedium = {
    {TransportMedium::None, "none"},         {TransportMedium::Ethernet, "ethernet"},
    {TransportMedium::Wifi, "wifi"},         {TransportMedium::Cellular, "cellular"},
    {TransportMedium::Bluetooth, "bluetooth"}, {TransportMedium::Loopback, "loopback"},
    {TransportMedium::Virtual, "virtual"},   {TransportMedium::Unknown, "unknown"},
};
const Rows<Scope> kScope = {
    {Scope::Global, "global"}, {Scope::Site, "site"}, {Scope::Link, "link"},
    {Scope::Host, "host"},     {Scope::Nowhere, "nowhere"},
};
const Rows<RouteType> kRouteType = {
    {RouteType::Unspecified, "unspec"},   {RouteType::Unicast, "unicast"},     {RouteType::Local, "local"},
    {RouteType::Broadcast, "broadcast"},  {RouteType::Anycast, "anycast"},     {RouteType::Multicast, "multicast"},
    {RouteType::Blackhole, "blackhole"},  {RouteType::Unreachable, "unreachable"}, {RouteType::Prohibit, "prohibit"},
    {RouteType::Throw, "throw"},          {RouteType::Nat, "nat"},             {RouteType::ExternalResolve, "xresolve"},
};
const Rows<RuleAction> kRuleAction = {
    {RuleAction::Unspecified, "unspec"}, {RuleAction::ToTable, "to-table"},
    {RuleAction::Goto, "goto"},          {RuleAction::Nop, "nop"},
    {RuleAction::Blackhole, "blackhole"}, {RuleAction::Unreachable, "unreachable"},
    {RuleAction::Prohibit, "prohibit"},
};
const Rows<Family> kFamily = {{Family::Unspecified, "any"}, {Family::Ipv4, "ipv4"}, {Family::Ipv6, "ipv6"}};
const Rows<Reason> kReason = {
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
};
const Rows<Change> kChange = {{Change::Added, "added"}, {Change::Changed, "changed"}, {Change::Removed, "removed"}};
const Rows<ResyncReason> kResyncReason = {
    {ResyncReason::Overrun, "overrun"},
    {ResyncReason::SubscriberOverflow, "subscriber-overflow"},
    {ResyncReason::Degraded, "degraded"},
    {ResyncReason::SocketError, "socket-error"},
};
const Rows<ConnectionReason> kConnectionReason = {
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
};
const Rows<EventKind> kEventKind = {
    {EventKind::Link, "link"},   {EventKind::Address, "address"},           {EventKind::Route, "route"},
    {EventKind::Rule, "rule"},   {EventKind::Reachability, "reachability"}, {EventKind::Resync, "resync"},
    {EventKind::Connection, "connection"}, {EventKind::Probe, "probe"},
};
const Rows<ProbeOutcome> kProbeOutcome = {
    {ProbeOutcome::Online, "online"},
    {ProbeOutcome::CaptivePortal, "captive-portal"},
    {ProbeOutcome::NoAnswer, "no-answer"},
};

TEST(EnumStringsTest, Reachability) {
  expectTable(kReachability, reachabilityFromString);
  expectOnlyTheseValues(kReachability);
}

TEST(EnumStringsTest, OperationalState) {
  expectTable(kOperationalState, operationalStateFromString);
  expectOnlyTheseValues(kOperationalState);
}

TEST(EnumStringsTest, TransportMedium) {
  expectTable(kTransportMedium, transportMediumFromString);
  expectOnlyTheseValues(kTransportMedium);
}

TEST(EnumStringsTest, Scope) {
  expectTable(kScope, scopeFromString);
  expectOnlyTheseValues(kScope);
}

TEST(EnumStringsTest, RouteType) {
  expectTable(kRouteType, routeTypeFromString);
  expectOnlyTheseValues(kRouteType);
}

TEST(EnumStringsTest, RuleAction) {
  expectTable(kRuleAction, nullptr);
  expectOnlyTheseValues(kRuleAction);
}

TEST(EnumStringsTest, Family) {
  expectTable(kFamily, familyFromString);
  expectOnlyTheseValues(kFamily);
}

TEST(EnumStringsTest, Reason) {
  expectTable(kReason, nullptr);
  expectOnlyTheseValues(kReason);
}

TEST(EnumStringsTest, Change) {
  expectTable(kChange, nullptr);
  expectOnlyTheseValues(kChange);
}

TEST(EnumStringsTest, ResyncReason) {
  expectTable(kResyncReason, nullptr);
  expectOnlyTheseValues(kResyncReason);
}

TEST(EnumStringsTest, ConnectionReason) {
  expectTable(kConnectionReason, connectionReasonFromString);
  expectOnlyTheseValues(kConnectionReason);
}

TEST(EnumStringsTest, EventKind) {
  expectTable(kEventKind, eventKindFromString);
  expectOnlyTheseValues(kEventKind);
}

TEST(EnumStringsTest, ProbeOutcome) {
  expectTable(kProbeOutcome, probeOutcomeFromString);
  expectOnlyTheseValues(kProbeOutcome);
}

TEST(EnumStringsTest, EventKindMatchesEventPayloadIndex) {
  // Event::kind() is 1 << variant index; each kind's word names that alternative.
  EXPECT_EQ(toString(Event{0, {}, LinkEvent{}}.kind()), "link");
  EXPECT_EQ(toString(Event{0, {}, AddressEvent{}}.kind()), "address");
  EXPECT_EQ(toString(Event{0, {}, RouteEvent{}}.kind()), "route");
  EXPECT_EQ(toString(Event{0, {}, RuleEvent{}}.kind()), "rule");
  EXPECT_EQ(toString(Event{0, {}, ReachabilityEvent{}}.kind()), "reachability");
  EXPECT_EQ(toString(Event{0, {}, ResyncEvent{}}.kind()), "resync");
  EXPECT_EQ(toString(Event{0, {}, ConnectionEvent{}}.kind()), "connection");
  EXPECT_EQ(toString(Event{0, {}, ProbeEvent{}}.kind()), "probe");
  EXPECT_EQ(EventMask::all(), EventMask(EventKind::Link) | EventKind::Address | EventKind::Route | EventKind::Rule |
                                  EventKind::Reachability | EventKind::Resync | EventKind::Connection |
                                  EventKind::Probe);
}

TEST(EnumStringsTest, FromStringRejectsOtherSpellings) {
  for (std::string_view word : {"", "Online", "ONLINE", " online", "online ", "onl", "connected"}) {
    EXPECT_FALSE(reachabilityFromString(word).has_value()) << "'" << word << "'";
  }
  EXPECT_FALSE(operationalStateFromString("no_carrier").has_value());
  EXPECT_FALSE(operationalStateFromString("nocarrier").has_value());
  EXPECT_FALSE(transportMediumFromString("wi-fi").has_value());
  EXPECT_FALSE(transportMediumFromString("wlan").has_value());
  EXPECT_FALSE(scopeFromString("universe").has_value());
  EXPECT_FALSE(scopeFromString("253").has_value());
  EXPECT_FALSE(routeTypeFromString("unknown").has_value());
  EXPECT_FALSE(routeTypeFromString("6").has_value());
  EXPECT_FALSE(familyFromString("inet").has_value());
  EXPECT_FALSE(familyFromString("inet6").has_value());
  EXPECT_FALSE(familyFromString("unspecified").has_value());
  EXPECT_FALSE(eventKindFromString("links").has_value());
  EXPECT_FALSE(eventKindFromString("unknown").has_value());
}

TEST(EnumStringsTest, RouteProtocolNames) {
  const std::vector<std::pair<unsigned, std::string>> rows = {
      {0, "unspec"},     {1, "redirect"},  {2, "kernel"},      {3, "boot"},   {4, "static"},    {8, "gated"},
      {9, "ra"},         {10, "mrt"},      {11, "zebra"},      {12, "bird"},  {13, "dnrouted"}, {14, "xorp"},
      {15, "ntk"},       {16, "dhcp"},     {17, "mrouted"},    {18, "keepalived"}, {42, "babel"}, {99, "openr"},
      {186, "bgp"},      {187, "isis"},    {188, "ospf"},      {189, "rip"},  {192, "eigrp"},
  };
  std::set<unsigned> named;
  for (const auto& [number, name] : rows) {
    EXPECT_EQ(routeProtocolName(uint8_t(number)), name) << number;
    named.insert(number);
  }
  for (unsigned number = 0; number <= 255; ++number) {
    if (named.count(number)) continue;
    EXPECT_EQ(routeProtocolName(uint8_t(number)), std::to_string(number));
  }
}

TEST(EnumStringsTest, RouteTableNames) {
  EXPECT_EQ(routeTableName(0), "unspec");
  EXPECT_EQ(routeTableName(253), "default");
  EXPECT_EQ(routeTableName(254), "main");
  EXPECT_EQ(routeTableName(255), "local");
  EXPECT_EQ(routeTableName(kTableDefault), "default");
  EXPECT_EQ(routeTableName(kTableMain), "main");
  EXPECT_EQ(routeTableName(kTableLocal), "local");
  EXPECT_EQ(routeTableName(1), "1");
  EXPECT_EQ(routeTableName(100), "100");
  EXPECT_EQ(routeTableName(252), "252");
  EXPECT_EQ(routeTableName(256), "256");
  EXPECT_EQ(routeTableName(51820), "51820");
  EXPECT_EQ(routeTableName(0xFFFFFFFFu), "4294967295");
}

}  // namespace
}  // namespace netmon

namespace netmon {
namespace {

TEST(AddressFlagNames, NamesEachBitOnceInIproute2Words) {
  Address v4;
  v4.address = *IpAddress::parse("192.0.2.1");
  v4.flags = 0x01 | 0x80 | 0x40;  // secondary, permanent, tentative
  EXPECT_EQ(addressFlagNames(v4), (std::vector<std::string_view>{"secondary", "tentative", "permanent"}));
  Address v6;
  v6.address = *IpAddress::parse("2001:db8::1");
  v6.flags = 0x01 | 0x08 | 0x800;  // temporary, dadfailed, stable-privacy
  EXPECT_EQ(addressFlagNames(v6), (std::vector<std::string_view>{"temporary", "dadfailed", "stable-privacy"}));
  v6.flags = 0;
  EXPECT_TRUE(addressFlagNames(v6).empty());
}

}  // namespace
}  // namespace netmon
