// Public subscription semantics (include/netmon/subscription.h, status_monitor.h) through a fake
// backend: ordering and sequence numbers, change-only emission, the executor hop, unsubscribing
// from inside a callback and while a callback runs, subscriptions outliving the monitor, event
// masks, per-subscriber overflow coalescing, and the snapshot cache.
//
// Synchronisation is by condition variables with deadlines; nothing sleeps for a fixed time.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "netmon/status_monitor.h"
#include "support/thread_pool.h"
#include "support/fake_backend.h"

namespace netmon {
namespace {

using namespace std::chrono_literals;
using test::ThreadPool;
using detail::Mirror;
using test::FakeBackend;
using test::FakeScript;
using test::loopback;
using test::makeAddress;
using test::makeRoute;
using test::upVeth;

constexpr auto kTimeout = 30s;  // a deadline on loaded CI machines, not a sleep

// Collects events from any thread; waits with a deadline.
class Collector {
 public:
  void add(const Event& event) {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
    changed_.notify_all();
  }
  StatusMonitor::Callback callback() {
    return [this](const Event& e) { add(e); };
  }
  bool waitForCount(size_t count, std::chrono::milliseconds timeout = kTimeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return events_.size() >= count; });
  }
  bool waitFor(const std::function<bool(const Event&)>& predicate, std::chrono::milliseconds timeout = kTimeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      return std::any_of(events_.begin(), events_.end(), predicate);
    });
  }
  std::vector<Event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return events_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Event> events_;
};

// An event loop that never runs unless told to: posted tasks wait in a queue.
class ManualExecutor {
 public:
  Executor executor() {
    return Executor::fromPost([this](Executor::Task task) {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    });
  }
  size_t queued() const {
    std::lock_guard lock(mutex_);
    return tasks_.size();
  }
  // Runs tasks (including ones queued meanwhile) until none is left.
  void runAll() {
    for (;;) {
      Executor::Task task;
      {
        std::lock_guard lock(mutex_);
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

 private:
  mutable std::mutex mutex_;
  std::deque<Executor::Task> tasks_;
};

// --- scripted steps -------------------------------------------------------------------------------

void baseline(Mirror& m) {
  m.applyLink(false, loopback());
  m.applyAddress(false, makeAddress(1, "127.0.0.1/8"));
  m.applyLink(false, upVeth());
  m.applyAddress(false, makeAddress(2, "192.0.2.2/24"));
  m.applyRoute(false, makeRoute("192.0.2.0/24", "", 2));
}
void addDefault4(Mirror& m) { m.applyRoute(false, makeRoute("default", "192.0.2.1", 2)); }
void removeDefault4(Mirror& m) { m.applyRoute(true, makeRoute("default", "192.0.2.1", 2)); }
FakeScript::Step setMtu(uint32_t mtu) {
  return [mtu](Mirror& m) {
    Link link = upVeth();
    link.mtu = mtu;
    m.applyLink(false, std::move(link));
  };
}

bool isReachability(const Event& e, Family family, Reachability current) {
  auto* r = std::get_if<ReachabilityEvent>(&e.payload);
  return r && r->family == family && r->current == current;
}

class SubscriptionTest : public ::testing::Test {
 protected:
  void create(MonitorOptions::Threading threading, size_t queue_limit = 65536) {
    MonitorOptions options;
    options.threading = threading;
    options.ignore = LinkFilter::none();
    options.subscriberQueueLimit = queue_limit;
    auto created = detail::createStatusMonitorForTest(options, std::make_unique<FakeBackend>(script_, baseline));
    ASSERT_TRUE(created) << created.error().message();
    monitor_.emplace(std::move(*created));
  }
  // External mode: handles every queued step. Returns the number of steps.
  size_t processAll() {
    size_t steps = 0;
    for (;;) {
      auto handled = monitor_->process();
      EXPECT_TRUE(handled) << handled.error().message();
      if (!handled || *handled == 0) return steps;
      steps += *handled;
    }
  }

  std::shared_ptr<FakeScript> script_ = std::make_shared<FakeScript>();
  std::optional<StatusMonitor> monitor_;
};

// --- ordering, sequence numbers, change-only emission ------------------------------------------

TEST_F(SubscriptionTest, EventsArriveInOrderWithIncreasingSequence) {
  create(MonitorOptions::Threading::External);
  ASSERT_EQ(monitor_->reachability(), Reachability::Site);  // the first answer is already true
  const uint64_t joined_at = monitor_->snapshot()->sequence;
  Collector collector;
  Subscription sub = monitor_->subscribe(Executor::inlineOnMonitorThread(), collector.callback());
  ASSERT_TRUE(sub.active());

  script_->push(addDefault4);
  script_->push(removeDefault4);
  EXPECT_EQ(processAll(), 2u);

  const auto events = collector.events();
  std::vector<std::string> kinds;
  for (const auto& e : events) {
    std::string text(toString(e.kind()));
    if (auto* r = std::get_if<ReachabilityEvent>(&e.payload)) {
      text += " " + std::string(toString(r->family)) + " " + std::string(toString(r->current));
    }
    kinds.push_back(text);
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"route", "reachability ipv4 online", "reachability any online", "route",
                                             "reachability ipv4 site", "reachability any site"}));
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence, joined_at + 1 + i) << "event " << i;
  }
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(monitor_->snapshot()->sequence, events.back().sequence);
  auto* last = std::get_if<ReachabilityEvent>(&events.back().payload);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->previous, Reachability::Online);
}

