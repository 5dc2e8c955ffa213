#pragma once
// EventHub: the daemon's one subscription to the status monitor, fanned out to every event-stream
// client as Server-Sent Events, with a bounded ring of recent events for clients that reconnect.
//
// Each event is rendered once (the JSON of `netmon watch --json`) into a frame
//   id: <epoch>-<sequence>
//   data: <json>
// shared by every client's queue. The id's epoch is random per daemon run, so a Last-Event-ID
// from an earlier run (whose sequence numbers meant something else) is never taken for this one.
//
// Joining a stream:
//   - without Last-Event-ID: where things stand, as `watch --json` starts (reachability of ipv4,
//     ipv6 and overall, each with previous "unknown"; only the last of the three has an id, so a
//     client cut off in between joins afresh), then every change;
//   - with the id of an event still in the ring (or of the latest one): exactly the events after
//     it, then every change;
//   - with any other id (evicted from the ring, another daemon run, garbage): one resync frame,
//     {"type":"resync","reason":"missed-events","status":{...the /v1/status object...}}, then every
//     change.
//
// Thread safety: none; use on the thread that runs the monitor's process() (the io_context's).
// Lifetime: the monitor must outlive the hub.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netmon/status_monitor.h"
#include "output/event_stream.h"
#include "serve/http_server.h"
#include "serve/metrics.h"

namespace netmon::serve {

class EventHub {
 public:
  EventHub(StatusMonitor& monitor, DaemonMetrics& metrics, size_t ring_capacity);
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // The reply to GET /v1/events.
  StreamResponse open(std::optional<std::string_view> last_event_id);

  size_t ringSize() const { return ring_.size(); }

 private:
  struct Stored {
    uint64_t sequence;
    std::shared_ptr<const std::string> frame;
  };

  void onEvent(const Event& event);
  std::shared_ptr<const std::string> frame(uint64_t sequence, const std::string& json) const;
  // The sequence a Last-Event-ID names, when it is one of ours.
  std::optional<uint64_t> parseId(std::string_view id) const;

  StatusMonitor& monitor_;
  DaemonMetrics& metrics_;
  const size_t ringCapacity_;
  const std::string epoch_;
  cli::EventStream stream_;
  std::deque<Stored> ring_;
  uint64_t latest_ = 0;   // the newest sequence the hub knows (joining snapshot or event)
  uint64_t evicted_ = 0;  // the newest sequence dropped from the ring: ids below it cannot resume
  std::vector<std::weak_ptr<StreamClient>> clients_;
  std::vector<std::shared_ptr<const std::string>> joiningFrames_;  // for joiningSequence_
  uint64_t joiningSequence_ = 0;
  std::chrono::steady_clock::time_point joiningRendered_;
  Subscription subscription_;
};

}  // namespace netmon::serve
