// netmon reach: is REMOTE reachable from here (from LOCAL, through INTERFACE), and if not, why —
// answered by the kernel's own route lookup; with --watch, a line each time the answer changes.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "common.h"
#include "event_loop.h"
#include "netmon/connection_monitor.h"
#include "output/json.h"
#include "output/link_directory.h"
#include "output/text.h"
#include "output/writer.h"

namespace netmon::cli {
namespace {

struct ReachOptions {
  std::string remote;
  std::string local;
  std::string interface;
  bool json = false;
  bool watch = false;
};

int exitCodeFor(const ConnectionState& state) { return state.reachable ? kExitOk : kExitFailure; }

// The first line of --watch (as an event, with no previous answer), or the only output without it.
std::string render(const Connection& connection, bool json, bool with_time) {
  if (!with_time) {
    return json ? toJsonLine(connectionToJson(connection.target, connection.state))
                : connectionToText(connection.target, connection.state) + "\n";
  }
  const Event event{0, std::chrono::system_clock::now(),
                    ConnectionEvent{connection.id, connection.target, connection.state, connection.state}};
  if (!json) return eventToText(event, LinkDirectory());
  nlohmann::json out = eventToJson(event, LinkDirectory());
  out["previous"] = nullptr;
  return toJsonLine(out);
}

int runReach(const GlobalOptions& global, const ReachOptions& options) {
  auto target = ConnectionTarget::parse(options.remote, options.local, options.interface);
  if (!target) {
    fail(target.error().detail.empty() ? target.error().message() : target.error().detail);
    return kExitUsage;
  }

  std::optional<TerminationSignals> signals;
  if (options.watch) {
    auto blocked = TerminationSignals::block();
    if (!blocked) return fail(blocked.error().message());
    signals.emplace(std::move(*blocked));
  }
  MonitorOptions monitorOptions = makeMonitorOptions(global);
  monitorOptions.threading = MonitorOptions::Threading::External;
  auto monitor = ConnectionMonitor::create(std::move(monitorOptions));
  if (!monitor) return fail(monitor.error().message());

  LineWriter& out = standardOutput();
  // Subscribe before adding: a change right after add() is then not missed.
  Subscription subscription;
  if (options.watch) {
    subscription = monitor->subscribe(Executor::inlineOnMonitorThread(), [&](const Event& event) {
      if (!std::holds_alternative<ConnectionEvent>(event.payload)) return;
      out.write(options.json ? toJsonLine(eventToJson(event, LinkDirectory())) : eventToText(event, LinkDirectory()));
    });
  }
  auto added = monitor->add(*target);
  if (!added) {
    const int code = added.error().code.value();
    // What the user named does not exist here: a bad argument, not a network state.
    if (code == EINVAL || code == ENODEV || code == EADDRNOTAVAIL) {
      fail(added.error().detail.empty() ? added.error().message() : added.error().detail);
      return kExitUsage;
    }
    return fail(added.error().message());
  }
  if (!out.write(render(*added, options.json, options.watch))) return exitCodeAfterWriteFailure(out);
  if (!options.watch) return exitCodeFor(added->state);

  return followUntilSignal(monitor->fd(), [&] { return monitor->process(); }, signals->fd(), out, [&] {
    auto last = monitor->connection(added->id);
    return last ? exitCodeFor(last->state) : kExitFailure;
  });
}

}  // namespace

Command reachCommand(CLI::App& parent) {
  auto options = std::make_shared<ReachOptions>();
  CLI::App* app = parent.add_subcommand(
      "reach", "Is REMOTE reachable from this host, and if not, why (the kernel's own route lookup)");
  app->add_option("remote", options->remote, "The remote address: 192.0.2.1, 2001:db8::1, fe80::1%eth0")
      ->required()
      ->type_name("REMOTE");
  app->add_option("--from", options->local, "The local address the connection uses (it must be on this host)")
      ->type_name("LOCAL");
  app->add_option("--interface", options->interface, "Leave through this interface (name or index)")
      ->type_name("NAME");
  app->add_flag("--json", options->json,
                "Print one JSON object: remote, local, reachable, reason, interface, gateway, source, and "
                "interface_index, link_state, medium, route_type, table, kernel_error, explanation");
  app->add_flag("--watch", options->watch,
                "Keep running; print the answer, then one line (or JSON object, with type, time, sequence, id "
                "and previous) each time it changes, until SIGINT/SIGTERM");
  app->footer(
      "Reasons: no-route, blackhole, unreachable, prohibit, link-down, local-address-gone, source-mismatch, "
      "interface-gone, lookup-failed.\n"
      "Exit status: 0 reachable, 1 not reachable (or netmon could not tell: see stderr), 2 bad arguments "
      "(malformed address, unknown interface, local address not on this host). With --watch: the status of "
      "the last answer when a signal ends it.");
  return {app, [options](const GlobalOptions& global) { return runReach(global, *options); }};
}

}  // namespace netmon::cli
