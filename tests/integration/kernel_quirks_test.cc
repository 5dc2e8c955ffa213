// Kernel behaviour a mirror built from notifications alone gets wrong, checked against `ip -j`:
// IPv4 route flushes that send no RTM_DELROUTE, IPv6 routes that share a prefix on several links,
// link removal.
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

class KernelQuirksTest : public MonitoredNamespaceTest {
 protected:
  void startMonitor() {
    ASSERT_NO_FATAL_FAILURE(MonitoredNamespaceTest::startMonitor());
    EXPECT_EQ(mirrorKernelDifferences(*ns_, *monitor_->snapshot()), "") << "first snapshot";
  }

  // veth `name` up with carrier; the peer end is up.
  void upLink(const std::string& name, bool ipv6 = true) {
    ns_->addVethWithPeer(name);
    if (!ipv6) ns_->run(fmt::format("sysctl -qw net.ipv6.conf.{}.disable_ipv6=1", name));
    ns_->ip(fmt::format("link set {} up", name));
    ASSERT_TRUE(ns_->waitForCarrier(name));
  }

  bool sawRouteRemoved(const std::string& destination, uint32_t table, size_t from) {
    return recorder_
        ->waitFor(fmt::format("RouteEvent removed for {} table {}", destination, table),
                  routeEventWhere(Change::Removed,
                                  [&, p = prefix(destination)](const Route& r) {
                                    return r.destination == p && r.table == table;
                                  }),
                  kEventTimeout, from)
        .has_value();
  }

};

// FACTS.md: an IPv4 link going down flushes its routes without any RTM_DELROUTE.
TEST_F(KernelQuirksTest, LinkDownFlushesIpv4RoutesWithoutDelRoute) {
  ASSERT_NO_FATAL_FAILURE(upLink("veth0"));
  ASSERT_NO_FATAL_FAILURE(upLink("veth1", /*ipv6=*/false));
  TestNamespace& ns = *ns_;
  ns.peer().ip("addr add 192.0.2.1/24 dev veth0");
  ns.ip("addr add 192.0.2.2/24 dev veth0");
  ns.ip("addr add 203.0.113.2/24 dev veth1");
  ns.ip("-6 addr add 2001:db8:1::2/64 dev veth0 nodad");
  ns.ip("route add default via 192.0.2.1 dev veth0");
  ns.ip("route add 198.51.100.0/24 via 192.0.2.1 dev veth0");
  ns.ip("route add 198.51.100.0/24 via 192.0.2.1 dev veth0 metric 20");
  ns.ip("route add 203.0.113.128/25 dev veth0 table 50 metric 5");
  ns.ip("route add 198.51.100.128/25 via 192.0.2.1 dev veth0 table 60");
  ns.ip("route add 198.51.100.64/26 via 203.0.113.1 dev veth1");  // survives: another link
  ns.ip("-6 route add 2001:db8:99::/48 via 2001:db8:1::1 dev veth0");
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  EXPECT_EQ(toString(monitor_->snapshot()->ipv4.reachability), "online");
  const uint64_t flushes_before = monitor_->counters().linkRouteFlushes;

  const size_t mark = recorder_->mark();
  ns.ip("link set veth0 down");
  ASSERT_TRUE(recorder_->waitFor("veth0 down", linkEventWhere("veth0", [](const LinkEvent& e) {
    return !e.link.isUp();
  }), kEventTimeout, mark));
  // Within a deadline the mirror's routes must equal the kernel's, flushed ones gone.
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns, *monitor_, *recorder_));

  // ...and the subscribers were told.
  EXPECT_TRUE(sawRouteRemoved("0.0.0.0/0", kTableMain, mark));
  EXPECT_TRUE(sawRouteRemoved("198.51.100.0/24", kTableMain, mark));
  EXPECT_TRUE(sawRouteRemoved("203.0.113.128/25", 50, mark));
  EXPECT_TRUE(sawRouteRemoved("198.51.100.128/25", 60, mark));
  int removed_198 = 0;
  for (const auto& event : recorder_->events(mark)) {
    const auto* r = payloadAs<RouteEvent>(event);
    if (r && r->change == Change::Removed && r->route.destination == prefix("198.51.100.0/24")) ++removed_198;
  }
  EXPECT_EQ(removed_198, 2) << "both metrics of 198.51.100.0/24 were flushed:\n" << recorder_->dump(mark);

  const auto snapshot = monitor_->snapshot();
  bool survivor = false;
  snapshot->forEachRoute([&](const Route& r) {
    survivor = survivor || (r.destination == prefix("198.51.100.64/26") && addressText(r.gateway) == "203.0.113.1");
  });
  EXPECT_TRUE(survivor) << "the route via veth1 must survive veth0's flush";
  EXPECT_EQ(toString(snapshot->ipv4.reachability), "site") << describe(snapshot->ipv4.verdict);
  EXPECT_GT(monitor_->counters().linkRouteFlushes, flushes_before) << describe(monitor_->counters());
  EXPECT_EQ(recorder_->reachabilityChainProblems(), "");
}

