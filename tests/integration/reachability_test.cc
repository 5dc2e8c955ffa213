// Reachability as the kernel's state changes under it: link, addresses, routes, policy rules, both
// families. Every step is a real kernel change made with `ip -n`, and every expectation waits for the
// event the change must cause (with a deadline), then checks the snapshot agrees.
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "netmon/status_monitor.h"
#include "support/event_recorder.h"
#include "support/monitored_namespace_test.h"
#include "support/netns.h"

namespace netmon::test {
namespace {

class ReachabilityTest : public MonitoredNamespaceTest {
 protected:
  void TearDown() override {
    if (recorder_) {
      EXPECT_EQ(recorder_->reachabilityChainProblems(), "");
    }
    MonitoredNamespaceTest::TearDown();
  }

  TestNamespace& ns() { return *ns_; }
  StatusMonitor& monitor() { return *monitor_; }
  EventRecorder& events() { return *recorder_; }


  // veth0 up with carrier (its peer, holding 192.0.2.1/24, is up), no address of ours yet.
  void linkWithCarrier() {
    ns_->addVethWithPeer("veth0");
    ns_->peer().ip("addr add 192.0.2.1/24 dev veth0");
    ns_->ip("link set veth0 up");
    ASSERT_TRUE(ns_->waitForCarrier("veth0"));
  }

  // Waits for `family` to become `current`, from event index `from` on; checks `previous`, the
  // verdict's reason, and that the snapshot then agrees (unless later changes moved it on).
  std::optional<ReachabilityEvent> expectTransition(const std::string& step, Family family, Reachability previous,
                                                    Reachability current, Reason reason, size_t from) {
    const std::string what = fmt::format("after `{}`: {} reachability {} -> {} ({})", step, toString(family),
                                         toString(previous), toString(current), toString(reason));
    auto event = recorder_->waitFor(what, reachabilityBecomes(family, current), kEventTimeout, from);
    if (!event) return std::nullopt;
    const ReachabilityEvent r = *payloadAs<ReachabilityEvent>(*event);
    EXPECT_EQ(toString(r.previous), toString(previous)) << what << "\n got: " << describe(*event);
    EXPECT_EQ(toString(r.verdict.reason), toString(reason)) << what << "\n got: " << describe(*event);
    EXPECT_EQ(toString(r.verdict.reachability), toString(current)) << describe(*event);
    EXPECT_GT(event->sequence, recorder_->initialSnapshot()->sequence);
    expectSnapshot(step, family, current, reason);
    return r;
  }

  void expectSnapshot(const std::string& step, Family family, Reachability current, Reason reason) {
    recorder_->waitUntil(
        fmt::format("after `{}`: snapshot {} is {} ({})", step, toString(family), toString(current),
                    toString(reason)),
        [&] {
          const FamilyState state = familyState(*monitor_->snapshot(), family);
          return state.reachability == current && state.verdict.reason == reason;
        },
        kEventTimeout,
        [&] { return "snapshot verdict: " + describe(familyState(*monitor_->snapshot(), family).verdict); });
  }

