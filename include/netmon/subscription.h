#pragma once
// Subscription: the RAII handle of a callback registered with a monitor.
//
// Lifetime — std::stop_callback's contract:
//   - When ~Subscription() (or reset()) returns, the callback is not running and never runs again.
//     If it was running on another thread, the destructor waits for it to finish.
//   - Destroying a subscription from inside its own callback does not deadlock: the callback's
//     current invocation finishes normally and no further one starts.
//   - A subscription may outlive its monitor; it then simply receives nothing more.
//   - Move-only. A default-constructed or moved-from Subscription is empty (active() == false).
//
// Callbacks:
//   - For one subscription, events arrive in the order the monitor produced them, one at a time —
//     never concurrently, whatever the executor (a multi-threaded pool included).
//   - Each subscription has a queue. If its executor falls more than MonitorOptions::
//     subscriberQueueLimit events behind, its queued link/address/route/rule events are dropped,
//     reachability events are coalesced (one per family, from the oldest `previous` to the newest
//     `current`), and a ResyncEvent{SubscriberOverflow} follows: re-read snapshot(). Other
//     subscribers are not affected.
//   - A callback that blocks holds up only its own subscription when its executor posts (events
//     queue for it meanwhile, up to the limit above); subscriptions on other executors get theirs
//     without delay. On Executor::inlineOnMonitorThread() it holds the monitor thread itself, so
//     every subscriber and the kernel socket wait (executor.h): inline callbacks must not block.
//
// Errors: a callback should not throw. If it does, the exception is caught (whatever its type)
// and counted in Counters::callbackExceptions (ConnectionCounters::callbackExceptions for a
// connection monitor); the event it was handling is not delivered again, the subscription stays
// active and gets the next event, and nothing propagates into the monitor's thread, process() or
// the executor's event loop. Why not drop the subscription: its owner holds the handle and decides
// its fate (a cancellation the owner did not ask for would look like a quiet network); why not
// propagate: on the monitor's thread it would be std::terminate, in process() it would leave a
// batch half delivered to the other subscribers. Watch the counter to find the bug.
//
// Thread safety: a Subscription object is not itself synchronised: use one from one thread at a
// time (as with std::unique_ptr). Different subscriptions are independent.
#include <memory>

#include "netmon/export.h"

namespace netmon {

namespace detail {
class SubscriptionState;
}

class [[nodiscard]] NETMON_EXPORT Subscription {
 public:
  Subscription() = default;
  explicit Subscription(std::shared_ptr<detail::SubscriptionState> state);
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription();

  // Cancels now, with the destructor's guarantees. Idempotent.
  void reset();
  bool active() const;

 private:
  std::shared_ptr<detail::SubscriptionState> state_;
};

}  // namespace netmon
