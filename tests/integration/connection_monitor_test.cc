// ConnectionMonitor against a real kernel: every answer is the kernel's route lookup inside a
// namespace the test makes, and every change is a real `ip -n` change whose ConnectionEvent the
// test waits for (condition variable and deadline, never a fixed sleep) and checks field by field.
//
// Topology (this namespace; the peer namespace holds the other veth ends):
//   veth0 ↔ veth1 (peer)  192.0.2.2/26, 2001:db8:1::2/64     peer: 192.0.2.1/26, 2001:db8:1::1/64
//   veth2 ↔ veth3 (peer)  192.0.2.66/26                        peer: 192.0.2.65/26
// 192.0.2.128/25 holds nothing (the "nobody's remote is covered" prefix of the targeting test).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "netmon/connection_monitor.h"
#include "support/event_recorder.h"
#include "support/namespace_test.h"
#include "support/netns.h"

namespace netmon::test {
namespace {

using Clock = std::chrono::steady_clock;
using ::netmon::test::describe;  // event_recorder.h's, next to the overloads below
using ConnectionPredicate = std::function<bool(const ConnectionEvent&)>;

std::string describe(const ConnectionState& s) {
  return fmt::format("reachable={} reason={} link={}#{} ({}, {}) gw={} src={} type={} table={} error={}",
                     s.reachable, toString(s.reason), s.linkName.empty() ? "-" : s.linkName, s.linkIndex,
                     toString(s.linkState), toString(s.medium), addressText(s.gateway), addressText(s.source),
                     toString(s.routeType), s.table, s.kernelError);
}

std::string describe(const ConnectionEvent& e) {
  return fmt::format("#{} {}: {} (was {})", e.id, e.target.toString(), describe(e.current), describe(e.previous));
}

ConnectionTarget target(const std::string& remote, const std::string& local = "", const std::string& interface = "") {
  auto parsed = ConnectionTarget::parse(remote, local, interface);
  EXPECT_TRUE(parsed) << remote << " " << local << " " << interface << ": " << parsed.error().message();
  return parsed.value_or(ConnectionTarget{});
}

// Keeps every ConnectionEvent a ConnectionMonitor delivers (inline on its thread) so that the test
// can wait for the one a kernel change must cause.
class ConnectionEventLog {
 public:
  explicit ConnectionEventLog(ConnectionMonitor& monitor) {
    subscription_ = monitor.subscribe(Executor::inlineOnMonitorThread(), [this](const Event& event) {
      std::lock_guard lock(mutex_);
      if (const auto* connection = std::get_if<ConnectionEvent>(&event.payload)) {
        events_.push_back(*connection);
      } else {
        others_.push_back(describe(event));
      }
      changed_.notify_all();
    });
  }
  ~ConnectionEventLog() { subscription_.reset(); }
  ConnectionEventLog(const ConnectionEventLog&) = delete;
  ConnectionEventLog& operator=(const ConnectionEventLog&) = delete;

  size_t mark() const {
    std::lock_guard lock(mutex_);
    return events_.size();
  }
  std::vector<ConnectionEvent> since(size_t from) const {
    std::lock_guard lock(mutex_);
    return {events_.begin() + static_cast<std::ptrdiff_t>(std::min(from, events_.size())), events_.end()};
  }
  std::vector<std::string> otherEvents() const {
    std::lock_guard lock(mutex_);
    return others_;
  }

  // The first event at index >= `from` satisfying `predicate`; on timeout a test failure naming
  // `what` with the events seen, and nullopt.
  std::optional<ConnectionEvent> waitFor(const std::string& what, const ConnectionPredicate& predicate, size_t from,
                                         std::chrono::milliseconds timeout = kEventTimeout) {
    const auto deadline = Clock::now() + timeout;
    std::unique_lock lock(mutex_);
    size_t next = from;
    for (;;) {
      for (; next < events_.size(); ++next) {
        if (predicate(events_[next])) return events_[next];
      }
      if (changed_.wait_until(lock, deadline) == std::cv_status::timeout && next == events_.size()) break;
    }
    ADD_FAILURE() << "timed out after " << timeout.count() << " ms waiting for " << what << "\n"
                  << dumpLocked(from);
    return std::nullopt;
  }
  // The first event for connection `id` (from index `from` on).
  std::optional<ConnectionEvent> waitForId(const std::string& what, ConnectionId id, size_t from) {
    return waitFor(what, [id](const ConnectionEvent& e) { return e.id == id; }, from);
  }
  // Waits until at least `count` events arrived after `from`.
  bool waitForCount(const std::string& what, size_t count, size_t from) {
    const auto deadline = Clock::now() + kEventTimeout;
    std::unique_lock lock(mutex_);
    if (changed_.wait_until(lock, deadline, [&] { return events_.size() >= from + count; })) return true;
    ADD_FAILURE() << "timed out waiting for " << what << ": " << events_.size() - from << " of " << count
                  << " events\n"
                  << dumpLocked(from, 20);
    return false;
  }