  static FamilyState familyState(const Snapshot& s, Family family) {
    if (family == Family::Ipv4) return s.ipv4;
    if (family == Family::Ipv6) return s.ipv6;
    return FamilyState{s.reachability, s.verdict};
  }

};

// Disconnected → Local → Site → Online and back down, one kernel change at a time.
TEST_F(ReachabilityTest, LadderUpAndDown) {
  ns().addVethWithPeer("veth0");
  ns().peer().ip("addr add 192.0.2.1/24 dev veth0");
  ns().peer().ip("link set veth0 down");  // no carrier for us until the peer comes up
  ASSERT_NO_FATAL_FAILURE(startMonitor());

  auto initial = monitor().snapshot();
  EXPECT_EQ(toString(initial->ipv4.reachability), "disconnected");
  EXPECT_EQ(toString(initial->ipv4.verdict.reason), toString(Reason::NoLinkUp)) << describe(initial->ipv4.verdict);
  EXPECT_EQ(toString(initial->ipv6.reachability), "disconnected");
  EXPECT_EQ(toString(initial->reachability), "disconnected");
  ASSERT_NE(initial->findLink("veth0"), nullptr);
  EXPECT_EQ(toString(initial->findLink("veth0")->operationalState), "off");

  // Up, but the peer is down: no carrier.
  size_t mark = events().mark();
  ns().ip("link set veth0 up");
  ASSERT_TRUE(events().waitFor("veth0 up", linkEventWhere("veth0", [](const LinkEvent& e) {
    return e.link.isUp() && !e.link.hasCarrier();
  }), kEventTimeout, mark));
  expectSnapshot("link set veth0 up (peer down)", Family::Ipv4, Reachability::Disconnected, Reason::NoCarrier);
  EXPECT_EQ(toString(monitor().snapshot()->findLink("veth0")->operationalState),
            toString(OperationalState::NoCarrier));

  // Carrier: IPv4 has no address yet; IPv6 gets its fe80:: address (DAD is off) → Local.
  mark = events().mark();
  ns().peer().ip("link set veth0 up");
  ASSERT_TRUE(events().waitFor("veth0 carrier", linkEventWhere("veth0", [](const LinkEvent& e) {
    return e.link.hasCarrier();
  }), kEventTimeout, mark));
  expectTransition("peer up (carrier)", Family::Ipv6, Reachability::Disconnected, Reachability::Local,
                   Reason::LinkLocalOnly, mark);
  expectTransition("peer up (carrier)", Family::Unspecified, Reachability::Disconnected, Reachability::Local,
                   Reason::LinkLocalOnly, mark);
  expectSnapshot("peer up (carrier)", Family::Ipv4, Reachability::Disconnected, Reason::NoAddress);
  EXPECT_TRUE(events().waitUntil("veth0 is degraded (carrier, only link-local)", [&] {
    const auto snapshot = monitor().snapshot();  // keeps the Link alive while it is read
    const Link* link = snapshot->findLink("veth0");
    return link && link->operationalState == OperationalState::Degraded;
  }));

  mark = events().mark();
  ns().ip("addr add 169.254.10.2/16 dev veth0 scope link");
  ASSERT_TRUE(events().waitFor("169.254.10.2 added", addressEvent(Change::Added, "169.254.10.2"), kEventTimeout, mark));
  expectTransition("addr add 169.254.10.2/16", Family::Ipv4, Reachability::Disconnected, Reachability::Local,
                   Reason::LinkLocalOnly, mark);

  mark = events().mark();
  ns().ip("addr add 192.0.2.2/24 dev veth0");
  expectTransition("addr add 192.0.2.2/24", Family::Ipv4, Reachability::Local, Reachability::Site,
                   Reason::NoInternetRoute, mark);
  expectTransition("addr add 192.0.2.2/24", Family::Unspecified, Reachability::Local, Reachability::Site,
                   Reason::NoInternetRoute, mark);
  EXPECT_TRUE(events().waitFor("veth0 routable", linkEventWhere("veth0", [](const LinkEvent& e) {
    return e.link.operationalState == OperationalState::Routable;
  }), kEventTimeout, mark));

  mark = events().mark();
  ns().ip("route add default via 192.0.2.1 dev veth0");
  auto online = expectTransition("route add default", Family::Ipv4, Reachability::Site, Reachability::Online,
                                 Reason::InternetRoute, mark);
  ASSERT_TRUE(online);
  EXPECT_EQ(addressText(online->verdict.gateway), "192.0.2.1");
  EXPECT_EQ(online->verdict.linkName, "veth0");
  EXPECT_EQ(addressText(online->verdict.source), "192.0.2.2");
  EXPECT_TRUE(online->verdict.ruleTable == 0 || online->verdict.ruleTable == kTableMain)
      << online->verdict.ruleTable;
  expectTransition("route add default", Family::Unspecified, Reachability::Site, Reachability::Online,
                   Reason::InternetRoute, mark);

  mark = events().mark();
  ns().ip("route del default");
  ASSERT_TRUE(events().waitFor("default route removed",
                               routeEventWhere(Change::Removed, [](const Route& r) {
                                 return r.family == Family::Ipv4 && r.destination.length == 0;
                               }),
                               kEventTimeout, mark));
  auto site = expectTransition("route del default", Family::Ipv4, Reachability::Online, Reachability::Site,
                               Reason::NoInternetRoute, mark);
  ASSERT_TRUE(site);
  EXPECT_TRUE(site->verdict.uncovered.has_value()) << "no-internet-route should name an uncovered prefix";

  mark = events().mark();
  ns().ip("route add default via 192.0.2.1 dev veth0");
  expectTransition("route add default (again)", Family::Ipv4, Reachability::Site, Reachability::Online,
                   Reason::InternetRoute, mark);

  // Same key (table main, 0/0, tos 0, metric 0): a replace is a change of the route, not a new one.
  mark = events().mark();
  ns().ip("route replace blackhole default");
  EXPECT_TRUE(events().waitFor("default route changed to blackhole",
                               routeEventWhere(Change::Changed, [](const Route& r) {
                                 return r.family == Family::Ipv4 && r.destination.length == 0 &&
                                        r.type == RouteType::Blackhole;
                               }),
                               kEventTimeout, mark));
  auto rejected = expectTransition("route replace blackhole default", Family::Ipv4, Reachability::Online,
                                   Reachability::Site, Reason::InternetRouteRejected, mark);
  ASSERT_TRUE(rejected);
  ASSERT_TRUE(rejected->verdict.route.has_value());
  EXPECT_EQ(toString(rejected->verdict.route->type), toString(RouteType::Blackhole));

  mark = events().mark();
  ns().ip("route replace default via 192.0.2.1 dev veth0");
  expectTransition("route replace default via 192.0.2.1", Family::Ipv4, Reachability::Site, Reachability::Online,
                   Reason::InternetRoute, mark);

  // Removing the routable address leaves only 169.254.10.2 (the default route stays in the kernel).
  mark = events().mark();
  ns().ip("addr del 192.0.2.2/24 dev veth0");
  ASSERT_TRUE(events().waitFor("192.0.2.2 removed", addressEvent(Change::Removed, "192.0.2.2"), kEventTimeout, mark));
  expectTransition("addr del 192.0.2.2/24", Family::Ipv4, Reachability::Online, Reachability::Local,
                   Reason::LinkLocalOnly, mark);
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns(), monitor(), events()));

