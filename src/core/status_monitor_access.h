#pragma once
// Library-internal hooks into a StatusMonitor, for monitors built on top of it (the connection
// monitor). Not part of the public API.
#include <functional>
#include <memory>
#include <vector>

#include "core/backend.h"
#include "netmon/status_monitor.h"

namespace netmon::detail {

class StatusMonitorAccess {
 public:
  // Called after each batch's events were published to subscribers, on the thread that handled
  // the batch (the monitor thread, or the process() caller), without the monitor's lock held:
  // it may call snapshot(). Receives every event of the kinds in its mask (and possibly others).
  using BatchObserver = std::function<void(const std::vector<Event>&)>;

  // StatusMonitor::create() with an observer installed before the first batch. `backend`: null
  // for the live kernel backend (a replay is refused).
  static Result<StatusMonitor> create(MonitorOptions options, std::unique_ptr<Backend> backend, EventMask mask,
                                      BatchObserver observer);
};

}  // namespace netmon::detail
