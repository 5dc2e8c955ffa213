#pragma once
// The subcommands. Adding one: a new file defining its setup function, declared here and listed in
// kCommands in main.cc.
#include "common.h"

namespace netmon::cli {

Command statusCommand(CLI::App& parent);  // status.cc
Command watchCommand(CLI::App& parent);   // watch.cc
Command reachCommand(CLI::App& parent);   // reach.cc
Command waitOnlineCommand(CLI::App& parent);  // wait_online.cc
Command serveCommand(CLI::App& parent);       // serve.cc

}  // namespace netmon::cli