  std::string dump(size_t from, size_t max = 40) const {
    std::lock_guard lock(mutex_);
    return dumpLocked(from, max);
  }

 private:
  std::string dumpLocked(size_t from, size_t max = 40) const {
    std::string text = fmt::format("{} connection event(s) since #{}:\n", events_.size() - std::min(from, events_.size()), from);
    for (size_t i = from; i < events_.size() && i < from + max; ++i) text += "  " + describe(events_[i]) + "\n";
    for (const std::string& other : others_) text += "  other: " + other + "\n";
    return text;
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<ConnectionEvent> events_;
  std::vector<std::string> others_;
  Subscription subscription_;
};

class ConnectionMonitorTest : public NamespaceTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(NamespaceTest::SetUp());
    if (!ns_) return;  // skipped
    ASSERT_NO_FATAL_FAILURE(buildTopology());
  }

  void TearDown() override {
    log_.reset();
    status_log_.reset();
    monitor_.reset();
    NamespaceTest::TearDown();
  }

  TestNamespace& ns() { return *ns_; }
  TestNamespace& peer() { return ns_->peer(); }
  ConnectionMonitor& monitor() { return *monitor_; }
  ConnectionEventLog& log() { return *log_; }

  void buildTopology() {
    ns().addVethWithPeer("veth0", peer(), "veth1");
    peer().ip("addr add 192.0.2.1/26 dev veth1");
    peer().ip("-6 addr add 2001:db8:1::1/64 dev veth1 nodad");
    ns().ip("addr add 192.0.2.2/26 dev veth0");
    ns().ip("-6 addr add 2001:db8:1::2/64 dev veth0 nodad");
    ns().ip("link set veth0 up");
    ns().addVethWithPeer("veth2", peer(), "veth3");
    peer().ip("addr add 192.0.2.65/26 dev veth3");
    ns().ip("addr add 192.0.2.66/26 dev veth2");
    ns().ip("link set veth2 up");
    ASSERT_TRUE(ns().waitForCarrier("veth0"));
    ASSERT_TRUE(ns().waitForCarrier("veth2"));
    veth0_ = ns().linkIndex("veth0");
    veth2_ = ns().linkIndex("veth2");
  }

  // The connection monitor on this test's namespace (own thread), with both event logs.
  void startMonitor() {
    auto created = ConnectionMonitor::create(optionsFor(ns()));
    ASSERT_TRUE(created) << created.error().message();
    monitor_.emplace(std::move(*created));
    status_log_ = std::make_unique<EventRecorder>(monitor_->statusMonitor());
    log_ = std::make_unique<ConnectionEventLog>(*monitor_);
  }

  Connection add(const ConnectionTarget& t) {
    auto added = monitor().add(t);
    EXPECT_TRUE(added) << t.toString() << ": " << added.error().message();
    return added.value_or(Connection{});
  }

  // The event for `id` after `step`; checks the event's `previous` is what the monitor said before,
  // the reason is `reason`, and connection(id) then agrees.
  std::optional<ConnectionEvent> expectChange(const std::string& step, const Connection& before,
                                              ConnectionReason reason, size_t from) {
    const std::string what =
        fmt::format("after `{}`: {} becomes {}", step, before.target.toString(), toString(reason));
    auto event = log().waitForId(what, before.id, from);
    if (!event) return std::nullopt;
    EXPECT_EQ(toString(event->current.reason), toString(reason)) << what << "\n got: " << describe(*event);
    EXPECT_EQ(event->current.reachable, reason == ConnectionReason::None) << describe(*event);
    EXPECT_EQ(event->previous, before.state) << what << "\n got: " << describe(*event)
                                             << "\n before: " << describe(before.state);
    EXPECT_NE(event->current, event->previous);
    EXPECT_EQ(event->target, before.target);
    auto now = monitor().connection(before.id);
    EXPECT_TRUE(now);
    if (now && now->state != event->current) {
      // A later change may already have moved it on; then it must have produced another event.
      EXPECT_TRUE(log().waitFor("a later event explaining connection(" + std::to_string(before.id) + ")",
                                [&](const ConnectionEvent& e) { return e.id == before.id && e.current == now->state; },
                                from));
    }
    return event;
  }