TEST_F(SubscriptionTest, NothingIsEmittedWhenNothingChanged) {
  create(MonitorOptions::Threading::External);
  Collector collector;
  Subscription sub = monitor_->subscribe(Executor::inlineOnMonitorThread(), collector.callback());
  script_->push(addDefault4);
  processAll();
  const size_t after_change = collector.size();
  ASSERT_GT(after_change, 0u);
  const auto snapshot = monitor_->snapshot();

  script_->push(addDefault4);  // the kernel repeats itself
  script_->push(baseline);     // a whole identical state
  script_->push([](Mirror& m) {
    Address a = makeAddress(2, "192.0.2.2/24");
    a.validLifetime = 100;  // lifetimes only
    m.applyAddress(false, std::move(a));
  });
  EXPECT_EQ(processAll(), 3u);
  EXPECT_EQ(collector.size(), after_change);
  EXPECT_EQ(monitor_->snapshot(), snapshot) << "no change, so the cached snapshot is still valid";
}

TEST_F(SubscriptionTest, SnapshotIsCachedUntilSomethingChanges) {
  create(MonitorOptions::Threading::External);
  Collector collector;
  Subscription sub = monitor_->subscribe(Executor::inlineOnMonitorThread(), collector.callback());
  const auto first = monitor_->snapshot();
  EXPECT_EQ(monitor_->snapshot(), first);
  EXPECT_EQ(first->reachability, Reachability::Site);

  script_->push(addDefault4);
  processAll();
  const auto second = monitor_->snapshot();
  EXPECT_NE(second, first);
  EXPECT_EQ(second, monitor_->snapshot());
  EXPECT_EQ(second->reachability, Reachability::Online);
  EXPECT_EQ(second->sequence, collector.events().back().sequence);
  EXPECT_EQ(second->routeCount(), 2u);
  // The earlier snapshot is immutable.
  EXPECT_EQ(first->reachability, Reachability::Site);
  EXPECT_EQ(first->routeCount(), 1u);

  script_->push(setMtu(9000));
  processAll();
  const auto third = monitor_->snapshot();
  EXPECT_NE(third, second);
  EXPECT_EQ(third->findLink(2)->mtu, 9000u);
  EXPECT_EQ(third->sequence, collector.events().back().sequence);
}

