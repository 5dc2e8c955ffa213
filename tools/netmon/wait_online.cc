// netmon wait-online: exits 0 as soon as the network is up (at once when it already is), 1 when the
// timeout passes first, naming what was still missing, and 2 for bad arguments. The options are
// systemd-networkd-wait-online's where the meaning is the same, but the answer comes from the
// kernel (links, addresses, routes), so it works whatever manages the network.
//
// No polling: the monitor runs in External threading mode in the shared EventLoop (event_loop.h),
// whose poll() blocks on its fd and on a signalfd for SIGINT/SIGTERM, with the time left until the
// deadline as poll's timeout. An inline subscription to link, address, reachability and resync
// events marks the condition stale; it is re-evaluated once per process() batch that delivered one.
// Route churn that leaves reachability as it was (a full BGP table) therefore costs one process()
// call and no evaluation.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <tl/expected.hpp>

#include "common.h"
#include "event_loop.h"
#include "netmon/connection_monitor.h"
#include "output/text.h"
#include "output/writer.h"

namespace netmon::cli {
namespace {

using Clock = std::chrono::steady_clock;

// What the command line asked for, as typed; validated by CLI11 (the checks below) before run.
struct WaitOptions {
  std::string timeout = "120";
  std::vector<std::string> interfaces;
  std::string operationalState;
  std::string reachability = "online";
  bool reachabilityGiven = false;
  bool ipv4 = false;
  bool ipv6 = false;
  bool any = false;
  bool quiet = false;
  std::vector<std::string> remotes;
  ProbeCliOptions probe;
};

// ─── Parsing the arguments ───────────────────────────────────────────────────────────────────

constexpr double kMaxTimeoutSeconds = 1e9;  // ~31 years; keeps the deadline inside steady_clock

struct StateRange {
  OperationalState min = OperationalState::Degraded;
  OperationalState max = OperationalState::Routable;
};

std::string stateList() {
  std::string list;
  for (auto state = static_cast<int>(OperationalState::Off); state <= static_cast<int>(OperationalState::Routable);
       ++state) {
    list += fmt::format("{}{}", list.empty() ? "" : ", ", toString(static_cast<OperationalState>(state)));
  }
  return list;
}

tl::expected<double, std::string> parseTimeout(std::string_view text) {
  if (text.starts_with('-')) return tl::unexpected(fmt::format("'{}' is negative (0 waits forever)", text));
  double seconds = 0;
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, seconds, std::chars_format::fixed);
  if (text.empty() || error != std::errc() || stop != end || !std::isdigit(static_cast<unsigned char>(text.front())))
    return tl::unexpected(fmt::format("'{}' is not a number of seconds", text));
  if (seconds > kMaxTimeoutSeconds) return tl::unexpected(fmt::format("'{}' is too long (at most 1e9 seconds)", text));
  return seconds;
}

tl::expected<OperationalState, std::string> parseState(std::string_view word) {
  if (auto state = operationalStateFromString(word)) return *state;
  return tl::unexpected(fmt::format("unknown operational state '{}' (expected {})", word, stateList()));
}

// "MIN[:MAX]" in systemd's vocabulary; MAX defaults to routable, as in systemd.
tl::expected<StateRange, std::string> parseRange(std::string_view text) {
  const size_t colon = text.find(':');
  auto min = parseState(text.substr(0, colon));
  if (!min) return tl::unexpected(min.error());
  StateRange range{*min, OperationalState::Routable};
  if (colon != std::string_view::npos) {
    auto max = parseState(text.substr(colon + 1));
    if (!max) return tl::unexpected(max.error());
    range.max = *max;
  }
  if (range.min > range.max)
    return tl::unexpected(fmt::format("minimum state {} is above maximum state {} (states in order: {})",
                                      toString(range.min), toString(range.max), stateList()));
  return range;
}

struct InterfaceSpec {
  std::string name;
  std::optional<StateRange> range;  // none: -o's range, or degraded..routable
};

tl::expected<InterfaceSpec, std::string> parseInterface(std::string_view text) {
  const size_t colon = text.find(':');
  InterfaceSpec spec{std::string(text.substr(0, colon)), std::nullopt};
  if (!isValidInterfaceName(spec.name))
    return tl::unexpected(fmt::format("'{}' is not a valid interface name (1-15 characters, no '/' or white space)",
                                      spec.name));
  if (colon == std::string_view::npos) return spec;
  const std::string_view states = text.substr(colon + 1);
  if (std::count(states.begin(), states.end(), ':') > 1)
    return tl::unexpected(fmt::format("'{}' has too many fields (expected NAME[:MIN_STATE[:MAX_STATE]])", text));
  auto range = parseRange(states);
  if (!range) return tl::unexpected(range.error());
  spec.range = *range;
  return spec;
}

// "198.51.100.7", "2001:db8::1", "fe80::1%eth0": what `netmon reach` accepts as REMOTE.
tl::expected<ConnectionTarget, std::string> parseRemote(std::string_view text) {
  auto target = ConnectionTarget::parse(text);
  if (!target) return tl::unexpected(target.error().detail);
  return *target;
}

template <class Parse>
CLI::Validator validator(Parse parse, std::string name) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        auto parsed = parse(text);
        return parsed ? std::string() : parsed.error();
      },
      "", std::move(name));
}

