// netmon status: the current reachability with its reasons, and the links.
#include <memory>

#include "common.h"
#include "event_loop.h"
#include "output/json.h"
#include "output/text.h"
#include "output/writer.h"

namespace netmon::cli {
namespace {

struct StatusOptions {
  bool json = false;
  ProbeCliOptions probe;
};

// With --probe: the first probe starts at once when there is an Internet route; its answer (or its
// own timeout) comes within the probe's total timeout. No route: nothing is probed, nothing waited.
Result<void> waitForFirstProbe(StatusMonitor& monitor, const MonitorOptions& options) {
  if (!options.probe || monitor.snapshot()->verdict.reachability != Reachability::Online) return {};
  const auto slack = std::chrono::seconds(2);  // thread start, name resolution setup, scheduling
  const EventLoop loop{.monitorFd = monitor.fd(),
                       .process = [&monitor] { return monitor.process(); },
                       .signalFd = -1,
                       .out = nullptr,
                       .deadline = std::chrono::steady_clock::now() + options.probe->totalTimeout + slack,
                       .done = [&monitor] { return monitor.snapshot()->probe.has_value(); }};
  auto end = loop.run();
  if (!end) return tl::unexpected(end.error());
  return {};
}

int runStatus(const GlobalOptions& global, const StatusOptions& options) {
  MonitorOptions monitorOptions = makeMonitorOptions(global);
  // One answer and done: no monitor thread is needed, create() has already mirrored the kernel's
  // dump (a probe, when asked for, runs on the probe's own worker).
  monitorOptions.threading = MonitorOptions::Threading::External;
  applyProbeOptions(options.probe, monitorOptions);
  auto monitor = StatusMonitor::create(monitorOptions);
  if (!monitor) return fail(monitor.error().message());
  if (auto waited = waitForFirstProbe(*monitor, monitorOptions); !waited) return fail(waited.error().message());

  const std::shared_ptr<const Snapshot> snapshot = monitor->snapshot();
  const std::string output = options.json ? toJsonLine(snapshotToJson(*snapshot)) : snapshotToText(*snapshot);
  LineWriter& out = standardOutput();
  if (!out.write(output)) return exitCodeAfterWriteFailure(out);
  return kExitOk;
}

}  // namespace

Command statusCommand(CLI::App& parent) {
  auto options = std::make_shared<StatusOptions>();
  CLI::App* app = parent.add_subcommand(
      "status", "Print the reachability of IPv4, IPv6 and overall with its reasons, and the links");
  app->add_flag("--json", options->json,
                "Print one JSON object: reachability, ipv4, ipv6, reason, explanation, ipv4_verdict, ipv6_verdict, "
                "transport_medium, captive_portal, probe, links, route_count, rules, counters");
  addProbeOptions(*app, options->probe);
  return {app, [options](const GlobalOptions& global) { return runStatus(global, *options); }};
}

}  // namespace netmon::cli
