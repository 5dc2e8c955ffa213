// Subscription semantics (subscription.h) with the real kernel producing the events: cancelling
// from inside the callback while events stream, a subscription outliving its monitor, and a
// multi-threaded post executor that must still deliver one subscription's events in order and never
// concurrently.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "netmon/status_monitor.h"
#include "support/thread_pool.h"
#include "support/event_recorder.h"
#include "support/monitored_namespace_test.h"
#include "support/netns.h"

namespace netmon::test {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> routeAdds(int table, int count) {
  std::vector<std::string> lines;
  for (int i = 0; i < count; ++i) {
    lines.push_back(fmt::format("route add 203.0.113.{}/32 dev veth0 table {}", i % 256, table + i / 256));
  }
  return lines;
}

bool isRouteAddIn(const Event& event, uint32_t table) {
  const auto* r = payloadAs<RouteEvent>(event);
  return r && r->change == Change::Added && r->route.table == table;
}

class SubscriptionTest : public MonitoredNamespaceTest {
 protected:
  void SetUp() override {
    MonitoredNamespaceTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ns_->addVethWithPeer("veth0");
    ns_->ip("link set veth0 up");
    ns_->ip("addr add 192.0.2.2/24 dev veth0");
    ASSERT_TRUE(ns_->waitForCarrier("veth0"));
    startMonitor();
  }

  // Adds `count` routes from `table` on and waits until the recorder saw the last one.
  void streamRoutes(int table, int count) {
    const size_t mark = recorder_->mark();
    ns_->ipBatch(routeAdds(table, count));
    const int last = count - 1;
    ASSERT_TRUE(recorder_->waitFor(
        fmt::format("the last of {} routes (table {})", count, table + last / 256),
        routeEventWhere(Change::Added,
                        [&](const Route& r) {
                          return r.table == static_cast<uint32_t>(table + last / 256) &&
                                 r.destination == prefix(fmt::format("203.0.113.{}/32", last % 256));
                        }),
        kEventTimeout, mark));
  }

};

struct SelfCancelling {
  Subscription subscription;
  std::atomic<bool> cancelled{false};
  std::atomic<int> calls{0};
  std::atomic<int> calls_after_cancel{0};
};

void subscribeSelfCancelling(StatusMonitor& monitor, Executor executor, SelfCancelling& state, uint32_t trigger_table) {
  state.subscription = monitor.subscribe(std::move(executor), [&state, trigger_table](const Event& event) {
    if (state.cancelled.load()) {
      ++state.calls_after_cancel;
      return;
    }
    ++state.calls;
    if (isRouteAddIn(event, trigger_table)) {  // only once the stream has begun
      state.subscription.reset();              // from inside its own callback: must not deadlock
      state.cancelled.store(true);
    }
  });
}

TEST_F(SubscriptionTest, CancelInsideInlineCallbackWhileEventsStream) {
  SelfCancelling state;
  subscribeSelfCancelling(*monitor_, Executor::inlineOnMonitorThread(), state, 1001);
  ASSERT_NO_FATAL_FAILURE(streamRoutes(1001, 500));
  EXPECT_TRUE(state.cancelled.load());
  EXPECT_EQ(state.calls_after_cancel.load(), 0) << "the callback ran after it cancelled itself";
  EXPECT_FALSE(state.subscription.active());
  // The monitor is unharmed: other subscribers still get events.
  ASSERT_NO_FATAL_FAILURE(streamRoutes(1010, 10));
  EXPECT_EQ(state.calls_after_cancel.load(), 0);
}

TEST_F(SubscriptionTest, CancelInsidePooledCallbackWhileEventsStream) {
  ThreadPool pool(2);
  SelfCancelling state;
  subscribeSelfCancelling(*monitor_, pool.executor(), state, 1001);
  ASSERT_NO_FATAL_FAILURE(streamRoutes(1001, 500));
  EXPECT_TRUE(recorder_->waitUntil("the pooled callback cancelled itself", [&] { return state.cancelled.load(); }));
  EXPECT_TRUE(pool.waitIdle()) << "a pooled task hangs (deadlock while cancelling inside the callback?)";
  EXPECT_EQ(state.calls_after_cancel.load(), 0) << "a queued event was delivered after the callback cancelled itself";
  EXPECT_FALSE(state.subscription.active());
}

// ~Subscription() on another thread waits for a running callback to finish.
TEST_F(SubscriptionTest, ResetFromAnotherThreadWaitsForTheRunningCallback) {
  std::mutex mutex;
  std::condition_variable changed;
  bool entered = false;
  bool release = false;
  std::atomic<bool> finished{false};
  int calls_in_trigger = 0;
  Subscription subscription = monitor_->subscribe(Executor::inlineOnMonitorThread(), [&](const Event& event) {
    if (!isRouteAddIn(event, 1020)) return;
    std::unique_lock lock(mutex);
    ++calls_in_trigger;
    entered = true;
    changed.notify_all();
    changed.wait_for(lock, 10s, [&] { return release; });  // bounded: never wedge the monitor thread
    finished.store(true);
  });
  ns_->ip("route add 203.0.113.1/32 dev veth0 table 1020");
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, kEventTimeout, [&] { return entered; })) << "the callback never ran";
  }
  std::atomic<bool> reset_returned{false};
  bool finished_when_reset_returned = false;
  std::thread resetter([&] {
    subscription.reset();
    finished_when_reset_returned = finished.load();
    reset_returned.store(true);
    changed.notify_all();
  });
  {
    // reset() must not return while the callback is held; give a broken one a chance to show.
    std::unique_lock lock(mutex);
    EXPECT_FALSE(changed.wait_for(lock, 200ms, [&] { return reset_returned.load(); }))
        << "reset() returned while the callback was still running";
    release = true;
  }
  changed.notify_all();
  resetter.join();
  EXPECT_TRUE(finished_when_reset_returned) << "reset() returned before the running callback finished";
  ns_->ip("route add 203.0.113.2/32 dev veth0 table 1020");
  ASSERT_TRUE(recorder_->waitFor("second route in table 1020",
                                 routeEventWhere(Change::Added, [](const Route& r) {
                                   return r.table == 1020 && r.destination == prefix("203.0.113.2/32");
                                 })));
  std::lock_guard lock(mutex);
  EXPECT_EQ(calls_in_trigger, 1) << "the callback ran after reset() returned";
}

