#pragma once
// ConnectionMonitor: is this connection (local → remote, optionally through one interface) still
// reachable, and if not, why — now and on every change, without polling.
//
// Every answer is the kernel's own route lookup (on Linux RTM_GETROUTE with the destination, and
// the source and output interface when given), so policy rules, VRFs and every routing table are
// answered exactly as the kernel would forward a packet. netmon then checks that answer against
// its mirror: the output link's carrier (the kernel still returns routes through a link without
// carrier), whether the local address is still on this host, whether the interface still exists.
// What it does NOT mean: that the remote host answers; the kernel's answer covers the first hop.
//
// Re-evaluation is targeted: a route change re-asks the kernel only for connections whose remote
// the route's prefix covers; a link change only for connections leaving through, bound to, or
// sourced from that link; an address change only for connections using that address; a policy
// rule change, a link coming up or gaining carrier (it may take routes back without any route
// message), or an overrun resync for all connections of the family. Lookups after one change are
// sent to the kernel in batches (many requests per system call, replies read with recvmmsg). A
// batch whose lookups fail (the lookup socket broke) is asked again at the next change.
// Not seen, because the kernel sends no rtnetlink message netmon listens to: nexthop objects
// (`ip nexthop replace`, RTNLGRP_NEXTHOP), ICMP redirects, IPv6 router reachability.
//
// Creation: ConnectionMonitor::create() makes its own StatusMonitor (reachable through
// statusMonitor(), so a program needs only one kernel subscription) and a lookup socket in the same
// network namespace. add() answers at once: there is no "unknown" first state.
//
// Threading: as the StatusMonitor's (MonitorOptions::threading). In External mode, watch fd() and
// call process(). Lookups for changes run on the monitor's thread (or in process()).
//
// Thread safety: all methods may be called from any thread, including from inside a callback of
// this monitor, except process() (one thread at a time, External mode only, never from inside
// an inline callback: EBUSY). The monitor's lock is held while a batch's lookups run, so
// connections()/connection() may wait that long (12 ms for 10,000 connections, see bench/). Do not
// destroy the monitor from inside its own inline callback (its thread cannot join itself).
//
// Callbacks: subscribe() delivers a ConnectionEvent each time the answer for a connection changes
// (any field of ConnectionState), and only then, through the Executor and Subscription contract of
// subscription.h: per subscription serialised and in order; on overflow ConnectionEvents are
// coalesced to one per connection (oldest `previous`, newest `current`) and a ResyncEvent{
// SubscriberOverflow} follows. Events for a connection already queued when remove() is called may
// still be delivered; ids are never reused.
//
// Lifetime: destroying the monitor stops its thread; subscriptions may outlive it.
#include <memory>
#include <vector>

#include "netmon/connection.h"
#include "netmon/event.h"
#include "netmon/executor.h"
#include "netmon/export.h"
#include "netmon/result.h"
#include "netmon/status_monitor.h"
#include "netmon/subscription.h"

namespace netmon {

// A watched connection as the monitor knows it.
struct NETMON_EXPORT Connection {
  ConnectionId id = 0;
  ConnectionTarget target;
  ConnectionState state;
};

// Health counters of a connection monitor.
struct NETMON_EXPORT ConnectionCounters {
  uint64_t kernelLookups = 0;    // route lookups sent to the kernel
  uint64_t evaluations = 0;      // connections re-evaluated after a change
  uint64_t lookupFailures = 0;   // lookup batches that failed (socket error); states were kept
  uint64_t lookupOverruns = 0;   // ENOBUFS on the lookup socket: replies dropped, requests sent again
  uint64_t lookupSocketErrors = 0;  // other failed send/receive calls of the lookup socket (the
                                    // lookup failed: lookupFailures, or add() returned the error)
  uint64_t callbackExceptions = 0;  // exceptions thrown by this monitor's subscriber callbacks,
                                    // caught (subscription.h)
  friend bool operator==(const ConnectionCounters&, const ConnectionCounters&) = default;
};

class ConnectionMonitor;
namespace detail {
class Backend;
class RouteLookup;
// Test-only: a connection monitor over a fake status backend and a fake route lookup.
NETMON_EXPORT Result<ConnectionMonitor> createConnectionMonitorForTest(MonitorOptions options,
                                                                       std::unique_ptr<Backend> backend,
                                                                       std::unique_ptr<RouteLookup> lookup);
}  // namespace detail

class NETMON_EXPORT ConnectionMonitor {
 public:
  using Callback = std::function<void(const Event&)>;

  // Creates the status monitor (see StatusMonitor::create) and the lookup socket in the same
  // namespace. Errors: those of StatusMonitor::create; a replay (MonitorOptions::replayPath) is
  // refused, since a recording cannot answer route lookups.
  [[nodiscard]] static Result<ConnectionMonitor> create(MonitorOptions options = {});

  ConnectionMonitor(ConnectionMonitor&&) noexcept;
  ConnectionMonitor& operator=(ConnectionMonitor&&) noexcept;
  ConnectionMonitor(const ConnectionMonitor&) = delete;
  ConnectionMonitor& operator=(const ConnectionMonitor&) = delete;
  ~ConnectionMonitor();

  // Starts watching `target` and returns its id and current state (asked of the kernel now).
  // Errors, with the monitor unchanged: the interface does not exist (ENODEV); the local address
  // is not on this host, or not on the given interface (EADDRNOTAVAIL); a link-local remote or
  // local address without a scope (EINVAL); families that differ (EINVAL); the lookup channel broke.
  [[nodiscard]] Result<Connection> add(const ConnectionTarget& target);
  // Stops watching. Error ENOENT for an unknown id.
  [[nodiscard]] Result<void> remove(ConnectionId id);
  // The current answer for `id` (ENOENT if unknown), and all watched connections sorted by id.
  [[nodiscard]] Result<Connection> connection(ConnectionId id) const;
  std::vector<Connection> connections() const;
  ConnectionCounters counters() const;

  // ConnectionEvents (and ResyncEvent{SubscriberOverflow}) for every watched connection. Events that
  // happened before subscribe() returned are not replayed: read connections() after subscribing.
  [[nodiscard]] Subscription subscribe(Executor executor, Callback callback);

  // The status monitor underneath: snapshots, reachability and its own subscriptions.
  StatusMonitor& statusMonitor();

  // External threading only, as StatusMonitor::fd()/process(); process() also re-evaluates the
  // connections the handled changes affect and publishes their events.
  int fd() const;
  [[nodiscard]] Result<size_t> process();

  class Impl;

 private:
  friend Result<ConnectionMonitor> detail::createConnectionMonitorForTest(MonitorOptions,
                                                                         std::unique_ptr<detail::Backend>,
                                                                         std::unique_ptr<detail::RouteLookup>);
  explicit ConnectionMonitor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace netmon