  // The fence (test 9's pattern) for checks that a change caused no event for some connection.
  // Such a check cannot rest on the event the change did cause: the events of one batch are
  // delivered one after another, so an unwanted one may come after the awaited one. The fence is
  // a connection the changes under test do not touch (an IPv6 remote without a route), added after
  // the connections it guards; passFence() moves it with a change of its own, made after the change
  // under test, and waits for its event. Batches are handled and their events delivered in order,
  // and the connections of one batch are evaluated in id order (the fence's is the highest), so
  // once the fence's event has arrived every event the earlier change caused is in the log.
  void addFence() {
    fence_ = add(target("2001:db8:ffff::1"));
    EXPECT_EQ(toString(fence_.state.reason), "no-route") << describe(fence_.state);
    fence_routed_ = false;
  }
  // Adds the fence's route, or removes it again, and waits for the fence's event (from index `from`).
  bool passFence(const std::string& after, size_t from) {
    fence_routed_ = !fence_routed_;
    ns().ip(fence_routed_ ? "-6 route add 2001:db8:ffff::/48 via 2001:db8:1::1 dev veth0"
                          : "-6 route del 2001:db8:ffff::/48");
    return log()
        .waitFor(fmt::format("the fence {} after `{}`", fence_routed_ ? "reachable" : "no-route again", after),
                 [this](const ConnectionEvent& e) { return e.id == fence_.id && e.current.reachable == fence_routed_; },
                 from)
        .has_value();
  }

  // Asserts a reachable answer leaving through `link` (gateway: "" for on-link).
  void expectReachable(const ConnectionState& s, const std::string& link, int link_index, const std::string& gateway,
                       const std::string& source, uint32_t table = kTableMain) {
    EXPECT_TRUE(s.reachable) << describe(s);
    EXPECT_EQ(toString(s.reason), "none") << describe(s);
    EXPECT_EQ(s.linkName, link) << describe(s);
    EXPECT_EQ(s.linkIndex, link_index) << describe(s);
    EXPECT_EQ(addressText(s.gateway), gateway.empty() ? "-" : gateway) << describe(s);
    EXPECT_EQ(addressText(s.source), source) << describe(s);
    EXPECT_EQ(toString(s.routeType), "unicast") << describe(s);
    EXPECT_EQ(s.table, table) << describe(s);
    EXPECT_EQ(s.kernelError, 0) << describe(s);
    EXPECT_EQ(toString(s.linkState), "routable") << describe(s);
    // The link's medium as the status monitor derived it.
    const auto snapshot = monitor().statusMonitor().snapshot();
    const Link* mirror_link = snapshot->findLink(link);
    ASSERT_NE(mirror_link, nullptr) << link;
    EXPECT_EQ(toString(s.medium), toString(mirror_link->medium)) << describe(s);
  }

  std::optional<ConnectionMonitor> monitor_;
  std::unique_ptr<EventRecorder> status_log_;
  std::unique_ptr<ConnectionEventLog> log_;
  Connection fence_;
  bool fence_routed_ = false;
  int veth0_ = 0;
  int veth2_ = 0;
};

// 1. The peer on the connected subnet: no gateway, out of veth0, from our address.
TEST_F(ConnectionMonitorTest, ReachableOnConnectedSubnet) {
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  const Connection c = add(target("192.0.2.1"));
  EXPECT_NE(c.id, 0u);
  EXPECT_EQ(addressText(c.target.remote), "192.0.2.1");
  expectReachable(c.state, "veth0", veth0_, "", "192.0.2.2");

  auto again = monitor().connection(c.id);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->state, c.state);
  ASSERT_EQ(monitor().connections().size(), 1u);
  EXPECT_EQ(monitor().connections()[0].id, c.id);
  EXPECT_GE(monitor().counters().kernelLookups, 1u);
}

