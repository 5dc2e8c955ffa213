#pragma once
// The seam between the connection monitor (platform-neutral) and the kernel's own route lookup:
// "which way would a packet to `destination` (from `source`, out of `outputLink`) leave?".
// On Linux an RTM_GETROUTE request per query (src/rtnl/route_lookup.cc); on Windows
// GetBestRoute2. The answer is the kernel's, never a guess made from the mirror.
//
// Thread safety: one caller at a time (the connection monitor serialises calls).
#include <cstdint>
#include <span>
#include <vector>

#include "netmon/address.h"
#include "netmon/model.h"
#include "netmon/result.h"

namespace netmon::detail {

struct RouteQuery {
  IpAddress destination;  // required
  IpAddress source;       // unspecified: the kernel picks the source
  int outputLink = 0;     // 0: any link; otherwise the lookup is bound to this interface index
  friend bool operator==(const RouteQuery&, const RouteQuery&) = default;
};

struct RouteAnswer {
  // 0: the kernel returned a route. Otherwise the kernel's errno for this query: on Linux
  // ENETUNREACH (no route; also IPv6 with an output interface that does not exist), EINVAL
  // (blackhole, or an unusable source), EHOSTUNREACH (unreachable route), EACCES (prohibit route),
  // ENODEV (IPv4: output interface gone), ... — the full table is in src/rtnl/route_lookup.cc.
  int error = 0;
  RouteType type = RouteType::Unicast;  // unicast, local (the destination is this host), ...
  int outputLink = 0;
  IpAddress gateway;          // unspecified when the destination is on-link
  IpAddress preferredSource;  // the source address the kernel would use
  // The table the route came from; 0 when the kernel did not say, or (IPv4, bound to an
  // interface) when no route matched and the kernel assumed the destination on-link. IPv4 local
  // destinations say main (254) until the namespace's first policy rule unmerges the local table.
  uint32_t table = 0;
  friend bool operator==(const RouteAnswer&, const RouteAnswer&) = default;
};

class RouteLookup {
 public:
  virtual ~RouteLookup() = default;
  // Answers every query, in order (answers[i] is for queries[i]). Per-query kernel errors are
  // answers (RouteAnswer::error), not failures; the call fails only when the lookup channel itself
  // broke (socket error), in which case no answer is given.
  virtual Result<std::vector<RouteAnswer>> lookup(std::span<const RouteQuery> queries) = 0;
  // Kernel lookups made so far (one per query sent), for counters and benchmarks.
  virtual uint64_t lookups() const = 0;
  // Failed socket calls of the lookup channel: overruns (replies dropped, sent again) and other
  // errors (the lookup call failed). Zero where there is no socket.
  virtual uint64_t overruns() const { return 0; }
  virtual uint64_t socketErrors() const { return 0; }
};

}  // namespace netmon::detail
