// ConnectionMonitor over a scripted status backend and a fake kernel lookup: targeting (a change
// re-asks only the connections it can affect), change-only events, input validation that leaves
// the monitor unchanged, and adding/removing from inside a callback.
#include <algorithm>
#include <cerrno>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/route_lookup.h"
#include "netmon/connection_monitor.h"
#include "support/fake_backend.h"

namespace netmon {
namespace {

using detail::Mirror;
using detail::RouteAnswer;
using detail::RouteQuery;
using test::ip;
using test::net;

RouteAnswer refused(int error) {
  RouteAnswer answer;
  answer.error = error;
  return answer;
}

// A "kernel" that answers lookups by longest-prefix match over a route list the test edits, and
// records every destination it was asked about.
class FakeKernel {
 public:
  struct Entry {
    IpPrefix prefix;
    RouteAnswer answer;
  };
  void set(const std::string& prefix, RouteAnswer answer) {
    std::lock_guard lock(mutex_);
    std::erase_if(routes_, [&](const Entry& e) { return e.prefix == net(prefix); });
    routes_.push_back({net(prefix), answer});
  }
  void erase(const std::string& prefix) {
    std::lock_guard lock(mutex_);
    std::erase_if(routes_, [&](const Entry& e) { return e.prefix == net(prefix); });
  }
  RouteAnswer answer(const RouteQuery& query) {
    std::lock_guard lock(mutex_);
    asked_.push_back(query.destination);
    const Entry* best = nullptr;
    for (const Entry& e : routes_) {
      const auto family_bits = e.prefix.address.family() == Family::Ipv4 ? 32u : 128u;
      if (e.prefix.address.family() != query.destination.family()) continue;
      // Covers: compare the first `length` bits.
      bool covers = true;
      for (unsigned bit = 0; bit < e.prefix.length && bit < family_bits; ++bit) {
        const uint8_t mask = uint8_t(0x80u >> (bit % 8));
        if ((e.prefix.address.data()[bit / 8] & mask) != (query.destination.data()[bit / 8] & mask)) covers = false;
      }
      if (covers && (!best || e.prefix.length > best->prefix.length)) best = &e;
    }
    if (!best) return refused(ENETUNREACH);
    return best->answer;
  }
  std::vector<IpAddress> takeAsked() {
    std::lock_guard lock(mutex_);
    return std::exchange(asked_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<Entry> routes_;
  std::vector<IpAddress> asked_;
};

class FakeLookup final : public detail::RouteLookup {
 public:
  explicit FakeLookup(std::shared_ptr<FakeKernel> kernel) : kernel_(std::move(kernel)) {}
  Result<std::vector<RouteAnswer>> lookup(std::span<const RouteQuery> queries) override {
    std::vector<RouteAnswer> answers;
    for (const RouteQuery& query : queries) answers.push_back(kernel_->answer(query));
    lookups_ += queries.size();
    return answers;
  }
  uint64_t lookups() const override { return lookups_; }

 private:
  std::shared_ptr<FakeKernel> kernel_;
  uint64_t lookups_ = 0;
};

RouteAnswer via(int link, const std::string& gateway, const std::string& source = "192.0.2.2") {
  RouteAnswer answer;
  answer.outputLink = link;
  answer.gateway = gateway.empty() ? IpAddress() : ip(gateway);
  answer.preferredSource = ip(source);
  answer.table = kTableMain;
  return answer;
}

// The mirror's side of a route the fake kernel also knows: what makes the monitor re-ask.
Route mirrorRoute(const std::string& prefix, int link) { return test::makeRoute(prefix, "", link); }

class ConnectionMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_->set("192.0.2.0/24", via(2, ""));
    kernel_->set("198.51.100.0/24", via(2, "192.0.2.1"));
    kernel_->set("203.0.113.0/24", via(3, "198.18.0.1", "198.18.0.2"));
    MonitorOptions options;
    options.threading = MonitorOptions::Threading::External;
    options.ignore = LinkFilter::none();
    options.subscriberQueueLimit = subscriber_queue_limit_;
    auto baseline = [](Mirror& m) {
      m.applyLink(false, test::loopback());
      m.applyLink(false, test::upVeth(2, "veth0"));
      m.applyLink(false, test::upVeth(3, "veth1"));
      m.applyAddress(false, test::makeAddress(2, "192.0.2.2/24"));
      m.applyAddress(false, test::makeAddress(3, "198.18.0.2/24"));
      m.applyAddress(false, test::makeAddress(2, "fe80::2/64"));
    };
    auto created = detail::createConnectionMonitorForTest(
        options, std::make_unique<test::FakeBackend>(script_, baseline), std::make_unique<FakeLookup>(kernel_));
    ASSERT_TRUE(created) << created.error().message();
    monitor_.emplace(std::move(*created));
    subscription_ = monitor_->subscribe(Executor::inlineOnMonitorThread(), [this](const Event& event) {
      if (auto* c = std::get_if<ConnectionEvent>(&event.payload)) events_.push_back(*c);
    });
  }