// 2. Through a gateway: the route's next hop and link.
TEST_F(ConnectionMonitorTest, ReachableViaGateway) {
  ns().ip("route add 198.51.100.0/24 via 192.0.2.1 dev veth0");
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  const Connection c = add(target("198.51.100.10"));
  expectReachable(c.state, "veth0", veth0_, "192.0.2.1", "192.0.2.2");

  // The route appearing later is an event too.
  const Connection later = add(target("203.0.113.10"));
  EXPECT_EQ(toString(later.state.reason), "no-route") << describe(later.state);
  const size_t mark = log().mark();
  ns().ip("route add 203.0.113.0/24 via 192.0.2.65 dev veth2");
  auto event = expectChange("route add 203.0.113.0/24 via 192.0.2.65", later, ConnectionReason::None, mark);
  ASSERT_TRUE(event);
  expectReachable(event->current, "veth2", veth2_, "192.0.2.65", "192.0.2.66");
}

// 3. The route goes: no-route, with the kernel's ENETUNREACH.
TEST_F(ConnectionMonitorTest, RouteRemovedIsNoRoute) {
  ns().ip("route add 198.51.100.0/24 via 192.0.2.1 dev veth0");
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  const Connection c = add(target("198.51.100.10"));
  ASSERT_TRUE(c.state.reachable) << describe(c.state);

  const size_t mark = log().mark();
  ns().ip("route del 198.51.100.0/24");
  auto event = expectChange("route del 198.51.100.0/24", c, ConnectionReason::NoRoute, mark);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->current.kernelError, ENETUNREACH) << describe(*event);
  EXPECT_EQ(event->current.linkIndex, 0) << describe(*event);
  EXPECT_FALSE(event->current.gateway.isSpecified()) << describe(*event);
}

// 4. The route replaced by reject routes, one type at a time, and back.
TEST_F(ConnectionMonitorTest, RouteReplacedByRejectRoutes) {
  ns().ip("route add 198.51.100.0/24 via 192.0.2.1 dev veth0");
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  Connection c = add(target("198.51.100.10"));
  ASSERT_TRUE(c.state.reachable) << describe(c.state);

  struct Step {
    const char* command;
    ConnectionReason reason;
  };
  const Step steps[] = {
      {"route replace blackhole 198.51.100.0/24", ConnectionReason::Blackhole},
      {"route replace prohibit 198.51.100.0/24", ConnectionReason::Prohibit},
      {"route replace unreachable 198.51.100.0/24", ConnectionReason::Unreachable},
      {"route replace 198.51.100.0/24 via 192.0.2.1 dev veth0", ConnectionReason::None},
  };
  for (const Step& step : steps) {
    const size_t mark = log().mark();
    ns().ip(step.command);
    auto event = expectChange(step.command, c, step.reason, mark);
    ASSERT_TRUE(event);
    if (step.reason == ConnectionReason::None) {
      expectReachable(event->current, "veth0", veth0_, "192.0.2.1", "192.0.2.2");
    } else {
      EXPECT_FALSE(event->current.gateway.isSpecified()) << describe(*event);
    }
    c.state = event->current;
  }
}

// 5. The peer end goes down: our veth0 loses carrier (the kernel keeps the routes and still
// answers with them), so link-down; back up, reachable again.
TEST_F(ConnectionMonitorTest, CarrierLossIsLinkDown) {
  ns().ip("route add 198.51.100.0/24 via 192.0.2.1 dev veth0");
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  Connection on_link = add(target("192.0.2.1"));
  Connection routed = add(target("198.51.100.10"));
  ASSERT_TRUE(on_link.state.reachable) << describe(on_link.state);
  ASSERT_TRUE(routed.state.reachable) << describe(routed.state);

  size_t mark = log().mark();
  peer().ip("link set veth1 down");
  for (Connection* c : {&on_link, &routed}) {
    auto event = expectChange("peer: link set veth1 down", *c, ConnectionReason::LinkDown, mark);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->current.linkName, "veth0") << describe(*event);
    EXPECT_EQ(event->current.linkIndex, veth0_) << describe(*event);
    EXPECT_EQ(toString(event->current.linkState), "no-carrier") << describe(*event);
    c->state = event->current;
  }
  EXPECT_EQ(addressText(routed.state.gateway), "192.0.2.1") << "link-down still names the way out";

  mark = log().mark();
  peer().ip("link set veth1 up");
  for (Connection* c : {&on_link, &routed}) {
    auto event = expectChange("peer: link set veth1 up", *c, ConnectionReason::None, mark);
    ASSERT_TRUE(event);
    expectReachable(event->current, "veth0", veth0_, c == &routed ? "192.0.2.1" : "", "192.0.2.2");
  }
}

