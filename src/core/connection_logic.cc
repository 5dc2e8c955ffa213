// Targeting and classification for the connection monitor. Pure functions and containers.
#include "core/connection_logic.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace netmon::detail {

std::pair<IpAddress, IpAddress> prefixRange(const IpPrefix& prefix) {
  const size_t size = prefix.address.size();
  uint8_t first[16] = {}, last[16] = {};
  std::memcpy(first, prefix.address.data(), size);
  std::memcpy(last, prefix.address.data(), size);
  const unsigned length = std::min<unsigned>(prefix.length, unsigned(size * 8));
  for (unsigned bit = length; bit < size * 8; ++bit) {
    const uint8_t mask = uint8_t(0x80u >> (bit % 8));
    first[bit / 8] &= uint8_t(~mask);
    last[bit / 8] |= mask;
  }
  if (prefix.address.family() == Family::Ipv4) return {IpAddress::v4(first), IpAddress::v4(last)};
  if (prefix.address.family() == Family::Ipv6) return {IpAddress::v6(first), IpAddress::v6(last)};
  return {};
}

bool prefixCovers(const IpPrefix& prefix, const IpAddress& address) {
  if (prefix.address.family() != address.family() || !address.isSpecified()) return false;
  const auto [first, last] = prefixRange(prefix);
  return first <= address && address <= last;
}

Result<void> validateTarget(const ConnectionTarget& target) {
  const auto invalid = [](std::string detail) { return makeError(EINVAL, "check connection", std::move(detail)); };
  if (!target.remote.isSpecified()) return invalid("no remote address");
  const auto [zero, unused] = prefixRange(IpPrefix{target.remote, 0});
  if (target.remote == zero) return invalid("the remote " + target.remote.toString() + " is the unspecified address");
  if (target.remote.family() == Family::Ipv4 && target.remote.data()[0] == 0) {
    return invalid("the remote " + target.remote.toString() + " is in 0.0.0.0/8, which is no destination");
  }
  if (target.local.isSpecified() && target.local == prefixRange(IpPrefix{target.local, 0}).first) {
    return invalid("the local address " + target.local.toString() + " is unspecified: leave it out for any source");
  }
  if (target.local.isSpecified() && target.local.family() != target.remote.family()) {
    return invalid("local " + target.local.toString() + " and remote " + target.remote.toString() +
                   " are of different families");
  }
  const bool scoped = !target.interfaceName.empty() || target.interfaceIndex > 0;
  if (target.interfaceIndex < 0) return invalid("interface index " + std::to_string(target.interfaceIndex));
  for (const IpAddress* address : {&target.remote, &target.local}) {
    if (address->family() == Family::Ipv6 && address->isLinkLocal() && !scoped) {
      return invalid("link-local address " + address->toString() + " needs a scope (" + address->toString() +
                     "%INTERFACE, or an interface)");
    }
  }
  return {};
}

void ConnectionIndex::add(ConnectionId id, const IpAddress& remote) {
  entries_[id].remote = remote;
  by_remote_.emplace(remote, id);
}

void ConnectionIndex::unlinkDependencies(ConnectionId id, const Entry& entry) {
  for (int link : entry.links) by_link_.erase({link, id});
  for (const IpAddress& address : entry.addresses) by_address_.erase({address, id});
}

void ConnectionIndex::remove(ConnectionId id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  unlinkDependencies(id, it->second);
  by_remote_.erase({it->second.remote, id});
  entries_.erase(it);
}

void ConnectionIndex::setDependencies(ConnectionId id, std::vector<int> links, std::vector<IpAddress> addresses) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  std::sort(links.begin(), links.end());
  links.erase(std::unique(links.begin(), links.end()), links.end());
  std::erase(links, 0);
  std::erase_if(addresses, [](const IpAddress& a) { return !a.isSpecified(); });
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  if (links == it->second.links && addresses == it->second.addresses) return;
  unlinkDependencies(id, it->second);
  for (int link : links) by_link_.emplace(link, id);
  for (const IpAddress& address : addresses) by_address_.emplace(address, id);
  it->second.links = std::move(links);
  it->second.addresses = std::move(addresses);
}

void ConnectionIndex::coveredBy(const IpPrefix& prefix, std::vector<ConnectionId>& out) const {
  if (!prefix.address.isSpecified()) return;
  const auto [first, last] = prefixRange(prefix);
  for (auto it = by_remote_.lower_bound({first, 0}); it != by_remote_.end() && it->first <= last; ++it) {
    out.push_back(it->second);
  }
}

void ConnectionIndex::usingLink(int link_index, std::vector<ConnectionId>& out) const {
  for (auto it = by_link_.lower_bound({link_index, 0}); it != by_link_.end() && it->first == link_index; ++it) {
    out.push_back(it->second);
  }
}

void ConnectionIndex::usingAddress(const IpAddress& address, std::vector<ConnectionId>& out) const {
  for (auto it = by_address_.lower_bound({address, 0}); it != by_address_.end() && it->first == address; ++it) {
    out.push_back(it->second);
  }
}

void ConnectionIndex::ofFamily(Family family, std::vector<ConnectionId>& out) const {
  for (const auto& [remote, id] : by_remote_) {
    if (family == Family::Unspecified || remote.family() == family) out.push_back(id);
  }
}

