#pragma once
// rtnetlink bytes → neutral records. Pure: no sockets, no state, no allocation beyond the records.
//
// Untrusted input: every length is checked. A message whose header is truncated or whose
// nlmsg_len runs past the datagram ends the walk of that datagram (counted malformed); a message
// whose fixed header (ifinfomsg, ifaddrmsg, rtmsg, fib_rule_hdr) is short, or which has an
// attribute whose length runs past the message, is skipped and counted malformed, and the walk
// continues with the next message. Known attributes with a wrong payload size are ignored
// (counted malformed) while the rest of the message is still used. Unknown attributes are skipped
// silently (newer kernels add them); unknown message types are counted in `unknown`.
#include <cstddef>
#include <cstdint>
#include <span>

#include "netmon/model.h"

namespace netmon::rtnl {

// What the parser found, handed over message by message in datagram order.
class ParseSink {
 public:
  virtual ~ParseSink() = default;
  // RTM_NEWLINK / RTM_DELLINK (removed = true)
  virtual void onLink(bool removed, Link&& link, uint16_t nlmsg_flags) = 0;
  virtual void onAddress(bool removed, Address&& address, uint16_t nlmsg_flags) = 0;
  // nlmsg_flags carries NLM_F_REPLACE etc. for routes.
  virtual void onRoute(bool removed, Route&& route, uint16_t nlmsg_flags) = 0;
  virtual void onRule(bool removed, Rule&& rule, uint16_t nlmsg_flags) = 0;
  // NLMSG_DONE for request `seq`.
  virtual void onDone(uint32_t /*seq*/) {}
  // NLMSG_ERROR for request `seq`; error is a positive errno, 0 for an ACK.
  virtual void onError(uint32_t /*seq*/, int /*error*/) {}
};

struct ParseStats {
  size_t messages = 0;        // well-formed messages handed to the sink (incl. DONE/ERROR)
  size_t malformed = 0;       // messages or attributes rejected by a length check
  size_t unknown = 0;         // message types the parser does not know (skipped)
  size_t skippedFamily = 0;   // well-formed messages of families netmon does not mirror (MPLS, bridge fdb)
  bool dumpInterrupted = false;  // some message carried NLM_F_DUMP_INTR
  ParseStats& operator+=(const ParseStats& o);
};

// Parses one datagram (one or more concatenated netlink messages). Only AF_INET/AF_INET6
// addresses, routes and rules are reported; links of any family.
ParseStats parseDatagram(std::span<const uint8_t> datagram, ParseSink& sink);

}  // namespace netmon::rtnl