  mark = events().mark();
  ns().ip("addr add 192.0.2.2/24 dev veth0");
  ns().ip("route replace default via 192.0.2.1 dev veth0");
  ASSERT_TRUE(events().waitFor("ipv4 online again", reachabilityBecomes(Family::Ipv4, Reachability::Online),
                               kEventTimeout, mark));
  expectSnapshot("addr add + route replace default", Family::Ipv4, Reachability::Online, Reason::InternetRoute);

  mark = events().mark();
  ns().ip("link set veth0 down");
  expectTransition("link set veth0 down", Family::Ipv4, Reachability::Online, Reachability::Disconnected,
                   Reason::NoLinkUp, mark);
  EXPECT_TRUE(events().waitFor("overall disconnected", reachabilityBecomes(Family::Unspecified, Reachability::Disconnected),
                               kEventTimeout, mark));
  // The kernel flushed veth0's IPv4 routes without RTM_DELROUTE; the mirror must not keep them.
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns(), monitor(), events()));

  // Up again: the addresses survived, the default route did not → Site, never Online.
  mark = events().mark();
  ns().ip("link set veth0 up");
  const auto back = events().waitFor("ipv4 leaves disconnected after link up", [](const Event& e) {
    const auto* r = payloadAs<ReachabilityEvent>(e);
    return r && r->family == Family::Ipv4 && r->current != Reachability::Disconnected;
  }, kEventTimeout, mark);
  ASSERT_TRUE(back);
  EXPECT_EQ(toString(payloadAs<ReachabilityEvent>(*back)->current), "site")
      << "the default route was flushed by the link-down; got " << describe(*back);
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns(), monitor(), events()));
  expectSnapshot("link set veth0 up", Family::Ipv4, Reachability::Site, Reason::NoInternetRoute);
}