// ─── The condition ───────────────────────────────────────────────────────────────────────────
//
// What is waited for, from the options (systemd-networkd-wait-online's meaning where it has one):
//
//   options                     condition
//   ──────────────────────────  ──────────────────────────────────────────────────────────────────
//   (none)                      reachability >= LEVEL (default online) of either family
//   -4 / -6 / -4 -6             reachability >= LEVEL of IPv4 / of IPv6 / of both
//   -i NAME[:MIN[:MAX]] ...     every listed link (one, with --any) exists and its operational state
//                               is in [MIN, MAX] (default: -o's range, else degraded..routable);
//                               with -4/-6 it also holds a usable address of that family (routable
//                               scope when MIN is routable) — systemd's per-link address check
//   -o MIN[:MAX] without -i     at least one link that is neither loopback nor ignored is in range
//   --remote ADDRESS ...        each remote is reachable: the kernel's route lookup finds a usable
//                               route through a link with carrier (netmon reach's answer)
//   -i, -o or --remote with     all of them: the interface/remote conditions and reachability >= LEVEL
//     --reachability LEVEL
//
// The interface and remote conditions replace the reachability default, as -i replaces systemd's default, so
// that `-i eth0:carrier` works on a LAN without a route to the Internet. An -i link that does not
// exist yet is waited for. An -i name matching an --ignore glob is dropped (with a warning).
struct Goal {
  struct Interface {
    std::string name;
    StateRange range;
  };
  std::vector<Interface> interfaces;  // -i
  std::optional<StateRange> anyLink;  // -o without -i
  std::vector<ConnectionTarget> remotes;  // --remote
  bool anyInterface = false;          // --any
  bool ipv4 = false;                  // -4
  bool ipv6 = false;                  // -6
  bool reachabilityRequired = true;
  Reachability level = Reachability::Online;
  bool probe = false;                 // --probe: also a probe answered online through the route
};

struct Assessment {
  bool met = true;
  std::vector<std::string> satisfied;  // what holds, for the success line
  std::vector<std::string> missing;    // what does not, for the waiting and timeout lines
};

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string text;
  for (const std::string& part : parts) text += (text.empty() ? "" : std::string(separator)) + part;
  return text;
}

std::string rangeText(const StateRange& range) {
  if (range.min == range.max) return std::string(toString(range.min));
  if (range.max == OperationalState::Routable) return fmt::format("at least {}", toString(range.min));
  return fmt::format("{}..{}", toString(range.min), toString(range.max));
}

std::vector<Family> linkFamilies(const Goal& goal) {
  std::vector<Family> families;
  if (goal.ipv4) families.push_back(Family::Ipv4);
  if (goal.ipv6) families.push_back(Family::Ipv6);
  return families;
}

std::string linkGoalText(const Goal& goal, const StateRange& range) {
  std::string text = rangeText(range);
  const bool routable = range.min >= OperationalState::Routable;
  for (Family family : linkFamilies(goal))
    text += fmt::format(" with a {}{} address", routable ? "routable " : "", toString(family));
  return text;
}

std::string reachabilityGoalText(const Goal& goal) {
  const std::string_view level = toString(goal.level);
  if (goal.ipv4 && goal.ipv6) return fmt::format("ipv4 and ipv6 {}", level);
  if (goal.ipv4) return fmt::format("ipv4 {}", level);
  if (goal.ipv6) return fmt::format("ipv6 {}", level);
  return fmt::format("{} (ipv4 or ipv6)", level);
}

