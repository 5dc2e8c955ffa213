#pragma once
// The pure parts of the active probe: what an HTTP exchange means (classifyProbe), and when the
// next probe is due (ProbeSchedule). No I/O, no clock: tested row by row in
// tests/unit/probe_logic_test.cc.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "netmon/probe.h"

namespace netmon::probe {

// At most this many body bytes are read; the transfer is stopped there.
inline constexpr size_t kMaxBodyBytes = size_t{64} * 1024;

// What came back, as libcurl reported it.
struct ProbeResponse {
  // An HTTP answer came: the transfer completed, or it was stopped by the body limit. False for
  // DNS, connect, TLS and timeout failures (then `error` says which).
  bool answered = false;
  std::string error;
  int status = 0;
  std::string body;        // at most kMaxBodyBytes
  bool bodyTruncated = false;
  std::string redirect;    // the Location of a 3xx answer, absolute; empty without one
};

// Appends one chunk of the answer's body as libcurl hands it over, up to kMaxBodyBytes. Returns the
// bytes taken: the chunk's size, or 0 once the limit is reached (then the body holds the first
// kMaxBodyBytes bytes and bodyTruncated is set), which makes libcurl stop the transfer.
size_t appendBody(ProbeResponse& response, std::string_view chunk);

// The status an answer must have: expectStatus, else 200 when a body is expected, else 204.
int expectedStatus(const ProbeOptions& options);
ProbeOutcome classifyProbe(const ProbeOptions& options, const ProbeResponse& response);

// When the next probe runs. One probe at a time: nothing is due while one is in flight.
class ProbeSchedule {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  explicit ProbeSchedule(const ProbeOptions& options) : options_(options) {}

  // The route to probe changed (the first call: the monitor started). `online`: there is an
  // Internet route to probe at all.
  void routeChanged(TimePoint now, bool online);
  void probeStarted();
  void probeFinished(TimePoint now, ProbeOutcome outcome);
  // When the next probe should start; none while no route is online or a probe is in flight.
  std::optional<TimePoint> due() const { return in_flight_ ? std::nullopt : due_; }
  // The delay after a run with `failures` consecutive captive-portal/no-answer outcomes (0: the
  // last one was online).
  std::chrono::milliseconds delayAfter(int failures) const;

 private:
  ProbeOptions options_;
  bool first_ = true;
  bool online_ = false;
  bool in_flight_ = false;
  int failures_ = 0;
  std::optional<TimePoint> due_;
};

}  // namespace netmon::probe
