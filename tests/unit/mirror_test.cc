// netmon::detail::Mirror: what counts as a change, resync diffs, link-removal and link-down route
// bookkeeping, reachability events from finishBatch(), the interest mask and the ignore filter.
// Records are built by hand (tests/support/fake_backend.h); no netlink bytes here.
#include "core/mirror.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "support/fake_backend.h"

namespace netmon::detail {
namespace {

using test::hop;
using test::ip;
using test::loopback;
using test::makeAddress;
using test::makeLink;
using test::makeMultipath;
using test::makeRoute;
using test::makeRule;
using test::upVeth;

template <class T>
std::vector<T> eventsOf(const std::vector<EventPayload>& events) {
  std::vector<T> out;
  for (const auto& e : events) {
    if (auto* p = std::get_if<T>(&e)) out.push_back(*p);
  }
  return out;
}

std::vector<ReachabilityEvent> reachabilityEvents(const std::vector<EventPayload>& events) {
  return eventsOf<ReachabilityEvent>(events);
}

// "ipv4 site->online" per event, for readable expectations.
std::vector<std::string> describeReachability(const std::vector<EventPayload>& events) {
  std::vector<std::string> out;
  for (const auto& r : reachabilityEvents(events)) {
    out.push_back(std::string(toString(r.family)) + " " + std::string(toString(r.previous)) + "->" +
                  std::string(toString(r.current)));
  }
  return out;
}

// A mirror with lo and veth0 (index 2, up, carrier) and 192.0.2.2/24, events of setup dropped.
class MirrorTest : public ::testing::Test {
 protected:
  MirrorTest() : mirror_(LinkFilter::none()) {}

  void addBaseline() {
    mirror_.applyLink(false, loopback());
    mirror_.applyAddress(false, makeAddress(1, "127.0.0.1/8"));
    mirror_.applyAddress(false, makeAddress(1, "::1/128"));
    mirror_.applyLink(false, upVeth());
    mirror_.applyAddress(false, makeAddress(2, "192.0.2.2/24"));
    mirror_.applyRoute(false, makeRoute("192.0.2.0/24", "", 2));
    mirror_.markHasData();
    mirror_.finishBatch();
    mirror_.takeEvents();
  }

  Mirror mirror_;
};

TEST_F(MirrorTest, LinkEventsOnlyOnRealChange) {
  Link link = upVeth();
  mirror_.applyLink(false, Link(link));
  auto events = eventsOf<LinkEvent>(mirror_.takeEvents());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].change, Change::Added);
  EXPECT_EQ(events[0].link.name, "veth0");
  EXPECT_EQ(events[0].link.operationalState, OperationalState::Carrier);

  mirror_.applyLink(false, Link(link));  // the kernel repeats itself
  EXPECT_TRUE(mirror_.takeEvents().empty());

  link.mtu = 9000;
  mirror_.applyLink(false, Link(link));
  events = eventsOf<LinkEvent>(mirror_.takeEvents());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].change, Change::Changed);
  EXPECT_EQ(events[0].link.mtu, 9000u);

  mirror_.applyLink(true, Link(link));
  events = eventsOf<LinkEvent>(mirror_.takeEvents());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].change, Change::Removed);
  EXPECT_EQ(events[0].link.mtu, 9000u);  // the last known state

  mirror_.applyLink(true, Link(link));  // unknown link: nothing to remove
  EXPECT_TRUE(mirror_.takeEvents().empty());
}