// One line: "ipv4 online and veth0 routable".
std::string describe(const Goal& goal) {
  std::vector<std::string> parts;
  if (!goal.interfaces.empty()) {
    std::vector<std::string> links;
    for (const Goal::Interface& wanted : goal.interfaces)
      links.push_back(fmt::format("{} {}", wanted.name, linkGoalText(goal, wanted.range)));
    parts.push_back(goal.anyInterface && links.size() > 1 ? "one of " + join(links, ", ") : join(links, " and "));
  }
  if (goal.anyLink) parts.push_back("a link that is " + linkGoalText(goal, *goal.anyLink));
  for (const ConnectionTarget& remote : goal.remotes) parts.push_back(remote.toString() + " reachable");
  if (goal.reachabilityRequired) parts.push_back(reachabilityGoalText(goal));
  if (goal.probe) parts.emplace_back("the probe answering online");
  return join(parts, " and ");
}

// Mirrors the library's address levels (routable vs. link-local) for one family of one link.
bool hasAddress(const Snapshot& snapshot, const Link& link, Family family, bool routable) {
  for (const Address& address : snapshot.addressesOf(link.index)) {
    if (address.family() != family || !address.isUsable() || address.scope == Scope::Host) continue;
    const bool linkLocal = address.address.isLinkLocal() || address.scope == Scope::Link;
    if (!routable || !linkLocal) return true;
  }
  return false;
}

// Why `link` does not meet `range` (and the family addresses), or "" when it does.
std::string linkShortfall(const Goal& goal, const Snapshot& snapshot, const Link& link, const StateRange& range) {
  const OperationalState state = link.operationalState;
  if (state < range.min || state > range.max) return fmt::format("{} is {}", link.name, toString(state));
  const bool routable = range.min >= OperationalState::Routable;
  for (Family family : linkFamilies(goal)) {
    if (!hasAddress(snapshot, link, family, routable))
      return fmt::format("{} is {} but has no {}{} address", link.name, toString(state), routable ? "routable " : "",
                         toString(family));
  }
  return {};
}

void assessInterfaces(const Goal& goal, const Snapshot& snapshot, Assessment& result) {
  std::vector<std::string> unmet;
  for (const Goal::Interface& wanted : goal.interfaces) {
    const Link* link = snapshot.findLink(wanted.name);
    std::string shortfall = link ? linkShortfall(goal, snapshot, *link, wanted.range)
                                 : fmt::format("{} does not exist", wanted.name);
    if (shortfall.empty()) {
      result.satisfied.push_back(fmt::format("{} {}", link->name, toString(link->operationalState)));
    } else {
      unmet.push_back(std::move(shortfall));
    }
  }
  const bool met = goal.anyInterface ? !result.satisfied.empty() : unmet.empty();
  if (!met) {
    result.met = false;
    result.missing.insert(result.missing.end(), unmet.begin(), unmet.end());
  }
}

void assessAnyLink(const Goal& goal, const Snapshot& snapshot, Assessment& result) {
  std::vector<std::string> others;
  for (const Link& link : snapshot.links) {
    if (link.isLoopback() || link.ignored) continue;
    if (linkShortfall(goal, snapshot, link, *goal.anyLink).empty()) {
      result.satisfied.push_back(fmt::format("{} {}", link.name, toString(link.operationalState)));
      return;
    }
    others.push_back(fmt::format("{} {}", link.name, toString(link.operationalState)));
  }
  result.met = false;
  result.missing.push_back(fmt::format("no link is {}{}", linkGoalText(goal, *goal.anyLink),
                                       others.empty() ? " (no link that is not loopback or ignored)"
                                                      : " (" + join(others, ", ") + ")"));
}

void assessReachability(const Goal& goal, const Snapshot& snapshot, Assessment& result) {
  // Unknown sorts below Disconnected, so it never satisfies a level.
  const auto reaches = [&goal](Reachability r) { return r >= goal.level; };
  if (!goal.ipv4 && !goal.ipv6) {
    if (reaches(snapshot.reachability)) {
      result.satisfied.push_back(snapshot.verdict.explanation());
    } else {
      result.met = false;
      result.missing.push_back("ipv4 " + snapshot.ipv4.verdict.explanation());
      result.missing.push_back("ipv6 " + snapshot.ipv6.verdict.explanation());
    }
    return;
  }
  const struct {
    bool wanted;
    std::string_view name;
    const FamilyState& state;
  } rows[] = {{goal.ipv4, "ipv4", snapshot.ipv4}, {goal.ipv6, "ipv6", snapshot.ipv6}};
  for (const auto& row : rows) {
    if (!row.wanted) continue;
    const std::string text = fmt::format("{} {}", row.name, row.state.verdict.explanation());
    if (reaches(row.state.reachability)) {
      result.satisfied.push_back(text);
    } else {
      result.met = false;
      result.missing.push_back(text);
    }
  }
}