  ConnectionId add(const std::string& remote, const std::string& local = "", const std::string& interface = "") {
    auto target = ConnectionTarget::parse(remote, local, interface);
    EXPECT_TRUE(target) << target.error().message();
    auto added = monitor_->add(*target);
    EXPECT_TRUE(added) << added.error().message();
    return added ? added->id : 0;
  }

  // Applies one batch through the status monitor and lets the connection monitor react.
  void step(test::FakeScript::Step change) {
    script_->push(std::move(change));
    for (;;) {
      auto handled = monitor_->process();
      ASSERT_TRUE(handled) << handled.error().message();
      if (*handled == 0) break;
    }
  }

  size_t subscriber_queue_limit_ = MonitorOptions{}.subscriberQueueLimit;
  std::shared_ptr<test::FakeScript> script_ = std::make_shared<test::FakeScript>();
  std::shared_ptr<FakeKernel> kernel_ = std::make_shared<FakeKernel>();
  std::optional<ConnectionMonitor> monitor_;
  Subscription subscription_;
  std::vector<ConnectionEvent> events_;
};

TEST_F(ConnectionMonitorTest, AddAnswersAtOnce) {
  auto added = monitor_->add(*ConnectionTarget::parse("198.51.100.7"));
  ASSERT_TRUE(added);
  EXPECT_TRUE(added->state.reachable);
  EXPECT_EQ(added->state.linkName, "veth0");
  EXPECT_EQ(added->state.gateway, ip("192.0.2.1"));
  EXPECT_EQ(added->state.source, ip("192.0.2.2"));
  auto unreachable = monitor_->add(*ConnectionTarget::parse("10.9.9.9"));
  ASSERT_TRUE(unreachable);
  EXPECT_FALSE(unreachable->state.reachable);
  EXPECT_EQ(unreachable->state.reason, ConnectionReason::NoRoute);
  EXPECT_EQ(monitor_->connections().size(), 2u);
  EXPECT_TRUE(events_.empty());  // add() returns the state; no event for it
}

TEST_F(ConnectionMonitorTest, RejectedInputLeavesTheMonitorUnchanged) {
  add("198.51.100.7");
  const auto before = monitor_->connections();
  const auto lookups_before = monitor_->counters().kernelLookups;
  const struct {
    ConnectionTarget target;
    int error;
  } rejected[] = {
      {*ConnectionTarget::parse("198.51.100.8", "", "nosuchif"), ENODEV},
      {*ConnectionTarget::parse("198.51.100.8", "", "99"), ENODEV},
      {*ConnectionTarget::parse("198.51.100.8", "192.0.2.99"), EADDRNOTAVAIL},
      {*ConnectionTarget::parse("fe80::1%veth1", "fe80::2%veth1"), EADDRNOTAVAIL},  // fe80::2 is on veth0
      {ConnectionTarget{ip("fe80::1"), IpAddress(), "", 0}, EINVAL},
      {ConnectionTarget{ip("198.51.100.8"), ip("2001:db8::1"), "", 0}, EINVAL},
      {ConnectionTarget{ip("198.51.100.8"), IpAddress(), "veth1", 2}, EINVAL},  // index 2 is veth0
  };
  for (const auto& r : rejected) {
    auto added = monitor_->add(r.target);
    ASSERT_FALSE(added) << r.target.toString();
    EXPECT_EQ(added.error().code.value(), r.error) << r.target.toString() << ": " << added.error().message();
  }
  const auto after = monitor_->connections();
  ASSERT_EQ(after.size(), before.size());
  EXPECT_EQ(after[0].id, before[0].id);
  EXPECT_EQ(monitor_->counters().kernelLookups, lookups_before);  // nothing was asked
  EXPECT_FALSE(monitor_->remove(12345));
  EXPECT_FALSE(monitor_->connection(12345));
}

TEST_F(ConnectionMonitorTest, ARouteChangeReasksOnlyTheRemotesItCovers) {
  const ConnectionId a = add("198.51.100.7");
  add("198.51.100.200");
  add("203.0.113.9");
  add("2001:db8::1");
  kernel_->takeAsked();

  // A /32 inside 198.51.100.0/24 changes: only .7 is covered.
  kernel_->set("198.51.100.7/32", via(3, "198.18.0.1", "198.18.0.2"));
  step([](Mirror& m) { m.applyRoute(false, mirrorRoute("198.51.100.7/32", 3)); });
  EXPECT_EQ(kernel_->takeAsked(), (std::vector<IpAddress>{ip("198.51.100.7")}));
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].id, a);
  EXPECT_EQ(events_[0].previous.linkName, "veth0");
  EXPECT_EQ(events_[0].current.linkName, "veth1");