TEST_F(MirrorTest, AddressLifetimeOnlyChangeIsNotAnEvent) {
  addBaseline();
  Address a = makeAddress(2, "2001:db8::2/64");
  a.preferredLifetime = 3600;
  a.validLifetime = 7200;
  mirror_.applyAddress(false, Address(a));
  auto events = eventsOf<AddressEvent>(mirror_.takeEvents());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].change, Change::Added);
  mirror_.finishBatch();  // IPv6 now has a routable address: derived events, not checked here
  mirror_.takeEvents();

  a.preferredLifetime = 3500;
  a.validLifetime = 7100;
  mirror_.applyAddress(false, Address(a));
  EXPECT_TRUE(mirror_.takeEvents().empty());
  mirror_.finishBatch();
  EXPECT_TRUE(mirror_.takeEvents().empty());

  a.flags |= 0x20;  // IFA_F_DEPRECATED: a real change
  mirror_.applyAddress(false, Address(a));
  events = eventsOf<AddressEvent>(mirror_.takeEvents());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].change, Change::Changed);
  EXPECT_TRUE(events[0].address.isDeprecated());

  // The snapshot keeps the newest lifetimes even though no event said so.
  const Snapshot snapshot = mirror_.makeSnapshot();
  auto it = std::find_if(snapshot.addresses.begin(), snapshot.addresses.end(),
                         [&](const Address& x) { return x.address == a.address; });
  ASSERT_NE(it, snapshot.addresses.end());
  EXPECT_EQ(it->validLifetime, 7100u);

  mirror_.applyAddress(true, Address(a));
  events = eventsOf<AddressEvent>(mirror_.takeEvents());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].change, Change::Removed);
  mirror_.applyAddress(true, Address(a));
  EXPECT_TRUE(mirror_.takeEvents().empty());
}

TEST_F(MirrorTest, RouteAndRuleEventsOnlyOnRealChange) {
  addBaseline();
  Route route = makeRoute("198.51.100.0/24", "192.0.2.1", 2);
  mirror_.applyRoute(false, route);
  auto routes = eventsOf<RouteEvent>(mirror_.takeEvents());
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].change, Change::Added);
  mirror_.applyRoute(false, route);
  EXPECT_TRUE(mirror_.takeEvents().empty());
  route.gateway = ip("192.0.2.254");
  mirror_.applyRoute(false, route);
  routes = eventsOf<RouteEvent>(mirror_.takeEvents());
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].change, Change::Changed);
  EXPECT_EQ(routes[0].route.gateway, ip("192.0.2.254"));
  mirror_.applyRoute(true, makeRoute("198.51.100.0/24", "", 0));  // key only
  routes = eventsOf<RouteEvent>(mirror_.takeEvents());
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].change, Change::Removed);
  EXPECT_EQ(routes[0].route, route);  // the stored route, not the key
  mirror_.applyRoute(true, route);
  EXPECT_TRUE(mirror_.takeEvents().empty());

  const Rule rule = makeRule(Family::Ipv4, 100, 100);
  mirror_.applyRule(false, Rule(rule));
  ASSERT_EQ(eventsOf<RuleEvent>(mirror_.takeEvents()).size(), 1u);
  mirror_.applyRule(false, Rule(rule));
  EXPECT_TRUE(mirror_.takeEvents().empty());
  mirror_.applyRule(true, Rule(rule));
  auto rules = eventsOf<RuleEvent>(mirror_.takeEvents());
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].change, Change::Removed);
  mirror_.applyRule(true, Rule(rule));
  EXPECT_TRUE(mirror_.takeEvents().empty());
}

// --- resync ------------------------------------------------------------------------------------

class MirrorResyncTest : public MirrorTest {
 protected:
  void SetUp() override {
    addBaseline();
    mirror_.applyLink(false, upVeth(3, "veth1"));
    mirror_.applyAddress(false, makeAddress(3, "198.51.100.2/24"));
    mirror_.applyAddress(false, makeAddress(2, "2001:db8::2/64"));
    mirror_.applyRoute(false, route_kept_);
    mirror_.applyRoute(false, route_changed_);
    mirror_.applyRoute(false, route_gone_);
    mirror_.applyRoute(false, route_via_gone_link_);
    mirror_.applyRule(false, Rule(rule_kept_));
    mirror_.applyRule(false, Rule(rule_gone_));
    mirror_.finishBatch();
    mirror_.takeEvents();
  }

