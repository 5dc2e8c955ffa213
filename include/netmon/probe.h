#pragma once
// The active probe: an HTTP GET to a connectivity-check URL whose expected answer is configured,
// run by a StatusMonitor whose MonitorOptions::probe is set. Routes say a path exists; only a real
// request says the Internet answers. It finds captive portals (hotel and airport Wi-Fi that
// answers every request with a login page) and upstream outages the routing table cannot see.
//
// Off by default: a monitor without MonitorOptions::probe contacts no host, ever.
//
// ADVICE, NOT PROOF. A verdict is a hint for a person or for deciding when to retry, never a
// security decision:
//   - A plain-HTTP probe can be forged by anyone on the path (the Wi-Fi's owner, a neighbour
//     spoofing ARP, the ISP): they can make a portal look online, or the Internet look like a
//     portal. A program must not relax security (skip a VPN, trust the network, send credentials)
//     because a probe said "online".
//   - An HTTPS URL (certificates verified against the system's or `caFile`'s authorities) gives
//     a verdict an attacker cannot forge without a certificate the host trusts; they can still
//     block it, which reads as no-answer or captive-portal, never as online.
//
// What runs: libcurl, bounded — connect and total timeouts, at most 64 KiB of body read, redirects
// never followed (a redirect is the portal's answer), at most one probe in flight per monitor. It
// binds to the interface of the route it checks (SO_BINDTODEVICE), so it tests that route and not
// whatever another route would pick. Names in the URL are resolved by the system's resolver, which
// is not bound to that interface.
//
// When it runs: when the monitor starts, after each change of the route that carries the Internet
// (debounced), and every `interval`; while the last outcome was captive-portal or no-answer it
// re-checks sooner, backing off from `retryInitial` to `interval`. Only while the routed
// reachability is Online: without an Internet route there is nothing to probe.
//
// Thread safety: plain values.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "netmon/export.h"

namespace netmon {

enum class ProbeOutcome : uint8_t {
  Online,         // the expected answer came back
  CaptivePortal,  // an answer, but not the expected one: a redirect (see ProbeResult::redirect), or
                  // another status or body (a login page served in place of the answer)
  NoAnswer,       // no HTTP answer: name resolution, connect or TLS failure, or a timeout
};
NETMON_EXPORT std::string_view toString(ProbeOutcome);  // "online", "captive-portal", "no-answer"
NETMON_EXPORT std::optional<ProbeOutcome> probeOutcomeFromString(std::string_view);

// Debian's NetworkManager connectivity check (network-test.debian.org/nm), which answers 200 with
// the body "NetworkManager is online".
inline constexpr std::string_view kDefaultProbeUrl = "http://network-test.debian.org/nm";
inline constexpr std::string_view kDefaultProbeBody = "NetworkManager is online";

struct NETMON_EXPORT ProbeOptions {
  // http:// or https://. Change the expected answer with it: the defaults fit kDefaultProbeUrl.
  std::string url = std::string(kDefaultProbeUrl);
  // The expected answer. The status must equal expectStatus; unset, it must be 200 when a body
  // is expected, else 204 (the "generate_204" convention). The body, when expected, must equal
  // expectBody once trailing white space is removed from both.
  std::optional<int> expectStatus;
  std::optional<std::string> expectBody = std::string(kDefaultProbeBody);
  // A PEM file of certificate authorities to verify an HTTPS server with, instead of the system's
  // store (a private CA, or a test's). Empty: the system's store.
  std::string caFile;

  std::chrono::milliseconds connectTimeout{5000};
  std::chrono::milliseconds totalTimeout{10000};
  // The period of re-checks while the last outcome was online.
  std::chrono::milliseconds interval{300000};
  // After captive-portal or no-answer, the next check comes this soon, then twice as late each
  // time, up to `interval`.
  std::chrono::milliseconds retryInitial{10000};
  // A change of the Internet route schedules a probe this long after the last change of a burst.
  std::chrono::milliseconds debounce{1000};
};

// One probe run.
struct NETMON_EXPORT ProbeResult {
  ProbeOutcome outcome = ProbeOutcome::NoAnswer;
  std::string url;
  // The Location of a redirect (absolute, as libcurl resolves it), else empty.
  std::string redirect;
  int httpStatus = 0;        // 0 when no HTTP answer came
  std::string interface;     // the link the probe was bound to; empty when unbound
  std::string error;         // for no-answer: what failed ("Connection refused", ...); else empty
  uint64_t bodyBytes = 0;    // body bytes read (at most 64 KiB: the rest is never read)
  std::chrono::duration<double> latency{0};          // from start to the answer (or the failure)
  std::chrono::system_clock::time_point time;       // when the probe finished
  friend bool operator==(const ProbeResult&, const ProbeResult&) = default;
};

}  // namespace netmon
