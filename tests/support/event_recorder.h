#pragma once
// EventRecorder: subscribes to a StatusMonitor (Executor::inlineOnMonitorThread()) and keeps every
// event it delivers, so that integration tests can wait for the event a kernel change must cause —
// systemd's wait_operstate style: a condition variable and a deadline, never a fixed sleep.
//
// Thread safety: the callback runs on the monitor thread; every method may be called from any
// thread. Lifetime: the subscription is dropped in the destructor (or by stop()), before the
// recorder's state goes away; the monitor must outlive neither (a subscription may outlive it).
//
// Errors: a wait that times out records a non-fatal gtest failure that says what was awaited and
// dumps the events seen, then returns nullopt/false; tests ASSERT on the return value.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "netmon/event.h"
#include "netmon/snapshot.h"
#include "netmon/status_monitor.h"
#include "netmon/subscription.h"

namespace netmon::test {

inline constexpr std::chrono::milliseconds kEventTimeout{10000};

// One line per event, for failure messages.
std::string describe(const Event& event);
std::string describe(const Route& route);
std::string describe(const Link& link);
std::string describe(const Address& address);
std::string describe(const Verdict& verdict);
std::string describe(const Counters& counters);

class EventRecorder {
 public:
  using Predicate = std::function<bool(const Event&)>;
  using Deadline = std::chrono::steady_clock::time_point;

  explicit EventRecorder(StatusMonitor& monitor, EventMask mask = EventMask::all());
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Unsubscribes now (with Subscription's guarantees: no callback runs after this returns).
  void stop();

  // The snapshot read right after subscribing: events with a greater sequence come after it.
  const std::shared_ptr<const Snapshot>& initialSnapshot() const { return initial_; }

  // Number of events so far; pass it as `from` to wait only for events that come later.
  size_t size() const;
  size_t mark() const { return size(); }
  std::vector<Event> events(size_t from = 0) const;

  // The first event at index >= `from` satisfying `predicate`, waiting until `deadline`. On timeout:
  // a test failure naming `what`, with the events seen from `from` on, and nullopt.
  std::optional<Event> waitFor(const std::string& what, const Predicate& predicate, Deadline deadline,
                               size_t from = 0);
  std::optional<Event> waitFor(const std::string& what, const Predicate& predicate,
                               std::chrono::milliseconds timeout = kEventTimeout, size_t from = 0) {
    return waitFor(what, predicate, std::chrono::steady_clock::now() + timeout, from);
  }

  // Waits until `condition` holds. It is re-evaluated whenever an event arrives and at least every
  // 50 ms (bounded polling, for state that has no event of its own, such as counters). On timeout:
  // a test failure naming `what` plus `explain()` (when given) and the recent events.
  bool waitUntil(const std::string& what, const std::function<bool()>& condition,
                 std::chrono::milliseconds timeout = kEventTimeout,
                 const std::function<std::string()>& explain = {});

  // Waits until no event has arrived for `quiet`, at most `bound`. True when quiet was reached.
  bool waitForQuiet(std::chrono::milliseconds quiet, std::chrono::milliseconds bound);

  // The recorded events from `from` on (the last `max` of them), one per line.
  std::string dump(size_t from = 0, size_t max = 200) const;

  // Checks the reachability stream against the initial snapshot: for each family, every event's
  // `previous` is the `current` of the one before (or the initial value), and current != previous.
  // Returns "" when consistent, else a description of the first problem.
  std::string reachabilityChainProblems() const;

  bool sawSubscriberOverflow() const;

 private:
  void record(const Event& event);

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Event> events_;
  std::chrono::steady_clock::time_point last_event_time_;
  std::shared_ptr<const Snapshot> initial_;
  Subscription subscription_;
};

// --- predicates ---------------------------------------------------------------------------------

template <class T>
const T* payloadAs(const Event& event) {
  return std::get_if<T>(&event.payload);
}

// A ReachabilityEvent of `family` (Family::Unspecified = overall) whose current value is `current`.
EventRecorder::Predicate reachabilityBecomes(Family family, Reachability current);
// A LinkEvent for link `name` satisfying `condition`.
EventRecorder::Predicate linkEventWhere(const std::string& name, std::function<bool(const LinkEvent&)> condition);
// A RouteEvent with `change` whose route satisfies `condition`.
EventRecorder::Predicate routeEventWhere(Change change, std::function<bool(const Route&)> condition);
// An AddressEvent with `change` for `address` (text, e.g. "192.0.2.2").
EventRecorder::Predicate addressEvent(Change change, const std::string& address);
// A RuleEvent with `change` and this priority/family.
EventRecorder::Predicate ruleEvent(Change change, Family family, uint32_t priority);

// --- monitors on test namespaces -----------------------------------------------------------------

class TestNamespace;

// MonitorOptions{.networkNamespace = ns.name(), .ignore = LinkFilter::none()}: the monitor opens its
// sockets inside `ns` and ignores no link (test links are veths, which the default filter ignores).
MonitorOptions optionsFor(const TestNamespace& ns);

enum MirrorAspect : unsigned { kRoutes = 1, kAddresses = 2, kLinks = 4, kRules = 8, kEverything = 15 };

// Waits until the monitor's snapshot equals the kernel's state as `ip -j` prints it (see netns.h for
// the fields compared), re-checking on every event and at least every 50 ms. On timeout: a test
// failure with the differences and the events seen during the wait.
bool waitForMirrorToMatchKernel(const TestNamespace& ns, const StatusMonitor& monitor, EventRecorder& recorder,
                                unsigned aspects = kEverything, std::chrono::milliseconds timeout = kEventTimeout);
// The differences now ("" when none).
std::string mirrorKernelDifferences(const TestNamespace& ns, const Snapshot& snapshot, unsigned aspects = kEverything);

// Convenience: "192.0.2.0/24" → IpPrefix; fails the test on bad text.
IpPrefix prefix(const std::string& text);
IpAddress address(const std::string& text);

}  // namespace netmon::test