  // The dump: lo and veth0 (mtu changed), veth1 gone, veth2 new; 2001:db8::2 gone, 192.0.2.3 new.
  void applyDump() {
    mirror_.applyLink(false, loopback());
    Link veth0 = upVeth();
    veth0.mtu = 1400;
    mirror_.applyLink(false, std::move(veth0));
    mirror_.applyLink(false, upVeth(4, "veth2"));
    mirror_.applyAddress(false, makeAddress(1, "127.0.0.1/8"));
    mirror_.applyAddress(false, makeAddress(1, "::1/128"));
    mirror_.applyAddress(false, makeAddress(2, "192.0.2.2/24"));
    mirror_.applyAddress(false, makeAddress(2, "192.0.2.3/24"));
    mirror_.applyRoute(false, makeRoute("192.0.2.0/24", "", 2));
    mirror_.applyRoute(false, route_kept_);
    Route changed = route_changed_;
    changed.gateway = ip("192.0.2.254");
    mirror_.applyRoute(false, changed);
    mirror_.applyRoute(false, route_new_);
    mirror_.applyRule(false, Rule(rule_kept_));
    mirror_.applyRule(false, Rule(rule_new_));
  }

  const Route route_kept_ = makeRoute("default", "192.0.2.1", 2);
  const Route route_changed_ = makeRoute("203.0.113.0/24", "192.0.2.1", 2);
  const Route route_gone_ = makeRoute("2001:db8:1::/48", "2001:db8::1", 2);
  const Route route_via_gone_link_ = makeRoute("198.51.100.0/24", "", 3);
  const Route route_new_ = makeRoute("203.0.114.0/24", "192.0.2.1", 2);
  const Rule rule_kept_ = makeRule(Family::Ipv4, 100, 100);
  const Rule rule_gone_ = makeRule(Family::Ipv6, 100, 100);
  const Rule rule_new_ = makeRule(Family::Ipv4, 200, 200);
};

TEST_F(MirrorResyncTest, EmitsExactlyTheDifferencesAndCountsThem) {
  mirror_.beginResync();
  EXPECT_TRUE(mirror_.resyncing());
  applyDump();
  const uint64_t differences = mirror_.endResync();
  EXPECT_FALSE(mirror_.resyncing());
  const auto events = mirror_.takeEvents();
  EXPECT_EQ(differences, events.size());

  auto links = eventsOf<LinkEvent>(events);
  std::vector<std::pair<Change, std::string>> link_changes;
  for (const auto& e : links) link_changes.emplace_back(e.change, e.link.name);
  EXPECT_EQ(link_changes, (std::vector<std::pair<Change, std::string>>{
                              {Change::Changed, "veth0"}, {Change::Added, "veth2"}, {Change::Removed, "veth1"}}));

  std::vector<std::pair<Change, std::string>> address_changes;
  for (const auto& e : eventsOf<AddressEvent>(events)) address_changes.emplace_back(e.change, e.address.address.toString());
  std::sort(address_changes.begin(), address_changes.end());
  EXPECT_EQ(address_changes, (std::vector<std::pair<Change, std::string>>{{Change::Added, "192.0.2.3"},
                                                                          {Change::Removed, "198.51.100.2"},
                                                                          {Change::Removed, "2001:db8::2"}}));

  std::vector<std::pair<Change, std::string>> route_changes;
  for (const auto& e : eventsOf<RouteEvent>(events)) route_changes.emplace_back(e.change, e.route.destination.toString());
  std::sort(route_changes.begin(), route_changes.end());
  EXPECT_EQ(route_changes, (std::vector<std::pair<Change, std::string>>{{Change::Added, "203.0.114.0/24"},
                                                                        {Change::Changed, "203.0.113.0/24"},
                                                                        {Change::Removed, "198.51.100.0/24"},
                                                                        {Change::Removed, "2001:db8:1::/48"}}));

  auto rules = eventsOf<RuleEvent>(events);
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].change, Change::Added);
  EXPECT_EQ(rules[0].rule, rule_new_);
  EXPECT_EQ(rules[1].change, Change::Removed);
  EXPECT_EQ(rules[1].rule, rule_gone_);
  EXPECT_TRUE(eventsOf<ReachabilityEvent>(events).empty());  // reachability comes from finishBatch

  // The mirror now equals the dump; the same dump again is no difference at all.
  mirror_.finishBatch();
  mirror_.takeEvents();
  mirror_.beginResync();
  applyDump();
  EXPECT_EQ(mirror_.endResync(), 0u);
  EXPECT_TRUE(mirror_.takeEvents().empty());
  EXPECT_EQ(mirror_.routeCount(), 4u);
  const Snapshot snapshot = mirror_.makeSnapshot();
  EXPECT_EQ(snapshot.links.size(), 3u);
  EXPECT_EQ(snapshot.addresses.size(), 4u);
  EXPECT_EQ(snapshot.rules.size(), 2u);
}

