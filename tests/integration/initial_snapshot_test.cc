// The first snapshot is the truth (state that exists before the monitor starts), and the monitor
// watches the namespace it is told to, whether by name, by path or by file descriptor.
#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "netmon/status_monitor.h"
#include "support/event_recorder.h"
#include "support/netns.h"

namespace netmon::test {
namespace {

class InitialSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override { requireNetAdmin(); }

  // veth0 (peer holds 192.0.2.1) up with carrier, 192.0.2.2/24, default via 192.0.2.1.
  static void makeOnlineLink(TestNamespace& ns) {
    ns.addVethWithPeer("veth0");
    ns.peer().ip("addr add 192.0.2.1/24 dev veth0");
    ns.ip("link set veth0 up");
    ns.ip("addr add 192.0.2.2/24 dev veth0");
    ns.ip("route add default via 192.0.2.1 dev veth0");
    ns.ip("route add 198.51.100.0/24 via 192.0.2.1 dev veth0 metric 50");
    ASSERT_TRUE(ns.waitForCarrier("veth0"));
  }

  static const Route* findRoute(const std::vector<Route>& routes, Family family, uint32_t table,
                                const IpPrefix& destination) {
    for (const auto& route : routes) {
      if (route.family == family && route.table == table && route.destination == destination) return &route;
    }
    return nullptr;
  }

