#pragma once
// The daemon's routes:
//   GET /v1/status            the `netmon status --json` object
//   GET /v1/events            Server-Sent Events (see event_hub.h)
//   GET /v1/reach?remote=ADDR[&from=ADDR][&interface=NAME]
//                             the connection monitor's answer, as `netmon reach --json`; 400 with
//                             {"error": ...} for a malformed or impossible question
//   GET /metrics              Prometheus text format, or OpenMetrics when Accept asks (metrics.h)
//   GET /-/healthy, /-/ready  Prometheus' own convention; ready once the initial dump is mirrored,
//                             which is before the daemon listens at all
//   anything else             404
//
// Thread safety: none; the io_context's thread only.
#include <string>

#include "netmon/connection_monitor.h"
#include "serve/event_hub.h"
#include "serve/http_server.h"
#include "serve/metrics.h"

namespace netmon::serve {

class Api {
 public:
  Api(ConnectionMonitor& monitor, EventHub& events, DaemonMetrics& metrics)
      : monitor_(monitor), events_(events), metrics_(metrics) {}

  Reply handle(const Request& request);

 private:
  Response reach(std::string_view query);

  ConnectionMonitor& monitor_;
  EventHub& events_;
  DaemonMetrics& metrics_;
};

// The question GET /v1/reach?remote=ADDR[&from=ADDR][&interface=NAME] asks, validated; the error
// is the {"error": ...} text of a 400 answer (unknown or repeated parameter, no remote, a
// malformed or impossible target).
tl::expected<ConnectionTarget, std::string> reachTarget(std::string_view query);

// Splits "a=1&b=%2F" into decoded pairs. Errors: a bad %-escape, or an empty name.
tl::expected<std::vector<std::pair<std::string, std::string>>, std::string> parseQuery(std::string_view query);

}  // namespace netmon::serve