// `connections`: the watched remotes' current answers (ConnectionMonitor::connections()).
void assessRemotes(const std::vector<Connection>& connections, Assessment& result) {
  for (const Connection& connection : connections) {
    std::string text = connection.target.toString() + " " + connection.state.explanation();
    if (connection.state.reachable) {
      result.satisfied.push_back(std::move(text));
    } else {
      result.met = false;
      result.missing.push_back(std::move(text));
    }
  }
}

// --probe: the last probe went through the route that carries the Internet now and got the
// expected answer. Until the first probe of that route has answered, this is missing (a routed
// Online alone is not enough when a probe was asked for).
void assessProbe(const Snapshot& snapshot, Assessment& result) {
  if (!snapshot.probe) {
    result.met = false;
    result.missing.emplace_back(snapshot.verdict.reachability >= Reachability::Site && !snapshot.verdict.linkName.empty()
                                 ? "probe: no answer yet"
                                 : "probe: no Internet route to probe");
    return;
  }
  const std::string text = "probe " + probeText(*snapshot.probe);
  if (snapshot.probe->interface != snapshot.verdict.linkName) {
    result.met = false;
    result.missing.push_back("probe: not yet run through the current route (last: " + text + ")");
  } else if (snapshot.probe->outcome != ProbeOutcome::Online) {
    result.met = false;
    result.missing.push_back(text);
  } else {
    result.satisfied.push_back(text);
  }
}

Assessment assess(const Goal& goal, const Snapshot& snapshot, const std::vector<Connection>& remotes) {
  Assessment result;
  if (!goal.interfaces.empty()) assessInterfaces(goal, snapshot, result);
  if (goal.anyLink) assessAnyLink(goal, snapshot, result);
  assessRemotes(remotes, result);
  if (goal.reachabilityRequired) assessReachability(goal, snapshot, result);
  if (goal.probe) assessProbe(snapshot, result);
  return result;
}

// ─── Running ─────────────────────────────────────────────────────────────────────────────────

std::string secondsText(double seconds) { return fmt::format("{:g} s", seconds); }

std::string signalName(uint32_t number) {
  if (number == SIGINT) return "SIGINT";
  if (number == SIGTERM) return "SIGTERM";
  return fmt::format("signal {}", number);
}

// Builds the goal; prints a usage error and returns nullopt when the options contradict each other.
std::optional<Goal> makeGoal(const GlobalOptions& global, const WaitOptions& options) {
  Goal goal;
  goal.ipv4 = options.ipv4;
  goal.ipv6 = options.ipv6;
  goal.anyInterface = options.any;
  goal.level = *reachabilityFromString(options.reachability);  // validated by CLI11
  std::optional<StateRange> defaultRange;
  if (!options.operationalState.empty()) defaultRange = *parseRange(options.operationalState);

  // --ignore is a global option; here it also takes links out of the -i list, as its name says.
  const LinkFilter ignored{global.ignorePatterns, {}};
  std::vector<std::string> dropped;
  for (const std::string& text : options.interfaces) {
    const InterfaceSpec spec = *parseInterface(text);  // validated by CLI11
    if (ignored.matches(spec.name, "")) {
      dropped.push_back(spec.name);
      continue;
    }
    goal.interfaces.push_back({spec.name, spec.range.value_or(defaultRange.value_or(StateRange{}))});
  }
  if (!options.interfaces.empty() && goal.interfaces.empty()) {
    fail("every --interface matches --ignore: nothing left to wait for");
    return std::nullopt;
  }
  for (const std::string& name : dropped) fail(fmt::format("--interface {} matches --ignore, ignoring", name));
  if (options.interfaces.empty() && defaultRange) goal.anyLink = defaultRange;
  for (const std::string& text : options.remotes) goal.remotes.push_back(*parseRemote(text));  // validated by CLI11
  goal.reachabilityRequired =
      options.reachabilityGiven || (goal.interfaces.empty() && !goal.anyLink && goal.remotes.empty());
  goal.probe = options.probe.enabled();
  return goal;
}

