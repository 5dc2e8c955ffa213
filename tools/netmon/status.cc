// netmon status: the current reachability with its reasons, and the links.
#include <memory>

#include "common.h"
#include "output/json.h"
#include "output/text.h"
#include "output/writer.h"

namespace netmon::cli {
namespace {

struct StatusOptions {
  bool json = false;
};

int runStatus(const GlobalOptions& global, const StatusOptions& options) {
  MonitorOptions monitorOptions = makeMonitorOptions(global);
  // One answer and done: no thread is needed, create() has already mirrored the kernel's dump.
  monitorOptions.threading = MonitorOptions::Threading::External;
  auto monitor = StatusMonitor::create(std::move(monitorOptions));
  if (!monitor) return fail(monitor.error().message());

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
                "transport_medium, links, route_count, rules, counters");
  return {app, [options](const GlobalOptions& global) { return runStatus(global, *options); }};
}

}  // namespace netmon::cli