// StatusMonitor::snapshot() promises the current state. A change that no subscriber asked to hear
// about is still a change of state.
TEST_F(SubscriptionTest, SnapshotReflectsChangesNoSubscriberAskedFor) {
  create(MonitorOptions::Threading::External);
  ASSERT_EQ(monitor_->snapshot()->findLink(2)->mtu, 1500u);
  script_->push(setMtu(9000));
  processAll();
  EXPECT_EQ(monitor_->snapshot()->findLink(2)->mtu, 9000u) << "no subscriber at all";

  Collector collector;
  Subscription sub = monitor_->subscribe(Executor::inlineOnMonitorThread(), collector.callback(),
                                         EventKind::Reachability);
  script_->push(setMtu(1400));
  script_->push(addDefault4);
  processAll();
  const auto snapshot = monitor_->snapshot();
  EXPECT_EQ(snapshot->reachability, Reachability::Online);
  EXPECT_EQ(snapshot->findLink(2)->mtu, 1400u) << "a link change with only a reachability subscriber";
  EXPECT_EQ(snapshot->routeCount(), 2u);
}

// --- executor hop ------------------------------------------------------------------------------

TEST_F(SubscriptionTest, PostingExecutorRunsCallbacksOnItsThreadsOneAtATimeInOrder) {
  Collector a_events, b_events;
  ThreadPool pool(2);
  create(MonitorOptions::Threading::External);

  struct Guard {
    std::atomic<bool> inside{false};
    std::atomic<int> overlaps{0};
    std::atomic<int> foreign_threads{0};
  };
  Guard a_guard, b_guard;
  auto callback = [&pool](Guard& guard, Collector& collector) {
    return [&pool, &guard, &collector](const Event& e) {
      if (guard.inside.exchange(true)) ++guard.overlaps;
      if (!pool.isPoolThread(std::this_thread::get_id())) ++guard.foreign_threads;
      for (int i = 0; i < 3; ++i) std::this_thread::yield();  // widen the window for an overlap (cheaply:
      // under CPU contention each yield may cost a time slice)
      collector.add(e);
      guard.inside.store(false);
    };
  };
  Subscription a = monitor_->subscribe(pool.executor(), callback(a_guard, a_events));
  Subscription b = monitor_->subscribe(pool.executor(), callback(b_guard, b_events), EventKind::Link);

  constexpr int kSteps = 300;  // more than one drain task's worth (64), so drains hop threads
  for (int i = 0; i < kSteps; ++i) script_->push(setMtu(1000 + uint32_t(i)));
  EXPECT_EQ(processAll(), size_t(kSteps));

  ASSERT_TRUE(a_events.waitForCount(kSteps)) << a_events.size();
  ASSERT_TRUE(b_events.waitForCount(kSteps)) << b_events.size();
  ASSERT_TRUE(pool.waitIdle());
  for (const Collector* c : {&a_events, &b_events}) {
    const auto events = c->events();
    ASSERT_EQ(events.size(), size_t(kSteps));
    for (size_t i = 0; i < events.size(); ++i) {
      auto* link = std::get_if<LinkEvent>(&events[i].payload);
      ASSERT_NE(link, nullptr);
      EXPECT_EQ(link->link.mtu, 1000u + i) << "out of order at " << i;
      if (i > 0) {
        EXPECT_GT(events[i].sequence, events[i - 1].sequence);
      }
    }
  }
  EXPECT_EQ(a_guard.overlaps.load(), 0) << "callbacks of one subscription ran concurrently";
  EXPECT_EQ(b_guard.overlaps.load(), 0) << "callbacks of one subscription ran concurrently";
  EXPECT_EQ(a_guard.foreign_threads.load(), 0) << "a callback ran outside the executor";
  EXPECT_EQ(b_guard.foreign_threads.load(), 0) << "a callback ran outside the executor";
}

TEST_F(SubscriptionTest, OwnThreadModeDeliversInOrderThroughAPool) {
  Collector collector;
  ThreadPool pool(2);
  create(MonitorOptions::Threading::OwnThread);
  auto refused = monitor_->process();
  EXPECT_FALSE(refused) << "process() is for Threading::External only";

  Subscription sub = monitor_->subscribe(pool.executor(), collector.callback());
  for (int i = 0; i < 50; ++i) script_->push(setMtu(2000 + uint32_t(i)));
  script_->push(addDefault4);
  ASSERT_TRUE(collector.waitFor([](const Event& e) { return isReachability(e, Family::Unspecified, Reachability::Online); }));
  const auto events = collector.events();
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].sequence, events[i - 1].sequence);
  EXPECT_EQ(monitor_->reachability(), Reachability::Online);
  EXPECT_EQ(monitor_->snapshot()->sequence, events.back().sequence);
  sub.reset();
  monitor_.reset();  // the monitor thread stops before the pool it posts to is destroyed
}