// 6. The connection's local address is deleted: local-address-gone.
TEST_F(ConnectionMonitorTest, LocalAddressDeletedIsLocalAddressGone) {
  ns().ip("addr add 192.0.2.10/26 dev veth0");
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  const Connection c = add(target("192.0.2.1", "192.0.2.10"));
  expectReachable(c.state, "veth0", veth0_, "", "192.0.2.10");
  EXPECT_EQ(addressText(c.target.local), "192.0.2.10");
  // Without a local address the kernel picks the primary one.
  const Connection any = add(target("192.0.2.1"));
  EXPECT_EQ(addressText(any.state.source), "192.0.2.2") << describe(any.state);
  addFence();

  const size_t mark = log().mark();
  ns().ip("addr del 192.0.2.10/26 dev veth0");
  auto event = expectChange("addr del 192.0.2.10/26", c, ConnectionReason::LocalAddressGone, mark);
  ASSERT_TRUE(event);
  ASSERT_TRUE(passFence("addr del 192.0.2.10/26", mark));
  for (const ConnectionEvent& e : log().since(mark)) {
    EXPECT_NE(e.id, any.id) << "the connection without a local address did not change: " << describe(e);
  }
  auto unchanged = monitor().connection(any.id);
  ASSERT_TRUE(unchanged);
  EXPECT_EQ(unchanged->state, any.state) << describe(unchanged->state);

  // The address comes back: reachable again.
  const size_t back = log().mark();
  ns().ip("addr add 192.0.2.10/26 dev veth0");
  auto restored = expectChange("addr add 192.0.2.10/26", Connection{c.id, c.target, event->current},
                               ConnectionReason::None, back);
  ASSERT_TRUE(restored);
  expectReachable(restored->current, "veth0", veth0_, "", "192.0.2.10");
}

// 7. A policy rule sends traffic from 192.0.2.10 to table 100 (out of veth2, another gateway);
// removing the rule moves it back to main. Connections without that source do not move.
TEST_F(ConnectionMonitorTest, PolicyRuleMovesConnectionToAnotherTable) {
  ns().ip("addr add 192.0.2.10/26 dev veth0");
  ns().ip("route add 198.51.100.0/24 via 192.0.2.1 dev veth0");
  ns().ip("route add 198.51.100.0/24 via 192.0.2.65 dev veth2 table 100");
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  const Connection sourced = add(target("198.51.100.10", "192.0.2.10"));
  const Connection unsourced = add(target("198.51.100.10"));
  expectReachable(sourced.state, "veth0", veth0_, "192.0.2.1", "192.0.2.10");
  expectReachable(unsourced.state, "veth0", veth0_, "192.0.2.1", "192.0.2.2");
  addFence();

  size_t mark = log().mark();
  ns().ip("rule add from 192.0.2.10 lookup 100 pref 100");
  auto moved = expectChange("rule add from 192.0.2.10 lookup 100", sourced, ConnectionReason::None, mark);
  ASSERT_TRUE(moved);
  expectReachable(moved->current, "veth2", veth2_, "192.0.2.65", "192.0.2.10", 100);
  ASSERT_TRUE(passFence("rule add from 192.0.2.10 lookup 100", mark));
  for (const ConnectionEvent& e : log().since(mark)) {
    EXPECT_NE(e.id, unsourced.id) << "the rule does not match a lookup without source: " << describe(e);
  }

  mark = log().mark();
  ns().ip("rule del from 192.0.2.10 lookup 100 pref 100");
  auto back = expectChange("rule del from 192.0.2.10 lookup 100", Connection{sourced.id, sourced.target, moved->current},
                           ConnectionReason::None, mark);
  ASSERT_TRUE(back);
  expectReachable(back->current, "veth0", veth0_, "192.0.2.1", "192.0.2.10");
  EXPECT_EQ(back->current, sourced.state) << describe(back->current);
  ASSERT_TRUE(passFence("rule del from 192.0.2.10 lookup 100", mark));
  for (const ConnectionEvent& e : log().since(mark)) {
    EXPECT_NE(e.id, unsourced.id) << describe(e);
  }
  auto unchanged = monitor().connection(unsourced.id);
  ASSERT_TRUE(unchanged);
  EXPECT_EQ(unchanged->state, unsourced.state) << describe(unchanged->state);
}

