#pragma once
// Value types of the connection monitor (connection_monitor.h): what is watched (a
// ConnectionTarget), the answer for it (a ConnectionState), and why it is not reachable
// (a ConnectionReason). Kept apart from the monitor so events (event.h) can carry them.
//
// Thread safety: plain values.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "netmon/address.h"
#include "netmon/export.h"
#include "netmon/model.h"
#include "netmon/result.h"

namespace netmon {

// Why a connection is not reachable; None when it is. Programs switch on this value. Each reason
// comes from the kernel's own route lookup, checked against the mirror:
enum class ConnectionReason : uint8_t {
  None,              // "none": reachable
  NoRoute,           // "no-route": no route (in any table the rules consult) covers the remote
  Blackhole,         // "blackhole": a blackhole route or rule swallows it (so does 0.0.0.0/8,
                     // which ConnectionTarget refuses)
  Unreachable,       // "unreachable": an unreachable route rejects it (an `unreachable` *rule*
                     // makes the kernel answer ENETUNREACH, which reads as no-route)
  Prohibit,          // "prohibit": a prohibit route or rule rejects it
  LinkDown,          // "link-down": the route leaves through a link that is down or has no carrier
  LocalAddressGone,  // "local-address-gone": the connection's local address is no longer on this host
  SourceMismatch,    // "source-mismatch": the remote is routable, but not from that local address
                     // (the kernel refuses the source, or a link-local source on another link)
  InterfaceGone,     // "interface-gone": the connection's interface (or the route's) no longer exists
  LookupFailed,      // "lookup-failed": the kernel refused the lookup for another reason (see
                     // ConnectionState::kernelError)
};
NETMON_EXPORT std::string_view toString(ConnectionReason);
NETMON_EXPORT std::optional<ConnectionReason> connectionReasonFromString(std::string_view);

// The kernel's rule for interface names (dev_valid_name): 1–15 bytes, not "." or "..", no '/',
// ':' or white space. A name that fails it can never exist, so callers may refuse it at once.
NETMON_EXPORT bool isValidInterfaceName(std::string_view name);

// One watched connection: from `local` (or whatever source the kernel picks) to `remote`,
// optionally bound to an interface (as a socket with SO_BINDTODEVICE would be).
struct NETMON_EXPORT ConnectionTarget {
  IpAddress remote;
  IpAddress local;            // unspecified: any source
  // The interface to leave through, by name or index (either, or both if they agree); empty/0:
  // any. Also the scope of link-local addresses.
  std::string interfaceName;
  int interfaceIndex = 0;

  // Parses user text, checking everything that can be checked without the kernel:
  //   remote    "192.0.2.1", "2001:db8::1", "fe80::1%eth0" (a scope names the interface)
  //   local     "" (any) or an address of the same family, optionally scoped
  //   interface "" or an interface name (at most 15 bytes, no '/', whitespace or ':'), or an index
  //             written as a decimal number; it must agree with any scope given in the addresses.
  // Errors (EINVAL, with the offending text): malformed literals, unspecified (0.0.0.0, ::)
  // remote, families that differ, conflicting scopes, bad interface names.
  [[nodiscard]] static Result<ConnectionTarget> parse(std::string_view remote, std::string_view local = {},
                                                      std::string_view interface_name = {});
  // "192.0.2.1", "192.0.2.1 from 192.0.2.10", "fe80::1 dev eth0" (ip route get's words).
  std::string toString() const;
  friend bool operator==(const ConnectionTarget&, const ConnectionTarget&) = default;
};

// The answer for one connection: the kernel's route lookup, the link it leaves through as the
// mirror knows it, and a reason when it is not reachable.
struct NETMON_EXPORT ConnectionState {
  bool reachable = false;
  ConnectionReason reason = ConnectionReason::NoRoute;
  // The way out, when the kernel found one (also when it is not usable: LinkDown names the link).
  int linkIndex = 0;
  std::string linkName;
  OperationalState linkState = OperationalState::Off;
  TransportMedium medium = TransportMedium::None;
  IpAddress gateway;            // unspecified when the remote is on-link
  IpAddress source;             // the source address the kernel would use
  RouteType routeType = RouteType::Unspecified;  // unicast; local when the remote is this host
  uint32_t table = 0;           // the routing table the kernel's answer came from (0: not said)
  int kernelError = 0;          // the errno of the kernel's lookup when it found no route, else 0

  // One sentence for a person, starting with "reachable:" or "unreachable (REASON):". Not an API:
  // switch on `reason`.
  std::string explanation() const;
  friend bool operator==(const ConnectionState&, const ConnectionState&) = default;
};

// Identifies a watched connection within its monitor; never reused by that monitor.
using ConnectionId = uint64_t;

}  // namespace netmon
