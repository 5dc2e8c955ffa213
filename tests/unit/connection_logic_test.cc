// The connection monitor's pure parts: target parsing and validation, prefix coverage, the
// targeting index, and the classification decision table (src/core/connection_logic.cc), row by row.
#include <cerrno>

#include <gtest/gtest.h>

#include "core/connection_logic.h"
#include "netmon/connection.h"
#include "support/fake_backend.h"

namespace netmon {
namespace {

using detail::ConnectionFacts;
using detail::ConnectionIndex;
using detail::RouteAnswer;
using test::ip;
using test::net;

// --- ConnectionTarget::parse ---------------------------------------------------------------------

TEST(ConnectionTargetParse, AcceptsPlainAndScopedAddresses) {
  auto plain = ConnectionTarget::parse("198.51.100.7", "192.0.2.2");
  ASSERT_TRUE(plain) << plain.error().message();
  EXPECT_EQ(plain->remote, ip("198.51.100.7"));
  EXPECT_EQ(plain->local, ip("192.0.2.2"));
  EXPECT_TRUE(plain->interfaceName.empty());

  auto scoped = ConnectionTarget::parse("fe80::1%veth0");
  ASSERT_TRUE(scoped) << scoped.error().message();
  EXPECT_EQ(scoped->interfaceName, "veth0");
  EXPECT_EQ(scoped->toString(), "fe80::1 dev veth0");

  auto by_index = ConnectionTarget::parse("fe80::1%7");
  ASSERT_TRUE(by_index);
  EXPECT_EQ(by_index->interfaceIndex, 7);
  EXPECT_TRUE(by_index->interfaceName.empty());

  auto with_interface = ConnectionTarget::parse("fe80::1", "", "veth0");
  ASSERT_TRUE(with_interface);
  EXPECT_EQ(with_interface->interfaceName, "veth0");
  EXPECT_TRUE(ConnectionTarget::parse("fe80::1%veth0", "fe80::2%veth0", "veth0"));
}

TEST(ConnectionTargetParse, RejectsBadInputWithTheReason) {
  const struct {
    const char* remote;
    const char* local;
    const char* interface;
    const char* says;
  } cases[] = {
      {"1.2.3", "", "", "not an IP address"},
      {"192.0.2.1/24", "", "", "not an IP address"},
      {"", "", "", "not an IP address"},
      {"0.0.0.0", "", "", "unspecified"},
      {"::", "", "", "unspecified"},
      {"192.0.2.1", "2001:db8::1", "", "different families"},
      {"192.0.2.1", "nonsense", "", "not an IP address"},
      {"fe80::1", "", "", "needs a scope"},
      {"2001:db8::1", "fe80::2", "", "needs a scope"},
      {"192.0.2.1%eth0", "", "", "only IPv6"},
      {"fe80::1%eth0", "", "eth1", "names interface 'eth0'"},
      {"fe80::1%eth0", "fe80::2%eth1", "", "names interface 'eth1'"},
      {"fe80::1%", "", "", "not a valid interface name"},
      {"192.0.2.1", "", "a/b", "not a valid interface name"},
      {"192.0.2.1", "", "a:b", "not a valid interface name"},
      {"192.0.2.1", "", "sixteen-bytes-xx", "not a valid interface name"},
      {"192.0.2.1", "", "99999999999", "out of range"},
      {"192.0.2.1", "", "0", "out of range"},
      {"0.1.2.3", "", "", "0.0.0.0/8"},
      {"192.0.2.1", "0.0.0.0", "", "leave it out"},
      {"2001:db8::1", "::", "", "leave it out"},
  };
  for (const auto& c : cases) {
    auto parsed = ConnectionTarget::parse(c.remote, c.local, c.interface);
    ASSERT_FALSE(parsed) << c.remote << " " << c.local << " " << c.interface;
    EXPECT_EQ(parsed.error().code.value(), EINVAL);
    EXPECT_NE(parsed.error().message().find(c.says), std::string::npos)
        << "'" << c.remote << "': " << parsed.error().message() << " should say " << c.says;
  }
}

TEST(ConnectionTargetParse, ValidationAppliesToTargetsBuiltByHand) {
  ConnectionTarget target;
  EXPECT_FALSE(detail::validateTarget(target));  // no remote
  target.remote = ip("fe80::1");
  EXPECT_FALSE(detail::validateTarget(target));  // unscoped link-local
  target.interfaceIndex = 3;
  EXPECT_TRUE(detail::validateTarget(target));
  target.interfaceIndex = -1;
  EXPECT_FALSE(detail::validateTarget(target));
  target.interfaceIndex = 0;
  target.remote = ip("169.254.1.1");  // IPv4 link-local needs no scope
  EXPECT_TRUE(detail::validateTarget(target));
}

// --- prefix coverage and the index -------------------------------------------------------------

TEST(PrefixRange, FirstAndLastAddress) {
  auto [first, last] = detail::prefixRange(net("198.51.100.77/24"));
  EXPECT_EQ(first, ip("198.51.100.0"));
  EXPECT_EQ(last, ip("198.51.100.255"));
  auto [v6first, v6last] = detail::prefixRange(net("2001:db8::/33"));
  EXPECT_EQ(v6first, ip("2001:db8::"));
  EXPECT_EQ(v6last, ip("2001:db8:7fff:ffff:ffff:ffff:ffff:ffff"));
  auto [any_first, any_last] = detail::prefixRange(net("0.0.0.0/0"));
  EXPECT_EQ(any_first, ip("0.0.0.0"));
  EXPECT_EQ(any_last, ip("255.255.255.255"));
  EXPECT_TRUE(detail::prefixCovers(net("192.0.2.0/25"), ip("192.0.2.127")));
  EXPECT_FALSE(detail::prefixCovers(net("192.0.2.0/25"), ip("192.0.2.128")));
  EXPECT_FALSE(detail::prefixCovers(net("::/0"), ip("192.0.2.1")));  // other family
}

std::vector<ConnectionId> sorted(std::vector<ConnectionId> ids) {
  detail::makeUnique(ids);
  return ids;
}

TEST(ConnectionIndex, RouteChangesReachOnlyTheRemotesTheyCover) {
  ConnectionIndex index;
  index.add(1, ip("198.51.100.7"));
  index.add(2, ip("198.51.100.200"));
  index.add(3, ip("203.0.113.9"));
  index.add(4, ip("2001:db8::1"));
  index.add(5, ip("198.51.100.7"));  // the same remote twice (e.g. two local addresses)
  std::vector<ConnectionId> out;
  index.coveredBy(net("198.51.100.0/25"), out);
  EXPECT_EQ(sorted(out), (std::vector<ConnectionId>{1, 5}));
  out.clear();
  index.coveredBy(net("0.0.0.0/0"), out);
  EXPECT_EQ(sorted(out), (std::vector<ConnectionId>{1, 2, 3, 5}));
  out.clear();
  index.coveredBy(net("::/0"), out);
  EXPECT_EQ(sorted(out), (std::vector<ConnectionId>{4}));
  out.clear();
  index.coveredBy(net("192.0.2.0/24"), out);
  EXPECT_TRUE(out.empty());
  out.clear();
  index.ofFamily(Family::Ipv6, out);
  EXPECT_EQ(sorted(out), (std::vector<ConnectionId>{4}));

  index.remove(5);
  out.clear();
  index.coveredBy(net("198.51.100.7/32"), out);
  EXPECT_EQ(sorted(out), (std::vector<ConnectionId>{1}));
}

TEST(ConnectionIndex, LinksAndAddressesAreReplacedNotAccumulated) {
  ConnectionIndex index;
  index.add(1, ip("198.51.100.7"));
  index.add(2, ip("203.0.113.9"));
  index.setDependencies(1, {2, 0, 2}, {ip("192.0.2.2"), IpAddress()});
  index.setDependencies(2, {3}, {ip("192.0.2.2")});
  std::vector<ConnectionId> out;
  index.usingLink(2, out);
  EXPECT_EQ(out, (std::vector<ConnectionId>{1}));  // duplicates collapsed
  out.clear();
  index.usingAddress(ip("192.0.2.2"), out);
  EXPECT_EQ(sorted(out), (std::vector<ConnectionId>{1, 2}));

  index.setDependencies(1, {4}, {ip("192.0.2.3")});  // the route moved to link 4
  out.clear();
  index.usingLink(2, out);
  EXPECT_TRUE(out.empty());
  index.usingLink(4, out);
  EXPECT_EQ(out, (std::vector<ConnectionId>{1}));
  out.clear();
  index.usingAddress(ip("192.0.2.2"), out);
  EXPECT_EQ(out, (std::vector<ConnectionId>{2}));

  index.remove(2);
  out.clear();
  index.usingLink(3, out);
  index.usingAddress(ip("192.0.2.2"), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(index.size(), 1u);
}

// --- classifyConnection: one test per row of the decision table ---------------------------------

class Classify : public ::testing::Test {
 protected:
  Classify() {
    veth_ = test::upVeth(2, "veth0");
    veth_.operationalState = OperationalState::Routable;
    veth_.medium = TransportMedium::Ethernet;
    answer_.outputLink = 2;
    answer_.gateway = ip("192.0.2.1");
    answer_.preferredSource = ip("192.0.2.2");
    answer_.table = kTableMain;
    facts_.answer = answer_;
    facts_.outputLink = &veth_;
  }
  ConnectionState classify() const { return detail::classifyConnection(facts_); }
  void fail(int error) {
    facts_.answer = RouteAnswer{};
    facts_.answer.error = error;
    facts_.outputLink = nullptr;
  }

  Link veth_;
  RouteAnswer answer_;
  ConnectionFacts facts_;
};

TEST_F(Classify, Row1InterfaceGoneComesFirst) {
  facts_.interfaceExists = false;
  facts_.hasLocal = true;
  facts_.localPresent = false;
  EXPECT_EQ(classify().reason, ConnectionReason::InterfaceGone);
  EXPECT_FALSE(classify().reachable);
}

TEST_F(Classify, Row2LocalAddressGone) {
  facts_.hasLocal = true;
  facts_.localPresent = false;
  fail(ENETUNREACH);
  EXPECT_EQ(classify().reason, ConnectionReason::LocalAddressGone);
}

TEST_F(Classify, Row3SourceMismatchWhenTheLookupWorksWithoutTheSource) {
  facts_.hasLocal = true;
  fail(EINVAL);
  facts_.answerWithoutSource = answer_;
  EXPECT_EQ(classify().reason, ConnectionReason::SourceMismatch);
  // Without the source the lookup fails as well: the remote is the problem.
  facts_.answerWithoutSource->error = EINVAL;
  EXPECT_EQ(classify().reason, ConnectionReason::Blackhole);
}

TEST_F(Classify, Rows4To9KernelErrorsBecomeReasons) {
  const struct {
    int error;
    ConnectionReason reason;
  } rows[] = {
      {EINVAL, ConnectionReason::Blackhole},     {EHOSTUNREACH, ConnectionReason::Unreachable},
      {EACCES, ConnectionReason::Prohibit},      {ENETUNREACH, ConnectionReason::NoRoute},
      {ENODEV, ConnectionReason::InterfaceGone}, {EPERM, ConnectionReason::LookupFailed},
  };
  for (const auto& row : rows) {
    fail(row.error);
    const ConnectionState state = classify();
    EXPECT_FALSE(state.reachable);
    EXPECT_EQ(state.reason, row.reason) << row.error;
    EXPECT_EQ(state.kernelError, row.error);
    EXPECT_EQ(state.linkIndex, 0);
  }
}

TEST_F(Classify, Row10RejectRouteTypesInAnAnswer) {
  facts_.answer.type = RouteType::Prohibit;
  EXPECT_EQ(classify().reason, ConnectionReason::Prohibit);
  facts_.answer.type = RouteType::Blackhole;
  EXPECT_EQ(classify().reason, ConnectionReason::Blackhole);
  facts_.answer.type = RouteType::Unreachable;
  EXPECT_EQ(classify().reason, ConnectionReason::Unreachable);
}

TEST_F(Classify, Row11OutputLinkUnknownToTheMirror) {
  facts_.outputLink = nullptr;
  EXPECT_EQ(classify().reason, ConnectionReason::InterfaceGone);
}

TEST_F(Classify, Row11bTheKernelsOnLinkGuessForABoundLookupIsNoRoute) {
  facts_.boundToInterface = true;
  facts_.answer.gateway = IpAddress();
  facts_.answer.table = 0;
  EXPECT_EQ(classify().reason, ConnectionReason::NoRoute);
  facts_.answer.table = kTableMain;  // a real connected route on that interface
  EXPECT_TRUE(classify().reachable);
  facts_.boundToInterface = false;   // unbound lookups never take the on-link guess
  facts_.answer.table = 0;
  EXPECT_TRUE(classify().reachable);
}

TEST_F(Classify, Row12LinkLocalSourceOnAnotherLink) {
  facts_.hasLocal = true;
  facts_.localIsLinkLocal = true;
  facts_.localLinkIndex = 3;
  EXPECT_EQ(classify().reason, ConnectionReason::SourceMismatch);
  facts_.localLinkIndex = 2;
  EXPECT_TRUE(classify().reachable);
}

TEST_F(Classify, Row13LinkWithoutCarrier) {
  for (auto state : {OperationalState::Off, OperationalState::NoCarrier, OperationalState::Dormant}) {
    veth_.operationalState = state;
    const ConnectionState answer = classify();
    EXPECT_EQ(answer.reason, ConnectionReason::LinkDown) << toString(state);
    EXPECT_EQ(answer.linkName, "veth0");  // the way out is still named
    EXPECT_EQ(answer.linkState, state);
  }
}

TEST_F(Classify, Row14Reachable) {
  const ConnectionState state = classify();
  EXPECT_TRUE(state.reachable);
  EXPECT_EQ(state.reason, ConnectionReason::None);
  EXPECT_EQ(state.linkIndex, 2);
  EXPECT_EQ(state.linkName, "veth0");
  EXPECT_EQ(state.gateway, ip("192.0.2.1"));
  EXPECT_EQ(state.source, ip("192.0.2.2"));
  EXPECT_EQ(state.medium, TransportMedium::Ethernet);
  EXPECT_EQ(state.table, kTableMain);
  EXPECT_EQ(state.explanation(),
            "reachable: via 192.0.2.1 dev veth0 (table main), source 192.0.2.2, link routable");
  veth_.operationalState = OperationalState::Degraded;  // carrier, link-local only: still a way out
  EXPECT_TRUE(classify().reachable);
}

}  // namespace
}  // namespace netmon
