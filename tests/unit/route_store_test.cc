// netmon::detail::RouteTable / RouteStore: the compact route mirror. Upsert outcomes, the kernel's
// key, multipath and IPv6 round trips, resync marks, removeIf, and the open-addressing index
// (backward-shift deletion, record swapping) checked against std::map under random operations.
#include "core/route_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "support/fake_backend.h"

namespace netmon::detail {
namespace {

using test::hop;
using test::ip;
using test::makeMultipath;
using test::makeRoute;
using test::net;

// Static facts of the layout the header documents (no timing).
static_assert(sizeof(PackedRoute<4>) == 32);
static_assert(sizeof(PackedRoute<16>) == 68);

Route v4(const std::string& dst, const std::string& gw, int link, uint32_t metric = 0, uint32_t table = kTableMain) {
  Route r = makeRoute(dst, gw, link, Family::Ipv4);
  r.metric = metric;
  r.table = table;
  return r;
}

Route v4Route(int link) { return v4("192.0.2.0/24", "", link); }

std::vector<Route> contents(const RouteStore& store) {
  std::vector<Route> routes;
  store.forEach([&](const Route& r) { routes.push_back(r); });
  return routes;
}

TEST(RouteTableTest, AddThenSameIsUnchangedThenDifferentIsChanged) {
  RouteTable<4> table;
  const Route route = v4("198.51.100.0/24", "192.0.2.1", 2);
  EXPECT_EQ(table.upsert(route, false), UpsertResult::Added);
  EXPECT_EQ(table.upsert(route, false), UpsertResult::Unchanged);
  EXPECT_EQ(table.size(), 1u);

  Route other_protocol = route;
  other_protocol.protocol = 16;
  EXPECT_EQ(table.upsert(other_protocol, false), UpsertResult::Changed);
  Route other_source = other_protocol;
  other_source.preferredSource = ip("192.0.2.2");
  EXPECT_EQ(table.upsert(other_source, false), UpsertResult::Changed);
  Route other_type = other_source;
  other_type.type = RouteType::Blackhole;
  EXPECT_EQ(table.upsert(other_type, false), UpsertResult::Changed);
  EXPECT_EQ(table.upsert(other_type, false), UpsertResult::Unchanged);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.find(route), other_type);
}

TEST(RouteTableTest, KeyIsFamilyTableDestinationTosMetric) {
  RouteTable<4> table;
  const Route base = v4("198.51.100.0/24", "192.0.2.1", 2);
  ASSERT_EQ(table.upsert(base, false), UpsertResult::Added);

  // Same key, different gateway and link: `ip route change`, one entry.
  Route moved = v4("198.51.100.0/24", "192.0.2.254", 3);
  EXPECT_EQ(table.upsert(moved, false), UpsertResult::Changed);
  EXPECT_EQ(table.size(), 1u);
  auto found = table.find(base);  // found by key, whatever the gateway in the probe
  ASSERT_TRUE(found);
  EXPECT_EQ(found->gateway, ip("192.0.2.254"));
  EXPECT_EQ(found->linkIndex, 3);

  // Each key component makes a different route.
  EXPECT_EQ(table.upsert(v4("198.51.100.0/24", "192.0.2.1", 2, /*metric=*/100), false), UpsertResult::Added);
  EXPECT_EQ(table.upsert(v4("198.51.100.0/24", "192.0.2.1", 2, 0, /*table=*/100), false), UpsertResult::Added);
  EXPECT_EQ(table.upsert(v4("198.51.100.0/25", "192.0.2.1", 2), false), UpsertResult::Added);
  EXPECT_EQ(table.upsert(v4("198.51.101.0/24", "192.0.2.1", 2), false), UpsertResult::Added);
  Route tos = base;
  tos.tos = 0x10;
  EXPECT_EQ(table.upsert(tos, false), UpsertResult::Added);
  EXPECT_EQ(table.size(), 6u);
}

TEST(RouteTableTest, RemoveReturnsTheStoredRoute) {
  RouteTable<4> table;
  Route stored = v4("198.51.100.0/24", "192.0.2.1", 2, 50);
  stored.protocol = 16;
  stored.preferredSource = ip("192.0.2.2");
  ASSERT_EQ(table.upsert(stored, false), UpsertResult::Added);

  // The kernel's RTM_DELROUTE may carry less than the stored route: the key is enough.
  Route key;
  key.family = Family::Ipv4;
  key.destination = net("198.51.100.0/24");
  key.metric = 50;
  auto removed = table.remove(key);
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, stored);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_FALSE(table.remove(key));
  EXPECT_FALSE(table.find(key));
}