// The same flush happens when a link loses its last IPv4 address (fib_disable_ip): routes through
// it vanish, again with no RTM_DELROUTE (checked with `ip monitor` on kernel 6.18).
TEST_F(KernelQuirksTest, RemovingTheLastIpv4AddressFlushesRoutesWithoutDelRoute) {
  ASSERT_NO_FATAL_FAILURE(upLink("veth0"));
  TestNamespace& ns = *ns_;
  ns.peer().ip("addr add 192.0.2.1/24 dev veth0");
  ns.ip("addr add 192.0.2.2/24 dev veth0");
  ns.ip("route add default via 192.0.2.1 dev veth0");
  ns.ip("route add 198.51.100.0/24 via 192.0.2.1 dev veth0 table 50");
  ASSERT_NO_FATAL_FAILURE(startMonitor());

  const size_t mark = recorder_->mark();
  ns.ip("addr del 192.0.2.2/24 dev veth0");
  ASSERT_TRUE(recorder_->waitFor("192.0.2.2 removed", addressEvent(Change::Removed, "192.0.2.2"), kEventTimeout, mark));
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns, *monitor_, *recorder_));
  EXPECT_TRUE(sawRouteRemoved("0.0.0.0/0", kTableMain, mark));
  EXPECT_TRUE(sawRouteRemoved("198.51.100.0/24", 50, mark));
  EXPECT_TRUE(recorder_->waitFor("ipv4 disconnected", reachabilityBecomes(Family::Ipv4, Reachability::Disconnected),
                                 kEventTimeout, mark));
  EXPECT_EQ(toString(monitor_->snapshot()->ipv4.verdict.reason), toString(Reason::NoAddress));
}

// IPv6 keeps one route per link for the same prefix and metric (fe80::/64 on every link, ff00::/8
// in table local): a mirror keyed without the output link merges them.
TEST_F(KernelQuirksTest, Ipv6RoutesWithTheSamePrefixOnTwoLinksAreDistinct) {
  ASSERT_NO_FATAL_FAILURE(upLink("veth0"));
  ASSERT_NO_FATAL_FAILURE(upLink("veth1"));
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  const auto snapshot = monitor_->snapshot();
  int fe80_routes = 0;
  snapshot->forEachRoute([&](const Route& r) {
    if (r.family == Family::Ipv6 && r.table == kTableMain && r.destination == prefix("fe80::/64")) ++fe80_routes;
  });
  EXPECT_EQ(fe80_routes, 2) << "kernel: fe80::/64 dev veth0 and fe80::/64 dev veth1\n"
                            << diffLines(kernelRoutes(*ns_), mirrorRoutes(*snapshot));

  const size_t mark = recorder_->mark();
  ns_->ip("link set veth0 down");
  ASSERT_TRUE(recorder_->waitFor("veth0 down", linkEventWhere("veth0", [](const LinkEvent& e) {
    return !e.link.isUp();
  }), kEventTimeout, mark));
  EXPECT_TRUE(waitForMirrorToMatchKernel(*ns_, *monitor_, *recorder_, kRoutes));
}