// --- unsubscribing ------------------------------------------------------------------------------

TEST_F(SubscriptionTest, DestroyingASubscriptionInsideItsInlineCallbackDoesNotDeadlock) {
  create(MonitorOptions::Threading::External);
  int calls = 0;
  Collector other;
  std::optional<Subscription> self;
  self.emplace(monitor_->subscribe(Executor::inlineOnMonitorThread(), [&](const Event&) {
    ++calls;
    self.reset();  // from inside its own callback
  }));
  Subscription keeps_listening = monitor_->subscribe(Executor::inlineOnMonitorThread(), other.callback());

  script_->push(addDefault4);  // three events in one batch
  processAll();
  EXPECT_EQ(calls, 1) << "no further invocation after the callback destroyed its subscription";
  EXPECT_FALSE(self.has_value());
  script_->push(removeDefault4);
  processAll();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(other.size(), 6u);
}

TEST_F(SubscriptionTest, DestroyingASubscriptionInsideItsPooledCallbackDoesNotDeadlock) {
  ThreadPool pool(2);
  create(MonitorOptions::Threading::OwnThread);
  std::atomic<int> calls{0};
  std::mutex mutex;
  std::condition_variable cv;
  bool reset_done = false;
  std::optional<Subscription> self;
  {
    // The callback may run before emplace() returns; it must not touch `self` before then.
    std::unique_lock lock(mutex);
    self.emplace(monitor_->subscribe(pool.executor(), [&](const Event&) {
      if (++calls != 1) return;
      std::unique_lock inner(mutex);
      self.reset();
      reset_done = true;
      cv.notify_all();
    }));
  }
  Collector witness;
  Subscription witness_sub = monitor_->subscribe(Executor::inlineOnMonitorThread(), witness.callback());
  script_->push(addDefault4);
  script_->push(removeDefault4);
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, kTimeout, [&] { return reset_done; })) << "deadlock?";
  }
  ASSERT_TRUE(witness.waitForCount(6));
  monitor_.reset();  // the monitor thread stops before the pool it posts to is destroyed
  ASSERT_TRUE(pool.waitIdle());
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(SubscriptionTest, DestroyingWhileTheCallbackRunsElsewhereWaitsForIt) {
  ThreadPool pool(2);
  create(MonitorOptions::Threading::External);

  std::mutex mutex;
  std::condition_variable cv;
  bool entered = false, destroying = false, release = false;
  std::atomic<int> calls{0};
  std::atomic<bool> callback_returned{false}, reset_returned{false};
  std::atomic<int> violations{0};

  Subscription sub = monitor_->subscribe(pool.executor(), [&](const Event&) {
    if (++calls != 1) return;
    {
      std::unique_lock lock(mutex);
      entered = true;
      cv.notify_all();
      cv.wait_for(lock, kTimeout, [&] { return release; });
    }
    if (reset_returned.load()) ++violations;  // the destructor returned while we were running
    callback_returned.store(true);
  });

  script_->push(addDefault4);  // 3 events: the 2nd and 3rd wait in the subscription's queue
  processAll();
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, kTimeout, [&] { return entered; }));
  }
  std::thread destroyer([&] {
    {
      std::lock_guard lock(mutex);
      destroying = true;
      cv.notify_all();
    }
    sub.reset();
    if (!callback_returned.load()) ++violations;
    reset_returned.store(true);
  });
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, kTimeout, [&] { return destroying; }));
  }
  // Give the destroyer a chance to block in reset() (not needed for correctness: the checks hold
  // whichever thread gets there first).
  for (int i = 0; i < 20; ++i) std::this_thread::yield();
  {
    std::lock_guard lock(mutex);
    release = true;
    cv.notify_all();
  }
  destroyer.join();
  EXPECT_TRUE(reset_returned.load());
  EXPECT_EQ(violations.load(), 0);

  script_->push(removeDefault4);
  processAll();
  ASSERT_TRUE(pool.waitIdle());
  EXPECT_EQ(calls.load(), 1) << "the queued events and later ones must never be delivered";
}

