#pragma once
// The daemon's /metrics: Prometheus' text exposition format 0.0.4, or OpenMetrics 1.0.0 when the
// scraper's Accept header asks for it. prometheus-cpp holds the data model and the registry of
// what the daemon counts itself, and writes the Prometheus text format; the state of the network
// (reachability, links, counts, the monitor's health counters) is read from a Snapshot at each
// scrape, so a link that disappeared leaves no stale series behind.
//
// Names follow Prometheus' conventions: `netmon_` prefix, base units (seconds, bytes), `_total`
// counters, `device` labels as node_exporter spells them, `_info` gauges (value 1) for string
// attributes, and state sets (one series per state, the current one 1, the others 0). Label values
// are netmon's own spellings (netmon::toString), the same words as the JSON API.
//
// Thread safety: none; the daemon uses it from its one io_context thread.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "netmon/connection_monitor.h"
#include "netmon/event.h"
#include "netmon/snapshot.h"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
}  // namespace prometheus

namespace netmon::serve {

enum class MetricsFormat { PrometheusText, OpenMetrics };

// OpenMetrics when `accept` names application/openmetrics-text (with a q above 0), else the
// Prometheus text format — what Prometheus itself negotiates.
MetricsFormat negotiateMetricsFormat(std::string_view accept);
// "text/plain; version=0.0.4; charset=utf-8" or
// "application/openmetrics-text; version=1.0.0; charset=utf-8".
std::string_view contentTypeOf(MetricsFormat format);

// Why the HTTP server turned a connection away (netmon_http_connections_rejected_total{reason}).
enum class ConnectionRejection {
  Limit,    // every connection slot busy with a request or a stream: 503
  Evicted,  // closed to make room: it was the oldest still sending its request headers, or idle
  Descriptors,  // the process was out of file descriptors (EMFILE/ENFILE): 503 on a reserved one
};

// Which socket call of the HTTP server failed (netmon_http_socket_errors_total{operation}).
enum class SocketOperation {
  Accept,   // accept failed (EMFILE, ENFILE, ENOBUFS, ENOMEM): the connection waits in the backlog
            // or, out of descriptors, is refused (see http_server.h)
  Receive,  // a read from a client failed (reset, timeout): the connection is closed
  Send,     // a write to a client failed (reset, broken pipe): the connection is closed
};

class DaemonMetrics {
 public:
  DaemonMetrics();
  ~DaemonMetrics();
  DaemonMetrics(const DaemonMetrics&) = delete;
  DaemonMetrics& operator=(const DaemonMetrics&) = delete;

  // Every event of the status monitor: netmon_events_total{type}, and for reachability events
  // netmon_reachability_changes_total{family} and the time of the last change.
  void countEvent(const Event& event);
  // One answered request: netmon_http_requests_total{handler, code}. `handler` is the route
  // ("/metrics", "/v1/status", ...) or "other" for a 404, so a scanner cannot blow up cardinality.
  void countHttpRequest(std::string_view handler, unsigned status);
  void countRejectedConnection(ConnectionRejection why);
  // A socket call that failed with a real error (not EOF, not a cancellation).
  void countSocketError(SocketOperation operation);
  // An event-stream client disconnected because its queue overflowed
  // (netmon_sse_clients_dropped_total).
  void countStreamOverflow();
  void setOpenConnections(size_t open);  // netmon_http_connections
  void setStreamClients(size_t open);    // netmon_sse_clients

  // The whole exposition: the state in `snapshot`, what was counted above, netmon_build_info and
  // the process_* metrics Prometheus' client libraries export (open fds, resident memory, CPU,
  // start time), read from /proc/self.
  // `lookups`: the connection monitor's counters (/v1/reach asks the kernel through it).
  std::string render(const Snapshot& snapshot, MetricsFormat format,
                     std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
                     const ConnectionCounters& lookups = {}) const;

 private:
  struct Families;
  std::unique_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
  std::chrono::system_clock::time_point started_;
  std::chrono::system_clock::time_point lastChange_;
};

}  // namespace netmon::serve