// 8. IPv6 link-local remote scoped to veth0 (fe80::1%veth0, set on the peer's end).
TEST_F(ConnectionMonitorTest, ScopedLinkLocalRemote) {
  peer().ip("-6 addr add fe80::1/64 dev veth1 nodad");
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  // Our own fe80:: address (and its fe80::/64 route) come with carrier; wait until the mirror has
  // them, since a lookup before then finds no route (route_lookup.cc's table).
  const auto link_local_of = [&](int link) {
    const auto snapshot = monitor().statusMonitor().snapshot();
    for (const Address& a : snapshot->addressesOf(link)) {
      if (a.family() == Family::Ipv6 && a.address.isLinkLocal() && a.isUsable()) return addressText(a.address);
    }
    return std::string();
  };
  ASSERT_TRUE(status_log_->waitUntil("veth0 and veth2 have usable IPv6 link-local addresses",
                                     [&] { return !link_local_of(veth0_).empty() && !link_local_of(veth2_).empty(); }));
  const std::string our_link_local = link_local_of(veth0_);
  // The kernel agrees (ip -j prints an empty object for each address the scope filter drops).
  const nlohmann::json ours = ns().ipJson("-6 addr show dev veth0 scope link");
  std::vector<std::string> kernel_link_locals;
  for (const auto& link : ours) {
    for (const auto& a : link.value("addr_info", nlohmann::json::array())) {
      if (a.contains("local")) kernel_link_locals.push_back(a.value("local", ""));
    }
  }
  EXPECT_EQ(kernel_link_locals, std::vector<std::string>{our_link_local}) << ours.dump();

  const Connection c = add(target("fe80::1%veth0"));
  EXPECT_EQ(c.target.interfaceName, "veth0");
  EXPECT_EQ(c.target.interfaceIndex, veth0_);
  EXPECT_TRUE(c.state.reachable) << describe(c.state);
  EXPECT_EQ(toString(c.state.reason), "none") << describe(c.state);
  EXPECT_EQ(c.state.linkName, "veth0") << describe(c.state);
  EXPECT_EQ(c.state.linkIndex, veth0_) << describe(c.state);
  EXPECT_FALSE(c.state.gateway.isSpecified()) << describe(c.state);
  EXPECT_EQ(addressText(c.state.source), our_link_local) << describe(c.state);
  EXPECT_EQ(toString(c.state.routeType), "unicast") << describe(c.state);

  // The same address scoped to veth2 is another connection, leaving through veth2 (the kernel
  // cannot know that fe80::1 is not there: a link-local lookup names the link, not the host).
  const Connection other = add(target("fe80::1%veth2"));
  EXPECT_EQ(other.state.linkIndex, veth2_) << describe(other.state);
  EXPECT_EQ(other.state.linkName, "veth2") << describe(other.state);

  const size_t mark = log().mark();
  peer().ip("link set veth1 down");
  auto event = log().waitForId("fe80::1%veth0 unreachable after the peer's link went down", c.id, mark);
  ASSERT_TRUE(event);
  EXPECT_FALSE(event->current.reachable) << describe(*event);
  EXPECT_EQ(toString(event->current.reason), "link-down") << describe(*event);
}