// Deleting a link: its addresses and routes go with it (routes, once more, silently).
TEST_F(KernelQuirksTest, DeletingALinkRemovesItsAddressesAndRoutes) {
  ASSERT_NO_FATAL_FAILURE(upLink("veth0"));
  ASSERT_NO_FATAL_FAILURE(upLink("veth1", /*ipv6=*/false));
  TestNamespace& ns = *ns_;
  ns.ip("addr add 192.0.2.2/24 dev veth0");
  ns.ip("addr add 203.0.113.2/24 dev veth1");
  ns.ip("route add default via 192.0.2.1 dev veth0");
  ns.ip("route add 198.51.100.0/24 via 192.0.2.1 dev veth0 table 70");
  ns.ip("-6 addr add 2001:db8:1::2/64 dev veth0 nodad");
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  const int index = ns.linkIndex("veth0");

  size_t mark = recorder_->mark();
  ns.ip("link set veth0 mtu 1400");
  EXPECT_TRUE(recorder_->waitFor("veth0 mtu 1400", [&](const Event& e) {
    const auto* l = payloadAs<LinkEvent>(e);
    return l && l->change == Change::Changed && l->link.index == index && l->link.mtu == 1400;
  }, kEventTimeout, mark));

  mark = recorder_->mark();
  ns.ip("link del veth0");
  const auto removed = recorder_->waitFor("veth0 removed", [&](const Event& e) {
    const auto* l = payloadAs<LinkEvent>(e);
    return l && l->change == Change::Removed && l->link.index == index;
  }, kEventTimeout, mark);
  ASSERT_TRUE(removed);
  EXPECT_EQ(payloadAs<LinkEvent>(*removed)->link.name, "veth0") << "Removed carries the last known state";
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns, *monitor_, *recorder_));
  const auto snapshot = monitor_->snapshot();
  EXPECT_EQ(snapshot->findLink(index), nullptr);
  EXPECT_TRUE(snapshot->addressesOf(index).empty());
  snapshot->forEachRoute([&](const Route& r) {
    EXPECT_NE(r.linkIndex, index) << "route through the deleted link: " << describe(r);
  });
  EXPECT_TRUE(sawRouteRemoved("198.51.100.0/24", 70, mark));
}

// Bridge ports: `master` is the bridge's index, the port is enslaved; leaving the bridge clears it.
TEST_F(KernelQuirksTest, BridgePortHasItsMaster) {
  TestNamespace& ns = *ns_;
  ns.ip("link add br0 type bridge");
  ns.addVethWithPeer("veth2");
  ns.ip("link set veth2 master br0");
  ns.ip("link set br0 up");
  ns.ip("link set veth2 up");
  ASSERT_TRUE(ns.waitForCarrier("veth2"));
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  const int bridge = ns.linkIndex("br0");
  {
    const auto snapshot = monitor_->snapshot();
    const Link* port = snapshot->findLink("veth2");
    ASSERT_NE(port, nullptr);
    EXPECT_EQ(port->master, bridge) << describe(*port);
    EXPECT_EQ(toString(port->operationalState), toString(OperationalState::Enslaved)) << describe(*port);
    ASSERT_NE(snapshot->findLink("br0"), nullptr);
    EXPECT_EQ(snapshot->findLink("br0")->kind, "bridge");
  }
  const size_t mark = recorder_->mark();
  ns.ip("link set veth2 nomaster");
  EXPECT_TRUE(recorder_->waitFor("veth2 leaves br0", linkEventWhere("veth2", [](const LinkEvent& e) {
    return e.change == Change::Changed && e.link.master == 0;
  }), kEventTimeout, mark));
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns, *monitor_, *recorder_, kLinks | kAddresses | kRoutes));
}

}  // namespace
}  // namespace netmon::test
