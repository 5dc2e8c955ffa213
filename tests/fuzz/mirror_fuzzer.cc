// Fuzz target: the mirror (src/core/mirror.h) fed sequences of parsed records, the way the rtnetlink
// backend feeds it: notifications, full dumps with mark-and-sweep (resync after an overrun),
// interrupted dumps (abandoned, nothing swept), link route checks after a silent IPv4 flush, probe
// results, and records the kernel would never send.
//
// The input is a program for a small model kernel (links 1-6, addresses, routes, rules). Each
// step changes the model and hands the mirror the notifications a kernel sends for the change,
// unless notifications are being lost (an overrun: the mirror hears nothing until a resync).
// Model semantics follow what the mirror relies on (see mirror.cc and FACTS.md): deleting a link
// deletes its addresses, its IPv4 routes through it and its IPv6 routes only through it; a link
// going down flushes its IPv4 routes only through it without any message; removing the last IPv4
// address of a link does the same. IPv6 routes are single-path here (what the kernel does to an
// IPv6 multipath route when one hop's link goes is not modelled); IPv6 reject routes hang on lo.
//
// After every step (and the re-derivation a batch ends with) it checks:
//   - counters only grow (generation, routes refused, probe runs);
//   - derived state equals a fresh derivation: a new mirror given the snapshot's links,
//     addresses, routes, rules and probe derives the same per-family and overall verdicts, link
//     states and transport medium;
//   - reachability events chain: each overall event's `previous` is the last one's `current`, and
//     the last `current` is the snapshot's reachability;
//   - a snapshot held across steps does not change (copy-on-write of the route store);
//   - once the mirror settles (nothing lost, no hostile record, silent flushes reconciled, or
//     right after a complete resync) it equals the model, and no route leaves through a link that
//     does not exist.
//
// Input: a sequence of 4-byte steps [op, a, b, c]; see `Op` below.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/mirror.h"
#include "fuzz_check.h"

namespace {

using namespace netmon;
using detail::Mirror;

constexpr uint32_t kUp = 0x1;          // IFF_UP
constexpr uint32_t kLoopback = 0x8;    // IFF_LOOPBACK
constexpr uint32_t kLowerUp = 0x10000; // IFF_LOWER_UP
constexpr int kMaxLink = 6;
constexpr int kHostileLink = 9;        // never exists

enum Op : uint8_t {
  kSetLink,        // a: link, b: flags/kind/name bits, c: master
  kRemoveLink,     // a: link
  kAddress,        // a: link, b: address bits, c: add/remove, family, flags
  kRoute,          // a: destination bits, b: link(s), c: family/table/metric/type/remove/replace
  kRule,           // a: priority, b: table, c: family/action/remove
  kLoseNotices,    // an overrun starts: nothing reaches the mirror until a resync
  kResync,         // a: interrupt after a messages (0: complete)
  kRouteCheck,     // the backend's targeted dumps after a silent flush
  kProbe,          // a: outcome, b: link the probe was bound to
  kHostile,        // a record inconsistent with the model; a: which
  kHoldSnapshot,   // keep a snapshot across later steps (at most 2)
  kOpCount,
};

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  const uint8_t bytes[4] = {a, b, c, d};
  return IpAddress::v4(bytes);
}
IpAddress v6(uint8_t first, uint8_t second, uint8_t last) {
  uint8_t bytes[16] = {first, second, 0x0d, 0xb8};
  bytes[15] = last;
  return IpAddress::v6(bytes);
}

struct Model {
  std::map<int, Link> links;
  std::vector<Address> addresses;
  std::vector<Route> routes;
  std::vector<Rule> rules;
};

int keyLink(const Route& route) {
  if (route.family != Family::Ipv6) return 0;
  return route.nextHops.empty() ? route.linkIndex : route.nextHops.front().linkIndex;
}
bool sameRouteKey(const Route& a, const Route& b) {
  return a.family == b.family && a.table == b.table && a.destination == b.destination && a.tos == b.tos &&
         a.metric == b.metric && a.sourceLength == b.sourceLength && keyLink(a) == keyLink(b);
}
bool sameAddressKey(const Address& a, const Address& b) {
  return a.linkIndex == b.linkIndex && a.address == b.address && a.prefixLength == b.prefixLength && a.peer == b.peer;
}