  // A route nobody's remote falls in: no lookup at all.
  step([](Mirror& m) { m.applyRoute(false, mirrorRoute("192.0.2.128/25", 2)); });
  EXPECT_TRUE(kernel_->takeAsked().empty());

  // The default route covers every IPv4 remote, none of the IPv6 ones.
  step([](Mirror& m) { m.applyRoute(false, test::makeRoute("default", "192.0.2.1", 2)); });
  auto asked = kernel_->takeAsked();
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (std::vector<IpAddress>{ip("198.51.100.7"), ip("198.51.100.200"), ip("203.0.113.9")}));
  EXPECT_EQ(events_.size(), 1u);  // re-asked, nothing changed: no event
}

TEST_F(ConnectionMonitorTest, LinkDownReachesTheConnectionsLeavingThroughIt) {
  const ConnectionId through_veth0 = add("198.51.100.7");
  add("203.0.113.9");  // through veth1
  kernel_->takeAsked();

  step([](Mirror& m) { m.applyLink(false, test::makeLink(2, "veth0", test::kIffUp, "veth")); });  // carrier lost
  EXPECT_EQ(kernel_->takeAsked(), (std::vector<IpAddress>{ip("198.51.100.7")}));
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].id, through_veth0);
  EXPECT_FALSE(events_[0].current.reachable);
  EXPECT_EQ(events_[0].current.reason, ConnectionReason::LinkDown);
  EXPECT_EQ(events_[0].current.linkState, OperationalState::NoCarrier);
  EXPECT_TRUE(events_[0].previous.reachable);

  step([](Mirror& m) { m.applyLink(false, test::upVeth(2, "veth0")); });
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_TRUE(events_[1].current.reachable);
}

TEST_F(ConnectionMonitorTest, LocalAddressGoneAndBack) {
  const ConnectionId id = add("198.51.100.7", "192.0.2.2");
  kernel_->takeAsked();
  step([](Mirror& m) { m.applyAddress(true, test::makeAddress(2, "192.0.2.2/24")); });
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].id, id);
  EXPECT_EQ(events_[0].current.reason, ConnectionReason::LocalAddressGone);
  EXPECT_TRUE(kernel_->takeAsked().empty());  // decided from the mirror, without a lookup

  step([](Mirror& m) { m.applyAddress(false, test::makeAddress(2, "192.0.2.2/24")); });
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_TRUE(events_[1].current.reachable);
}

// A lookup that refuses any source with EINVAL (as IPv4 refuses a loopback source toward another
// link, and as a from-rule `blackhole` does) and answers without one.
class RefusingLookup final : public detail::RouteLookup {
 public:
  Result<std::vector<RouteAnswer>> lookup(std::span<const RouteQuery> queries) override {
    std::vector<RouteAnswer> answers;
    for (const auto& q : queries) answers.push_back(q.source.isSpecified() ? refused(EINVAL) : via(2, ""));
    return answers;
  }
  uint64_t lookups() const override { return 0; }
};

Result<ConnectionMonitor> refusingMonitor() {
  MonitorOptions options;
  options.threading = MonitorOptions::Threading::External;
  auto baseline = [](Mirror& m) {
    m.applyLink(false, test::loopback());
    m.applyAddress(false, test::makeAddress(1, "127.0.0.1/8"));
    m.applyLink(false, test::upVeth(3, "veth1"));
    m.applyAddress(false, test::makeAddress(3, "198.18.0.2/24"));
  };
  return detail::createConnectionMonitorForTest(
      options, std::make_unique<test::FakeBackend>(std::make_shared<test::FakeScript>(), baseline),
      std::make_unique<RefusingLookup>());
}

TEST(ConnectionMonitorSource, ALoopbackSourceTheKernelRefusesIsASourceMismatch) {
  auto monitor = refusingMonitor();
  ASSERT_TRUE(monitor) << monitor.error().message();
  auto added = monitor->add(*ConnectionTarget::parse("192.0.2.9", "127.0.0.1"));
  ASSERT_TRUE(added) << added.error().message();
  EXPECT_EQ(added->state.reason, ConnectionReason::SourceMismatch);
}

