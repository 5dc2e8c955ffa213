#pragma once
// netmon's command line: the CLI11 app with the global options and every subcommand, and parsing
// it without running anything (main.cc runs what was selected; tests/fuzz/cli_args_fuzzer.cc
// parses arbitrary argument vectors).
//
// Thread safety: none; one CommandLine per thread. Lifetime: the selected Command refers to state
// owned by the CommandLine.
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common.h"

namespace netmon::cli {

class CommandLine {
 public:
  CommandLine();
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  struct Parsed {
    enum class Action {
      Run,          // run `command` with `global`
      PrintAndExit, // --help or --version: `success` says what to print (CLI::App::exit)
      UsageError,   // bad arguments: print `message`, exit kExitUsage
    };
    Action action = Action::UsageError;
    const Command* command = nullptr;
    std::optional<CLI::Success> success;
    std::string message;
  };
  // Parses argv (argv[0] is the program name). Throws nothing but what a subcommand's own option
  // callbacks throw outside CLI11's error types (a bug).
  Parsed parse(int argc, const char* const* argv);

  CLI::App& app() { return app_; }
  const GlobalOptions& global() const { return global_; }

 private:
  CLI::App app_;
  GlobalOptions global_;
  std::vector<Command> commands_;
};

}  // namespace netmon::cli