TEST(RouteTableTest, EmptyTableAnswersNothing) {
  RouteTable<4> table;
  const Route route = v4("0.0.0.0/0", "192.0.2.1", 2);
  EXPECT_FALSE(table.find(route));
  EXPECT_FALSE(table.remove(route));
  int visited = 0;
  table.forEach([&](const Route&) { ++visited; });
  EXPECT_EQ(visited, 0);
}

TEST(RouteTableTest, FieldsRoundTrip) {
  RouteTable<4> table;
  Route r;
  r.family = Family::Ipv4;
  r.table = 100;
  r.destination = net("203.0.113.0/24");
  r.tos = 0x08;
  r.metric = 1024;
  r.type = RouteType::Unicast;
  r.protocol = 9;
  r.scope = Scope::Link;
  r.flags = 0x41;  // RTNH_F_DEAD | RTNH_F_OFFLOAD-ish low bits are kept
  r.linkIndex = 7;
  r.gateway = ip("192.0.2.1");
  r.preferredSource = ip("192.0.2.2");
  ASSERT_EQ(table.upsert(r, false), UpsertResult::Added);
  EXPECT_EQ(table.find(r), r);

  // No gateway and no source stay "none", not 0.0.0.0.
  Route bare = v4("203.0.114.0/24", "", 7);
  ASSERT_EQ(table.upsert(bare, false), UpsertResult::Added);
  auto found = table.find(bare);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->gateway.isSpecified());
  EXPECT_FALSE(found->preferredSource.isSpecified());
  EXPECT_EQ(*found, bare);
}

TEST(RouteTableTest, MultipathNextHopsRoundTrip) {
  RouteTable<4> table;
  const Route multipath =
      makeMultipath("198.51.100.0/24", {hop(2, "192.0.2.1", 1), hop(2, "192.0.2.3", 3), hop(3, "203.0.113.1", 2)});
  ASSERT_EQ(table.upsert(multipath, false), UpsertResult::Added);
  EXPECT_EQ(table.find(multipath), multipath);
  EXPECT_EQ(table.upsert(multipath, false), UpsertResult::Unchanged);

  // A different weight is a change; so is going single-path and back.
  Route reweighted = multipath;
  reweighted.nextHops[1].weight = 4;
  EXPECT_EQ(table.upsert(reweighted, false), UpsertResult::Changed);
  EXPECT_EQ(table.find(multipath), reweighted);

  const Route single = v4("198.51.100.0/24", "192.0.2.1", 2);
  EXPECT_EQ(table.upsert(single, false), UpsertResult::Changed);
  auto found = table.find(single);
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->nextHops.empty());
  EXPECT_EQ(*found, single);

  EXPECT_EQ(table.upsert(multipath, false), UpsertResult::Changed);
  auto removed = table.remove(multipath);
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, multipath);

  // The side map forgot the hops: re-adding single-path under the same key has none.
  ASSERT_EQ(table.upsert(single, false), UpsertResult::Added);
  EXPECT_TRUE(table.find(single)->nextHops.empty());
}

TEST(RouteTableTest, BulkLoadKeepsTheLaterRouteOfAKeyWithItsNextHops) {
  RouteTable<4> table;
  table.beginBulkLoad();
  const Route multipath_first = makeMultipath("198.51.100.0/24", {hop(2, "192.0.2.1"), hop(3, "192.0.2.9")});
  const Route single_later = v4("198.51.100.0/24", "192.0.2.5", 2);
  const Route single_first = v4("203.0.113.0/24", "192.0.2.1", 2);
  const Route multipath_later = makeMultipath("203.0.113.0/24", {hop(2, "192.0.2.7"), hop(3, "192.0.2.8")});
  const Route alone = v4("192.0.2.0/24", "", 2);
  for (const Route* r : {&multipath_first, &single_first, &alone, &single_later, &multipath_later}) {
    EXPECT_EQ(table.upsert(*r, true), UpsertResult::Added);
  }
  EXPECT_EQ(table.size(), 5u);  // duplicates are only folded when the index is built
  EXPECT_EQ(table.find(single_later), single_later);
  table.endBulkLoad();
  EXPECT_FALSE(table.bulkLoading());
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.find(multipath_first), single_later);  // same key: the later one, without hops
  EXPECT_EQ(table.find(single_first), multipath_later);  // same key: the later one, with its hops
  EXPECT_EQ(table.find(alone), alone);
  // The index and the side map are ordinary afterwards.
  EXPECT_EQ(table.upsert(single_later, false), UpsertResult::Unchanged);
  EXPECT_EQ(table.upsert(multipath_first, false), UpsertResult::Changed);
  EXPECT_EQ(table.remove(multipath_later), multipath_later);
  EXPECT_FALSE(table.find(single_first));
  EXPECT_EQ(table.size(), 2u);
}

