// Subscribers that misbehave, and subscription churn under threads (run under TSan in the test
// command): a callback that throws, a callback that blocks its executor, subscribe/unsubscribe
// from many threads while events flow, and monitors destroyed while callbacks run. Through a fake
// backend, so no privileges are needed; every wait has a deadline, nothing sleeps.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "netmon/status_monitor.h"
#include "support/fake_backend.h"
#include "support/thread_pool.h"

namespace netmon {
namespace {

using namespace std::chrono_literals;
using detail::Mirror;
using test::FakeBackend;
using test::FakeScript;
using test::ThreadPool;

constexpr auto kTimeout = 30s;  // a deadline for loaded machines, not a sleep

void baseline(Mirror& m) {
  m.applyLink(false, test::loopback());
  m.applyLink(false, test::upVeth());
  m.applyAddress(false, test::makeAddress(2, "192.0.2.2/24"));
}
// A step that changes the veth's MTU: exactly one link event (no reachability change).
FakeScript::Step setMtu(uint32_t mtu) {
  return [mtu](Mirror& m) {
    Link link = test::upVeth();
    link.mtu = mtu;
    m.applyLink(false, std::move(link));
  };
}

Result<StatusMonitor> createMonitor(const std::shared_ptr<FakeScript>& script, MonitorOptions::Threading threading) {
  MonitorOptions options;
  options.threading = threading;
  options.ignore = LinkFilter::none();
  return detail::createStatusMonitorForTest(options, std::make_unique<FakeBackend>(script, baseline));
}

// Counts calls and waits for a count, with a deadline.
class Counter {
 public:
  void add() {
    std::lock_guard lock(mutex_);
    ++count_;
    changed_.notify_all();
  }
  bool waitFor(size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kTimeout, [&] { return count_ >= count; });
  }
  size_t count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  size_t count_ = 0;
};

// A gate a callback waits at until the test opens it (bounded).
class Gate {
 public:
  void waitOpen() {
    std::unique_lock lock(mutex_);
    entered_ = true;
    changed_.notify_all();
    changed_.wait_for(lock, kTimeout, [&] { return open_; });
  }
  bool waitEntered() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kTimeout, [&] { return entered_; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false;
  bool open_ = false;
};

// --- a callback that throws (subscription.h, "Errors") -------------------------------------------

TEST(SubscriptionFaultsTest, ThrowingInlineCallbackIsCountedAndDeliveryGoesOn) {
  auto script = std::make_shared<FakeScript>();
  auto monitor = createMonitor(script, MonitorOptions::Threading::OwnThread);
  ASSERT_TRUE(monitor) << monitor.error().message();
  Counter calls;
  Counter bystander;
  Subscription thrower = monitor->subscribe(Executor::inlineOnMonitorThread(), [&](const Event&) {
    calls.add();
    throw std::runtime_error("subscriber bug");
  });
  Subscription other = monitor->subscribe(Executor::inlineOnMonitorThread(), [&](const Event&) { bystander.add(); });
  script->push(setMtu(1400));
  script->push(setMtu(1300));
  // The monitor thread survived the first exception: the second event was delivered too, to both.
  ASSERT_TRUE(calls.waitFor(2));
  ASSERT_TRUE(bystander.waitFor(2));
  EXPECT_TRUE(thrower.active()) << "a throwing callback keeps its subscription";
  EXPECT_EQ(monitor->counters().callbackExceptions, 2u);
  EXPECT_EQ(monitor->snapshot()->findLink("veth0")->mtu, 1300u);
}

TEST(SubscriptionFaultsTest, ThrowingPooledCallbackDoesNotReachThePool) {
  auto script = std::make_shared<FakeScript>();
  auto monitor = createMonitor(script, MonitorOptions::Threading::External);
  ASSERT_TRUE(monitor) << monitor.error().message();
  ThreadPool pool(2);
  Counter calls;
  Subscription thrower = monitor->subscribe(pool.executor(), [&](const Event&) {
    calls.add();
    throw 42;  // not even a std::exception
  });
  for (uint32_t mtu : {1400u, 1300u, 1200u}) {
    script->push(setMtu(mtu));
    ASSERT_TRUE(monitor->process());
  }
  ASSERT_TRUE(calls.waitFor(3));
  ASSERT_TRUE(pool.waitIdle());
  EXPECT_EQ(monitor->counters().callbackExceptions, 3u);
}

// --- a callback that blocks its executor (executor.h) --------------------------------------------

TEST(SubscriptionFaultsTest, BlockedSubscriberDoesNotDelayOthersOnOtherExecutors) {
  auto script = std::make_shared<FakeScript>();
  auto monitor = createMonitor(script, MonitorOptions::Threading::OwnThread);
  ASSERT_TRUE(monitor) << monitor.error().message();
  ThreadPool blocked_pool(1);
  ThreadPool free_pool(1);
  Gate gate;
  Counter blocked_calls;
  Counter free_calls;
  Subscription blocked = monitor->subscribe(blocked_pool.executor(), [&](const Event&) {
    blocked_calls.add();
    gate.waitOpen();
  });
  Subscription free = monitor->subscribe(free_pool.executor(), [&](const Event&) { free_calls.add(); });
  script->push(setMtu(1400));
  ASSERT_TRUE(gate.waitEntered());
  // While the first subscriber is stuck in its first event, the other gets every event.
  for (uint32_t mtu = 1300; mtu > 1200; mtu -= 10) script->push(setMtu(mtu));
  EXPECT_TRUE(free_calls.waitFor(11));
  EXPECT_EQ(blocked_calls.count(), 1u) << "the blocked subscriber should still be in its first callback";
  gate.open();
  EXPECT_TRUE(blocked_calls.waitFor(11)) << "the blocked subscriber's queue is delivered once it returns";
}

// The promise for the inline executor is the opposite, and documented (executor.h): a blocking
// inline callback holds the monitor thread, so nothing else is delivered until it returns.
TEST(SubscriptionFaultsTest, BlockedInlineSubscriberHoldsTheMonitorThreadAsDocumented) {
  auto script = std::make_shared<FakeScript>();
  auto monitor = createMonitor(script, MonitorOptions::Threading::OwnThread);
  ASSERT_TRUE(monitor) << monitor.error().message();
  Gate gate;
  Counter later_calls;
  std::atomic<bool> first{true};
  Subscription blocking = monitor->subscribe(Executor::inlineOnMonitorThread(), [&](const Event&) {
    if (first.exchange(false)) gate.waitOpen();
  });
  script->push(setMtu(1400));
  ASSERT_TRUE(gate.waitEntered());
  Subscription later = monitor->subscribe(Executor::inlineOnMonitorThread(), [&](const Event&) { later_calls.add(); });
  script->push(setMtu(1300));
  // The monitor thread is inside the first callback: the second batch cannot have been applied.
  EXPECT_EQ(later_calls.count(), 0u);
  EXPECT_EQ(monitor->snapshot()->findLink("veth0")->mtu, 1400u);
  gate.open();
  EXPECT_TRUE(later_calls.waitFor(1));
}

// --- stress (TSan) -------------------------------------------------------------------------------

// 10,000 subscribe/unsubscribe cycles from 8 threads while a monitor thread publishes a stream of
// changes, over inline and pooled executors; then 10,000 more in which the monitor itself is
// destroyed while callbacks run. TSan must report nothing; every subscription's events must come
// in increasing sequence order.
TEST(SubscriptionStressTest, SubscribeAndUnsubscribeFromManyThreadsWhileEventsFlow) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 10'000;
  auto script = std::make_shared<FakeScript>();
  auto monitor = createMonitor(script, MonitorOptions::Threading::OwnThread);
  ASSERT_TRUE(monitor) << monitor.error().message();
  ThreadPool pool(3);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> delivered{0};
  std::atomic<int> disorder{0};
  std::thread producer([&] {
    for (uint32_t mtu = 1000; !stop.load(); mtu = mtu == 1499 ? 1000 : mtu + 1) {
      if (script->pending() < 64) script->push(setMtu(mtu));
      else std::this_thread::yield();
    }
  });
  const auto started = std::chrono::steady_clock::now();
  std::atomic<int> next{0};
  std::atomic<int> cycles_with_events{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (next.fetch_add(1) < kIterations) {
        auto last = std::make_shared<std::atomic<uint64_t>>(0);
        auto callback = [&, last](const Event& event) {
          if (event.sequence <= last->exchange(event.sequence)) disorder.fetch_add(1);
          delivered.fetch_add(1, std::memory_order_relaxed);
        };
        Subscription subscription = monitor->subscribe(
            t % 2 ? Executor::inlineOnMonitorThread() : pool.executor(), callback);
        // Unsubscribe once the first event came (bounded), so each cycle overlaps delivery.
        const auto deadline = std::chrono::steady_clock::now() + 1s;
        while (last->load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
        cycles_with_events.fetch_add(last->load() != 0);
      }  // destroyed here, often while its callback runs on the monitor thread or the pool
    });
  }
  for (auto& thread : threads) thread.join();
  stop = true;
  producer.join();
  ASSERT_TRUE(pool.waitIdle());
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(disorder.load(), 0);
  EXPECT_GT(cycles_with_events.load(), kIterations / 2) << "events did not flow during the cycles";
  std::printf("stress: %d subscribe/unsubscribe cycles from %d threads (%d received events) in %lld ms, %llu "
              "events delivered\n",
              kIterations, kThreads, cycles_with_events.load(),
              (long long)std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(),
              (unsigned long long)delivered.load());
}

