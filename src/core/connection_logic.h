#pragma once
// The pure parts of the connection monitor: which watched connections a change can affect (the
// ConnectionIndex), and what a kernel route lookup means for a connection (classifyConnection).
// No kernel, no threads: table-tested in tests/unit/connection_logic_test.cc.
#include <map>
#include <set>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/route_lookup.h"
#include "netmon/connection.h"
#include "netmon/model.h"

namespace netmon::detail {

// The first and last address a prefix covers (its host bits all zero / all one).
std::pair<IpAddress, IpAddress> prefixRange(const IpPrefix& prefix);
bool prefixCovers(const IpPrefix& prefix, const IpAddress& address);

// Checks what can be checked of a target without the kernel (see ConnectionTarget::parse).
Result<void> validateTarget(const ConnectionTarget& target);

// Finds the connections a change can affect, in time proportional to the answer (plus a log):
// remotes are kept sorted per family, so the remotes a route prefix covers are one contiguous run.
//
// A connection depends on: its remote (any route covering it may become, or stop being, the
// kernel's answer), the links it leaves through / is bound to / is sourced from, its local address
// and the source address the kernel chose.
class ConnectionIndex {
 public:
  void add(ConnectionId id, const IpAddress& remote);
  void remove(ConnectionId id);
  // Replaces the links and addresses `id` depends on.
  void setDependencies(ConnectionId id, std::vector<int> links, std::vector<IpAddress> addresses);

  // Each appends matching ids to `out` (unsorted, possibly with duplicates: see takeUnique()).
  void coveredBy(const IpPrefix& prefix, std::vector<ConnectionId>& out) const;
  void usingLink(int link_index, std::vector<ConnectionId>& out) const;
  void usingAddress(const IpAddress& address, std::vector<ConnectionId>& out) const;
  void ofFamily(Family family, std::vector<ConnectionId>& out) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    IpAddress remote;
    std::vector<int> links;
    std::vector<IpAddress> addresses;
  };
  void unlinkDependencies(ConnectionId id, const Entry& entry);

  std::unordered_map<ConnectionId, Entry> entries_;
  // Ordered sets of (key, id): a range of keys is one scan, and removing one id costs a log even
  // when thousands share its key (a link many connections leave through).
  std::set<std::pair<IpAddress, ConnectionId>> by_remote_;  // IpAddress orders by family, then bytes
  std::set<std::pair<int, ConnectionId>> by_link_;
  std::set<std::pair<IpAddress, ConnectionId>> by_address_;
};

// Sorts and de-duplicates a list of ids.
void makeUnique(std::vector<ConnectionId>& ids);

// Everything classifyConnection() decides on.
struct ConnectionFacts {
  bool interfaceExists = true;  // false: the target names an interface the mirror does not have
  bool localPresent = true;     // false: the target's local address is not on this host
  int localLinkIndex = 0;       // the link holding the target's local address (0: none given)
  bool localIsLinkLocal = false;
  bool hasLocal = false;        // the target names a local address
  bool boundToInterface = false;  // the target names an interface (the lookup carried it)
  RouteAnswer answer;           // the kernel's lookup, with the target's source and interface
  // Asked only when `answer` failed and the target has a local address: the same lookup without
  // the source. A route there means the source, not the remote, is the problem.
  std::optional<RouteAnswer> answerWithoutSource;
  const Link* outputLink = nullptr;  // the mirror's link for answer.outputLink
};

ConnectionState classifyConnection(const ConnectionFacts& facts);

// Whether a lookup failure with `source` may be the source's fault, so that the lookup is worth
// repeating without it (classifyConnection's row 3).
bool errorMayBeTheSource(int error, const IpAddress& source);

}  // namespace netmon::detail