TEST(RouteTableTest, BulkLoadOfMultipathSinglePathMultipathKeepsTheLastHops) {
  // Found by the differential test: folding the single-path record must not drop the hops the
  // third (multipath) record stored.
  RouteTable<4> table;
  table.beginBulkLoad();
  const Route first = makeMultipath("198.51.100.0/24", {hop(2, "192.0.2.1"), hop(3, "192.0.2.9")});
  const Route second = v4("198.51.100.0/24", "192.0.2.5", 2);
  const Route third = makeMultipath("198.51.100.0/24", {hop(2, "192.0.2.7"), hop(3, "192.0.2.8")});
  for (const Route* r : {&first, &second, &third}) EXPECT_EQ(table.upsert(*r, true), UpsertResult::Added);
  table.endBulkLoad();
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.find(first), third);
}

TEST(RouteTableTest, BulkLoadOnlyStartsOnAnEmptyTableAndEndsOnRemove) {
  RouteTable<4> table;
  const Route route = v4("198.51.100.0/24", "192.0.2.1", 2);
  ASSERT_EQ(table.upsert(route, false), UpsertResult::Added);
  table.beginBulkLoad();
  EXPECT_FALSE(table.bulkLoading());
  EXPECT_EQ(table.upsert(route, false), UpsertResult::Unchanged);

  RouteTable<4> empty;
  empty.beginBulkLoad();
  ASSERT_TRUE(empty.bulkLoading());
  EXPECT_EQ(empty.upsert(route, true), UpsertResult::Added);
  EXPECT_EQ(empty.upsert(route, true), UpsertResult::Added);  // not looked up while loading
  EXPECT_EQ(empty.remove(route), route);                      // builds the index first
  EXPECT_FALSE(empty.bulkLoading());
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_FALSE(empty.find(route));
}

TEST(RouteTableTest, MultipathSurvivesBeingSwappedIntoAHole) {
  RouteTable<4> table;
  const Route first = v4("198.51.100.0/24", "192.0.2.1", 2);
  const Route multipath = makeMultipath("203.0.113.0/24", {hop(2, "192.0.2.1"), hop(3, "192.0.2.9")});
  ASSERT_EQ(table.upsert(first, false), UpsertResult::Added);
  ASSERT_EQ(table.upsert(multipath, false), UpsertResult::Added);
  ASSERT_TRUE(table.remove(first));  // the multipath record moves into slot 0
  EXPECT_EQ(table.find(multipath), multipath);
}

TEST(RouteTableTest, Ipv6RoundTripIncludingSourceSpecificKey) {
  RouteTable<16> table;
  Route r = makeRoute("default", "fe80::1", 2, Family::Ipv6);
  r.metric = 1024;
  r.protocol = 9;  // RTPROT_RA
  r.preferredSource = ip("2001:db8::2");
  ASSERT_EQ(table.upsert(r, false), UpsertResult::Added);
  EXPECT_EQ(table.find(r), r);

  // IPv6 source-specific routes: the source prefix length is part of the key.
  Route from = r;
  from.sourceLength = 56;
  EXPECT_EQ(table.upsert(from, false), UpsertResult::Added);
  EXPECT_EQ(table.size(), 2u);

  Route moved = r;
  moved.gateway = ip("fe80::2");
  EXPECT_EQ(table.upsert(moved, false), UpsertResult::Changed);
  EXPECT_EQ(table.find(r)->gateway, ip("fe80::2"));
  EXPECT_EQ(table.find(from)->gateway, ip("fe80::1"));

  const Route multipath = makeMultipath("2001:db8:1::/48", {hop(2, "fe80::1"), hop(3, "fe80::3", 5)});
  ASSERT_EQ(table.upsert(multipath, false), UpsertResult::Added);
  EXPECT_EQ(table.find(multipath), multipath);
  EXPECT_EQ(table.remove(from), from);
  EXPECT_EQ(table.size(), 2u);
}

