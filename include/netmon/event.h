#pragma once
// Typed change events delivered to subscribers.
//
// Thread safety: plain values.
#include <chrono>
#include <cstdint>
#include <variant>

#include "netmon/connection.h"
#include "netmon/model.h"
#include "netmon/probe.h"
#include "netmon/snapshot.h"

namespace netmon {

enum class Change : uint8_t { Added, Changed, Removed };
NETMON_EXPORT std::string_view toString(Change);  // "added", "changed", "removed"

// A link appeared, changed (any field, including derived operational state), or disappeared.
// For Removed, `link` is the last state netmon knew.
struct LinkEvent { Change change; Link link; };
struct AddressEvent { Change change; Address address; };
struct RouteEvent { Change change; Route route; };
struct RuleEvent { Change change; Rule rule; };

// Reachability of one family (Ipv4, Ipv6) or overall (Family::Unspecified, spelt "any") changed.
// Emitted only when `current != previous`; `verdict` explains `current`.
struct ReachabilityEvent {
  Family family;
  Reachability current;
  Reachability previous;
  Verdict verdict;
};

// netmon re-read the kernel's state and applied the differences, which were delivered as
// ordinary events just before this one.
enum class ResyncReason : uint8_t {
  Overrun,             // the kernel dropped notifications (ENOBUFS)
  SubscriberOverflow,  // this subscriber fell behind; its queued link/address/route/rule events
                       // were dropped (reachability events were kept): re-read snapshot()
  Degraded,            // a dump could not complete after bounded retries; state may be stale
  SocketError,         // reading the notification socket failed with an error other than ENOBUFS
                       // (`error`, e.g. ENOMEM): the socket was closed, a new one opened
                       // (Counters::socketReopens) and the state re-read. Notifications sent
                       // between the two sockets are not lost: the re-read covers them.
};
// "overrun", "subscriber-overflow", "degraded", "socket-error"
NETMON_EXPORT std::string_view toString(ResyncReason);

struct ResyncEvent {
  ResyncReason reason;
  uint64_t resyncs;      // the monitor's resync counter after this one (SubscriberOverflow: the
                         // monitor's subscriber-overflow counter instead)
  uint64_t differences;  // link/address/route/rule changes the resync found
  int error;             // SocketError: the errno the receive failed with; 0 for other reasons
};

// Connection monitor only (connection_monitor.h): the answer for a watched connection changed.
// Emitted only when `current != previous`.
struct ConnectionEvent {
  ConnectionId id;
  ConnectionTarget target;
  ConnectionState current;
  ConnectionState previous;
};

// The active probe (probe.h) finished with a different outcome, redirect target or interface than
// the previous run (the first run always counts). A run that only measured another latency is not
// an event; Snapshot::probe always holds the latest. The reachability it causes comes as
// ReachabilityEvents in the same batch.
struct ProbeEvent {
  ProbeResult result;
  std::optional<ProbeOutcome> previous;  // none for the first run
};

using EventPayload = std::variant<LinkEvent, AddressEvent, RouteEvent, RuleEvent, ReachabilityEvent, ResyncEvent,
                                  ConnectionEvent, ProbeEvent>;

enum class EventKind : uint8_t {
  Link = 1, Address = 2, Route = 4, Rule = 8, Reachability = 16, Resync = 32, Connection = 64, Probe = 128,
};
NETMON_EXPORT std::string_view toString(EventKind);  // "link", "address", ... (JSON `type`)
NETMON_EXPORT std::optional<EventKind> eventKindFromString(std::string_view);

// A set of EventKinds; subscribe() filters with it.
class EventMask {
 public:
  constexpr EventMask() = default;
  constexpr EventMask(EventKind kind) : bits_(static_cast<uint8_t>(kind)) {}  // NOLINT: implicit by design
  static constexpr EventMask all() { EventMask m; m.bits_ = 0xFF; return m; }
  static constexpr EventMask none() { return EventMask(); }
  constexpr EventMask operator|(EventMask o) const { EventMask m; m.bits_ = bits_ | o.bits_; return m; }
  constexpr EventMask& operator|=(EventMask o) { bits_ |= o.bits_; return *this; }
  constexpr bool contains(EventKind kind) const { return bits_ & static_cast<uint8_t>(kind); }
  constexpr bool empty() const { return bits_ == 0; }
  friend constexpr bool operator==(EventMask, EventMask) = default;

 private:
  uint8_t bits_ = 0;
};

struct Event {
  uint64_t sequence = 0;  // strictly increasing per monitor; compare with Snapshot::sequence
  std::chrono::system_clock::time_point time;  // when netmon applied the change
  EventPayload payload;

  EventKind kind() const { return static_cast<EventKind>(1u << payload.index()); }
};

}  // namespace netmon