TEST_F(MirrorResyncTest, CountsDifferencesEvenForKindsNobodyWants) {
  mirror_.setInterest(EventMask(EventKind::Link));
  mirror_.beginResync();
  applyDump();
  const uint64_t differences = mirror_.endResync();
  const auto events = mirror_.takeEvents();
  EXPECT_EQ(events.size(), 3u);  // only the link events were built
  EXPECT_EQ(eventsOf<LinkEvent>(events).size(), 3u);
  EXPECT_EQ(differences, 3u + 3u + 4u + 2u);
}

TEST_F(MirrorResyncTest, AbandonKeepsEverything) {
  const Snapshot before = mirror_.makeSnapshot();
  mirror_.beginResync();
  mirror_.applyLink(false, loopback());  // a partial dump: the rest never came
  mirror_.abandonResync();
  EXPECT_FALSE(mirror_.resyncing());
  EXPECT_TRUE(mirror_.takeEvents().empty());
  const Snapshot after = mirror_.makeSnapshot();
  EXPECT_EQ(after.links, before.links);
  EXPECT_EQ(after.addresses, before.addresses);
  EXPECT_EQ(after.rules, before.rules);
  EXPECT_EQ(after.routes(), before.routes());
  EXPECT_EQ(mirror_.routeCount(), 5u);

  // A later complete resync still works from scratch.
  mirror_.beginResync();
  applyDump();
  EXPECT_EQ(mirror_.endResync(), 12u);
}

TEST_F(MirrorResyncTest, EmitNoticeIsNotCountedAsDifference) {
  mirror_.beginResync();
  applyDump();
  mirror_.emitNotice(ResyncEvent{ResyncReason::Overrun, 1, 0, 0});
  EXPECT_TRUE(mirror_.resyncing());
  EXPECT_EQ(mirror_.endResync(), 12u);
  const auto events = mirror_.takeEvents();
  EXPECT_EQ(events.size(), 13u);
  EXPECT_EQ(eventsOf<ResyncEvent>(events).size(), 1u);
}

// --- link removal and link-down route bookkeeping -----------------------------------------------

TEST_F(MirrorTest, LinkRemovalDropsItsAddressesAndRoutes) {
  addBaseline();
  mirror_.applyLink(false, upVeth(3, "veth1"));
  mirror_.applyAddress(false, makeAddress(2, "2001:db8::2/64"));
  mirror_.applyAddress(false, makeAddress(3, "198.51.100.2/24"));
  const Route via2 = makeRoute("default", "192.0.2.1", 2);
  const Route via2v6 = makeRoute("default", "2001:db8::1", 2);
  const Route all_via2 = makeMultipath("203.0.113.0/24", {hop(2, "192.0.2.1"), hop(2, "192.0.2.3")});
  const Route mixed = makeMultipath("203.0.114.0/24", {hop(2, "192.0.2.1"), hop(3, "198.51.100.1")});
  const Route via3 = makeRoute("198.51.100.0/24", "", 3);
  for (const Route& r : {via2, via2v6, all_via2, mixed, via3}) mirror_.applyRoute(false, r);
  mirror_.finishBatch();
  mirror_.takeEvents();
  ASSERT_EQ(mirror_.routeCount(), 6u);

  mirror_.applyLink(true, upVeth());
  const auto events = mirror_.takeEvents();
  auto links = eventsOf<LinkEvent>(events);
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].change, Change::Removed);
  EXPECT_EQ(links[0].link.index, 2);

  std::vector<std::string> addresses;
  for (const auto& e : eventsOf<AddressEvent>(events)) {
    EXPECT_EQ(e.change, Change::Removed);
    addresses.push_back(e.address.address.toString());
  }
  std::sort(addresses.begin(), addresses.end());
  EXPECT_EQ(addresses, (std::vector<std::string>{"192.0.2.2", "2001:db8::2"}));

  std::vector<std::string> routes;
  for (const auto& e : eventsOf<RouteEvent>(events)) {
    EXPECT_EQ(e.change, Change::Removed);
    routes.push_back(e.route.destination.toString());
  }
  std::sort(routes.begin(), routes.end());
  // IPv4 drops a multipath route when any of its devices goes away (fib_sync_down_dev on
  // NETDEV_UNREGISTER), so the mixed route goes too.
  EXPECT_EQ(routes,
            (std::vector<std::string>{"0.0.0.0/0", "192.0.2.0/24", "203.0.113.0/24", "203.0.114.0/24", "::/0"}));

  // A single-path route through another link stays.
  EXPECT_EQ(mirror_.routeCount(), 1u);
  EXPECT_FALSE(mirror_.routes().find(mixed));
  EXPECT_TRUE(mirror_.routes().find(via3));
  const Snapshot snapshot = mirror_.makeSnapshot();
  EXPECT_EQ(snapshot.findLink(2), nullptr);
  EXPECT_TRUE(snapshot.addressesOf(2).empty());
  EXPECT_EQ(snapshot.addressesOf(3).size(), 1u);
}