TEST(RouteTableTest, Ipv6KeysIncludeTheLinkIpv4KeysDoNot) {
  // IPv6 keeps one route per device for the same prefix and metric (every link has its own
  // fe80::/64); IPv4 has one, which `ip route replace` moves between devices.
  RouteTable<16> v6;
  const Route on2 = makeRoute("fe80::/64", "", 2);
  const Route on3 = makeRoute("fe80::/64", "", 3);
  EXPECT_EQ(v6.upsert(on2, false), UpsertResult::Added);
  EXPECT_EQ(v6.upsert(on3, false), UpsertResult::Added);
  EXPECT_EQ(v6.size(), 2u);
  EXPECT_EQ(v6.find(on3), on3);
  EXPECT_EQ(v6.remove(on2), on2);
  EXPECT_EQ(v6.find(on3), on3);
  // A multipath IPv6 route is keyed by its first hop's link.
  const Route multipath = makeMultipath("fe80::/64", {hop(3, "fe80::1"), hop(2, "fe80::2")});
  EXPECT_EQ(v6.upsert(multipath, false), UpsertResult::Changed);
  EXPECT_EQ(v6.find(on3), multipath);
  EXPECT_EQ(v6.find(multipath)->linkIndex, 0);

  RouteTable<4> v4;
  EXPECT_EQ(v4.upsert(v4Route(2), false), UpsertResult::Added);
  EXPECT_EQ(v4.upsert(v4Route(3), false), UpsertResult::Changed);
  EXPECT_EQ(v4.size(), 1u);
}

TEST(RouteStoreTest, DispatchesByFamily) {
  RouteStore store;
  const Route a = v4("0.0.0.0/0", "192.0.2.1", 2);
  const Route b = makeRoute("default", "2001:db8::1", 2);
  EXPECT_EQ(store.upsert(a, false), UpsertResult::Added);
  EXPECT_EQ(store.upsert(b, false), UpsertResult::Added);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(store.v4().size(), 1u);
  EXPECT_EQ(store.v6().size(), 1u);
  EXPECT_EQ(store.find(a), a);
  EXPECT_EQ(store.find(b), b);
  EXPECT_EQ(store.remove(b), b);
  EXPECT_EQ(contents(store), std::vector<Route>{a});
}

TEST(RouteStoreTest, ClearSeenThenSweepUnseenRemovesExactlyTheUnconfirmed) {
  RouteStore store;
  const Route keep = v4("198.51.100.0/24", "192.0.2.1", 2);
  const Route change = v4("203.0.113.0/24", "192.0.2.1", 2);
  const Route drop = v4("192.0.2.0/24", "", 2);
  const Route drop6 = makeRoute("2001:db8::/64", "", 2);
  const Route keep6 = makeRoute("default", "2001:db8::1", 2);
  for (const Route& r : {keep, change, drop, drop6, keep6}) ASSERT_EQ(store.upsert(r, false), UpsertResult::Added);

  store.clearSeen();
  EXPECT_EQ(store.upsert(keep, true), UpsertResult::Unchanged);
  Route changed = change;
  changed.metric = 0;
  changed.gateway = ip("192.0.2.254");
  EXPECT_EQ(store.upsert(changed, true), UpsertResult::Changed);
  EXPECT_EQ(store.upsert(keep6, true), UpsertResult::Unchanged);
  // A notification (not part of the dump) for a confirmed route must not unmark it.
  EXPECT_EQ(store.upsert(keep, false), UpsertResult::Unchanged);

  std::vector<Route> removed;
  store.sweepUnseen([&](const Route& r) { removed.push_back(r); });
  std::sort(removed.begin(), removed.end(), [](const Route& x, const Route& y) { return x.destination < y.destination; });
  EXPECT_EQ(removed, (std::vector<Route>{drop, drop6}));
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.find(keep), keep);
  EXPECT_EQ(store.find(change), changed);
  EXPECT_EQ(store.find(keep6), keep6);
}