// 9. 1,000 watched pairs, one route change: exactly the covered remotes are re-asked and get an
// event; a change no remote is covered by asks the kernel nothing.
TEST_F(ConnectionMonitorTest, RouteChangeReevaluatesOnlyCoveredConnections) {
  ns().ip("route add 198.51.100.0/24 via 192.0.2.1 dev veth0");
  ns().ip("route add 203.0.113.0/24 via 192.0.2.1 dev veth0");
  ns().ip("-6 route add 2001:db8:100::/64 via 2001:db8:1::1 dev veth0");
  ASSERT_NO_FATAL_FAILURE(startMonitor());

  std::vector<Connection> all;
  std::set<ConnectionId> expected;  // 198.51.100.1-127: covered by 198.51.100.0/25
  for (int host = 1; host <= 250; ++host) {
    all.push_back(add(target(fmt::format("198.51.100.{}", host))));
    if (host <= 127) expected.insert(all.back().id);
  }
  for (int host = 1; host <= 250; ++host) all.push_back(add(target(fmt::format("203.0.113.{}", host))));
  for (int host = 1; host <= 500; ++host) all.push_back(add(target(fmt::format("2001:db8:100::{:x}", host))));
  ASSERT_EQ(all.size(), 1000u);
  for (const Connection& c : all) {
    ASSERT_TRUE(c.state.reachable) << c.target.toString() << ": " << describe(c.state);
  }
  ASSERT_EQ(expected.size(), 127u);
  // The fence: a connection no change of interest covers; its own event marks the end of the
  // batches before it (batches are handled, and their events delivered, in order).
  const Connection fence = add(target("2001:db8:ffff::1"));
  ASSERT_EQ(toString(fence.state.reason), "no-route") << describe(fence.state);

  // One more specific route: 198.51.100.0/25 via the other link.
  ConnectionCounters before = monitor().counters();
  size_t status_mark = status_log_->mark();
  size_t mark = log().mark();
  ns().ip("route add 198.51.100.0/25 via 192.0.2.65 dev veth2");
  ASSERT_TRUE(log().waitForCount("an event for each of 198.51.100.1-127", expected.size(), mark));
  ns().ip("-6 route add 2001:db8:ffff::/48 via 2001:db8:1::1 dev veth0");
  ASSERT_TRUE(log().waitForId("fence reachable", fence.id, mark));
  std::set<ConnectionId> changed;
  for (const ConnectionEvent& e : log().since(mark)) {
    if (e.id == fence.id) continue;
    EXPECT_TRUE(changed.insert(e.id).second) << "a second event for " << describe(e);
    EXPECT_EQ(toString(e.current.reason), "none") << describe(e);
    EXPECT_EQ(e.current.linkName, "veth2") << describe(e);
    EXPECT_EQ(addressText(e.current.gateway), "192.0.2.65") << describe(e);
    EXPECT_EQ(addressText(e.previous.gateway), "192.0.2.1") << describe(e);
  }
  EXPECT_EQ(changed, expected);
  ConnectionCounters after = monitor().counters();
  const std::string status_events = status_log_->dump(status_mark);
  // 127 covered + the fence, each asked once.
  EXPECT_EQ(after.evaluations - before.evaluations, expected.size() + 1) << status_events;
  EXPECT_EQ(after.kernelLookups - before.kernelLookups, expected.size() + 1) << status_events;
  EXPECT_EQ(after.lookupFailures, before.lookupFailures);

  // A change in 192.0.2.128/25, where no remote is: nothing is asked. The fence (its route
  // removed again) shows the change was handled.
  before = after;
  status_mark = status_log_->mark();
  mark = log().mark();
  ns().ip("route add 192.0.2.128/25 via 192.0.2.1 dev veth0");
  ns().ip("-6 route del 2001:db8:ffff::/48");
  ASSERT_TRUE(log().waitForId("fence no-route again", fence.id, mark));
  ASSERT_TRUE(status_log_->waitFor("192.0.2.128/25 added", routeEventWhere(Change::Added, [](const Route& r) {
    return r.destination == prefix("192.0.2.128/25");
  }), kEventTimeout, status_mark));
  for (const ConnectionEvent& e : log().since(mark)) {
    EXPECT_EQ(e.id, fence.id) << "no connection is covered by 192.0.2.128/25: " << describe(e);
  }
  after = monitor().counters();
  EXPECT_EQ(after.kernelLookups - before.kernelLookups, 1u) << "only the fence\n" << status_log_->dump(status_mark);
  EXPECT_EQ(after.evaluations - before.evaluations, 1u) << "only the fence\n" << status_log_->dump(status_mark);
  EXPECT_EQ(monitor().connections().size(), 1001u);
}