TEST_F(MirrorTest, AdminDownIsReportedForARouteCheck) {
  addBaseline();
  EXPECT_TRUE(mirror_.takeLinksNeedingRouteCheck().empty());

  Link veth = upVeth();
  veth.flags &= ~test::kIffLowerUp;  // carrier lost, still up: the kernel keeps the routes
  mirror_.applyLink(false, Link(veth));
  EXPECT_TRUE(mirror_.takeLinksNeedingRouteCheck().empty());

  veth.flags &= ~test::kIffUp;  // administratively down: IPv4 flushes routes silently
  mirror_.applyLink(false, Link(veth));
  EXPECT_EQ(mirror_.takeLinksNeedingRouteCheck(), std::vector<int>{2});
  EXPECT_TRUE(mirror_.takeLinksNeedingRouteCheck().empty());  // taken

  mirror_.applyLink(false, Link(veth));  // still down: no new report
  EXPECT_TRUE(mirror_.takeLinksNeedingRouteCheck().empty());

  mirror_.applyLink(false, makeLink(5, "dummy0", 0, "dummy"));  // appears down: nothing flushed
  EXPECT_TRUE(mirror_.takeLinksNeedingRouteCheck().empty());
}

TEST_F(MirrorTest, RemovingAnIpv4AddressAsksForARouteCheck) {
  addBaseline();
  mirror_.applyLink(false, upVeth(3, "veth1"));
  Route sourced = makeRoute("203.0.113.0/24", "", 3);
  sourced.preferredSource = ip("192.0.2.2");
  mirror_.applyRoute(false, sourced);
  mirror_.applyAddress(true, makeAddress(2, "2001:db8::2/64"));  // unknown: nothing
  mirror_.applyAddress(false, makeAddress(2, "2001:db8::2/64"));
  mirror_.applyAddress(true, makeAddress(2, "2001:db8::2/64"));  // IPv6: no silent flush
  EXPECT_TRUE(mirror_.takeLinksNeedingRouteCheck().empty());
  // The kernel drops routes through the link and routes preferring the address, silently.
  mirror_.applyAddress(true, makeAddress(2, "192.0.2.2/24"));
  EXPECT_EQ(mirror_.takeLinksNeedingRouteCheck(), (std::vector<int>{2, 3}));
}