// VPN-style split default: 0.0.0.0/1 + 128.0.0.0/1.
TEST_F(ReachabilityTest, SplitDefaultRoutes) {
  ASSERT_NO_FATAL_FAILURE(linkWithCarrier());
  ns().ip("addr add 192.0.2.2/24 dev veth0");
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  EXPECT_EQ(toString(monitor().snapshot()->ipv4.reachability), "site");

  size_t mark = events().mark();
  ns().ip("route add 0.0.0.0/1 via 192.0.2.1 dev veth0");
  ASSERT_TRUE(events().waitFor("0.0.0.0/1 added", routeEventWhere(Change::Added, [](const Route& r) {
    return r.destination == prefix("0.0.0.0/1");
  }), kEventTimeout, mark));
  expectSnapshot("route add 0.0.0.0/1", Family::Ipv4, Reachability::Site, Reason::NoInternetRoute);
  {
    const auto verdict = monitor().snapshot()->ipv4.verdict;
    ASSERT_TRUE(verdict.uncovered.has_value()) << describe(verdict);
    EXPECT_GE(verdict.uncovered->address.v4HostOrder(), 0x80000000u)
        << "0.0.0.0/1 is covered; the uncovered prefix must be in the upper half: " << describe(verdict);
  }

  mark = events().mark();
  ns().ip("route add 128.0.0.0/1 via 192.0.2.1 dev veth0");
  auto online = expectTransition("route add 128.0.0.0/1", Family::Ipv4, Reachability::Site, Reachability::Online,
                                 Reason::InternetRoute, mark);
  ASSERT_TRUE(online);
  ASSERT_TRUE(online->verdict.route.has_value());
  EXPECT_EQ(online->verdict.route->destination.length, 1) << describe(online->verdict);
  EXPECT_EQ(addressText(online->verdict.gateway), "192.0.2.1");

  // A reject route for one half: the Internet is caught by it.
  mark = events().mark();
  ns().ip("route replace unreachable 0.0.0.0/1");
  expectTransition("route replace unreachable 0.0.0.0/1", Family::Ipv4, Reachability::Online, Reachability::Site,
                   Reason::InternetRouteRejected, mark);
  mark = events().mark();
  ns().ip("route replace 0.0.0.0/1 via 192.0.2.1 dev veth0");
  expectTransition("route replace 0.0.0.0/1 via", Family::Ipv4, Reachability::Site, Reachability::Online,
                   Reason::InternetRoute, mark);

  mark = events().mark();
  ns().ip("route del 0.0.0.0/1");
  auto site = expectTransition("route del 0.0.0.0/1", Family::Ipv4, Reachability::Online, Reachability::Site,
                               Reason::NoInternetRoute, mark);
  ASSERT_TRUE(site);
  ASSERT_TRUE(site->verdict.uncovered.has_value()) << describe(site->verdict);
  EXPECT_LT(site->verdict.uncovered->address.v4HostOrder(), 0x80000000u) << describe(site->verdict);
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns(), monitor(), events()));
}