class Harness {
 public:
  // The kernel starts with lo (index 1), which is never deleted.
  Harness() : mirror_(LinkFilter::defaults()) {
    setLink(0, 0, 0);
    mirror_.beginResync();
    mirror_.applyLink(false, Link(model_.links.at(1)));
    mirror_.endResync();
    mirror_.markHasData();
    mirror_.finishBatch();
    check();
  }

  void step(const uint8_t* s) {
    switch (s[0] % kOpCount) {
      case kSetLink: setLink(s[1], s[2], s[3]); break;
      case kRemoveLink: removeLink(s[1]); break;
      case kAddress: address(s[1], s[2], s[3]); break;
      case kRoute: route(s[1], s[2], s[3]); break;
      case kRule: rule(s[1], s[2], s[3]); break;
      case kLoseNotices: lost_ = true; break;
      case kResync: resync(s[1]); break;
      case kRouteCheck: routeCheck(); break;
      case kProbe: probe(s[1], s[2]); break;
      case kHostile: hostile(s[1], s[2], s[3]); break;
      case kHoldSnapshot: hold(); break;
    }
    mirror_.finishBatch();
    check();
  }

 private:
  // ─── The model kernel, and the notices it sends ─────────────────────────────────────────────
  bool deliver() const { return !lost_; }

  void setLink(uint8_t a, uint8_t b, uint8_t c) {
    const int index = 1 + a % kMaxLink;
    Link link;
    link.index = index;
    if (index == 1) {
      link.name = "lo";
      link.flags = kUp | kLoopback | kLowerUp;
      link.hardwareType = 772;
    } else {
      static const char* const kKinds[] = {"", "veth", "bridge", "wireguard"};
      static const char* const kNames[] = {"eth", "wlan", "docker", "veth"};
      link.kind = kKinds[b & 3];
      link.name = std::string(kNames[(b >> 2) & 3]) + std::to_string(index);
      link.flags = ((b & 0x10) ? kUp : 0) | ((b & 0x20) ? kLowerUp : 0);
      link.hardwareType = (b & 0x40) ? 65534 : 1;  // ARPHRD_NONE (tunnels) / ARPHRD_ETHER
      const int master = 1 + c % kMaxLink;
      if ((c & 0x80) && master != index && master != 1 && model_.links.count(master) &&
          model_.links.at(master).master == 0) {
        link.master = master;
      }
    }
    link.kernelOperState = (link.flags & kLowerUp) ? 6 : 2;
    link.mtu = 1500;
    const auto existing = model_.links.find(index);
    // One level of ports, as with bridges: a master does not become a port itself.
    if (link.master != 0 && std::any_of(model_.links.begin(), model_.links.end(),
                                        [&](const auto& entry) { return entry.second.master == index; })) {
      return;
    }
    const bool went_down = existing != model_.links.end() && (existing->second.flags & kUp) && !(link.flags & kUp);
    model_.links[index] = link;
    if (deliver()) mirror_.applyLink(false, Link(link));
    if (went_down) flushIpv4Through(index);
  }

  // The kernel drops IPv4 routes that leave only through a link that went down, or lost its last
  // IPv4 address, and says nothing (FACTS.md).
  void flushIpv4Through(int index) {
    const size_t before = model_.routes.size();
    std::erase_if(model_.routes, [&](const Route& r) {
      return r.family == Family::Ipv4 && detail::routeLeavesOnlyThrough(r, index) && index != 0;
    });
    if (model_.routes.size() != before) check_pending_ = true;
  }

  void removeLink(uint8_t a) {
    const int index = 1 + a % kMaxLink;
    if (index == 1) return;  // lo cannot be deleted
    auto it = model_.links.find(index);
    if (it == model_.links.end()) return;
    const Link gone = it->second;
    model_.links.erase(it);
    std::erase_if(model_.addresses, [&](const Address& x) { return x.linkIndex == index; });
    std::erase_if(model_.routes, [&](const Route& r) {
      return r.family == Family::Ipv4 ? detail::routeUsesLink(r, index) : detail::routeLeavesOnlyThrough(r, index);
    });
    if (deliver()) mirror_.applyLink(true, Link(gone));
    // Ports of a deleted master are released: the kernel sends their new state.
    for (auto& [other, port] : model_.links) {
      if (port.master != index) continue;
      port.master = 0;
      if (deliver()) mirror_.applyLink(false, Link(port));
    }
  }

