// ConnectionMonitor over a scripted status backend and a fake kernel lookup: targeting (a change
// re-asks only the connections it can affect), change-only events, input validation that leaves
// the monitor unchanged, and adding/removing from inside a callback.
#include <cerrno>
#include <map>
#include <mutex>

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

TEST_F(ConnectionMonitorTest, SourceRefusedByTheKernelIsASourceMismatch) {
  // The fake kernel refuses the source 198.18.0.2 toward 192.0.2.0/24 (as IPv4 does with a
  // source it will not use), but answers without a source.
  class RefusingLookup final : public detail::RouteLookup {
   public:
    Result<std::vector<RouteAnswer>> lookup(std::span<const RouteQuery> queries) override {
      std::vector<RouteAnswer> answers;
      for (const auto& q : queries) answers.push_back(q.source.isSpecified() ? refused(EINVAL) : via(2, ""));
      return answers;
    }
    uint64_t lookups() const override { return 0; }
  };
  MonitorOptions options;
  options.threading = MonitorOptions::Threading::External;
  auto baseline = [](Mirror& m) {
    m.applyLink(false, test::upVeth(3, "veth1"));
    m.applyAddress(false, test::makeAddress(3, "198.18.0.2/24"));
  };
  auto created = detail::createConnectionMonitorForTest(
      options, std::make_unique<test::FakeBackend>(std::make_shared<test::FakeScript>(), baseline),
      std::make_unique<RefusingLookup>());
  ASSERT_TRUE(created);
  auto added = created->add(*ConnectionTarget::parse("192.0.2.9", "198.18.0.2"));
  ASSERT_TRUE(added) << added.error().message();
  EXPECT_EQ(added->state.reason, ConnectionReason::SourceMismatch);
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

}  // namespace
}  // namespace netmon