TEST(SubscriptionStressTest, MonitorDestroyedWhileCallbacksRun) {
  constexpr int kIterations = 10'000;
  ThreadPool pool(2);
  std::atomic<uint64_t> delivered{0};
  const auto started = std::chrono::steady_clock::now();
  int destroyed_mid_callback = 0;
  for (int i = 0; i < kIterations; ++i) {
    auto script = std::make_shared<FakeScript>();
    std::optional<StatusMonitor> monitor;
    {
      auto created = createMonitor(script, MonitorOptions::Threading::OwnThread);
      ASSERT_TRUE(created) << created.error().message();
      monitor.emplace(std::move(*created));
    }
    std::atomic<bool> running{false};
    auto callback = [&](const Event&) {
      running = true;
      delivered.fetch_add(1, std::memory_order_relaxed);
    };
    // The subscriptions outlive the monitor half of the time (subscription.h allows it).
    std::optional<Subscription> inline_subscription(monitor->subscribe(Executor::inlineOnMonitorThread(), callback));
    Subscription pooled = monitor->subscribe(pool.executor(), callback);
    script->push(setMtu(1400 + uint32_t(i % 50)));
    script->push(setMtu(1300));
    if (i % 2) {
      // Wait until a callback runs, then destroy the monitor under it.
      for (int spin = 0; spin < 1'000'000 && !running.load(); ++spin) std::this_thread::yield();
      destroyed_mid_callback += running.load();
    }
    monitor.reset();  // ~StatusMonitor: stops its thread while callbacks may run
    if (i % 4 == 0) inline_subscription.reset();
  }
  ASSERT_TRUE(pool.waitIdle());
  const auto elapsed = std::chrono::steady_clock::now() - started;
  std::printf("stress: %d monitors destroyed with callbacks running or queued (%d after a callback had started) "
              "in %lld ms, %llu events delivered\n",
              kIterations, destroyed_mid_callback,
              (long long)std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(),
              (unsigned long long)delivered.load());
  EXPECT_GT(destroyed_mid_callback, 0);
}

}  // namespace
}  // namespace netmon
