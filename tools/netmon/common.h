#pragma once
// What every subcommand shares: the global options, how they become MonitorOptions, how a
// subcommand plugs into main.cc, and how the program reports a failure.
#include <functional>
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