  void address(uint8_t a, uint8_t b, uint8_t c) {
    const int index = 1 + a % kMaxLink;
    Address x;
    x.linkIndex = index;
    if (c & 0x2) {
      x.address = (b & 0x80) ? v6(0xfe, 0x80, b & 0x7f) : v6(0x20, 0x01, b & 0x7f);
      x.prefixLength = 64;
      x.scope = (b & 0x80) ? Scope::Link : Scope::Global;
      x.flags = 0x80 | ((c & 0x4) ? 0x40 : 0);  // IFA_F_PERMANENT, IFA_F_TENTATIVE
    } else {
      x.address = index == 1 ? v4(127, 0, 0, 1) : v4(192, 0, 2, b);
      x.prefixLength = index == 1 ? 8 : 24;
      x.scope = index == 1 ? Scope::Host : Scope::Global;
    }
    auto it = std::find_if(model_.addresses.begin(), model_.addresses.end(),
                           [&](const Address& y) { return sameAddressKey(x, y); });
    if (c & 0x1) {
      if (it == model_.addresses.end()) return;
      model_.addresses.erase(it);
      if (deliver()) mirror_.applyAddress(true, Address(x));
      if (x.family() == Family::Ipv4 &&
          std::none_of(model_.addresses.begin(), model_.addresses.end(), [&](const Address& y) {
            return y.linkIndex == index && y.family() == Family::Ipv4;
          })) {
        flushIpv4Through(index);
      }
      return;
    }
    if (!model_.links.count(index)) return;  // ENODEV
    if (it != model_.addresses.end()) *it = x;
    else model_.addresses.push_back(x);
    if (deliver()) mirror_.applyAddress(false, Address(x));
  }

  Route makeRoute(uint8_t a, uint8_t b, uint8_t c) const {
    Route r;
    r.family = (c & 0x1) ? Family::Ipv6 : Family::Ipv4;
    static const uint8_t kLengths[] = {0, 0, 1, 8, 16, 24, 32, 64};
    uint8_t length = kLengths[a & 7];
    if (r.family == Family::Ipv4 && length > 32) length = 32;
    // The kernel keeps destinations masked to their prefix (ip route add 10.1.2.3/8 is 10.0.0.0/8).
    uint8_t bytes[16] = {uint8_t(a | 0x01), 51, 100, 0x0d, 0xb8, 7};
    if (r.family == Family::Ipv6) bytes[0] = 0x20, bytes[1] = a;
    for (size_t bit = length; bit < 128; ++bit) bytes[bit / 8] &= uint8_t(~(0x80u >> (bit % 8)));
    r.destination.address = r.family == Family::Ipv4 ? IpAddress::v4(bytes) : IpAddress::v6(bytes);
    r.destination.length = length;
    static const uint32_t kTables[] = {kTableMain, kTableMain, 100, kTableDefault};
    r.table = kTables[(c >> 1) & 3];
    r.metric = ((c >> 3) & 1) * 100;
    const bool reject = (c & 0x70) == 0x70;
    r.type = reject ? RouteType::Unreachable : RouteType::Unicast;
    r.protocol = 4;
    // IPv4 reject routes have no output link; IPv6 ones hang on lo (RTA_OIF 1), as the kernel reports.
    if (reject && r.family == Family::Ipv6) r.linkIndex = 1;
    if (reject) return r;
    const int link = 1 + (b & 7) % kMaxLink;
    if (r.family == Family::Ipv4 && (b & 0x80)) {
      const int other = 1 + ((b >> 3) & 7) % kMaxLink;
      r.nextHops.push_back(NextHop{link, v4(192, 0, 2, 1), 1, 0});
      r.nextHops.push_back(NextHop{other, v4(192, 0, 2, 2), 1, 0});
      return r;
    }
    r.linkIndex = link;
    if (b & 0x40) r.gateway = r.family == Family::Ipv4 ? v4(192, 0, 2, 1) : v6(0xfe, 0x80, 1);
    r.scope = r.gateway.isSpecified() ? Scope::Global : Scope::Link;
    return r;
  }

  bool linksExist(const Route& r) const {
    if (r.nextHops.empty()) return r.linkIndex == 0 || model_.links.count(r.linkIndex);
    return std::all_of(r.nextHops.begin(), r.nextHops.end(), [&](const NextHop& h) { return model_.links.count(h.linkIndex) != 0; });
  }

