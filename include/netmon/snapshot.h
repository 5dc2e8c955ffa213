#pragma once
// An immutable picture of the mirrored kernel state and of everything derived from it.
//
// Thread safety: a Snapshot never changes after it is made; share it freely between threads
// (StatusMonitor hands it out as std::shared_ptr<const Snapshot>).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netmon/export.h"
#include "netmon/model.h"
#include "netmon/probe.h"

namespace netmon {

namespace detail {
class RouteStore;
}

// Why a family has the reachability it has. Each value names what the verdict rests on.
enum class Reason : uint8_t {
  NotYetKnown,             // Unknown: no dump yet, or a backend that cannot tell
  NoLinkUp,                // Disconnected: no usable (non-loopback, not ignored) link is up
  NoCarrier,               // Disconnected: links are up but none has carrier (or all dormant)
  NoAddress,               // Disconnected: links with carrier hold no address of the family
  AddressesTentative,      // Disconnected: the only addresses are tentative (DAD) or dadfailed
  LinkLocalOnly,           // Local: only link-local addresses
  NoInternetRoute,         // Site: no route covers (part of) the public Internet
  InternetRouteRejected,   // Site: a blackhole/unreachable/prohibit route or rule catches it
  InternetRouteLinkDown,   // Site: the Internet route's output link is down or has no carrier
  InternetRouteIgnoredLink,// Site: the Internet route leaves through an ignored link
  NoSourceAddress,         // Site: no routable source address for the Internet route
  InternetRoute,           // Online: the route, gateway and link below carry the Internet
  // Refined by the active probe (probe.h), only from a routed Online; route, gateway and link stay
  // those of the route the probe checked:
  CaptivePortal,           // Site: the probe got an answer other than the expected one
  ProbeNoAnswer,           // Site: the probe got no answer (timeout, refused, DNS, TLS)
};
NETMON_EXPORT std::string_view toString(Reason);  // "no-carrier", "internet-route", ...

// A reachability value with the evidence for it.
struct NETMON_EXPORT Verdict {
  Reachability reachability = Reachability::Unknown;
  Reason reason = Reason::NotYetKnown;
  // The route the verdict rests on: for Online the route carrying the Internet; for
  // InternetRouteRejected/LinkDown/IgnoredLink/NoSourceAddress the route that fails.
  std::optional<Route> route;
  int linkIndex = 0;        // the link that carries the route (or the link lacking carrier)
  std::string linkName;
  IpAddress gateway;        // next hop toward the Internet, when there is one
  IpAddress source;         // the source address the kernel would use (Online only)
  std::optional<IpPrefix> uncovered;  // NoInternetRoute: a public prefix no route covers
  uint32_t ruleTable = 0;   // the table the route was found in (policy routing)
  // CaptivePortal/ProbeNoAnswer: the probe's URL, and where a portal redirected it (may be empty).
  std::string probeUrl;
  std::string probeRedirect;

  // One sentence for a person, always starting with the reachability word and a colon:
  // "online: default route via 192.0.2.1 dev eth0 (table main), source 192.0.2.10",
  // "site: no route covers 1.0.0.0/8". The wording after the colon is not an API: switch on
  // `reason`, not on this text.
  std::string explanation() const;
  friend bool operator==(const Verdict&, const Verdict&) = default;
};

// Health counters of a monitor. Monotonic except `degraded`. Exported by `netmon serve`.
struct NETMON_EXPORT Counters {
  uint64_t messages = 0;             // netlink messages handled (events and dumps)
  uint64_t foreignSenderDropped = 0; // datagrams not sent by the kernel (nl_pid != 0), dropped
  uint64_t malformed = 0;            // truncated/overlong messages or attributes, skipped
  uint64_t unknownSkipped = 0;       // unknown message types, skipped
  uint64_t overruns = 0;             // ENOBUFS: the kernel dropped notifications for us
  uint64_t resyncs = 0;              // completed re-dumps that diffed the mirror to kernel truth
  uint64_t dumpsInterrupted = 0;     // NLM_F_DUMP_INTR seen (the dump was redone)
  uint64_t linkRouteFlushes = 0;     // link-down route flushes reconciled without RTM_DELROUTE
  uint64_t subscriberOverflows = 0;  // subscriber queues that overflowed and were coalesced
  uint64_t readErrors = 0;           // netlink receive errors other than ENOBUFS, on any of the
                                     // monitor's sockets (notifications and dumps), survived
  uint64_t sendErrors = 0;           // netlink requests (dumps) that could not be sent, retried
  uint64_t socketReopens = 0;        // notification sockets replaced after a receive error
                                     // (ResyncEvent{SocketError})
  uint64_t callbackExceptions = 0;   // exceptions thrown by subscriber callbacks, caught (see
                                     // subscription.h)
  uint64_t routesRefused = 0;        // routes beyond the mirror's capacity (16.7M per family), not kept
  uint64_t probesOnline = 0;         // active probe runs (MonitorOptions::probe) by outcome
  uint64_t probesCaptivePortal = 0;
  uint64_t probesNoAnswer = 0;
  bool degraded = false;             // a dump could not complete after bounded retries
  friend bool operator==(const Counters&, const Counters&) = default;
};

// Reachability of one family with its evidence.
struct NETMON_EXPORT FamilyState {
  Reachability reachability = Reachability::Unknown;
  Verdict verdict;
  friend bool operator==(const FamilyState&, const FamilyState&) = default;
};

class NETMON_EXPORT Snapshot {
 public:
  uint64_t sequence = 0;  // the sequence number of the last event folded into this snapshot
  // Overall: the better of the two families (a host whose IPv6 is Online is Online).
  Reachability reachability = Reachability::Unknown;
  Verdict verdict;        // the verdict of the family that decided `reachability`
  FamilyState ipv4;
  FamilyState ipv6;
  TransportMedium transportMedium = TransportMedium::None;  // of the link carrying the Internet
  // The last completed probe (MonitorOptions::probe), whichever route it checked; none before the
  // first one, or without a probe. It refines `reachability` only while it is about the route
  // that carries the Internet now (same interface): then a captive-portal or no-answer outcome
  // turns a routed Online into Site (Reason::CaptivePortal / ProbeNoAnswer). Advice, not proof:
  // see probe.h.
  std::optional<ProbeResult> probe;
  // True while that refinement says captive portal (the overall verdict's reason is CaptivePortal).
  bool captivePortal = false;
  std::vector<Link> links;          // sorted by index
  std::vector<Address> addresses;   // sorted by link index, family, address
  std::vector<Rule> rules;          // sorted by family, priority
  Counters counters;

  const Link* findLink(int index) const;
  const Link* findLink(std::string_view name) const;
  std::vector<Address> addressesOf(int link_index) const;

  // Routes of all tables and both families, kept compact (a full BGP table is ~40 bytes a route)
  // and shared with the monitor's mirror: taking a snapshot copies no route. While a snapshot is
  // held, the monitor's next route change copies the table once (copy-on-write), so release
  // snapshots you no longer need. routes() materialises them; prefer routeCount()/forEachRoute().
  size_t routeCount() const;
  void forEachRoute(const std::function<void(const Route&)>& visit) const;
  std::vector<Route> routes() const;

  // Internal: the monitor attaches a copy of its route store.
  void setRouteStoreForInternalUse(std::shared_ptr<const detail::RouteStore> routes);

 private:
  std::shared_ptr<const detail::RouteStore> routes_;
};

}  // namespace netmon