TEST_F(MirrorTest, ReconcileLinkRoutesRemovesOnlyWhatTheKernelDropped) {
  addBaseline();
  mirror_.applyLink(false, upVeth(3, "veth1"));
  const Route connected = makeRoute("192.0.2.0/24", "", 2);
  const Route gone = makeRoute("default", "192.0.2.1", 2);
  const Route gone_multipath = makeMultipath("203.0.113.0/24", {hop(2, "192.0.2.1"), hop(2, "192.0.2.3")});
  const Route other_link = makeRoute("198.51.100.0/24", "", 3);
  const Route other_family = makeRoute("default", "2001:db8::1", 2);
  for (const Route& r : {gone, gone_multipath, other_link, other_family}) mirror_.applyRoute(false, r);
  mirror_.takeEvents();

  const Route appeared = makeRoute("203.0.114.0/24", "192.0.2.1", 2);
  mirror_.reconcileLinkRoutes(2, Family::Ipv4, {connected, appeared});
  const auto events = eventsOf<RouteEvent>(mirror_.takeEvents());
  std::vector<std::pair<Change, std::string>> changes;
  for (const auto& e : events) changes.emplace_back(e.change, e.route.destination.toString());
  std::sort(changes.begin(), changes.end());
  EXPECT_EQ(changes, (std::vector<std::pair<Change, std::string>>{
                         {Change::Added, "203.0.114.0/24"}, {Change::Removed, "0.0.0.0/0"}, {Change::Removed, "203.0.113.0/24"}}));
  EXPECT_TRUE(mirror_.routes().find(connected));
  EXPECT_TRUE(mirror_.routes().find(appeared));
  EXPECT_TRUE(mirror_.routes().find(other_link));
  EXPECT_TRUE(mirror_.routes().find(other_family));
  EXPECT_FALSE(mirror_.routes().find(gone));
  EXPECT_FALSE(mirror_.routes().find(gone_multipath));
}

// --- reachability from finishBatch ----------------------------------------------------------------

TEST_F(MirrorTest, FinishBatchEmitsReachabilityOnlyOnChange) {
  // Before any data: finishBatch() decides nothing.
  mirror_.applyLink(false, loopback());
  mirror_.finishBatch();
  EXPECT_TRUE(reachabilityEvents(mirror_.takeEvents()).empty());

  mirror_.applyLink(false, upVeth());
  mirror_.applyAddress(false, makeAddress(2, "192.0.2.2/24"));
  mirror_.applyRoute(false, makeRoute("192.0.2.0/24", "", 2));
  mirror_.applyRoute(false, makeRoute("default", "192.0.2.1", 2));
  mirror_.markHasData();
  mirror_.finishBatch();
  auto events = mirror_.takeEvents();
  EXPECT_EQ(describeReachability(events),
            (std::vector<std::string>{"ipv4 unknown->online", "ipv6 unknown->disconnected", "any unknown->online"}));
  const auto online = reachabilityEvents(events);
  ASSERT_EQ(online.size(), 3u);
  EXPECT_EQ(online[0].verdict.reason, Reason::InternetRoute);
  EXPECT_EQ(online[0].verdict.linkIndex, 2);
  EXPECT_EQ(online[0].verdict.gateway, ip("192.0.2.1"));
  EXPECT_EQ(online[2].verdict, online[0].verdict);  // overall: IPv4 decided it
  EXPECT_EQ(mirror_.reachability(), Reachability::Online);

  EXPECT_EQ(mirror_.makeSnapshot().findLink(2)->operationalState, OperationalState::Routable);

  // Nothing changed: no events.
  mirror_.finishBatch();
  EXPECT_TRUE(mirror_.takeEvents().empty());
  // A route that cannot decide reachability changes nothing derived.
  mirror_.applyRoute(false, makeRoute("198.51.100.0/24", "192.0.2.1", 2));
  mirror_.finishBatch();
  EXPECT_TRUE(reachabilityEvents(mirror_.takeEvents()).empty());

  mirror_.applyRoute(true, makeRoute("default", "192.0.2.1", 2));
  mirror_.finishBatch();
  events = mirror_.takeEvents();
  EXPECT_EQ(describeReachability(events), (std::vector<std::string>{"ipv4 online->site", "any online->site"}));
  EXPECT_EQ(reachabilityEvents(events)[0].verdict.reason, Reason::NoInternetRoute);

  mirror_.applyAddress(false, makeAddress(2, "2001:db8::2/64"));
  mirror_.applyRoute(false, makeRoute("default", "2001:db8::1", 2));
  mirror_.finishBatch();
  events = mirror_.takeEvents();
  EXPECT_EQ(describeReachability(events),
            (std::vector<std::string>{"ipv6 disconnected->online", "any site->online"}));
  EXPECT_EQ(reachabilityEvents(events).back().verdict.gateway, ip("2001:db8::1"));  // IPv6 decides now

  // IPv4 loses its address: IPv4 changes, overall (IPv6 online) does not.
  mirror_.applyAddress(true, makeAddress(2, "192.0.2.2/24"));
  mirror_.finishBatch();
  events = mirror_.takeEvents();
  EXPECT_EQ(describeReachability(events), (std::vector<std::string>{"ipv4 site->disconnected"}));

  // A flap inside one batch: object events, no reachability event.
  Link down = upVeth();
  down.flags &= ~test::kIffLowerUp;
  mirror_.applyLink(false, Link(down));
  mirror_.applyLink(false, upVeth());
  mirror_.finishBatch();
  events = mirror_.takeEvents();
  EXPECT_EQ(eventsOf<LinkEvent>(events).size(), 2u);
  EXPECT_TRUE(reachabilityEvents(events).empty());

  // Carrier lost for good.
  mirror_.applyLink(false, Link(down));
  mirror_.finishBatch();
  events = mirror_.takeEvents();
  EXPECT_EQ(describeReachability(events), (std::vector<std::string>{"ipv6 online->disconnected", "any online->disconnected"}));
  EXPECT_EQ(reachabilityEvents(events)[0].verdict.reason, Reason::NoCarrier);
}

