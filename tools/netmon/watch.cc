// netmon watch: the current state, then one line per change until SIGINT/SIGTERM.
//
// The monitor runs in External threading mode on the main thread: poll() waits on the monitor's fd
// and on a signalfd for SIGINT/SIGTERM, so there is no second thread, no lock contention on output,
// no busy loop and no timer. Callbacks run inline inside process().
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "common.h"
#include "event_loop.h"
#include "output/event_stream.h"
#include "output/json.h"
#include "output/text.h"
#include "output/writer.h"

namespace netmon::cli {
namespace {

constexpr EventKind kAllKinds[] = {EventKind::Link,   EventKind::Address, EventKind::Route,
                                   EventKind::Rule,   EventKind::Reachability, EventKind::Resync,
                                   EventKind::Probe};

std::string kindList() {
  std::string list;
  for (EventKind kind : kAllKinds) list += fmt::format("{}{}", list.empty() ? "" : ",", toString(kind));
  return list;
}

struct WatchOptions {
  bool json = false;
  std::vector<std::string> events;
  std::string recordPath;
  std::string replayPath;
  ProbeCliOptions probe;
};

// Renders the events of one subscription. Runs on the thread calling process() (the main thread).
class EventPrinter {
 public:
  EventPrinter(const StatusMonitor& monitor, EventMask shown, bool json, LineWriter& out)
      : monitor_(monitor), shown_(shown), json_(json), out_(out) {}

  void start(const Snapshot& snapshot) { stream_.start(snapshot); }

  void print(const Event& event) {
    out_.write(json_ ? toJsonLine(eventToJson(event, stream_.links())) : eventToText(event, stream_.links()));
  }

  void onEvent(const Event& event) {
    if (!stream_.accept(event)) return;
    if (stream_.needsReread(event)) stream_.reread(*monitor_.snapshot());
    if (shown_.contains(event.kind())) print(event);
  }

 private:
  const StatusMonitor& monitor_;
  const EventMask shown_;
  const bool json_;
  LineWriter& out_;
  EventStream stream_;
};

// Replays a recording: every batch, then done.
int runReplay(StatusMonitor& monitor, LineWriter& out) {
  while (!out.failed()) {
    auto handled = monitor.process();
    if (!handled) return fail(handled.error().message());
    if (*handled == 0) break;
  }
  return out.failed() ? exitCodeAfterWriteFailure(out) : kExitOk;
}

// Follows the kernel until SIGINT/SIGTERM, or until whoever reads stdout goes away.
int runLive(StatusMonitor& monitor, int signals, LineWriter& out) {
  return followUntilSignal(
      monitor.fd(), [&monitor] { return monitor.process(); }, signals, out, [] { return kExitOk; });
}

int runWatch(const GlobalOptions& global, const WatchOptions& options) {
  EventMask shown = options.events.empty() ? EventMask::all() : EventMask::none();
  for (const std::string& word : options.events) shown |= *eventKindFromString(word);  // validated by CLI11

  MonitorOptions monitorOptions = makeMonitorOptions(global);
  monitorOptions.threading = MonitorOptions::Threading::External;
  monitorOptions.recordPath = options.recordPath;
  monitorOptions.replayPath = options.replayPath;
  applyProbeOptions(options.probe, monitorOptions);
  const bool replay = !options.replayPath.empty();
  if (replay && options.probe.enabled()) {
    fail("--probe cannot be used with --replay (a recording cannot be probed)");
    return kExitUsage;
  }

  // SIGINT/SIGTERM become readable on a signalfd instead of killing us, so the recording is flushed
  // and the exit code is 0.
  std::optional<TerminationSignals> signals;
  if (!replay) {
    auto blocked = TerminationSignals::block();
    if (!blocked) return fail(blocked.error().message());
    signals.emplace(std::move(*blocked));
  }

  auto monitor = StatusMonitor::create(std::move(monitorOptions));
  if (!monitor) return fail(monitor.error().message());

  LineWriter& out = standardOutput();
  EventPrinter printer(*monitor, shown, options.json, out);
  // Link events keep interface names current for routes; address events keep link renderings whole;
  // resync events say when that bookkeeping must start over.
  EventMask wanted = shown | EventKind::Link | EventKind::Resync;
  if (shown.contains(EventKind::Link)) wanted |= EventKind::Address;
  Subscription subscription = monitor->subscribe(
      Executor::inlineOnMonitorThread(), [&printer](const Event& event) { printer.onEvent(event); }, wanted);
  // Subscribe first, then read the snapshot: events it already contains are skipped by sequence.
  const std::shared_ptr<const Snapshot> snapshot = monitor->snapshot();
  printer.start(*snapshot);
  if (shown.contains(EventKind::Reachability)) {
    for (const Event& event : currentStateEvents(*snapshot)) printer.print(event);
  }

  const int status = replay ? runReplay(*monitor, out) : runLive(*monitor, signals->fd(), out);
  if (!options.recordPath.empty()) monitor->flushRecording();
  return status;
}

}  // namespace

Command watchCommand(CLI::App& parent) {
  auto options = std::make_shared<WatchOptions>();
  CLI::App* app = parent.add_subcommand("watch", "Print the current reachability, then one line per change");
  app->add_flag("--json", options->json,
                "One JSON object per line: type, time, sequence, and change plus link/address/route/rule, or "
                "reachability/previous/family/reason/explanation, or reason/resyncs/differences");
  app->add_option("--events", options->events, "Print only these kinds of events: " + kindList())
      ->type_name("KIND,...")
      ->delimiter(',')
      ->check(CLI::Validator(
          [](std::string& word) -> std::string {
            // `connection` events come from `netmon reach --watch`, not from the status monitor.
            const auto kind = eventKindFromString(word);
            if (kind && std::find(std::begin(kAllKinds), std::end(kAllKinds), *kind) != std::end(kAllKinds)) return {};
            return fmt::format("unknown event kind '{}' (expected {})", word, kindList());
          },
          "", "EVENT_KIND"));
  CLI::Option* record = app->add_option("--record", options->recordPath,
                                        "Also write the raw netlink stream to FILE (rtmon format: `ip monitor "
                                        "file FILE` prints it), initial dump first")
                            ->type_name("FILE");
  app->add_option("--replay", options->replayPath,
                  "Print the events of a recording made with --record instead of following the kernel, then exit")
      ->type_name("FILE")
      ->excludes(record);
  addProbeOptions(*app, options->probe);
  app->footer(
      "At start, watch prints where things stand: one reachability line each for ipv4, ipv6 and overall (family "
      "\"any\"), with previous \"unknown\" (unless --events leaves reachability out). It then prints each change "
      "with an RFC 3339 UTC timestamp until SIGINT or SIGTERM, and exits 0.");
  return {app, [options](const GlobalOptions& global) { return runWatch(global, *options); }};
}

}  // namespace netmon::cli