TEST_F(SubscriptionTest, SubscriptionOutlivesItsMonitor) {
  ThreadPool pool(2);
  std::atomic<int> inline_calls{0};
  std::atomic<int> pooled_calls{0};
  std::mutex streamed_mutex;
  std::condition_variable streamed;
  Subscription inline_subscription = monitor_->subscribe(Executor::inlineOnMonitorThread(), [&](const Event&) {
    std::lock_guard lock(streamed_mutex);
    ++inline_calls;
    streamed.notify_all();
  });
  Subscription pooled_subscription = monitor_->subscribe(pool.executor(), [&](const Event&) {
    std::this_thread::yield();
    ++pooled_calls;
  });

  // Destroy the monitor while the kernel is streaming events at it.
  std::thread generator([&] { ns_->ipBatch(routeAdds(1030, 2000)); });
  {
    std::unique_lock lock(streamed_mutex);
    streamed.wait_for(lock, kEventTimeout, [&] { return inline_calls.load() >= 100; });
  }
  EXPECT_GE(inline_calls.load(), 100) << "events did not stream";
  monitor_.reset();
  const int inline_after_destroy = inline_calls.load();
  generator.join();
  ASSERT_TRUE(pool.waitIdle());
  const int pooled_after_destroy = pooled_calls.load();

  ns_->ip("route add 198.51.100.0/24 dev veth0");
  ns_->ip("link set veth0 down");
  ASSERT_TRUE(pool.waitIdle());
  EXPECT_EQ(inline_calls.load(), inline_after_destroy) << "an inline callback ran after the monitor was destroyed";
  EXPECT_EQ(pooled_calls.load(), pooled_after_destroy) << "a pooled callback ran for a change made after the monitor was destroyed";

  // Destroying (and resetting twice) subscriptions of a dead monitor is fine.
  inline_subscription.reset();
  inline_subscription.reset();
  EXPECT_FALSE(inline_subscription.active());
  pooled_subscription = Subscription();
  EXPECT_FALSE(pooled_subscription.active());
}

TEST_F(SubscriptionTest, PooledExecutorDeliversInOrderAndNeverConcurrently) {
  ns_->addVethWithPeer("veth1");
  ns_->run("sysctl -qw net.ipv6.conf.veth1.disable_ipv6=1");
  ASSERT_TRUE(recorder_->waitFor("veth1 appears", linkEventWhere("veth1", [](const LinkEvent&) { return true; })));
  ASSERT_TRUE(recorder_->waitForQuiet(500ms, 10s));  // both subscribers then start from the same event
  ThreadPool pool(2);
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<uint64_t> sequences;
  std::atomic<bool> in_callback{false};
  std::atomic<int> overlaps{0};
  std::atomic<int> out_of_order{0};
  std::atomic<uint64_t> last_sequence{0};
  Subscription subscription = monitor_->subscribe(pool.executor(), [&](const Event& event) {
    if (in_callback.exchange(true)) ++overlaps;
    if (event.sequence <= last_sequence.load()) ++out_of_order;
    last_sequence.store(event.sequence);
    // Stay a little, so that a second pool thread running this subscription would overlap.
    const auto until = std::chrono::steady_clock::now() + 20us;
    while (std::chrono::steady_clock::now() < until) std::this_thread::yield();
    {
      std::lock_guard lock(mutex);
      sequences.push_back(event.sequence);
    }
    in_callback.store(false);
    changed.notify_all();
  });
  const size_t mark = recorder_->mark();

  std::vector<std::string> flaps;
  for (int i = 0; i < 50; ++i) {
    flaps.push_back("link set veth1 up");
    flaps.push_back("link set veth1 down");
  }
  std::thread flapper([&] { ns_->ipBatch(flaps); });
  ASSERT_NO_FATAL_FAILURE(streamRoutes(1040, 2000));
  flapper.join();
  ASSERT_TRUE(recorder_->waitForQuiet(1s, 20s));

  const auto reference = recorder_->events(mark);
  ASSERT_FALSE(reference.empty());
  const uint64_t last = reference.back().sequence;
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, 30s, [&] { return !sequences.empty() && sequences.back() >= last; }))
        << "the pooled subscriber got " << sequences.size() << " events; the inline one " << reference.size();
  }
  subscription.reset();
  EXPECT_TRUE(pool.waitIdle());

  EXPECT_EQ(overlaps.load(), 0) << "callbacks of one subscription ran concurrently";
  EXPECT_EQ(out_of_order.load(), 0) << "Event::sequence went backwards";
  std::vector<uint64_t> expected;
  for (const auto& event : reference) expected.push_back(event.sequence);
  std::vector<uint64_t> got;
  {
    std::lock_guard lock(mutex);
    for (uint64_t s : sequences) {
      if (s >= expected.front()) got.push_back(s);
    }
  }
  EXPECT_EQ(got, expected) << "the pooled subscriber must see exactly the inline subscriber's events, in order";
}

}  // namespace
}  // namespace netmon::test
