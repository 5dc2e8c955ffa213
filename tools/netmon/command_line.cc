#include "command_line.h"

#include "commands.h"
#include "netmon/version.h"

namespace netmon::cli {

namespace {

constexpr CommandSetup kCommands[] = {
    statusCommand, watchCommand, reachCommand, waitOnlineCommand, serveCommand,
};

}  // namespace

CommandLine::CommandLine()
    : app_("Linux network connectivity monitor: reachability from the kernel's own links, addresses "
           "and routes, and what changes it.",
           "netmon") {
  app_.set_version_flag("--version", "netmon " NETMON_VERSION_STRING, "Print the version and exit");
  app_.require_subcommand(1);
  // Global options are accepted after the subcommand too (`netmon status --netns blue`); set before
  // the subcommands are added, which inherit it.
  app_.fallthrough();
  addGlobalOptions(app_, global_);
  for (CommandSetup setup : kCommands) commands_.push_back(setup(app_));
}

CommandLine::Parsed CommandLine::parse(int argc, const char* const* argv) {
  Parsed parsed;
  try {
    app_.parse(argc, argv);
  } catch (const CLI::Success& success) {  // --help, --version
    parsed.action = Parsed::Action::PrintAndExit;
    parsed.success = success;
    return parsed;
  } catch (const CLI::ParseError& error) {
    // CLI11 reports an unknown subcommand as a missing one; the word it could not place says more.
    const std::vector<std::string> unplaced = app_.remaining();
    if (app_.get_subcommands().empty() && !unplaced.empty() && !unplaced.front().starts_with("-")) {
      std::string known;
      for (const Command& command : commands_) known += (known.empty() ? "" : ", ") + command.app->get_name();
      parsed.message = "unknown command '" + unplaced.front() + "' (commands: " + known + ")";
    } else {
      parsed.message = error.what();
    }
    return parsed;
  }
  for (const Command& command : commands_) {
    if (command.app->parsed()) {
      parsed.action = Parsed::Action::Run;
      parsed.command = &command;
      return parsed;
    }
  }
  parsed.message = "no command given";
  return parsed;
}

}  // namespace netmon::cli