TEST_F(SubscriptionTest, DestroyingWhileAnInlineCallbackBlocksTheMonitorThreadWaitsForIt) {
  create(MonitorOptions::Threading::OwnThread);
  std::mutex mutex;
  std::condition_variable cv;
  bool entered = false, destroying = false;
  std::atomic<int> calls{0};
  std::atomic<bool> callback_returned{false}, reset_returned{false};
  std::atomic<int> violations{0};
  Subscription sub = monitor_->subscribe(Executor::inlineOnMonitorThread(), [&](const Event&) {
    if (++calls != 1) return;
    {
      std::unique_lock lock(mutex);
      entered = true;
      cv.notify_all();
      cv.wait_for(lock, kTimeout, [&] { return destroying; });
    }
    for (int i = 0; i < 20; ++i) std::this_thread::yield();
    if (reset_returned.load()) ++violations;
    callback_returned.store(true);
  });
  script_->push(addDefault4);
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, kTimeout, [&] { return entered; }));
    destroying = true;
    cv.notify_all();
  }
  sub.reset();
  if (!callback_returned.load()) ++violations;
  reset_returned.store(true);
  EXPECT_EQ(violations.load(), 0);

  Collector witness;
  Subscription witness_sub = monitor_->subscribe(Executor::inlineOnMonitorThread(), witness.callback());
  script_->push(removeDefault4);
  ASSERT_TRUE(witness.waitFor([](const Event& e) { return isReachability(e, Family::Unspecified, Reachability::Site); }));
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(SubscriptionTest, MoveAndResetSemantics) {
  create(MonitorOptions::Threading::External);
  Subscription empty;
  EXPECT_FALSE(empty.active());
  empty.reset();  // idempotent on empty

  int a_calls = 0, b_calls = 0;
  Subscription a = monitor_->subscribe(Executor::inlineOnMonitorThread(), [&](const Event&) { ++a_calls; });
  Subscription moved = std::move(a);
  EXPECT_FALSE(a.active());  // NOLINT(bugprone-use-after-move): moved-from is documented empty
  EXPECT_TRUE(moved.active());
  Subscription b = monitor_->subscribe(Executor::inlineOnMonitorThread(), [&](const Event&) { ++b_calls; });
  moved = std::move(b);  // cancels the first subscription
  script_->push(addDefault4);
  processAll();
  EXPECT_EQ(a_calls, 0);
  EXPECT_EQ(b_calls, 3);
  moved.reset();
  moved.reset();
  EXPECT_FALSE(moved.active());
  script_->push(removeDefault4);
  processAll();
  EXPECT_EQ(b_calls, 3);
}

// --- lifetime against the monitor -----------------------------------------------------------------

TEST_F(SubscriptionTest, SubscriptionOutlivesItsMonitor) {
  create(MonitorOptions::Threading::External);
  Collector collector;
  Subscription sub = monitor_->subscribe(Executor::inlineOnMonitorThread(), collector.callback());
  script_->push(addDefault4);
  processAll();
  const size_t before = collector.size();
  ASSERT_EQ(before, 3u);

  monitor_.reset();
  script_->push(removeDefault4);  // nobody processes it any more
  EXPECT_EQ(collector.size(), before);
  sub.reset();  // no crash, nothing delivered
  EXPECT_EQ(collector.size(), before);
}

TEST_F(SubscriptionTest, PooledSubscriptionOutlivesAThreadedMonitor) {
  Collector collector;
  ThreadPool pool(2);
  create(MonitorOptions::Threading::OwnThread);
  std::optional<Subscription> sub;
  sub.emplace(monitor_->subscribe(pool.executor(), collector.callback()));
  script_->push(addDefault4);
  ASSERT_TRUE(collector.waitForCount(3));
  monitor_.reset();  // stops the monitor thread
  script_->push(removeDefault4);
  ASSERT_TRUE(pool.waitIdle());
  EXPECT_EQ(collector.size(), 3u);
  sub.reset();
  ASSERT_TRUE(pool.waitIdle());
  EXPECT_EQ(collector.size(), 3u);
}