  void route(uint8_t a, uint8_t b, uint8_t c) {
    Route r = makeRoute(a, b, c);
    const bool remove = (c & 0x80) && !(c & 0x04);
    const bool replace = (c & 0x80) && (c & 0x04);
    auto it = std::find_if(model_.routes.begin(), model_.routes.end(), [&](const Route& x) { return sameRouteKey(x, r); });
    if (remove) {
      if (it == model_.routes.end()) return;  // ESRCH
      const Route gone = *it;
      model_.routes.erase(it);
      if (deliver()) mirror_.applyRoute(true, gone, false);
      return;
    }
    if (!linksExist(r)) return;  // ENODEV
    if (replace) {
      if (r.family == Family::Ipv6) {
        // IPv6 replace takes over the route with the same prefix and metric on any link.
        std::erase_if(model_.routes, [&](const Route& x) {
          return x.family == r.family && x.table == r.table && x.destination == r.destination && x.metric == r.metric &&
                 x.tos == r.tos && x.sourceLength == r.sourceLength;
        });
        model_.routes.push_back(r);
      } else if (it != model_.routes.end()) {
        *it = r;
      } else {
        model_.routes.push_back(r);
      }
      if (deliver()) mirror_.applyRoute(false, r, true);
      return;
    }
    if (it != model_.routes.end()) return;  // EEXIST
    model_.routes.push_back(r);
    if (deliver()) mirror_.applyRoute(false, r, false);
  }

  Rule makeRule(uint8_t a, uint8_t b, uint8_t c) const {
    Rule rule;
    rule.family = (c & 0x1) ? Family::Ipv6 : Family::Ipv4;
    rule.priority = a;
    static const uint32_t kTables[] = {kTableMain, kTableLocal, kTableDefault, 100};
    rule.table = kTables[b & 3];
    rule.action = (c & 0x2) ? RuleAction::Unreachable : RuleAction::ToTable;
    if (rule.action != RuleAction::ToTable) rule.table = 0;
    if (b & 0x4) rule.fwmark = 1;
    if (b & 0x8) rule.suppressPrefixLength = 0;
    return rule;
  }

  void rule(uint8_t a, uint8_t b, uint8_t c) {
    const Rule r = makeRule(a, b, c);
    auto it = std::find(model_.rules.begin(), model_.rules.end(), r);
    if (c & 0x80) {
      if (it == model_.rules.end()) return;
      model_.rules.erase(it);
      if (deliver()) mirror_.applyRule(true, Rule(r));
      return;
    }
    if (it != model_.rules.end()) return;
    model_.rules.push_back(r);
    if (deliver()) mirror_.applyRule(false, Rule(r));
  }

  // ─── What the backend does ──────────────────────────────────────────────────────────────────
  // A dump in the kernel's order: links, addresses, routes, rules. `interrupt_after` > 0 stops it
  // after that many messages (NLM_F_DUMP_INTR): abandoned, nothing swept.
  void resync(uint8_t interrupt_after) {
    mirror_.beginResync();
    size_t sent = 0;
    const auto interrupted = [&] { return interrupt_after != 0 && ++sent > interrupt_after; };
    for (const auto& [index, link] : model_.links) {
      if (interrupted()) return abandon();
      mirror_.applyLink(false, Link(link));
    }
    for (const Address& x : model_.addresses) {
      if (interrupted()) return abandon();
      mirror_.applyAddress(false, Address(x));
    }
    for (const Route& r : model_.routes) {
      if (interrupted()) return abandon();
      mirror_.applyRoute(false, r, false);
    }
    for (const Rule& r : model_.rules) {
      if (interrupted()) return abandon();
      mirror_.applyRule(false, Rule(r));
    }
    mirror_.endResync();
    lost_ = hostile_ = check_pending_ = false;
    settled_by_resync_ = true;
  }
  void abandon() { mirror_.abandonResync(); }

  void routeCheck() {
    for (int link : mirror_.takeLinksNeedingRouteCheck()) {
      if (!mirror_.hasLink(link)) continue;  // deleted since: its routes went with it
      for (Family family : {Family::Ipv4, Family::Ipv6}) {
        std::vector<Route> present;
        for (const Route& r : model_.routes) {
          if (r.family == family && detail::routeUsesLink(r, link)) present.push_back(r);
        }
        mirror_.reconcileLinkRoutes(link, family, present);
      }
    }
    check_pending_ = false;
  }

  void probe(uint8_t a, uint8_t b) {
    ProbeResult result;
    result.outcome = static_cast<ProbeOutcome>(a % 3);
    result.url = "http://192.0.2.80/generate_204";
    const auto link = model_.links.find(1 + b % kMaxLink);
    if (link != model_.links.end()) result.interface = link->second.name;
    if (result.outcome == ProbeOutcome::CaptivePortal && (a & 0x80)) result.redirect = "http://192.0.2.81/login";
    result.httpStatus = result.outcome == ProbeOutcome::NoAnswer ? 0 : (a & 0x80) ? 302 : 204;
    mirror_.applyProbe(std::move(result));
  }