// 10. add() checks its input against the real kernel's state and leaves the monitor unchanged.
TEST_F(ConnectionMonitorTest, AddRejectsWhatDoesNotExist) {
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  const Connection existing = add(target("192.0.2.1"));
  const auto same = [](const std::vector<Connection>& a, const std::vector<Connection>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i].id != b[i].id || !(a[i].target == b[i].target) || !(a[i].state == b[i].state)) return false;
    }
    return true;
  };
  const std::vector<Connection> before = monitor().connections();
  ASSERT_EQ(before.size(), 1u);

  ConnectionTarget unscoped;
  unscoped.remote = address("fe80::1");
  ConnectionTarget unscoped_local = target("2001:db8:1::1");
  unscoped_local.local = address("fe80::2");
  ConnectionTarget mixed = target("192.0.2.1");
  mixed.local = address("2001:db8:1::2");
  ConnectionTarget bad_index = target("192.0.2.1");
  bad_index.interfaceIndex = 9999;
  struct Case {
    const char* what;
    ConnectionTarget target;
    int error;
  };
  const Case cases[] = {
      {"interface that does not exist", target("192.0.2.1", "", "nosuchif0"), ENODEV},
      {"interface index that does not exist", bad_index, ENODEV},
      {"scoped to an interface that does not exist", target("fe80::1%nosuchif0"), ENODEV},
      {"IPv4 local address not on this host", target("192.0.2.1", "192.0.2.99"), EADDRNOTAVAIL},
      {"IPv6 local address not on this host", target("2001:db8:1::1", "2001:db8:1::99"), EADDRNOTAVAIL},
      {"local address of another namespace (the peer's)", target("192.0.2.2", "192.0.2.1"), EADDRNOTAVAIL},
      {"unscoped link-local remote", unscoped, EINVAL},
      {"unscoped link-local local", unscoped_local, EINVAL},
      {"families that differ", mixed, EINVAL},
  };
  for (const Case& c : cases) {
    auto added = monitor().add(c.target);
    ASSERT_FALSE(added) << c.what << ": " << c.target.toString() << " was accepted: " << describe(added->state);
    EXPECT_EQ(added.error().code.value(), c.error)
        << c.what << ": " << added.error().message() << " (want " << strerrorname_np(c.error) << ")";
    EXPECT_TRUE(same(monitor().connections(), before)) << c.what << ": the monitor changed";
  }
  // Unscoped fe80::1 from text: refused at parse() or add(), always EINVAL.
  auto parsed = ConnectionTarget::parse("fe80::1");
  if (parsed) {
    auto added = monitor().add(*parsed);
    ASSERT_FALSE(added);
    EXPECT_EQ(added.error().code.value(), EINVAL) << added.error().message();
  } else {
    EXPECT_EQ(parsed.error().code.value(), EINVAL) << parsed.error().message();
  }
  EXPECT_TRUE(same(monitor().connections(), before));

  auto removed = monitor().remove(existing.id + 1000);
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code.value(), ENOENT);
  auto unknown = monitor().connection(existing.id + 1000);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code.value(), ENOENT);
  EXPECT_TRUE(same(monitor().connections(), before));

  // Ids are not reused after a removal.
  ASSERT_TRUE(monitor().remove(existing.id));
  EXPECT_TRUE(monitor().connections().empty());
  const Connection next = add(target("192.0.2.1"));
  EXPECT_GT(next.id, existing.id);
}

// 11. The interface a connection is bound to is deleted: interface-gone; a new link of that name
// binds it again.
TEST_F(ConnectionMonitorTest, BoundInterfaceDeletedIsInterfaceGone) {
  ASSERT_NO_FATAL_FAILURE(startMonitor());
  const Connection c = add(target("192.0.2.65", "", "veth2"));
  EXPECT_EQ(c.target.interfaceName, "veth2");
  EXPECT_EQ(c.target.interfaceIndex, veth2_);
  expectReachable(c.state, "veth2", veth2_, "", "192.0.2.66");
  const Connection unbound = add(target("192.0.2.1"));
  addFence();

  size_t mark = log().mark();
  ns().ip("link del veth2");
  auto event = expectChange("link del veth2", c, ConnectionReason::InterfaceGone, mark);
  ASSERT_TRUE(event);
  ASSERT_TRUE(passFence("link del veth2", mark));
  for (const ConnectionEvent& e : log().since(mark)) {
    EXPECT_NE(e.id, unbound.id) << describe(e);
  }

  // A new veth2 (another index): the name-bound connection follows it once it is routable.
  mark = log().mark();
  ns().addVethWithPeer("veth2", peer(), "veth3");
  peer().ip("addr add 192.0.2.65/26 dev veth3");
  ns().ip("addr add 192.0.2.66/26 dev veth2");
  ns().ip("link set veth2 up");
  auto back = log().waitFor("192.0.2.65 dev veth2 reachable on the new veth2",
                            [&](const ConnectionEvent& e) { return e.id == c.id && e.current.reachable; }, mark);
  ASSERT_TRUE(back);
  const int new_index = ns().linkIndex("veth2");
  EXPECT_EQ(back->current.linkIndex, new_index) << describe(*back);
  EXPECT_EQ(back->current.linkName, "veth2") << describe(*back);
}

}  // namespace
}  // namespace netmon::test