TEST(ConnectionMonitorSource, ARejectingFromRuleKeepsItsOwnReason) {
  // EINVAL for a routable local source is the kernel's blackhole (route or from-rule), not a
  // source the kernel would not use: it is not asked again without the source.
  auto monitor = refusingMonitor();
  ASSERT_TRUE(monitor) << monitor.error().message();
  auto added = monitor->add(*ConnectionTarget::parse("192.0.2.9", "198.18.0.2"));
  ASSERT_TRUE(added) << added.error().message();
  EXPECT_EQ(added->state.reason, ConnectionReason::Blackhole);
}

TEST_F(ConnectionMonitorTest, PolicyRuleChangeReasksTheFamily) {
  add("198.51.100.7");
  add("2001:db8::1");
  kernel_->takeAsked();
  step([](Mirror& m) { m.applyRule(false, test::makeRule(Family::Ipv4, 100, 100)); });
  EXPECT_EQ(kernel_->takeAsked(), (std::vector<IpAddress>{ip("198.51.100.7")}));
}

TEST_F(ConnectionMonitorTest, InterfaceGoneWhenTheBoundLinkDisappears) {
  const ConnectionId id = add("198.51.100.7", "", "veth0");
  step([](Mirror& m) { m.applyLink(true, test::upVeth(2, "veth0")); });
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].id, id);
  EXPECT_EQ(events_[0].current.reason, ConnectionReason::InterfaceGone);
}

TEST_F(ConnectionMonitorTest, AddAndRemoveFromInsideACallback) {
  const ConnectionId first = add("198.51.100.7");
  std::optional<ConnectionId> added_inside;
  Subscription reentrant = monitor_->subscribe(Executor::inlineOnMonitorThread(), [&](const Event& event) {
    auto* c = std::get_if<ConnectionEvent>(&event.payload);
    if (!c || c->id != first) return;
    EXPECT_TRUE(monitor_->remove(first));
    auto added = monitor_->add(*ConnectionTarget::parse("203.0.113.9"));
    ASSERT_TRUE(added) << added.error().message();
    added_inside = added->id;
  });
  kernel_->set("198.51.100.0/24", refused(EHOSTUNREACH));
  step([](Mirror& m) { m.applyRoute(false, mirrorRoute("198.51.100.0/24", 2)); });
  ASSERT_TRUE(added_inside);
  const auto all = monitor_->connections();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, *added_inside);
  EXPECT_NE(*added_inside, first);  // ids are not reused
}

TEST_F(ConnectionMonitorTest, StatusMonitorUnderneathStillServesItsOwnSubscribers) {
  std::vector<Event> status_events;
  Subscription status = monitor_->statusMonitor().subscribe(
      Executor::inlineOnMonitorThread(), [&](const Event& e) { status_events.push_back(e); }, EventKind::Route);
  step([](Mirror& m) { m.applyRoute(false, mirrorRoute("198.51.100.0/25", 2)); });
  ASSERT_EQ(status_events.size(), 1u);
  EXPECT_EQ(monitor_->statusMonitor().snapshot()->routeCount(), 1u);
}

// A subscriber whose executor runs nothing until the test lets it, with a queue of 4 events.
class ConnectionMonitorOverflowTest : public ConnectionMonitorTest {
 protected:
  ConnectionMonitorOverflowTest() { subscriber_queue_limit_ = 4; }
};

