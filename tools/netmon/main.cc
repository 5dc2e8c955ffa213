// netmon: the command-line front end of libnetmon. Parses the global options, hands over to the
// selected subcommand, and maps failures to exit codes (see common.h).
#include <csignal>
#include <exception>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "netmon/version.h"

namespace {

using netmon::cli::CommandSetup;

constexpr CommandSetup kCommands[] = {
    netmon::cli::statusCommand,
    netmon::cli::watchCommand,
    netmon::cli::reachCommand,
    netmon::cli::waitOnlineCommand,
    netmon::cli::serveCommand,
};

}  // namespace

int main(int argc, char** argv) {
  using namespace netmon::cli;
  // A closed stdout (`netmon watch | head`) must surface as EPIPE from write, which the output
  // layer turns into a clean exit, not as a fatal signal.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app("Linux network connectivity monitor: reachability from the kernel's own links, addresses "
               "and routes, and what changes it.",
               "netmon");
  app.set_version_flag("--version", "netmon " NETMON_VERSION_STRING, "Print the version and exit");
  app.require_subcommand(1);
  // Global options are accepted after the subcommand too (`netmon status --netns blue`); set before
  // the subcommands are added, which inherit it.
  app.fallthrough();
  GlobalOptions global;
  addGlobalOptions(app, global);

  std::vector<Command> commands;
  for (CommandSetup setup : kCommands) commands.push_back(setup(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& success) {  // --help, --version
    return app.exit(success);
  } catch (const CLI::ParseError& error) {
    // CLI11 reports an unknown subcommand as a missing one; the word it could not place says more.
    const std::vector<std::string> unplaced = app.remaining();
    if (app.get_subcommands().empty() && !unplaced.empty() && !unplaced.front().starts_with("-")) {
      std::string known;
      for (const Command& command : commands) known += (known.empty() ? "" : ", ") + command.app->get_name();
      fail("unknown command '" + unplaced.front() + "' (commands: " + known + ")");
    } else {
      fail(error.what());
    }
    return kExitUsage;
  }

  try {
    for (const Command& command : commands) {
      if (command.app->parsed()) return command.run(global);
    }
  } catch (const std::exception& error) {
    return fail(error.what());
  }
  fail("no command given");
  return kExitUsage;
}