void makeUnique(std::vector<ConnectionId>& ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
}

bool errorMayBeTheSource(int error, const IpAddress& source) {
  // IPv4 refuses a loopback source toward another link with EINVAL (net/ipv4/route.c,
  // __mkroute_output), which is also a blackhole's errno. A source that is not local at all gets
  // ENETUNREACH, but the monitor checks that against the mirror first (local-address-gone), and a
  // from-rule with a reject action must keep its own reason: only the loopback case is retried.
  return error == EINVAL && source.isLoopback();
}

// Decision table — the first row that matches decides:
//
//  #  | facts                                                       | reachable | reason
//  ---+-------------------------------------------------------------+-----------+-------------------
//  1  | the target's interface is not in the mirror                 | no        | interface-gone
//  2  | the target's local address is not on this host             | no        | local-address-gone
//  3  | lookup failed; the same lookup without the source succeeded | no        | source-mismatch
//  4  | lookup failed with EINVAL                                   | no        | blackhole
//  5  | lookup failed with EHOSTUNREACH                             | no        | unreachable
//  6  | lookup failed with EACCES                                   | no        | prohibit
//  7  | lookup failed with ENETUNREACH                              | no        | no-route
//  8  | lookup failed with ENODEV                                   | no        | interface-gone
//  9  | lookup failed otherwise                                     | no        | lookup-failed
//  10 | the answer is a blackhole/unreachable/prohibit route        | no        | that route type
//  11 | the answer's output link is not in the mirror               | no        | interface-gone
//  11b| bound to an interface, unicast answer from no table (table 0)| no        | no-route
//  12 | a link-local local address, but the answer leaves elsewhere | no        | source-mismatch
//  13 | the output link is off, without carrier, or dormant         | no        | link-down
//  14 | otherwise (unicast, or local: the remote is this host)      | yes       | none
//
// Row 11b: an IPv4 lookup bound to an interface that no route covers does not fail: the kernel
// "assumes the destination is on link" (net/ipv4/route.c, ip_route_output_key_hash_rcu) and answers
// a unicast route out of that interface with no gateway and no table. That is a guess of the
// kernel's, not a route: netmon reports it as no-route (measured on 6.18: RTA_TABLE 0).
//
// Rows 1–2 come first because they say what the user must fix, whatever the kernel answers. Row 13
// exists because the kernel keeps IPv4/IPv6 routes through a link that lost carrier and still
// returns them from a lookup (checked on kernel 6.1 and 6.18).
ConnectionState classifyConnection(const ConnectionFacts& facts) {
  ConnectionState state;
  const RouteAnswer& answer = facts.answer;
  state.kernelError = answer.error;
  if (answer.error == 0) {
    state.routeType = answer.type;
    state.linkIndex = answer.outputLink;
    state.gateway = answer.gateway;
    state.source = answer.preferredSource;
    state.table = answer.table;
    if (facts.outputLink) {
      state.linkName = facts.outputLink->name;
      state.linkState = facts.outputLink->operationalState;
      state.medium = facts.outputLink->medium;
    }
  }
  const auto unreachable = [&](ConnectionReason reason) {
    state.reachable = false;
    state.reason = reason;
    return state;
  };
  if (!facts.interfaceExists) return unreachable(ConnectionReason::InterfaceGone);
  if (facts.hasLocal && !facts.localPresent) return unreachable(ConnectionReason::LocalAddressGone);
  if (answer.error != 0) {
    if (facts.hasLocal && facts.answerWithoutSource && facts.answerWithoutSource->error == 0) {
      return unreachable(ConnectionReason::SourceMismatch);
    }
    switch (answer.error) {
      case EINVAL: return unreachable(ConnectionReason::Blackhole);
      case EHOSTUNREACH: return unreachable(ConnectionReason::Unreachable);
      case EACCES: return unreachable(ConnectionReason::Prohibit);
      case ENETUNREACH: return unreachable(ConnectionReason::NoRoute);
      case ENODEV: return unreachable(ConnectionReason::InterfaceGone);
      default: return unreachable(ConnectionReason::LookupFailed);
    }
  }
  switch (answer.type) {
    case RouteType::Blackhole: return unreachable(ConnectionReason::Blackhole);
    case RouteType::Unreachable: return unreachable(ConnectionReason::Unreachable);
    case RouteType::Prohibit: return unreachable(ConnectionReason::Prohibit);
    default: break;
  }
  if (!facts.outputLink) return unreachable(ConnectionReason::InterfaceGone);
  if (facts.boundToInterface && answer.type == RouteType::Unicast && answer.table == 0) {
    return unreachable(ConnectionReason::NoRoute);
  }
  if (facts.localIsLinkLocal && facts.localLinkIndex != 0 && facts.localLinkIndex != answer.outputLink) {
    return unreachable(ConnectionReason::SourceMismatch);
  }
  switch (facts.outputLink->operationalState) {
    case OperationalState::Off:
    case OperationalState::NoCarrier:
    case OperationalState::Dormant:
      return unreachable(ConnectionReason::LinkDown);
    default: break;
  }
  state.reachable = true;
  state.reason = ConnectionReason::None;
  return state;
}

}  // namespace netmon::detail