TEST(RouteStoreTest, ResyncAfterBulkLoadSweepsExactlyTheUnconfirmed) {
  RouteStore store;
  store.beginBulkLoad();
  std::vector<Route> routes;
  for (int i = 0; i < 40; ++i) {
    routes.push_back(v4("10.0." + std::to_string(i) + ".0/24", "192.0.2.1", 2));
    routes.push_back(makeRoute("2001:db8:" + std::to_string(i) + "::/64", "fe80::1", 2, Family::Ipv6));
  }
  for (const Route& r : routes) ASSERT_EQ(store.upsert(r, true), UpsertResult::Added);
  store.endBulkLoad();
  ASSERT_EQ(store.size(), routes.size());
  store.clearSeen();
  for (size_t i = 0; i < routes.size(); i += 2) EXPECT_EQ(store.upsert(routes[i], true), UpsertResult::Unchanged);
  std::vector<Route> removed;
  store.sweepUnseen([&](const Route& r) { removed.push_back(r); });
  EXPECT_EQ(removed.size(), routes.size() / 2);
  for (size_t i = 0; i < routes.size(); ++i) EXPECT_EQ(store.find(routes[i]).has_value(), i % 2 == 0) << i;
}

TEST(RouteStoreTest, SweepAfterEmptyResyncRemovesEverything) {
  RouteStore store;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(store.upsert(v4("10." + std::to_string(i) + ".0.0/16", "192.0.2.1", 2), false), UpsertResult::Added);
  }
  store.clearSeen();
  size_t removed = 0;
  store.sweepUnseen([&](const Route&) { ++removed; });
  EXPECT_EQ(removed, 100u);
  EXPECT_EQ(store.size(), 0u);
}

TEST(RouteTableTest, RemoveIfReportsAndKeepsTheIndexIntact) {
  RouteTable<4> table;
  std::vector<Route> via2, via3;
  for (int i = 0; i < 300; ++i) {
    Route r = v4("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24", "192.0.2.1", i % 3 == 0 ? 3 : 2);
    (r.linkIndex == 3 ? via3 : via2).push_back(r);
    ASSERT_EQ(table.upsert(r, false), UpsertResult::Added);
  }
  std::vector<Route> removed;
  table.removeIf([](const Route& r) { return r.linkIndex == 3; }, [&](const Route& r) { removed.push_back(r); });
  EXPECT_EQ(removed.size(), via3.size());
  EXPECT_EQ(table.size(), via2.size());
  for (const Route& r : via3) {
    EXPECT_NE(std::find(removed.begin(), removed.end(), r), removed.end());
    EXPECT_FALSE(table.find(r));
  }
  for (const Route& r : via2) EXPECT_EQ(table.find(r), r);
}

TEST(RouteTableTest, MemoryPerRouteStaysCompact) {
  // Deterministic sizes (capacities follow fixed growth rules), not a timing.
  RouteTable<4> table;
  constexpr int kRoutes = 100000;
  for (int i = 0; i < kRoutes; ++i) {
    Route r;
    r.family = Family::Ipv4;
    r.destination = IpPrefix{IpAddress::v4(uint32_t(0x0A000000u + (uint32_t(i) << 8))), 24};
    r.gateway = ip("192.0.2.1");
    r.linkIndex = 2;
    ASSERT_EQ(table.upsert(r, false), UpsertResult::Added);
  }
  const double per_route = double(table.memoryBytes()) / kRoutes;
  // 32-byte records in 64 KiB chunks (slack: under one chunk), plus 4-byte slots at 40–80% load.
  EXPECT_LE(per_route, 42.0) << "bytes per IPv4 route";
  EXPECT_GE(per_route, 32.0 + 4.0);

  // reserve() sizes the index up front (no rehash during a dump of known size).
  RouteTable<4> reserved;
  reserved.reserve(1000);
  EXPECT_GE(reserved.memoryBytes(), 1000 * sizeof(uint32_t) * 100 / 80);
}

// --- randomized differential test against std::map ------------------------------------------

template <size_t N>
class Differential {
 public:
  // table, destination, tos, source length, metric, and for IPv6 the (first next hop's) link.
  using Key = std::tuple<uint32_t, IpPrefix, uint8_t, uint8_t, uint32_t, int>;
  static Key keyOf(const Route& r) {
    const int link = N == 4 ? 0 : r.nextHops.empty() ? r.linkIndex : r.nextHops.front().linkIndex;
    return {r.table, r.destination, r.tos, r.sourceLength, r.metric, link};
  }