  static std::string threadNamespace() {
    char target[PATH_MAX] = {};
    const ssize_t n = ::readlink("/proc/thread-self/ns/net", target, sizeof target - 1);
    return n > 0 ? std::string(target, static_cast<size_t>(n)) : std::string("?");
  }
};

TEST_F(InitialSnapshotTest, StateThatExistsBeforeTheMonitorIsInTheFirstSnapshot) {
  TestNamespace ns;
  ASSERT_TRUE(ns.valid());
  ASSERT_NO_FATAL_FAILURE(makeOnlineLink(ns));
  const int index = ns.linkIndex("veth0");
  ASSERT_GT(index, 0);

  auto monitor = StatusMonitor::create(optionsFor(ns));
  ASSERT_TRUE(monitor) << monitor.error().message();
  const auto snapshot = monitor->snapshot();
  ASSERT_NE(snapshot, nullptr);

  // No waiting: creation returns after the initial dump, so the first answer must be true.
  EXPECT_EQ(snapshot->ipv4.reachability, Reachability::Online) << describe(snapshot->ipv4.verdict);
  EXPECT_EQ(snapshot->ipv4.verdict.reason, Reason::InternetRoute) << describe(snapshot->ipv4.verdict);
  EXPECT_EQ(snapshot->reachability, Reachability::Online);
  EXPECT_EQ(monitor->reachability(), Reachability::Online);
  // veth0 is up with carrier and holds only fe80:: for IPv6.
  EXPECT_EQ(snapshot->ipv6.reachability, Reachability::Local) << describe(snapshot->ipv6.verdict);
  EXPECT_EQ(snapshot->ipv6.verdict.reason, Reason::LinkLocalOnly) << describe(snapshot->ipv6.verdict);
  EXPECT_NE(snapshot->transportMedium, TransportMedium::None);

  const Verdict& verdict = snapshot->ipv4.verdict;
  EXPECT_EQ(verdict.linkIndex, index);
  EXPECT_EQ(verdict.linkName, "veth0");
  EXPECT_EQ(addressText(verdict.gateway), "192.0.2.1");
  EXPECT_EQ(addressText(verdict.source), "192.0.2.2");
  ASSERT_TRUE(verdict.route.has_value());
  EXPECT_EQ(verdict.route->destination.length, 0);
  EXPECT_EQ(snapshot->verdict, snapshot->ipv4.verdict) << "the overall verdict is the deciding family's";
  EXPECT_FALSE(verdict.explanation().empty());

  const auto routes = snapshot->routes();
  EXPECT_EQ(routes.size(), snapshot->routeCount());
  const Route* default_route = findRoute(routes, Family::Ipv4, kTableMain, prefix("0.0.0.0/0"));
  ASSERT_NE(default_route, nullptr) << "no IPv4 default route in the first snapshot";
  EXPECT_EQ(addressText(default_route->gateway), "192.0.2.1");
  EXPECT_EQ(default_route->linkIndex, index);
  EXPECT_EQ(default_route->type, RouteType::Unicast);
  EXPECT_EQ(default_route->metric, 0u);
  const Route* via_route = findRoute(routes, Family::Ipv4, kTableMain, prefix("198.51.100.0/24"));
  ASSERT_NE(via_route, nullptr);
  EXPECT_EQ(via_route->metric, 50u);
  EXPECT_EQ(addressText(via_route->gateway), "192.0.2.1");

  const Link* link = snapshot->findLink("veth0");
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(link, snapshot->findLink(index));
  EXPECT_EQ(link->index, index);
  EXPECT_EQ(link->kind, "veth");
  EXPECT_TRUE(link->isUp());
  EXPECT_TRUE(link->hasCarrier());
  EXPECT_FALSE(link->ignored);
  EXPECT_EQ(link->operationalState, OperationalState::Routable) << describe(*link);
  const Link* lo = snapshot->findLink("lo");
  ASSERT_NE(lo, nullptr);
  EXPECT_TRUE(lo->isLoopback());

  bool found_address = false;
  for (const auto& a : snapshot->addressesOf(index)) {
    if (addressText(a.address) == "192.0.2.2") {
      found_address = true;
      EXPECT_EQ(a.prefixLength, 24);
      EXPECT_EQ(a.scope, Scope::Global);
      EXPECT_TRUE(a.isUsable());
    }
  }
  EXPECT_TRUE(found_address) << "192.0.2.2/24 missing from addressesOf(veth0)";

  // Field for field against `ip -j` — the whole namespace, both families, all tables.
  EXPECT_EQ(mirrorKernelDifferences(ns, *snapshot), "");
  const Counters counters = monitor->counters();
  EXPECT_GT(counters.messages, 0u);
  EXPECT_FALSE(counters.degraded);
  EXPECT_EQ(counters.foreignSenderDropped, 0u);
  EXPECT_EQ(counters.malformed, 0u) << describe(counters);
}

// `ip route append` gives IPv4 two routes under one key (the kernel's route key has no gateway);
// the dump lists both, in the order `ip route show` prints them. The mirror files them under one
// key and keeps the one dumped last, as it would if their notifications came one after the other.
// The initial dump loads the empty store in bulk (no index work per route): this is the case where
// the index built afterwards must fold the two records into one.
TEST_F(InitialSnapshotTest, AppendedRoutesUnderOneKeyKeepTheOneDumpedLast) {
  TestNamespace ns;
  ASSERT_TRUE(ns.valid());
  ASSERT_NO_FATAL_FAILURE(makeOnlineLink(ns));
  ns.ip("route append 203.0.113.0/24 via 192.0.2.1 dev veth0");
  ns.ip("route append 203.0.113.0/24 via 192.0.2.3 dev veth0");
  const auto listed = ns.ipJson("-4 route show 203.0.113.0/24");
  ASSERT_EQ(listed.size(), 2u) << listed.dump();
  const std::string last_gateway = listed.back().value("gateway", "");
  ASSERT_FALSE(last_gateway.empty()) << listed.dump();

  auto monitor = StatusMonitor::create(optionsFor(ns));
  ASSERT_TRUE(monitor) << monitor.error().message();
  const auto snapshot = monitor->snapshot();
  const auto routes = snapshot->routes();
  size_t under_key = 0;
  for (const auto& route : routes) {
    if (route.family == Family::Ipv4 && route.destination == prefix("203.0.113.0/24")) ++under_key;
  }
  EXPECT_EQ(under_key, 1u);
  const Route* kept = findRoute(routes, Family::Ipv4, kTableMain, prefix("203.0.113.0/24"));
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(addressText(kept->gateway), last_gateway);
  // The rest of the table is there (lookups after a bulk load: route_store_test).
  ASSERT_NE(findRoute(routes, Family::Ipv4, kTableMain, prefix("0.0.0.0/0")), nullptr);
  EXPECT_EQ(routes.size(), snapshot->routeCount());
  EXPECT_EQ(monitor->counters().malformed, 0u);
}

TEST_F(InitialSnapshotTest, NamespaceByPathWorksAsByName) {
  TestNamespace ns;
  ASSERT_TRUE(ns.valid());
  ASSERT_NO_FATAL_FAILURE(makeOnlineLink(ns));
  const std::string caller_namespace = threadNamespace();

  auto by_name = StatusMonitor::create(optionsFor(ns));
  ASSERT_TRUE(by_name) << by_name.error().message();
  MonitorOptions path_options = optionsFor(ns);
  path_options.networkNamespace = ns.path();  // "/run/netns/NAME"
  auto by_path = StatusMonitor::create(path_options);
  ASSERT_TRUE(by_path) << by_path.error().message();
  EXPECT_EQ(threadNamespace(), caller_namespace) << "create() left the calling thread in another namespace";

  const auto a = by_name->snapshot();
  const auto b = by_path->snapshot();
  EXPECT_EQ(mirrorLinks(*a), mirrorLinks(*b));
  EXPECT_EQ(mirrorAddresses(*a), mirrorAddresses(*b));
  EXPECT_EQ(mirrorRoutes(*a), mirrorRoutes(*b));
  EXPECT_EQ(mirrorRules(*a), mirrorRules(*b));
  EXPECT_EQ(b->ipv4.reachability, Reachability::Online) << describe(b->ipv4.verdict);
  EXPECT_EQ(mirrorKernelDifferences(ns, *b), "");

  // Both watch the namespace, not the host: a change there reaches both.
  EventRecorder name_events(*by_name);
  EventRecorder path_events(*by_path);
  ns.ip("route del default");
  for (EventRecorder* recorder : {&name_events, &path_events}) {
    const auto event = recorder->waitFor("ipv4 reachability becomes site after `route del default`",
                                         reachabilityBecomes(Family::Ipv4, Reachability::Site));
    ASSERT_TRUE(event);
    EXPECT_EQ(payloadAs<ReachabilityEvent>(*event)->previous, Reachability::Online);
    EXPECT_EQ(payloadAs<ReachabilityEvent>(*event)->verdict.reason, Reason::NoInternetRoute);
  }
  EXPECT_EQ(name_events.reachabilityChainProblems(), "");
  EXPECT_EQ(path_events.reachabilityChainProblems(), "");
}

TEST_F(InitialSnapshotTest, NamespaceByFileDescriptorIsNotTakenOver) {
  TestNamespace ns;
  ASSERT_TRUE(ns.valid());
  ASSERT_NO_FATAL_FAILURE(makeOnlineLink(ns));
  const int fd = ::open(ns.path().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ns.path();
  MonitorOptions options = optionsFor(ns);
  options.networkNamespace.clear();
  options.networkNamespaceFd = fd;
  auto monitor = StatusMonitor::create(options);
  // "not taken over": the caller still owns and closes it.
  EXPECT_EQ(::fcntl(fd, F_GETFD), FD_CLOEXEC) << "the monitor closed or changed the caller's namespace fd";
  ::close(fd);
  ASSERT_TRUE(monitor) << monitor.error().message();
  EXPECT_EQ(monitor->snapshot()->ipv4.reachability, Reachability::Online);
  EXPECT_EQ(mirrorKernelDifferences(ns, *monitor->snapshot()), "");

  EventRecorder events(*monitor);
  ns.ip("link set veth0 down");
  ASSERT_TRUE(events.waitFor("ipv4 disconnected after link down", reachabilityBecomes(Family::Ipv4, Reachability::Disconnected)));
}

TEST_F(InitialSnapshotTest, UnknownNamespaceIsAnErrorNotACrash) {
  MonitorOptions options;
  options.networkNamespace = "nmt-no-such-namespace";
  auto monitor = StatusMonitor::create(options);
  ASSERT_FALSE(monitor) << "create() succeeded for a namespace that does not exist";
  EXPECT_FALSE(monitor.error().message().empty());
  EXPECT_TRUE(monitor.error().code) << monitor.error().message();
}

}  // namespace
}  // namespace netmon::test
