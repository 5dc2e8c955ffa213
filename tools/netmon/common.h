#pragma once
// What every subcommand shares: the global options, how they become MonitorOptions, how a
// subcommand plugs into main.cc, and how the program reports a failure.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "netmon/status_monitor.h"

namespace netmon::cli {

// Exit codes: 0 success (also when the reader of stdout went away), 1 runtime failure, 2 bad
// arguments.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct GlobalOptions {
  std::string networkNamespace;
  std::vector<std::string> ignorePatterns;
  std::vector<std::string> ignoreKinds;
  bool noDefaultIgnore = false;
};

// Adds --netns, --ignore, --ignore-kind and --no-default-ignore to `app`.
void addGlobalOptions(CLI::App& app, GlobalOptions& options);

// The monitor options the global options ask for; subcommands then set threading, record, replay.
MonitorOptions makeMonitorOptions(const GlobalOptions& options);

// The active probe's options (--probe[=URL], --probe-expect-status, --probe-expect-body,
// --probe-ca, --probe-timeout, --probe-interval), shared by status, watch, wait-online and serve.
struct ProbeCliOptions {
  CLI::Option* probe = nullptr;  // given at all: the probe is on
  std::string url;               // empty: the default URL
  std::optional<int> expectStatus;
  std::optional<std::string> expectBody;
  std::string caFile;
  double timeoutSeconds = 10;
  double intervalSeconds = 300;
  bool enabled() const { return probe != nullptr && probe->count() > 0; }
};
void addProbeOptions(CLI::App& app, ProbeCliOptions& options);
// Sets monitor.probe when --probe was given. A custom URL without --probe-expect-* expects 204;
// the default URL expects its body ("NetworkManager is online").
void applyProbeOptions(const ProbeCliOptions& options, MonitorOptions& monitor);

// A subcommand, as main.cc sees it. Each subcommand file provides one function returning this:
// it adds its CLI::App (with its options bound to state it owns) and the function to run when the
// command line selected it.
struct Command {
  CLI::App* app = nullptr;
  std::function<int(const GlobalOptions&)> run;
};
using CommandSetup = Command (*)(CLI::App& parent);

// Prints "netmon: <message>" as one line on stderr and returns kExitFailure.
int fail(std::string_view message);

}  // namespace netmon::cli
