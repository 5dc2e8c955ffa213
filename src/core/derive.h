#pragma once
// Derived state as pure functions of mirrored facts: per-link operational state, transport medium,
// per-family and overall reachability. No I/O, no clock, no globals: each is tested row by row
// (tests/unit/derive_test.cc). The decision tables are written above the implementations in
// derive.cc.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "netmon/model.h"
#include "netmon/probe.h"
#include "netmon/snapshot.h"

namespace netmon::detail {

enum class AddressLevel : uint8_t { None, LinkLocal, Routable };

struct LinkFacts {
  bool adminUp = false;           // IFF_UP
  bool carrier = false;           // IFF_LOWER_UP
  uint8_t kernelOperState = 0;    // IF_OPER_*; IF_OPER_DORMANT (5) means dormant
  bool hasMaster = false;         // a port of a bridge/bond
  bool portWithoutCarrier = false;// a bridge/bond master one of whose ports lacks carrier
  AddressLevel addresses = AddressLevel::None;  // best usable address level on the link
};
OperationalState deriveOperationalState(const LinkFacts& facts);

struct MediumFacts {
  std::string_view kind;          // IFLA_INFO_KIND ("veth", "bridge", "wireguard", "" for hardware)
  uint16_t hardwareType = 0;      // ARPHRD_*
  std::string_view devtype;       // sysfs uevent DEVTYPE ("wlan", "wwan", "bluetooth", "" if none)
  bool wireless = false;          // /sys/class/net/NAME/wireless or phy80211 exists
  bool loopback = false;          // IFF_LOOPBACK
};
TransportMedium deriveTransportMedium(const MediumFacts& facts);

// Routes that can decide reachability are those with short prefixes: a longer prefix cannot
// cover the public Internet. The mirror keeps this small set apart from the full table, so a
// change to any other route re-derives nothing.
constexpr uint8_t candidatePrefixLimit(Family family) { return family == Family::Ipv4 ? 8 : 16; }
inline bool isReachabilityCandidate(const Route& route) {
  return route.destination.length <= candidatePrefixLimit(route.family);
}

struct ReachabilityInput {
  Family family = Family::Ipv4;
  std::span<const Link> links;            // all links (with `ignored` set), any order
  std::span<const Address> addresses;     // all addresses, any family
  std::span<const Route> candidateRoutes; // routes of any table with isReachabilityCandidate()
  std::span<const Rule> rules;            // policy rules of any family; none of `family`: the
                                          // kernel's defaults (local 0, main 32766, default 32767)
};
// The verdict for one family, as defined on netmon::Reachability.
Verdict deriveReachability(const ReachabilityInput& input);

// A routed verdict refined by the active probe's last result (see the table in derive.cc): a
// captive-portal or no-answer outcome about the route a verdict rests on turns Online into Site.
Verdict refineWithProbe(const Verdict& routed, const std::optional<ProbeResult>& probe);

// Overall verdict: the better of the two (Online > Site > Local > Disconnected > Unknown); on a
// tie, IPv4's.
const Verdict& betterVerdict(const Verdict& ipv4, const Verdict& ipv6);

}  // namespace netmon::detail