  explicit Differential(uint32_t seed, uint32_t key_space) : rng_(seed), key_space_(key_space) {}

  Route randomRoute() {
    Route r;
    r.family = N == 4 ? Family::Ipv4 : Family::Ipv6;
    const uint32_t k = pick(key_space_);
    // Keys: destination from k, a few tables, metrics and prefix lengths, so keys collide a lot.
    std::array<uint8_t, 16> bytes{};
    bytes[0] = N == 4 ? 10 : 0x20;
    bytes[1] = N == 4 ? uint8_t(k >> 8) : 0x01;
    bytes[2] = uint8_t(k >> 8);
    bytes[3] = uint8_t(k);
    if (N == 16) bytes[5] = uint8_t(k * 7);
    r.destination.address = N == 4 ? IpAddress::v4(bytes.data()) : IpAddress::v6(bytes.data());
    r.destination.length = uint8_t(N == 4 ? 32 : 128);
    r.table = pick(3) == 0 ? 100 : kTableMain;
    r.metric = pick(2) * 100;
    r.tos = pick(8) == 0 ? 0x10 : 0;
    r.sourceLength = N == 16 && pick(8) == 0 ? 56 : 0;
    // Non-key fields vary a little, so re-adding is often Unchanged and sometimes Changed.
    r.linkIndex = int(2 + pick(2));
    r.protocol = pick(2) == 0 ? 4 : 16;
    r.scope = Scope::Global;
    r.flags = pick(4) == 0 ? 0x40 : 0;
    if (pick(4) != 0) {
      std::array<uint8_t, 16> gw{};
      gw[0] = N == 4 ? 192 : 0xfe;
      gw[1] = N == 4 ? 0 : 0x80;
      gw[N - 1] = uint8_t(1 + pick(2));
      r.gateway = N == 4 ? IpAddress::v4(gw.data()) : IpAddress::v6(gw.data());
    }
    if (pick(16) == 0) {
      r.linkIndex = 0;
      r.gateway = IpAddress();
      for (uint32_t i = 0, n = 2 + pick(2); i < n; ++i) {
        std::array<uint8_t, 16> gw{};
        gw[0] = N == 4 ? 192 : 0xfe;
        gw[N - 1] = uint8_t(10 + i);
        NextHop h;
        h.linkIndex = int(2 + i);
        h.gateway = N == 4 ? IpAddress::v4(gw.data()) : IpAddress::v6(gw.data());
        h.weight = uint8_t(1 + pick(3));
        r.nextHops.push_back(h);
      }
    }
    return r;
  }

  // Applies `ops` random operations, checking every answer against the model.
  void run(size_t ops, unsigned remove_percent) {
    for (size_t i = 0; i < ops; ++i) {
      const Route r = randomRoute();
      const uint32_t dice = pick(100);
      auto it = model_.find(keyOf(r));
      if (dice < remove_percent) {
        auto removed = table_.remove(r);
        if (it == model_.end()) {
          ASSERT_FALSE(removed) << "op " << i;
        } else {
          ASSERT_TRUE(removed) << "op " << i;
          ASSERT_EQ(*removed, it->second) << "op " << i;
          model_.erase(it);
        }
      } else if (dice < remove_percent + 10) {
        auto found = table_.find(r);
        if (it == model_.end()) {
          ASSERT_FALSE(found) << "op " << i;
        } else {
          ASSERT_EQ(found, it->second) << "op " << i;
        }
      } else {
        const UpsertResult expected =
            it == model_.end() ? UpsertResult::Added : it->second == r ? UpsertResult::Unchanged : UpsertResult::Changed;
        ASSERT_EQ(table_.upsert(r, false), expected) << "op " << i;
        model_[keyOf(r)] = r;
      }
      ASSERT_EQ(table_.size(), model_.size()) << "op " << i;
      if (i % 20000 == 0) checkContents();
      if (::testing::Test::HasFatalFailure()) return;
    }
    checkContents();
  }

  void checkContents() {
    std::map<Key, Route> seen;
    table_.forEach([&](const Route& r) {
      EXPECT_TRUE(seen.emplace(keyOf(r), r).second) << "a key is stored twice";
    });
    ASSERT_EQ(seen.size(), model_.size());
    for (const auto& [key, route] : model_) {
      auto it = seen.find(key);
      ASSERT_NE(it, seen.end());
      ASSERT_EQ(it->second, route);
      ASSERT_EQ(table_.find(route), route) << "index lost a key";
    }
  }

