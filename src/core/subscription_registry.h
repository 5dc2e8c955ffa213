#pragma once
// Delivery of events to subscriptions: one queue per subscription, drained on its executor, one
// event at a time and in order (see include/netmon/subscription.h for the public contract).
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "core/thread_annotations.h"
#include "netmon/event.h"
#include "netmon/executor.h"

namespace netmon::detail {

class SubscriptionRegistry;

class SubscriptionState : public std::enable_shared_from_this<SubscriptionState> {
 public:
  using Callback = std::function<void(const Event&)>;
  SubscriptionState(Executor executor, Callback callback, EventMask mask, size_t queue_limit,
                    std::weak_ptr<SubscriptionRegistry> registry);

  EventMask mask() const { return mask_; }
  // Queues the events this subscription's mask selects and makes sure a drain is scheduled. Any
  // thread.
  void push(std::span<const Event> events) NETMON_EXCLUDES(mutex_);
  // Stops delivery; waits for a callback running on another thread. Idempotent.
  void cancel() NETMON_EXCLUDES(mutex_);
  bool cancelled() const NETMON_EXCLUDES(mutex_);

 private:
  void drain() NETMON_EXCLUDES(mutex_);
  // Runs the callback; an exception it throws is caught and counted.
  void invokeCallback(const Event& event) NETMON_EXCLUDES(mutex_);
  void coalesceOnOverflow() NETMON_REQUIRES(mutex_);
  // Hands a drain task to the executor; called with the lock held, returns with it held (it is
  // released around the post: clang's analysis cannot follow that through the reference).
  void postDrain(MutexLock& lock) NETMON_NO_THREAD_SAFETY_ANALYSIS;

  const Executor executor_;
  Callback callback_;
  const EventMask mask_;
  const size_t queue_limit_;
  const std::weak_ptr<SubscriptionRegistry> registry_;

  mutable Mutex mutex_;
  std::condition_variable idle_;
  std::deque<Event> queue_ NETMON_GUARDED_BY(mutex_);
  // The queue length at which it is coalesced next (queue_limit_, or more right after a coalesce).
  size_t coalesce_at_ NETMON_GUARDED_BY(mutex_);
  bool drain_scheduled_ NETMON_GUARDED_BY(mutex_) = false;
  bool cancelled_ NETMON_GUARDED_BY(mutex_) = false;
  bool running_ NETMON_GUARDED_BY(mutex_) = false;
  // Calls into the executor's posting function in progress: cancel() waits for them too, so the
  // posting function is never called after ~Subscription returns (executor.h's promise).
  int posting_ NETMON_GUARDED_BY(mutex_) = 0;
  std::thread::id running_thread_ NETMON_GUARDED_BY(mutex_);
};

class SubscriptionRegistry : public std::enable_shared_from_this<SubscriptionRegistry> {
 public:
  explicit SubscriptionRegistry(size_t queue_limit) : queue_limit_(queue_limit) {}
  std::shared_ptr<SubscriptionState> add(Executor executor, SubscriptionState::Callback callback, EventMask mask)
      NETMON_EXCLUDES(mutex_);
  void remove(const SubscriptionState* state) NETMON_EXCLUDES(mutex_);
  // Union of all subscribers' masks: the monitor skips building events nobody wants.
  EventMask interest() const { return interest_.load(std::memory_order_acquire); }
  void publish(const std::vector<Event>& events) NETMON_EXCLUDES(mutex_);
  // Closes the registry: later publish() calls deliver nothing (the monitor is gone).
  void close() NETMON_EXCLUDES(mutex_);
  void countOverflow() { overflows_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t overflows() const { return overflows_.load(std::memory_order_relaxed); }
  void countCallbackException() { callback_exceptions_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t callbackExceptions() const { return callback_exceptions_.load(std::memory_order_relaxed); }

 private:
  void recomputeInterest() NETMON_REQUIRES(mutex_);
  const size_t queue_limit_;
  mutable Mutex mutex_;
  std::vector<std::shared_ptr<SubscriptionState>> subscriptions_ NETMON_GUARDED_BY(mutex_);
  bool closed_ NETMON_GUARDED_BY(mutex_) = false;
  std::atomic<EventMask> interest_{EventMask::none()};
  std::atomic<uint64_t> overflows_{0};
  std::atomic<uint64_t> callback_exceptions_{0};
};

}  // namespace netmon::detail