// The Internet route leaves through a link that lost carrier while another link is fine.
TEST_F(ReachabilityTest, InternetRouteThroughLinkWithoutCarrier) {
  ASSERT_NO_FATAL_FAILURE(linkWithCarrier());
  ns().addVethWithPeer("veth1");
  // IPv6 off on veth1: two links' fe80::/64 routes are KernelQuirksTest's subject, not this one's.
  ns().run("sysctl -qw net.ipv6.conf.veth1.disable_ipv6=1");
  ns().ip("link set veth1 up");
  ns().ip("addr add 192.0.2.2/24 dev veth0");
  ns().ip("addr add 198.51.100.2/24 dev veth1");
  ns().ip("route add default via 192.0.2.1 dev veth0");
  ASSERT_TRUE(ns().waitForCarrier("veth1"));
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  EXPECT_EQ(toString(monitor().snapshot()->ipv4.reachability), "online");

  const size_t mark = events().mark();
  ns().peer().ip("link set veth0 down");
  auto site = expectTransition("peer of veth0 down", Family::Ipv4, Reachability::Online, Reachability::Site,
                               Reason::InternetRouteLinkDown, mark);
  ASSERT_TRUE(site);
  EXPECT_EQ(site->verdict.linkName, "veth0") << describe(site->verdict);
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns(), monitor(), events()));
}

// A default route that only exists in table 100 counts once a rule sends lookups there.
TEST_F(ReachabilityTest, PolicyRoutingTableAndRule) {
  ASSERT_NO_FATAL_FAILURE(linkWithCarrier());
  ns().ip("addr add 192.0.2.2/24 dev veth0");
  ns().ip("route add default via 192.0.2.1 dev veth0 table 100");
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  {
    const auto snapshot = monitor().snapshot();
    EXPECT_EQ(toString(snapshot->ipv4.reachability), "site") << describe(snapshot->ipv4.verdict);
    EXPECT_EQ(mirrorKernelDifferences(ns(), *snapshot, kRules | kRoutes), "");
    bool main_rule = false;
    for (const auto& rule : snapshot->rules) {
      main_rule = main_rule || (rule.family == Family::Ipv4 && rule.priority == 32766 && rule.table == kTableMain);
    }
    EXPECT_TRUE(main_rule) << "the standard `32766: from all lookup main` rule is missing from the snapshot";
  }

  size_t mark = events().mark();
  ns().ip("rule add pref 100 table 100");
  const auto added = events().waitFor("rule 100 added", ruleEvent(Change::Added, Family::Ipv4, 100), kEventTimeout, mark);
  ASSERT_TRUE(added);
  EXPECT_EQ(payloadAs<RuleEvent>(*added)->rule.table, 100u);
  EXPECT_EQ(toString(payloadAs<RuleEvent>(*added)->rule.action), toString(RuleAction::ToTable));
  auto online = expectTransition("rule add pref 100 table 100", Family::Ipv4, Reachability::Site,
                                 Reachability::Online, Reason::InternetRoute, mark);
  ASSERT_TRUE(online);
  EXPECT_EQ(online->verdict.ruleTable, 100u) << describe(online->verdict);
  ASSERT_TRUE(online->verdict.route.has_value());
  EXPECT_EQ(online->verdict.route->table, 100u);
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns(), monitor(), events(), kRules));

  // A prohibit rule in front catches everything.
  mark = events().mark();
  ns().ip("rule add pref 50 prohibit");
  ASSERT_TRUE(events().waitFor("rule 50 added", ruleEvent(Change::Added, Family::Ipv4, 50), kEventTimeout, mark));
  expectTransition("rule add pref 50 prohibit", Family::Ipv4, Reachability::Online, Reachability::Site,
                   Reason::InternetRouteRejected, mark);
  mark = events().mark();
  ns().ip("rule del pref 50");
  expectTransition("rule del pref 50", Family::Ipv4, Reachability::Site, Reachability::Online,
                   Reason::InternetRoute, mark);

  mark = events().mark();
  ns().ip("rule del pref 100");
  ASSERT_TRUE(events().waitFor("rule 100 removed", ruleEvent(Change::Removed, Family::Ipv4, 100), kEventTimeout, mark));
  expectTransition("rule del pref 100", Family::Ipv4, Reachability::Online, Reachability::Site,
                   Reason::NoInternetRoute, mark);
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns(), monitor(), events(), kRules | kRoutes));
}