  void removeAll() {
    std::vector<Route> all;
    for (const auto& [key, route] : model_) all.push_back(route);
    std::shuffle(all.begin(), all.end(), rng_);
    for (const Route& r : all) {
      ASSERT_EQ(table_.remove(r), r);
      model_.erase(keyOf(r));
    }
    ASSERT_EQ(table_.size(), 0u);
  }

  // An initial dump into the empty table: `count` random routes (keys repeat, as IPv4 `ip route
  // append` routes do in a dump) appended in bulk; the later route of a key must win.
  void bulkLoad(size_t count) {
    table_.beginBulkLoad();
    ASSERT_TRUE(table_.bulkLoading());
    for (size_t i = 0; i < count; ++i) {
      const Route r = randomRoute();
      ASSERT_EQ(table_.upsert(r, /*mark_seen=*/true), UpsertResult::Added) << "route " << i;
      model_[keyOf(r)] = r;
      if (i % 97 == 0) {
        ASSERT_EQ(table_.find(r), r) << "find during the bulk load, route " << i;
      }
    }
    table_.endBulkLoad();
    ASSERT_FALSE(table_.bulkLoading());
    ASSERT_EQ(table_.size(), model_.size());
    checkContents();
  }

  RouteTable<N>& table() { return table_; }
  size_t modelSize() const { return model_.size(); }

 private:
  uint32_t pick(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }

  std::mt19937 rng_;
  uint32_t key_space_;
  RouteTable<N> table_;
  std::map<Key, Route> model_;
};

TEST(RouteTableDifferentialTest, Ipv4SmallTableWrapsAroundOften) {
  // 6 destinations × 2 tables × 2 metrics × 2 tos = 48 keys in a 16–64-slot index: long clusters
  // that wrap past the end of the slot array, where backward-shift deletion goes wrong if it does.
  Differential<4> d(/*seed=*/20260101, /*key_space=*/6);
  d.run(100000, /*remove_percent=*/40);
}

TEST(RouteTableDifferentialTest, Ipv4LargeTable200kOps) {
  Differential<4> d(/*seed=*/42, /*key_space=*/40000);
  d.run(200000, /*remove_percent=*/30);
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_GT(d.modelSize(), 1000u);
  d.removeAll();
}

TEST(RouteTableDifferentialTest, Ipv6MixedSizes) {
  Differential<16> small(/*seed=*/7, /*key_space=*/12);
  small.run(50000, 45);
  ASSERT_FALSE(HasFatalFailure());
  Differential<16> large(/*seed=*/8, /*key_space=*/20000);
  large.run(100000, 30);
  ASSERT_FALSE(HasFatalFailure());
  large.removeAll();
}

TEST(RouteTableDifferentialTest, Ipv4BulkLoadWithDuplicateKeysThenChurn) {
  // 50 destinations (a few hundred keys), 2,000 routes: most keys arrive several times, multipath and single-path mixed.
  Differential<4> small(/*seed=*/11, /*key_space=*/50);
  small.bulkLoad(2000);
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_LT(small.modelSize(), 2000u);
  small.run(20000, 40);
  ASSERT_FALSE(HasFatalFailure());
  small.removeAll();

  Differential<4> large(/*seed=*/12, /*key_space=*/40000);
  large.bulkLoad(150000);
  ASSERT_FALSE(HasFatalFailure());
  large.run(100000, 30);
  ASSERT_FALSE(HasFatalFailure());
  large.removeAll();
}

TEST(RouteTableDifferentialTest, Ipv6BulkLoadWithDuplicateKeysThenChurn) {
  Differential<16> d(/*seed=*/13, /*key_space=*/3000);
  d.bulkLoad(30000);
  ASSERT_FALSE(HasFatalFailure());
  d.run(50000, 30);
  ASSERT_FALSE(HasFatalFailure());
  d.removeAll();
}

TEST(RouteTableDifferentialTest, ReserveThenChurn) {
  Differential<4> d(/*seed=*/99, /*key_space=*/3000);
  d.table().reserve(5000);
  d.run(60000, 50);
  ASSERT_FALSE(HasFatalFailure());
  d.removeAll();
  // Reusable after being emptied.
  d.run(20000, 20);
}

}  // namespace
}  // namespace netmon::detail