TEST_F(SubscriptionTest, EventsQueuedBeforeTheMonitorDiesAreStillDeliveredInOrder) {
  ManualExecutor loop;
  create(MonitorOptions::Threading::External);
  Collector collector;
  Subscription sub = monitor_->subscribe(loop.executor(), collector.callback());
  script_->push(addDefault4);
  processAll();
  ASSERT_GT(loop.queued(), 0u);
  EXPECT_EQ(collector.size(), 0u);
  monitor_.reset();
  loop.runAll();  // the event loop catches up after the monitor is gone: no crash
  const auto events = collector.events();
  ASSERT_EQ(events.size(), 3u);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].sequence, events[i - 1].sequence);
  sub.reset();
}

// --- event masks ---------------------------------------------------------------------------------

TEST_F(SubscriptionTest, EventMaskFiltersKindsAndKeepsSequenceNumbers) {
  create(MonitorOptions::Threading::External);
  Collector all, reachability, objects, none;
  Subscription s_all = monitor_->subscribe(Executor::inlineOnMonitorThread(), all.callback());
  Subscription s_reach = monitor_->subscribe(Executor::inlineOnMonitorThread(), reachability.callback(),
                                             EventKind::Reachability);
  Subscription s_objects = monitor_->subscribe(Executor::inlineOnMonitorThread(), objects.callback(),
                                               EventMask(EventKind::Link) | EventKind::Route);
  Subscription s_none = monitor_->subscribe(Executor::inlineOnMonitorThread(), none.callback(), EventMask::none());

  script_->push(addDefault4);
  script_->push(setMtu(1400));
  script_->push([](Mirror& m) { m.applyAddress(false, makeAddress(2, "2001:db8::2/64")); });
  script_->push(removeDefault4);
  processAll();

  auto expected = [&](EventMask mask) {
    std::vector<std::pair<uint64_t, EventKind>> out;
    for (const auto& e : all.events()) {
      if (mask.contains(e.kind())) out.emplace_back(e.sequence, e.kind());
    }
    return out;
  };
  auto got = [](const Collector& c) {
    std::vector<std::pair<uint64_t, EventKind>> out;
    for (const auto& e : c.events()) out.emplace_back(e.sequence, e.kind());
    return out;
  };
  EXPECT_GE(all.size(), 8u);
  EXPECT_EQ(got(reachability), expected(EventKind::Reachability));
  EXPECT_FALSE(reachability.events().empty());
  EXPECT_EQ(got(objects), expected(EventMask(EventKind::Link) | EventKind::Route));
  EXPECT_FALSE(objects.events().empty());
  EXPECT_EQ(none.size(), 0u);
}

// --- overflow -------------------------------------------------------------------------------------

class SubscriptionOverflowTest : public SubscriptionTest {
 protected:
  // Site (IPv4 address, no default) → IPv4 online → IPv6 online → IPv4 loses its address (IPv4
  // disconnected, overall still online), then link churn. One batch per step.
  void runScenario() {
    script_->push(addDefault4);
    script_->push([](Mirror& m) {
      m.applyAddress(false, makeAddress(2, "2001:db8::2/64"));
      m.applyRoute(false, makeRoute("default", "2001:db8::1", 2));
    });
    script_->push([](Mirror& m) { m.applyAddress(true, makeAddress(2, "192.0.2.2/24")); });
    script_->push(setMtu(1400));
    processAll();
  }

  void subscribeBoth() {
    stalled_ = monitor_->subscribe(loop_.executor(), stalled_events_.callback());
    truth_ = monitor_->subscribe(Executor::inlineOnMonitorThread(), truth_events_.callback());
  }

  ManualExecutor loop_;
  Collector stalled_events_, truth_events_;
  Subscription stalled_, truth_;
};