  // Records no kernel sends in this state: the mirror must survive them; the model no longer
  // describes the mirror until the next complete resync.
  void hostile(uint8_t a, uint8_t b, uint8_t c) {
    hostile_ = true;
    switch (a % 5) {
      case 0: {  // a route through a link that does not exist
        Route r = makeRoute(b, kHostileLink - 1, c & 0x7f);
        if (r.type == RouteType::Unicast && r.nextHops.empty()) r.linkIndex = kHostileLink;
        mirror_.applyRoute(false, r, (c & 0x4) != 0);
        break;
      }
      case 1: {  // an address on a link that does not exist
        Address x;
        x.linkIndex = kHostileLink;
        x.address = v4(198, 51, 100, b);
        x.prefixLength = 24;
        mirror_.applyAddress(false, std::move(x));
        break;
      }
      case 2: {  // a port whose master does not exist, or is itself
        Link link;
        link.index = 1 + b % kMaxLink;
        link.name = "eth" + std::to_string(link.index);
        link.flags = kUp | kLowerUp;
        link.master = (c & 1) ? link.index : kHostileLink;
        mirror_.applyLink(false, std::move(link));
        break;
      }
      case 3: {  // deletions of what is not there
        mirror_.applyRoute(true, makeRoute(b, c, 0), false);
        mirror_.applyLink(true, Link{.index = kHostileLink});
        break;
      }
      case 4: {  // a link message with index 0 or negative
        Link link;
        link.index = (c & 1) ? 0 : -int(b);
        link.name = "x";
        mirror_.applyLink(false, std::move(link));
        break;
      }
    }
  }

  void hold() {
    if (held_.size() == 2) held_.pop_front();
    Snapshot snapshot = mirror_.makeSnapshot();
    const std::vector<Route> routes = snapshot.routes();
    held_.push_back({std::move(snapshot), routes});
  }

  // ─── Invariants ─────────────────────────────────────────────────────────────────────────────
  void check() {
    FUZZ_CHECK(mirror_.generation() >= generation_, "generation went backwards");
    FUZZ_CHECK(mirror_.routesRefused() >= refused_, "routes-refused counter went backwards");
    for (size_t i = 0; i < probe_runs_.size(); ++i) {
      FUZZ_CHECK(mirror_.probeRuns()[i] >= probe_runs_[i], "probe-run counter went backwards");
    }
    generation_ = mirror_.generation();
    refused_ = mirror_.routesRefused();
    probe_runs_ = mirror_.probeRuns();

    const Snapshot snapshot = mirror_.makeSnapshot();
    for (const auto& payload : mirror_.takeEvents()) {
      const auto* event = std::get_if<ReachabilityEvent>(&payload);
      if (!event || event->family != Family::Unspecified) continue;
      FUZZ_CHECK(event->previous == reachability_, "reachability event's previous is not the last current");
      FUZZ_CHECK(event->current != event->previous, "reachability event without a change");
      reachability_ = event->current;
    }
    FUZZ_CHECK(reachability_ == snapshot.reachability, "reachability events do not add up to the snapshot");

    checkFreshDerivation(snapshot);
    for (const auto& [held, routes] : held_) FUZZ_CHECK(held.routes() == routes, "a held snapshot's routes changed");

    if (settled_by_resync_ || (!lost_ && !hostile_ && !check_pending_)) checkEqualsModel(snapshot);
    settled_by_resync_ = false;
  }

  void checkFreshDerivation(const Snapshot& snapshot) {
    Mirror fresh(LinkFilter::defaults());
    for (const Link& link : snapshot.links) fresh.applyLink(false, Link(link));
    for (const Address& x : snapshot.addresses) fresh.applyAddress(false, Address(x));
    snapshot.forEachRoute([&](const Route& r) { fresh.applyRoute(false, r, false); });
    for (const Rule& r : snapshot.rules) fresh.applyRule(false, Rule(r));
    if (snapshot.probe) fresh.applyProbe(*snapshot.probe);
    fresh.markHasData();
    fresh.finishBatch();
    const Snapshot derived = fresh.makeSnapshot();
    FUZZ_CHECK(derived.ipv4 == snapshot.ipv4, "IPv4 verdict differs from a fresh derivation");
    FUZZ_CHECK(derived.ipv6 == snapshot.ipv6, "IPv6 verdict differs from a fresh derivation");
    FUZZ_CHECK(derived.reachability == snapshot.reachability && derived.verdict == snapshot.verdict,
               "overall verdict differs from a fresh derivation");
    FUZZ_CHECK(derived.transportMedium == snapshot.transportMedium, "medium differs from a fresh derivation");
    FUZZ_CHECK(derived.captivePortal == snapshot.captivePortal, "portal flag differs from a fresh derivation");
    FUZZ_CHECK(derived.links == snapshot.links, "derived link state differs from a fresh derivation");
  }

