#pragma once
// The probe worker: runs the active probe (probe.h) on its own thread and hands results to the
// monitor through an eventfd. libcurl stays inside src/probe/.
//
// Why a worker thread driving a one-transfer curl multi handle, rather than curl's multi interface
// on the monitor's own loop: the monitor's loop is either its thread or the caller's (External
// mode: one fd(), one process()); folding curl's changing set of sockets and timers into it would
// turn fd() into a curl socket multiplexer and put DNS and TLS work inside process(). A worker that
// blocks in curl_multi_poll() keeps the monitor's loop unchanged, makes "one probe in flight"
// structural, and curl_multi_wakeup() aborts a transfer at once when the monitor is destroyed
// (curl_easy_perform() would only notice within a second, through the progress callback).
//
// Thread safety: routeChanged() and takeResults() may be called from any thread (the monitor calls
// them from its thread); the worker shares only the state under mutex_.
#include <memory>
#include <string>
#include <vector>

#include "netmon/probe.h"
#include "netmon/result.h"
#include "netmon/snapshot.h"

namespace netmon::probe {

class Prober {
 public:
  // Starts the worker; it enters network namespace `namespace_fd` first (-1: stay), which it
  // never leaves. The descriptor is used only during create(). Errors: curl or eventfd setup,
  // the thread, or setns().
  static Result<std::unique_ptr<Prober>> create(ProbeOptions options, int namespace_fd);
  ~Prober();  // aborts a probe in flight and joins the worker

  // Readable (eventfd) while results wait in takeResults().
  int fd() const;
  // The overall routed verdict after a batch: when it differs from the last one (route, gateway,
  // link, source or reachability), a probe is scheduled (see ProbeSchedule).
  void routeChanged(const Verdict& routed);
  // The results finished since the last call, oldest first; resets fd().
  std::vector<ProbeResult> takeResults();

  class Impl;

 private:
  explicit Prober(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace netmon::probe