TEST_F(SubscriptionOverflowTest, StalledSubscriberGetsCoalescedReachabilityAndOneResync) {
  create(MonitorOptions::Threading::External, /*queue_limit=*/8);
  subscribeBoth();
  runScenario();
  const auto truth = truth_events_.events();
  ASSERT_GT(truth.size(), 8u) << "the scenario must overflow a queue of 8";
  EXPECT_EQ(stalled_events_.size(), 0u) << "the loop has not run yet";

  loop_.runAll();
  const auto got = stalled_events_.events();
  ASSERT_FALSE(got.empty());
  auto resync_it = std::find_if(got.begin(), got.end(), [](const Event& e) { return e.kind() == EventKind::Resync; });
  ASSERT_NE(resync_it, got.end()) << "no ResyncEvent{SubscriberOverflow}";
  EXPECT_EQ(std::get<ResyncEvent>(resync_it->payload).reason, ResyncReason::SubscriberOverflow);
  EXPECT_EQ(std::count_if(got.begin(), got.end(), [](const Event& e) { return e.kind() == EventKind::Resync; }), 1);

  // Before the resync: reachability only, one per family, spanning the dropped interval.
  std::map<Family, std::pair<Reachability, Reachability>> coalesced;
  for (auto it = got.begin(); it != resync_it; ++it) {
    auto* r = std::get_if<ReachabilityEvent>(&it->payload);
    ASSERT_NE(r, nullptr) << "object events before the overflow notice must be dropped";
    EXPECT_TRUE(coalesced.emplace(r->family, std::make_pair(r->previous, r->current)).second) << "two per family";
    EXPECT_NE(r->previous, r->current);
  }
  std::map<Family, std::pair<Reachability, Reachability>> expected;
  for (const auto& e : truth) {
    if (e.sequence > resync_it->sequence) break;
    auto* r = std::get_if<ReachabilityEvent>(&e.payload);
    if (!r) continue;
    auto [it, inserted] = expected.emplace(r->family, std::make_pair(r->previous, r->current));
    if (!inserted) it->second.second = r->current;
  }
  std::erase_if(expected, [](const auto& kv) { return kv.second.first == kv.second.second; });
  EXPECT_EQ(coalesced, expected);
  EXPECT_EQ(coalesced.size(), 3u);  // ipv4 site->disconnected, ipv6 and overall ->online

  // After the notice: only events newer than it, delivered normally.
  for (auto it = resync_it + 1; it != got.end(); ++it) EXPECT_GT(it->sequence, resync_it->sequence);
  EXPECT_LE(got.end() - resync_it - 1, 8);

  EXPECT_GE(monitor_->counters().subscriberOverflows, 1u);
  EXPECT_GE(monitor_->snapshot()->counters.subscriberOverflows, 1u);
  for (const auto& e : truth) EXPECT_NE(e.kind(), EventKind::Resync) << "the inline subscriber never overflowed";
}

// subscription.h: "events arrive in the order the monitor produced them". Coalescing must not put
// a newer event before an older one.
TEST_F(SubscriptionOverflowTest, CoalescedEventsKeepSequenceOrder) {
  create(MonitorOptions::Threading::External, /*queue_limit=*/8);
  subscribeBoth();
  runScenario();
  loop_.runAll();
  const auto got = stalled_events_.events();
  ASSERT_FALSE(got.empty());
  std::string order;
  for (const auto& e : got) order += std::to_string(e.sequence) + ":" + std::string(toString(e.kind())) + " ";
  for (size_t i = 1; i < got.size(); ++i) {
    EXPECT_GE(got[i].sequence, got[i - 1].sequence) << "delivered order: " << order;
  }
}

TEST_F(SubscriptionOverflowTest, OverflowNoticeRespectsTheMask) {
  create(MonitorOptions::Threading::External, /*queue_limit=*/8);
  Collector link_only;
  ManualExecutor loop;
  Subscription sub = monitor_->subscribe(loop.executor(), link_only.callback(), EventMask(EventKind::Link));
  for (int i = 0; i < 20; ++i) script_->push(setMtu(1000 + uint32_t(i)));
  processAll();
  loop.runAll();
  for (const auto& e : link_only.events()) EXPECT_EQ(e.kind(), EventKind::Link);  // no Resync: not asked for
  EXPECT_LT(link_only.size(), 20u);  // dropped on overflow
  EXPECT_GE(monitor_->counters().subscriberOverflows, 1u);
}

}  // namespace
}  // namespace netmon