  // NETMON_FUZZ_VERBOSE=1: print both sides before comparing (triage of a crash input).
  void describe(const Snapshot& snapshot) const {
    if (!std::getenv("NETMON_FUZZ_VERBOSE")) return;
    const auto print = [](const char* side, const Route& r) {
      std::fprintf(stderr, "  %s route %s/%u table %u metric %u type %u link %d hops %zu\n", side,
                   r.destination.address.toString().c_str(), r.destination.length, r.table, r.metric,
                   unsigned(r.type), r.linkIndex, r.nextHops.size());
    };
    for (const Route& r : snapshot.routes()) print("mirror", r);
    for (const Route& r : model_.routes) print("kernel", r);
    for (const Link& l : snapshot.links) std::fprintf(stderr, "  mirror link %d %s\n", l.index, l.name.c_str());
    for (const auto& [i, l] : model_.links) std::fprintf(stderr, "  kernel link %d %s\n", i, l.name.c_str());
  }

  void checkEqualsModel(const Snapshot& snapshot) {
    describe(snapshot);
    FUZZ_CHECK(snapshot.links.size() == model_.links.size(), "settled mirror has other links than the kernel");
    for (const Link& link : snapshot.links) {
      const auto it = model_.links.find(link.index);
      FUZZ_CHECK(it != model_.links.end(), "settled mirror has a link the kernel does not");
      FUZZ_CHECK(it->second.name == link.name && it->second.flags == link.flags && it->second.master == link.master,
                 "settled mirror's link differs from the kernel's");
    }
    FUZZ_CHECK(snapshot.addresses.size() == model_.addresses.size(), "settled mirror has other addresses than the kernel");
    for (const Address& x : snapshot.addresses) {
      FUZZ_CHECK(std::find(model_.addresses.begin(), model_.addresses.end(), x) != model_.addresses.end(),
                 "settled mirror has an address the kernel does not");
    }
    const std::vector<Route> routes = snapshot.routes();
    FUZZ_CHECK(routes.size() == model_.routes.size(), "settled mirror has other routes than the kernel");
    for (const Route& r : routes) {
      FUZZ_CHECK(std::find(model_.routes.begin(), model_.routes.end(), r) != model_.routes.end(),
                 "settled mirror has a route the kernel does not");
      const bool links_exist =
          r.nextHops.empty() ? (r.linkIndex == 0 || snapshot.findLink(r.linkIndex) != nullptr)
                             : std::all_of(r.nextHops.begin(), r.nextHops.end(),
                                           [&](const NextHop& h) { return snapshot.findLink(h.linkIndex) != nullptr; });
      FUZZ_CHECK(links_exist, "settled mirror has a route through a link that does not exist");
    }
    FUZZ_CHECK(snapshot.rules.size() == model_.rules.size(), "settled mirror has other rules than the kernel");
    for (const Rule& r : snapshot.rules) {
      FUZZ_CHECK(std::find(model_.rules.begin(), model_.rules.end(), r) != model_.rules.end(),
                 "settled mirror has a rule the kernel does not");
    }
  }

  Mirror mirror_;
  Model model_;
  bool lost_ = false;
  bool hostile_ = false;
  bool check_pending_ = false;
  bool settled_by_resync_ = false;
  uint64_t generation_ = 0;
  uint64_t refused_ = 0;
  std::array<uint64_t, 3> probe_runs_{};
  Reachability reachability_ = Reachability::Unknown;
  std::deque<std::pair<Snapshot, std::vector<Route>>> held_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kMaxSteps = 32;  // bounded work per input: each step re-derives twice
  Harness harness;
  for (size_t offset = 0; offset + 4 <= size && offset / 4 < kMaxSteps; offset += 4) harness.step(data + offset);
  return 0;
}