// IPv6 Online while IPv4 is only Site: overall Online, decided by IPv6.
TEST_F(ReachabilityTest, Ipv6AlongsideIpv4) {
  ASSERT_NO_FATAL_FAILURE(linkWithCarrier());
  ns().ip("addr add 192.0.2.2/24 dev veth0");
  ns().peer().ip("-6 addr add 2001:db8:1::1/64 dev veth0 nodad");
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  {
    const auto snapshot = monitor().snapshot();
    EXPECT_EQ(toString(snapshot->ipv4.reachability), "site");
    EXPECT_EQ(toString(snapshot->ipv6.reachability), "local") << describe(snapshot->ipv6.verdict);
    EXPECT_EQ(toString(snapshot->ipv6.verdict.reason), toString(Reason::LinkLocalOnly));
    EXPECT_EQ(toString(snapshot->reachability), "site");
  }

  size_t mark = events().mark();
  ns().ip("-6 addr add 2001:db8:1::2/64 dev veth0 nodad");
  const auto added = events().waitFor("2001:db8:1::2 added", addressEvent(Change::Added, "2001:db8:1::2"), kEventTimeout, mark);
  ASSERT_TRUE(added);
  EXPECT_FALSE(payloadAs<AddressEvent>(*added)->address.isTentative()) << "nodad: never tentative";
  EXPECT_EQ(payloadAs<AddressEvent>(*added)->address.prefixLength, 64);
  expectTransition("-6 addr add 2001:db8:1::2/64", Family::Ipv6, Reachability::Local, Reachability::Site,
                   Reason::NoInternetRoute, mark);

  mark = events().mark();
  ns().ip("-6 route add default via 2001:db8:1::1 dev veth0");
  auto online = expectTransition("-6 route add default", Family::Ipv6, Reachability::Site, Reachability::Online,
                                 Reason::InternetRoute, mark);
  ASSERT_TRUE(online);
  EXPECT_EQ(addressText(online->verdict.gateway), "2001:db8:1::1");
  EXPECT_EQ(addressText(online->verdict.source), "2001:db8:1::2");
  expectTransition("-6 route add default", Family::Unspecified, Reachability::Site, Reachability::Online,
                   Reason::InternetRoute, mark);
  {
    const auto snapshot = monitor().snapshot();
    EXPECT_EQ(toString(snapshot->ipv4.reachability), "site");
    ASSERT_TRUE(snapshot->verdict.route.has_value());
    EXPECT_EQ(toString(snapshot->verdict.route->family), "ipv6") << "the overall verdict is IPv6's";
  }
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns(), monitor(), events()));

  // Duplicate address detection, for real: a tentative address, then the same address usable.
  mark = events().mark();
  ns().run("sysctl -qw net.ipv6.conf.veth0.accept_dad=1");
  ns().ip("-6 addr add 2001:db8:2::2/64 dev veth0");
  const auto tentative = events().waitFor("2001:db8:2::2 added", addressEvent(Change::Added, "2001:db8:2::2"), kEventTimeout, mark);
  ASSERT_TRUE(tentative);
  EXPECT_TRUE(payloadAs<AddressEvent>(*tentative)->address.isTentative()) << describe(*tentative);
  EXPECT_TRUE(events().waitFor("2001:db8:2::2 finishes DAD", [](const Event& e) {
    const auto* a = payloadAs<AddressEvent>(e);
    return a && a->change == Change::Changed && addressText(a->address.address) == "2001:db8:2::2" &&
           !a->address.isTentative();
  }, kEventTimeout, mark));

  mark = events().mark();
  ns().ip("-6 route del default");
  expectTransition("-6 route del default", Family::Ipv6, Reachability::Online, Reachability::Site,
                   Reason::NoInternetRoute, mark);
  expectTransition("-6 route del default", Family::Unspecified, Reachability::Online, Reachability::Site,
                   Reason::NoInternetRoute, mark);
}

}  // namespace
}  // namespace netmon::test
