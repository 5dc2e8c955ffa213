// Fuzz target: netmon's command-line parsing (tools/netmon/command_line.h: CLI11, the global
// options and every subcommand's options and validators), without running the command. The input
// is an argument vector, arguments separated by NUL bytes (argv[0] is supplied).
//
// Checked beyond "no crash, no sanitizer report": parsing ends in exactly one documented way,
// without an exception escaping — a command to run (then exactly one subcommand was parsed), a
// --help/--version request, or a usage error with a message (which main.cc maps to exit code 2).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "command_line.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kMaxArguments = 64;
  std::vector<std::string> arguments{"netmon"};
  std::string current;
  for (size_t i = 0; i < size && arguments.size() < kMaxArguments; ++i) {
    if (data[i] == 0) {
      arguments.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  if (!current.empty() && arguments.size() < kMaxArguments) arguments.push_back(std::move(current));
  std::vector<const char*> argv;
  for (const std::string& argument : arguments) argv.push_back(argument.c_str());

  netmon::cli::CommandLine command_line;
  using Action = netmon::cli::CommandLine::Parsed::Action;
  const auto parsed = command_line.parse(static_cast<int>(argv.size()), argv.data());
  switch (parsed.action) {
    case Action::Run: {
      FUZZ_CHECK(parsed.command != nullptr, "a command to run, but none selected");
      FUZZ_CHECK(command_line.app().get_subcommands().size() == 1, "more or fewer than one subcommand parsed");
      break;
    }
    case Action::PrintAndExit:
      FUZZ_CHECK(parsed.success.has_value(), "help/version without what to print");
      break;
    case Action::UsageError:
      FUZZ_CHECK(!parsed.message.empty(), "a usage error without a message");
      break;
  }
  return 0;
}
