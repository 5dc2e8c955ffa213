#include "core/mirror.h"

#include <algorithm>

namespace netmon::detail {

namespace {
constexpr uint32_t kFlagUp = 0x1;  // IFF_UP

int keyLink(const Route& route) {
  if (route.family != Family::Ipv6) return 0;  // see route_store.h: only IPv6 keys include the link
  return route.nextHops.empty() ? route.linkIndex : route.nextHops.front().linkIndex;
}

bool sameRouteKey(const Route& a, const Route& b) {
  return a.family == b.family && a.table == b.table && a.destination == b.destination && a.tos == b.tos &&
         a.metric == b.metric && a.sourceLength == b.sourceLength && keyLink(a) == keyLink(b);
}

// Lifetimes count down on every kernel refresh; a change of lifetimes alone is not an event.
bool sameAddressIgnoringLifetimes(Address a, Address b) {
  a.preferredLifetime = b.preferredLifetime = 0;
  a.validLifetime = b.validLifetime = 0;
  return a == b;
}
}  // namespace

// Link index 0 is "no link" (reject routes, multipath heads): no route uses or leaves through it.
bool routeUsesLink(const Route& route, int link_index) {
  if (link_index <= 0) return false;
  if (route.nextHops.empty()) return route.linkIndex == link_index;
  return std::any_of(route.nextHops.begin(), route.nextHops.end(),
                     [&](const NextHop& hop) { return hop.linkIndex == link_index; });
}

bool routeLeavesOnlyThrough(const Route& route, int link_index) {
  if (link_index <= 0) return false;
  if (route.nextHops.empty()) return route.linkIndex == link_index;
  return std::all_of(route.nextHops.begin(), route.nextHops.end(),
                     [&](const NextHop& hop) { return hop.linkIndex == link_index; });
}

Mirror::Mirror(LinkFilter filter, MediumHintsProvider hints)
    : filter_(std::move(filter)), hints_(std::move(hints)), routes_(std::make_shared<SharedRoutes>()) {}

// Copy-on-write: snapshots share the route store; the first change while one is still held
// copies it (a 1M-route table: ~40 MB, milliseconds), so the mirror never pays for snapshots
// nobody keeps. Not shared_ptr::use_count(): it is a relaxed load, so a snapshot's last read on
// another thread would not happen-before our write. The handle count is released by the
// snapshot's last owner and acquired here; new handles are only made under the monitor's lock.
RouteStore& Mirror::mutableRoutes() {
  if (routes_->snapshot_handles.load(std::memory_order_acquire) != 0) {
    auto copy = std::make_shared<SharedRoutes>();
    copy->store = routes_->store;
    routes_ = std::move(copy);
  }
  return routes_->store;
}

void Mirror::countChange() {
  ++generation_;
  if (resyncing_) ++resync_differences_;
}

void Mirror::emit(EventPayload payload) {
  countChange();
  const auto kind = static_cast<EventKind>(1u << payload.index());
  if (wants(kind)) events_.push_back(std::move(payload));
}

void Mirror::deriveLink(Link& link) const {
  link.ignored = filter_.matches(link.name, link.kind);
  LinkFacts facts;
  facts.adminUp = link.isUp();
  facts.carrier = link.hasCarrier();
  facts.kernelOperState = link.kernelOperState;
  facts.hasMaster = link.master != 0;
  for (const auto& [index, other] : links_) {
    if (other.master == link.index && !other.hasCarrier()) facts.portWithoutCarrier = true;
  }
  for (const auto& [key, address] : addresses_) {
    if (address.linkIndex != link.index || !address.isUsable() || address.scope == Scope::Host) continue;
    const bool link_local = address.address.isLinkLocal() || address.scope == Scope::Link;
    facts.addresses = std::max(facts.addresses, link_local ? AddressLevel::LinkLocal : AddressLevel::Routable);
  }
  link.operationalState = deriveOperationalState(facts);
  MediumFacts medium{link.kind, link.hardwareType, {}, false, link.isLoopback()};
  if (auto it = medium_hints_.find(link.index); it != medium_hints_.end()) {
    medium.devtype = it->second.devtype;
    medium.wireless = it->second.wireless;
  }
  link.medium = deriveTransportMedium(medium);
}

void Mirror::applyLink(bool removed, Link&& link) {
  if (resyncing_ && !removed) seen_links_.insert(link.index);
  auto existing = links_.find(link.index);
  if (removed) {
    if (existing == links_.end()) return;
    Link last = existing->second;
    links_.erase(existing);
    medium_hints_.erase(last.index);
    dirty_ = true;
    emit(LinkEvent{Change::Removed, last});
    // The kernel deletes a vanished link's addresses and routes; IPv4 sends no RTM_DELROUTE.
    for (auto it = addresses_.begin(); it != addresses_.end();) {
      if (it->second.linkIndex == last.index) {
        emit(AddressEvent{Change::Removed, it->second});
        it = addresses_.erase(it);
      } else {
        ++it;
      }
    }
    removeRoutesOfLink(last.index);
    return;
  }
  const bool renamed = existing == links_.end() || existing->second.name != link.name;
  if (renamed && hints_) medium_hints_[link.index] = hints_(link.name);
  deriveLink(link);
  if (existing == links_.end()) {
    links_.emplace(link.index, link);
    dirty_ = true;
    emit(LinkEvent{Change::Added, std::move(link)});
    return;
  }
  if ((existing->second.flags & kFlagUp) && !(link.flags & kFlagUp) &&
      std::find(links_needing_route_check_.begin(), links_needing_route_check_.end(), link.index) ==
          links_needing_route_check_.end()) {
    links_needing_route_check_.push_back(link.index);
  }
  if (existing->second == link) return;
  existing->second = link;
  dirty_ = true;
  emit(LinkEvent{Change::Changed, std::move(link)});
}

void Mirror::applyAddress(bool removed, Address&& address) {
  const AddressKey key = keyOf(address);
  if (resyncing_ && !removed) seen_addresses_.insert(key);
  auto existing = addresses_.find(key);
  if (removed) {
    if (existing == addresses_.end()) return;
    Address last = existing->second;
    addresses_.erase(existing);
    dirty_ = true;
    if (last.family() == Family::Ipv4) noteIpv4AddressGone(last);
    emit(AddressEvent{Change::Removed, std::move(last)});
    return;
  }
  if (existing == addresses_.end()) {
    addresses_.emplace(key, address);
    dirty_ = true;
    emit(AddressEvent{Change::Added, std::move(address)});
    return;
  }
  const bool same = sameAddressIgnoringLifetimes(existing->second, address);
  existing->second = address;
  if (same) return;
  dirty_ = true;
  emit(AddressEvent{Change::Changed, std::move(address)});
}

// Removing an IPv4 address makes the kernel drop, without RTM_DELROUTE, the routes that used it
// as preferred source (fib_sync_down_addr) and, when it was the link's last address, every IPv4
// route through the link (fib_disable_ip). Which ones went is asked of the kernel afterwards.
void Mirror::noteIpv4AddressGone(const Address& address) {
  std::set<int> links{address.linkIndex};
  const uint32_t source = address.address.v4HostOrder();
  routes_->store.v4().forEachPacked([&](const PackedRoute<4>& record) {
    if (!(record.internal & PackedRoute<4>::kHasSource)) return;
    const uint32_t preferred = uint32_t(record.preferred_source[0]) << 24 | uint32_t(record.preferred_source[1]) << 16 |
                               uint32_t(record.preferred_source[2]) << 8 | record.preferred_source[3];
    if (preferred == source) links.insert(record.link_index);
  });
  for (int link : links) {
    if (std::find(links_needing_route_check_.begin(), links_needing_route_check_.end(), link) ==
        links_needing_route_check_.end()) {
      links_needing_route_check_.push_back(link);
    }
  }
}

void Mirror::noteRouteForDerivation(const Route& route, bool removed) {
  if (!isReachabilityCandidate(route)) return;
  auto it = std::find_if(candidates_.begin(), candidates_.end(), [&](const Route& c) { return sameRouteKey(c, route); });
  if (removed) {
    if (it != candidates_.end()) candidates_.erase(it);
  } else if (it != candidates_.end()) {
    *it = route;
  } else {
    candidates_.push_back(route);
  }
  dirty_ = true;
}

void Mirror::applyRoute(bool removed, const Route& route, bool replace) {
  if (route.family != Family::Ipv4 && route.family != Family::Ipv6) return;
  if (replace && route.family == Family::Ipv6) {
    // `ip -6 route replace` may move a route to another link: the kernel replaces the route with
    // the same prefix and metric whatever its device, and says nothing about the old one.
    Route other = route;
    other.nextHops.clear();
    for (const auto& [index, link] : links_) {
      if (index == keyLink(route)) continue;
      other.linkIndex = index;
      if (auto last = mutableRoutes().remove(other)) {
        noteRouteForDerivation(*last, true);
        emit(RouteEvent{Change::Removed, std::move(*last)});
      }
    }
  }
  if (removed) {
    auto last = mutableRoutes().remove(route);
    if (!last) return;
    noteRouteForDerivation(*last, true);
    emit(RouteEvent{Change::Removed, std::move(*last)});
    return;
  }
  const UpsertResult result = mutableRoutes().upsert(route, resyncing_);
  if (result == UpsertResult::Unchanged) return;
  if (result == UpsertResult::Refused) {
    ++routes_refused_;
    return;
  }
  noteRouteForDerivation(route, false);
  // Building the event copies the route: skipped when nobody listens to routes (the initial
  // dump of a full BGP table has no subscriber at all).
  if (wants(EventKind::Route)) {
    emit(RouteEvent{result == UpsertResult::Added ? Change::Added : Change::Changed, route});
  } else {
    countChange();
  }
}

void Mirror::applyRule(bool removed, Rule&& rule) {
  if (resyncing_ && !removed) seen_rules_.push_back(rule);
  auto existing = std::find(rules_.begin(), rules_.end(), rule);
  if (removed) {
    if (existing == rules_.end()) return;
    rules_.erase(existing);
    dirty_ = true;
    emit(RuleEvent{Change::Removed, std::move(rule)});
    return;
  }
  if (existing != rules_.end()) return;
  rules_.push_back(rule);
  dirty_ = true;
  emit(RuleEvent{Change::Added, std::move(rule)});
}

void Mirror::removeRoutesOfLink(int link_index) {
  auto on_removed = [&](const Route& route) {
    noteRouteForDerivation(route, true);
    emit(RouteEvent{Change::Removed, route});
  };
  // IPv4 drops a multipath route when any of its devices is unregistered (fib_sync_down_dev marks
  // the whole fib_info dead on NETDEV_UNREGISTER); IPv6 drops only the hops through the device.
  auto any_hop_through_link = [&](const Route& route) { return routeUsesLink(route, link_index); };
  auto only_through_link = [&](const Route& route) { return routeLeavesOnlyThrough(route, link_index); };
  mutableRoutes().v4().removeIf(any_hop_through_link, on_removed);
  mutableRoutes().v6().removeIf(only_through_link, on_removed);
}

std::vector<int> Mirror::takeLinksNeedingRouteCheck() {
  std::vector<int> links;
  links.swap(links_needing_route_check_);
  return links;
}

void Mirror::reconcileLinkRoutes(int link_index, Family family, const std::vector<Route>& kernel_routes) {
  RouteStore present;
  for (const Route& route : kernel_routes) {
    applyRoute(false, route, false);
    present.upsert(route, false);
  }
  auto stale = [&](const Route& route) {
    return route.family == family && routeLeavesOnlyThrough(route, link_index) && !present.find(route);
  };
  auto on_removed = [&](const Route& route) {
    noteRouteForDerivation(route, true);
    emit(RouteEvent{Change::Removed, route});
  };
  if (family == Family::Ipv4) mutableRoutes().v4().removeIf(stale, on_removed);
  else mutableRoutes().v6().removeIf(stale, on_removed);
}

void Mirror::beginResync() {
  resyncing_ = true;
  resync_differences_ = 0;
  seen_links_.clear();
  seen_addresses_.clear();
  seen_rules_.clear();
  mutableRoutes().clearSeen();
  if (!has_data_) mutableRoutes().beginBulkLoad();
}

uint64_t Mirror::endResync() {
  mutableRoutes().endBulkLoad();
  std::vector<int> vanished;
  for (const auto& [index, link] : links_) {
    if (!seen_links_.count(index)) vanished.push_back(index);
  }
  for (int index : vanished) {
    Link gone = links_.at(index);
    applyLink(true, std::move(gone));
  }
  for (auto it = addresses_.begin(); it != addresses_.end();) {
    if (seen_addresses_.count(it->first)) {
      ++it;
      continue;
    }
    dirty_ = true;
    emit(AddressEvent{Change::Removed, it->second});
    it = addresses_.erase(it);
  }
  mutableRoutes().sweepUnseen([&](const Route& route) {
    noteRouteForDerivation(route, true);
    emit(RouteEvent{Change::Removed, route});
  });
  for (auto it = rules_.begin(); it != rules_.end();) {
    if (std::find(seen_rules_.begin(), seen_rules_.end(), *it) != seen_rules_.end()) {
      ++it;
      continue;
    }
    dirty_ = true;
    emit(RuleEvent{Change::Removed, *it});
    it = rules_.erase(it);
  }
  resyncing_ = false;
  seen_links_.clear();
  seen_addresses_.clear();
  seen_rules_.clear();
  return resync_differences_;
}

void Mirror::finishBatch() {
  if (!dirty_ || !has_data_) return;
  dirty_ = false;
  // Derived link state depends on addresses and ports, which change without a link message.
  for (auto& [index, link] : links_) {
    Link derived = link;
    deriveLink(derived);
    if (derived == link) continue;
    link = derived;
    emit(LinkEvent{Change::Changed, derived});
  }
  std::vector<Link> links;
  links.reserve(links_.size());
  for (const auto& [index, link] : links_) links.push_back(link);
  std::vector<Address> addresses;
  addresses.reserve(addresses_.size());
  for (const auto& [key, address] : addresses_) addresses.push_back(address);

  routed_ipv4_ = deriveReachability(ReachabilityInput{Family::Ipv4, links, addresses, candidates_, rules_});
  routed_ipv6_ = deriveReachability(ReachabilityInput{Family::Ipv6, links, addresses, candidates_, rules_});
  routed_overall_ = betterVerdict(routed_ipv4_, routed_ipv6_);
  refineReachability();
}

void Mirror::applyProbe(ProbeResult result) {
  const bool news = !probe_ || probe_->outcome != result.outcome || probe_->redirect != result.redirect ||
                    probe_->interface != result.interface;
  std::optional<ProbeOutcome> previous;
  if (probe_) previous = probe_->outcome;
  if (size_t(result.outcome) < probe_runs_.size()) ++probe_runs_[size_t(result.outcome)];
  probe_ = std::move(result);
  if (news) {
    emit(ProbeEvent{*probe_, previous});
  } else {
    countChange();  // the snapshot's probe (latency, time) changed
  }
  dirty_ = true;
}

void Mirror::refineReachability() {
  const Reachability previous_overall = overall_.reachability;
  for (Family family : {Family::Ipv4, Family::Ipv6}) {
    FamilyState& state = family == Family::Ipv4 ? ipv4_ : ipv6_;
    Verdict verdict = refineWithProbe(family == Family::Ipv4 ? routed_ipv4_ : routed_ipv6_, probe_);
    const Reachability previous = state.reachability;
    state.reachability = verdict.reachability;
    state.verdict = std::move(verdict);
    if (previous != state.reachability) {
      emit(ReachabilityEvent{family, state.reachability, previous, state.verdict});
    }
  }
  overall_ = betterVerdict(ipv4_.verdict, ipv6_.verdict);
  // The medium of the Internet route, also behind a portal (the Wi-Fi is still the Wi-Fi).
  medium_ = TransportMedium::None;
  if (routed_overall_.reachability == Reachability::Online) {
    if (auto it = links_.find(routed_overall_.linkIndex); it != links_.end()) medium_ = it->second.medium;
  }
  if (previous_overall != overall_.reachability) {
    emit(ReachabilityEvent{Family::Unspecified, overall_.reachability, previous_overall, overall_});
  }
}

std::vector<EventPayload> Mirror::takeEvents() {
  std::vector<EventPayload> events;
  events.swap(events_);
  return events;
}

Snapshot Mirror::makeSnapshot() const {
  Snapshot snapshot;
  snapshot.reachability = overall_.reachability;
  snapshot.verdict = overall_;
  snapshot.ipv4 = ipv4_;
  snapshot.ipv6 = ipv6_;
  snapshot.transportMedium = medium_;
  snapshot.probe = probe_;
  snapshot.captivePortal = overall_.reason == Reason::CaptivePortal;
  snapshot.links.reserve(links_.size());
  for (const auto& [index, link] : links_) snapshot.links.push_back(link);
  snapshot.addresses.reserve(addresses_.size());
  for (const auto& [key, address] : addresses_) snapshot.addresses.push_back(address);
  snapshot.rules = rules_;
  std::stable_sort(snapshot.rules.begin(), snapshot.rules.end(), [](const Rule& a, const Rule& b) {
    return std::tie(a.family, a.priority) < std::tie(b.family, b.priority);
  });
  routes_->snapshot_handles.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<const RouteStore> handle(&routes_->store, [owner = routes_](const RouteStore*) {
    owner->snapshot_handles.fetch_sub(1, std::memory_order_release);
  });
  snapshot.setRouteStoreForInternalUse(std::move(handle));
  return snapshot;
}

}  // namespace netmon::detail