// The overflow policy of connection_monitor.h: ConnectionEvents folded to one per connection (oldest
// `previous`, newest `current`), other connections' events kept, a change and its undoing dropped,
// and a ResyncEvent{SubscriberOverflow} after them. Only the delivered sequence is checked, not when
// the queue was coalesced, so that any trigger at or above the limit passes: the last batch (16
// events of 16 other connections) overflows the queue again whatever the trigger, and that
// coalescing folds everything queued before it.
TEST_F(ConnectionMonitorOverflowTest, ConnectionEventsFoldToOnePerConnection) {
  const ConnectionId a = add("198.51.100.7");    // changes three times
  const ConnectionId b = add("203.0.113.9");     // changes once
  const ConnectionId c = add("198.51.100.200");  // changes and changes back
  std::vector<ConnectionId> d;                   // each changes once, in the last batch
  for (int host = 1; host <= 16; ++host) d.push_back(add(fmt::format("2001:db8:d::{:x}", host)));
  std::map<ConnectionId, ConnectionState> initial;
  for (const Connection& connection : monitor_->connections()) initial[connection.id] = connection.state;
  ASSERT_EQ(initial.size(), 19u);
  ASSERT_EQ(initial[d[0]].reason, ConnectionReason::NoRoute);

  std::vector<Executor::Task> posted;
  std::vector<Event> delivered;
  Subscription slow = monitor_->subscribe(Executor::fromPost([&posted](Executor::Task task) {
                                            posted.push_back(std::move(task));
                                          }),
                                          [&delivered](const Event& event) { delivered.push_back(event); });

  kernel_->set("198.51.100.0/25", via(3, "198.18.0.1", "198.18.0.2"));
  step([](Mirror& m) { m.applyRoute(false, mirrorRoute("198.51.100.0/25", 3)); });  // a: veth1
  kernel_->set("198.51.100.128/25", refused(EHOSTUNREACH));
  step([](Mirror& m) { m.applyRoute(false, mirrorRoute("198.51.100.128/25", 2)); });  // c: unreachable
  kernel_->set("203.0.113.0/24", via(3, "198.18.0.254", "198.18.0.2"));
  step([](Mirror& m) { m.applyRoute(false, mirrorRoute("203.0.113.0/24", 3)); });  // b: another gateway
  kernel_->set("198.51.100.0/26", refused(EHOSTUNREACH));
  step([](Mirror& m) { m.applyRoute(false, mirrorRoute("198.51.100.0/26", 2)); });  // a: unreachable
  kernel_->erase("198.51.100.128/25");
  step([](Mirror& m) { m.applyRoute(true, mirrorRoute("198.51.100.128/25", 2)); });  // c: as before
  kernel_->set("198.51.100.0/27", via(2, "192.0.2.9"));
  step([](Mirror& m) { m.applyRoute(false, mirrorRoute("198.51.100.0/27", 2)); });  // a: veth0, another gateway
  kernel_->set("2001:db8:d::/64", via(2, "", "fe80::2"));
  step([](Mirror& m) { m.applyRoute(false, mirrorRoute("2001:db8:d::/64", 2)); });  // every d: on-link

  // The inline subscriber saw every change.
  std::map<ConnectionId, int> changes;
  for (const ConnectionEvent& e : events_) ++changes[e.id];
  ASSERT_EQ(changes[a], 3);
  ASSERT_EQ(changes[b], 1);
  ASSERT_EQ(changes[c], 2);
  for (ConnectionId id : d) {
    ASSERT_EQ(changes[id], 1) << id;
  }

  ASSERT_TRUE(delivered.empty()) << "the executor has run nothing yet";
  while (!posted.empty()) {
    Executor::Task task = std::move(posted.front());
    posted.erase(posted.begin());
    task();
  }

  std::map<ConnectionId, size_t> position;  // of each connection's event in `delivered`
  std::optional<size_t> resync;             // position of the last ResyncEvent
  for (size_t i = 0; i < delivered.size(); ++i) {
    const Event& event = delivered[i];
    if (i > 0) {
      EXPECT_LE(delivered[i - 1].sequence, event.sequence) << "event " << i << " out of order";
    }
    if (const auto* connection = std::get_if<ConnectionEvent>(&event.payload)) {
      EXPECT_TRUE(position.emplace(connection->id, i).second) << "a second event for connection " << connection->id;
      EXPECT_NE(connection->current, connection->previous) << "an event without a change for " << connection->id;
      const auto now = monitor_->connection(connection->id);
      ASSERT_TRUE(now) << connection->id;
      EXPECT_EQ(connection->previous, initial[connection->id]) << "not the oldest previous: " << connection->id;
      EXPECT_EQ(connection->current, now->state) << "not the newest current: " << connection->id;
    } else if (const auto* r = std::get_if<ResyncEvent>(&event.payload)) {
      EXPECT_EQ(r->reason, ResyncReason::SubscriberOverflow);
      resync = i;
    } else {
      ADD_FAILURE() << "an event the subscription did not ask for at " << i;
    }
  }
  std::set<ConnectionId> expected{a, b};
  expected.insert(d.begin(), d.end());
  std::set<ConnectionId> got;
  for (const auto& [id, at] : position) got.insert(id);
  EXPECT_EQ(got, expected) << "c changed back: its folded event is dropped";
  ASSERT_TRUE(resync) << "no ResyncEvent{SubscriberOverflow}";
  EXPECT_GT(*resync, position[a]);
  EXPECT_GT(*resync, position[b]);
  EXPECT_EQ(monitor_->connection(a)->state.gateway, ip("192.0.2.9"));
}

}  // namespace
}  // namespace netmon