TEST_F(MirrorTest, LinkStateDerivedInFinishBatchIsAnEvent) {
  addBaseline();
  mirror_.applyAddress(true, makeAddress(2, "192.0.2.2/24"));
  mirror_.finishBatch();
  auto links = eventsOf<LinkEvent>(mirror_.takeEvents());
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].change, Change::Changed);
  EXPECT_EQ(links[0].link.operationalState, OperationalState::Carrier);
  mirror_.applyAddress(false, makeAddress(2, "fe80::2/64"));
  mirror_.finishBatch();
  links = eventsOf<LinkEvent>(mirror_.takeEvents());
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].link.operationalState, OperationalState::Degraded);
}

TEST_F(MirrorTest, InterestMaskSuppressesUnwantedPayloads) {
  mirror_.setInterest(EventMask(EventKind::Reachability));
  mirror_.applyLink(false, loopback());
  mirror_.applyLink(false, upVeth());
  mirror_.applyAddress(false, makeAddress(2, "192.0.2.2/24"));
  mirror_.applyRoute(false, makeRoute("default", "192.0.2.1", 2));
  // An IPv6 rule: an IPv4 one would replace IPv4's default rules (and lose the main table).
  mirror_.applyRule(false, makeRule(Family::Ipv6, 100, 100));
  mirror_.markHasData();
  mirror_.finishBatch();
  const auto events = mirror_.takeEvents();
  for (const auto& e : events) EXPECT_TRUE(std::holds_alternative<ReachabilityEvent>(e)) << e.index();
  EXPECT_EQ(describeReachability(events),
            (std::vector<std::string>{"ipv4 unknown->online", "ipv6 unknown->disconnected", "any unknown->online"}));
  // The state is mirrored all the same.
  const Snapshot snapshot = mirror_.makeSnapshot();
  EXPECT_EQ(snapshot.links.size(), 2u);
  EXPECT_EQ(snapshot.routeCount(), 1u);
  EXPECT_EQ(snapshot.rules.size(), 1u);

  mirror_.setInterest(EventMask::none());
  mirror_.applyRoute(true, makeRoute("default", "192.0.2.1", 2));
  mirror_.finishBatch();
  EXPECT_TRUE(mirror_.takeEvents().empty());
  EXPECT_EQ(mirror_.reachability(), Reachability::Site);

  mirror_.setInterest(EventMask(EventKind::Route) | EventKind::Link);
  mirror_.applyRoute(false, makeRoute("default", "192.0.2.1", 2));
  mirror_.finishBatch();
  const auto routes_only = mirror_.takeEvents();
  ASSERT_EQ(routes_only.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<RouteEvent>(routes_only[0]));
}