int runWaitOnline(const GlobalOptions& global, const WaitOptions& options) {
  const Clock::time_point start = Clock::now();
  const double timeoutSeconds = *parseTimeout(options.timeout);  // validated by CLI11
  std::optional<Clock::time_point> deadline;
  if (timeoutSeconds > 0)
    deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeoutSeconds));

  const std::optional<Goal> goal = makeGoal(global, options);
  if (!goal) return kExitUsage;
  const std::string goalText = describe(*goal);

  // SIGINT/SIGTERM arrive on a signalfd, so the exit can name what was missing.
  auto signals = TerminationSignals::block();
  if (!signals) return fail(signals.error().message());

  MonitorOptions monitorOptions = makeMonitorOptions(global);
  monitorOptions.threading = MonitorOptions::Threading::External;
  applyProbeOptions(options.probe, monitorOptions);
  // Remotes need the connection monitor (a kernel route lookup socket besides the status monitor);
  // without them the status monitor alone will do.
  std::optional<ConnectionMonitor> connections;
  std::optional<StatusMonitor> statusOnly;
  StatusMonitor* monitor = nullptr;
  if (!goal->remotes.empty()) {
    auto created = ConnectionMonitor::create(std::move(monitorOptions));
    if (!created) return fail(created.error().message());
    connections.emplace(std::move(*created));
    monitor = &connections->statusMonitor();
  } else {
    auto created = StatusMonitor::create(std::move(monitorOptions));
    if (!created) return fail(created.error().message());
    statusOnly.emplace(std::move(*created));
    monitor = &*statusOnly;
  }

  // Inline: runs inside process() on this thread, so a plain flag will do.
  bool stale = true;
  Subscription subscription = monitor->subscribe(
      Executor::inlineOnMonitorThread(), [&stale](const Event&) { stale = true; },
      EventMask(EventKind::Link) | EventKind::Address | EventKind::Reachability | EventKind::Resync |
          EventKind::Probe);
  Subscription remoteSubscription;
  if (connections) {
    remoteSubscription =
        connections->subscribe(Executor::inlineOnMonitorThread(), [&stale](const Event&) { stale = true; });
  }
  // Remotes scoped to an interface that does not exist yet are waited for, like -i links: added
  // once the interface appears.
  std::vector<ConnectionTarget> notYetAdded = goal->remotes;
  const auto addRemotes = [&]() -> std::optional<int> {
    std::vector<ConnectionTarget> still;
    for (const ConnectionTarget& remote : notYetAdded) {
      auto added = connections->add(remote);
      if (added) continue;
      const int code = added.error().code.value();
      if (code == ENODEV) {
        still.push_back(remote);
        continue;
      }
      fail("--remote " + remote.toString() + ": " + added.error().detail);
      return code == EINVAL || code == EADDRNOTAVAIL ? kExitUsage : kExitFailure;
    }
    notYetAdded = std::move(still);
    return std::nullopt;
  };
  if (connections) {
    if (auto failed = addRemotes()) return *failed;
  }

  LineWriter& out = standardOutput();
  const auto say = [&](const std::string& line) {
    // The exit status is the answer; a closed stdout does not change it.
    if (!options.quiet) out.write("netmon: " + line + "\n");
  };
  const auto elapsed = [&start] { return std::chrono::duration<double>(Clock::now() - start).count(); };

  Assessment assessment;
  // True once the goal is met; announces the wait the first time it is not.
  bool announced = false;
  const auto met = [&]() {
    if (!stale) return false;
    stale = false;
    // Not held across process(): a held snapshot makes the next route change copy the table.
    if (connections && !notYetAdded.empty()) (void)addRemotes();  // a failure other than ENODEV stays missing
    assessment = assess(*goal, *monitor->snapshot(), connections ? connections->connections() : std::vector<Connection>{});
    for (const ConnectionTarget& remote : notYetAdded) {
      assessment.met = false;
      assessment.missing.push_back(remote.toString() + ": its interface does not exist");
    }
    if (!assessment.met && !announced) {
      announced = true;
      say(fmt::format("waiting {} for {}; missing: {}",
                      deadline ? "up to " + secondsText(timeoutSeconds) : "without a timeout", goalText,
                      join(assessment.missing, "; ")));
    }
    return assessment.met;
  };

  LoopEnd end = LoopEnd::Done;
  if (!met()) {
    // Without `out`: a reader of stdout that went away does not end the wait.
    const EventLoop loop{.monitorFd = monitor->fd(),
                         .process = [&monitor] { return monitor->process(); },
                         .signalFd = signals->fd(),
                         .out = nullptr,
                         .deadline = deadline,
                         .done = met};
    auto ended = loop.run();
    if (!ended) return fail(ended.error().message());
    end = *ended;
  }
  const std::string missing = join(assessment.missing, "; ");
  switch (end) {
    case LoopEnd::Done:
      say(fmt::format("ready after {:.3f} s: {}", elapsed(), join(assessment.satisfied, "; ")));
      return kExitOk;
    case LoopEnd::Deadline:
      return fail(fmt::format("timed out after {} waiting for {}; missing: {}", secondsText(timeoutSeconds), goalText,
                              missing));
    case LoopEnd::Signal:
    case LoopEnd::ReaderGone:  // not watched (no `out`)
      break;
  }
  // The loop leaves the signal queued on the signalfd: read it to name it.
  signalfd_siginfo info{};
  const bool named = ::read(signals->fd(), &info, sizeof info) == static_cast<ssize_t>(sizeof info);
  return fail(fmt::format("interrupted by {} after {:.3f} s waiting for {}; missing: {}",
                          named ? signalName(info.ssi_signo) : "a signal", elapsed(), goalText, missing));
}

}  // namespace

