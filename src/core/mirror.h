#pragma once
// The mirror: netmon's copy of the kernel's links, addresses, routes and rules, and everything
// derived from them. Backends feed it neutral records; it decides what really changed and queues
// event payloads for the monitor to publish.
//
// Incremental by construction: an object message touches one entry; a route message re-derives
// reachability only if the route is a reachability candidate (short prefix, see derive.h); a link
// or address message re-derives the links' operational state and reachability, which cost
// O(links + addresses + candidates), never O(routes).
//
// Thread safety: none; the monitor serialises access (its thread or its process() caller, with
// the snapshot lock held).
#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/derive.h"
#include "core/route_store.h"
#include "netmon/event.h"
#include "netmon/snapshot.h"
#include "netmon/status_monitor.h"

namespace netmon::detail {

// What the backend knows about a link's medium beyond netlink (sysfs); empty when unknown.
struct LinkMediumHints {
  std::string devtype;
  bool wireless = false;
};
using MediumHintsProvider = std::function<LinkMediumHints(const std::string& link_name)>;

// A route "uses" a link if it or any of its next hops leaves through it; it "leaves only
// through" the link if every way out does (the kernel drops such routes with the link).
bool routeUsesLink(const Route& route, int link_index);
bool routeLeavesOnlyThrough(const Route& route, int link_index);

class Mirror {
 public:
  explicit Mirror(LinkFilter filter, MediumHintsProvider hints = {});

  // Which event kinds anyone wants; payloads of other kinds are not built.
  void setInterest(EventMask interest) { interest_ = interest; }

  void applyLink(bool removed, Link&& link);
  void applyAddress(bool removed, Address&& address);
  // replace: the message carried NLM_F_REPLACE.
  void applyRoute(bool removed, const Route& route, bool replace = false);
  void applyRule(bool removed, Rule&& rule);

  // Resync: between begin and end, every applied object is marked seen; end removes (and reports)
  // every object that was not, so the mirror equals the dump. Returns the number of differences.
  // The first (initial) sync loads the empty route store in bulk (RouteTable::beginBulkLoad): no
  // index work per route, nobody can observe the store or its events before endResync().
  void beginResync();
  uint64_t endResync();
  // A resync that could not complete: keep everything (nothing is swept on partial data).
  void abandonResync() {
    resyncing_ = false;
    mutableRoutes().endBulkLoad();
  }
  // Queues an event that does not come from an object change (resync notices).
  void emitNotice(EventPayload payload) { const bool r = resyncing_; resyncing_ = false; emit(std::move(payload)); resyncing_ = r; }
  bool resyncing() const { return resyncing_; }

  // Links whose IPv4/IPv6 routes the kernel may have flushed silently (the link went down).
  std::vector<int> takeLinksNeedingRouteCheck();
  // Reconcile the routes through `link_index` of `family` with what the kernel reports now.
  void reconcileLinkRoutes(int link_index, Family family, const std::vector<Route>& kernel_routes);

  // The active probe finished: keeps the result, queues a ProbeEvent when the outcome, redirect or
  // interface differ from the last one, and re-derives reachability at finishBatch().
  void applyProbe(ProbeResult result);
  // The overall verdict from routing alone, before the probe's refinement: the route to probe.
  const Verdict& routedVerdict() const { return routed_overall_; }

  // Re-derives what changed since the last call and queues reachability/link events.
  void finishBatch();
  std::vector<EventPayload> takeEvents();

  // Counts every change applied, whether or not anyone wanted its event: snapshots cached by
  // the monitor are stale when it moved.
  uint64_t generation() const { return generation_; }
  uint64_t routesRefused() const { return routes_refused_; }
  // Probe runs so far, by outcome (Online, CaptivePortal, NoAnswer).
  const std::array<uint64_t, 3>& probeRuns() const { return probe_runs_; }
  bool hasLink(int index) const { return links_.count(index) != 0; }
  bool hasData() const { return has_data_; }
  void markHasData() { has_data_ = true; dirty_ = true; }

  // Builds an immutable snapshot (routes copied compactly).
  Snapshot makeSnapshot() const;
  Reachability reachability() const { return overall_.reachability; }
  size_t routeCount() const { return routes_->store.size(); }
  const RouteStore& routes() const { return routes_->store; }

 private:
  struct AddressKey {
    int link_index;
    IpAddress address;
    uint8_t prefix_length;
    IpAddress peer;
    auto operator<=>(const AddressKey&) const = default;
  };
  static AddressKey keyOf(const Address& a) { return {a.linkIndex, a.address, a.prefixLength, a.peer}; }

  void emit(EventPayload payload);
  void countChange();
  void refineReachability();
  bool wants(EventKind kind) const { return interest_.contains(kind); }
  void deriveLink(Link& link) const;
  void noteRouteForDerivation(const Route& route, bool removed);
  void noteIpv4AddressGone(const Address& address);
  void removeRoutesOfLink(int link_index);

  LinkFilter filter_;
  MediumHintsProvider hints_;
  EventMask interest_ = EventMask::all();  // the monitor narrows it before each batch

  std::map<int, Link> links_;
  std::map<int, LinkMediumHints> medium_hints_;  // cached at link add (sysfs is read once)
  std::map<AddressKey, Address> addresses_;
  RouteStore& mutableRoutes();
  // The route store and how many snapshot handles share it (copy-on-write, see mutableRoutes()).
  struct SharedRoutes {
    RouteStore store;
    std::atomic<int> snapshot_handles{0};
  };
  std::shared_ptr<SharedRoutes> routes_;
  std::vector<Route> candidates_;  // reachability candidates, a handful
  std::vector<Rule> rules_;

  bool resyncing_ = false;
  uint64_t resync_differences_ = 0;
  std::set<int> seen_links_;
  std::set<AddressKey> seen_addresses_;
  std::vector<Rule> seen_rules_;

  std::vector<int> links_needing_route_check_;
  uint64_t generation_ = 0;
  uint64_t routes_refused_ = 0;
  bool dirty_ = false;
  bool has_data_ = false;
  FamilyState ipv4_, ipv6_;  // refined by probe_
  Verdict overall_;          // refined by probe_
  Verdict routed_ipv4_, routed_ipv6_, routed_overall_;  // from routing alone
  std::optional<ProbeResult> probe_;
  std::array<uint64_t, 3> probe_runs_{};
  TransportMedium medium_ = TransportMedium::None;
  std::vector<EventPayload> events_;
};

}  // namespace netmon::detail
