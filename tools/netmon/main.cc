// netmon: the command-line front end of libnetmon. Parses the command line (command_line.h), hands
// over to the selected subcommand, and maps failures to exit codes (see common.h).
#include <csignal>
#include <exception>

#include "command_line.h"
#include "common.h"

int main(int argc, char** argv) {
  using namespace netmon::cli;
  // A closed stdout (`netmon watch | head`) must surface as EPIPE from write, which the output
  // layer turns into a clean exit, not as a fatal signal.
  std::signal(SIGPIPE, SIG_IGN);

  CommandLine command_line;
  const CommandLine::Parsed parsed = command_line.parse(argc, argv);
  switch (parsed.action) {
    case CommandLine::Parsed::Action::PrintAndExit:
      return command_line.app().exit(*parsed.success);
    case CommandLine::Parsed::Action::UsageError:
      fail(parsed.message);
      return kExitUsage;
    case CommandLine::Parsed::Action::Run:
      break;
  }
  try {
    return parsed.command->run(command_line.global());
  } catch (const std::exception& error) {
    return fail(error.what());
  }
}