Command waitOnlineCommand(CLI::App& parent) {
  auto options = std::make_shared<WaitOptions>();
  CLI::App* app = parent.add_subcommand(
      "wait-online",
      "Wait until the network is up: exit 0 as soon as it is (at once if it already is), 1 at the timeout");
  app->add_option("--timeout", options->timeout, "Give up after SECONDS (a decimal number); 0 waits forever")
      ->type_name("SECONDS")
      ->capture_default_str()
      ->check(validator(parseTimeout, "SECONDS"));
  app->add_option("-i,--interface", options->interfaces,
                  "Wait for this link to exist with an operational state in [MIN_STATE, MAX_STATE] (default: "
                  "--operational-state, else degraded:routable) (repeatable; all must hold, or one with --any)")
      ->type_name("NAME[:MIN_STATE[:MAX_STATE]]")
      ->allow_extra_args(false)
      ->check(validator(parseInterface, "INTERFACE"));
  app->add_option("-o,--operational-state", options->operationalState,
                  "Default state range for --interface; without --interface, wait until some link that is not "
                  "loopback or ignored is in this range. States, lowest first: " +
                      stateList())
      ->type_name("MIN_STATE[:MAX_STATE]")
      ->check(validator(parseRange, "STATES"));
  app->add_flag("-4,--ipv4", options->ipv4,
                "Require IPv4: its reachability (or, with --interface/-o, an IPv4 address on the link)");
  app->add_flag("-6,--ipv6", options->ipv6,
                "Require IPv6: its reachability (or, with --interface/-o, an IPv6 address on the link)");
  app->add_flag("--any", options->any, "With several --interface: one of them suffices instead of all");
  CLI::Option* reachability = app->add_option("--reachability", options->reachability,
                  "Reachability to wait for: local, site or online. Without --interface/-o this is the condition; "
                  "with them, giving it requires it as well")
      ->type_name("LEVEL")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& word) -> std::string {
            auto level = reachabilityFromString(word);
            if (level && *level >= Reachability::Local) return {};
            return fmt::format("unknown reachability '{}' (expected local, site or online)", word);
          },
          "", "LEVEL"));
  app->add_option("--remote", options->remotes,
                  "Wait until this remote is reachable, as `netmon reach` answers it: the kernel's route lookup "
                  "finds a route through a link with carrier (repeatable; all must be reachable)")
      ->type_name("ADDRESS")
      ->allow_extra_args(false)
      ->check(validator(parseRemote, "ADDRESS"));
  addProbeOptions(*app, options->probe);
  app->add_flag("-q,--quiet", options->quiet,
                "Print nothing on stdout; a timeout or an interruption is still reported on stderr");
  app->footer(
      "Without --interface, -o or --remote it waits for reachability (default: online, from IPv4 or IPv6). Unless --quiet, "
      "it prints one line of what it waits for and what is missing, and on success one line of what satisfied "
      "it. At the timeout, or on SIGINT/SIGTERM, it prints one line on stderr naming what was still missing and "
      "exits 1. Bad arguments exit 2. An --interface that does not exist yet is waited for. The global --ignore "
      "GLOB leaves matching links out of reachability and out of the --interface list; veth*, docker* and other "
      "container plumbing are ignored by default (--no-default-ignore).");
  return {app, [options, reachability](const GlobalOptions& global) {
            options->reachabilityGiven = reachability->count() > 0;
            return runWaitOnline(global, *options);
          }};
}

}  // namespace netmon::cli