TEST(MirrorFilterTest, IgnoreFilterSetsIgnoredAndKeepsTheLinkOutOfReachability) {
  LinkFilter filter;
  filter.namePatterns = {"veth*", "docker?"};
  filter.kinds = {"bridge"};
  Mirror mirror(filter);
  mirror.applyLink(false, loopback());
  mirror.applyLink(false, upVeth(2, "veth0"));
  mirror.applyLink(false, makeLink(3, "eth0", test::kIffUp | test::kIffLowerUp));
  mirror.applyLink(false, makeLink(4, "br0", test::kIffUp | test::kIffLowerUp, "bridge"));
  mirror.applyLink(false, makeLink(5, "docker0", test::kIffUp, "bridge"));
  mirror.applyLink(false, makeLink(6, "docker10", test::kIffUp));
  mirror.applyAddress(false, makeAddress(2, "192.0.2.2/24"));
  mirror.applyRoute(false, makeRoute("default", "192.0.2.1", 2));
  mirror.markHasData();
  mirror.finishBatch();
  const auto events = mirror.takeEvents();
  std::map<std::string, bool> ignored;
  for (const auto& e : eventsOf<LinkEvent>(events)) {
    if (e.change == Change::Added) ignored[e.link.name] = e.link.ignored;
  }
  EXPECT_EQ(ignored, (std::map<std::string, bool>{{"lo", false},
                                                  {"veth0", true},
                                                  {"eth0", false},
                                                  {"br0", true},
                                                  {"docker0", true},
                                                  {"docker10", false}}));
  const Snapshot snapshot = mirror.makeSnapshot();
  EXPECT_TRUE(snapshot.findLink("veth0")->ignored);
  EXPECT_NE(snapshot.ipv4.reachability, Reachability::Online);

  // The same state without a filter is online.
  Mirror unfiltered(LinkFilter::none());
  unfiltered.applyLink(false, loopback());
  unfiltered.applyLink(false, upVeth(2, "veth0"));
  unfiltered.applyAddress(false, makeAddress(2, "192.0.2.2/24"));
  unfiltered.applyRoute(false, makeRoute("default", "192.0.2.1", 2));
  unfiltered.markHasData();
  unfiltered.finishBatch();
  EXPECT_FALSE(unfiltered.makeSnapshot().findLink("veth0")->ignored);
  EXPECT_EQ(unfiltered.reachability(), Reachability::Online);
}

TEST(MirrorFilterTest, IgnoredLinkCarryingTheDefaultIsSiteWithReason) {
  Mirror mirror(LinkFilter::defaults());
  mirror.applyLink(false, loopback());
  mirror.applyLink(false, upVeth(2, "veth0"));
  mirror.applyLink(false, makeLink(3, "eth0", test::kIffUp | test::kIffLowerUp));
  mirror.applyAddress(false, makeAddress(3, "198.51.100.2/24"));
  mirror.applyAddress(false, makeAddress(2, "192.0.2.2/24"));
  mirror.applyRoute(false, makeRoute("default", "192.0.2.1", 2));
  mirror.markHasData();
  mirror.finishBatch();
  const Snapshot snapshot = mirror.makeSnapshot();
  EXPECT_EQ(snapshot.ipv4.reachability, Reachability::Site);
  EXPECT_EQ(snapshot.ipv4.verdict.reason, Reason::InternetRouteIgnoredLink);
  EXPECT_EQ(snapshot.transportMedium, TransportMedium::None);
}

// Found by tests/fuzz/mirror_fuzzer: a link with index 0 (which the kernel never has; 0 means "no
// link" on a route) was taken to be the link of every route without an output link, so its
// removal swept unreachable and blackhole routes away.
TEST(MirrorLinkZeroTest, RemovingALinkZeroKeepsRoutesWithoutAnOutputLink) {
  Mirror mirror(LinkFilter::none());
  Route reject = makeRoute("default", "", 0, Family::Ipv6);
  reject.type = RouteType::Unreachable;
  mirror.applyRoute(false, reject);
  Link zero = makeLink(0, "bogus", test::kIffUp);
  mirror.applyLink(false, Link(zero));
  mirror.applyLink(true, std::move(zero));
  EXPECT_EQ(mirror.routeCount(), 1u);
  EXPECT_FALSE(routeUsesLink(reject, 0));
  EXPECT_FALSE(routeLeavesOnlyThrough(reject, 0));
}

}  // namespace
}  // namespace netmon::detail
