#include "common.h"

#include <cstdio>
#include <string>

namespace netmon::cli {

void addGlobalOptions(CLI::App& app, GlobalOptions& options) {
  app.add_option("--netns", options.networkNamespace,
                 "Monitor another network namespace: a name under /run/netns or a path such as "
                 "/proc/PID/ns/net")
      ->type_name("NAME|PATH");
  app.add_option("--ignore", options.ignorePatterns,
                 "Ignore links whose name matches GLOB when deriving reachability (repeatable)")
      ->type_name("GLOB")
      ->allow_extra_args(false);
  app.add_option("--ignore-kind", options.ignoreKinds,
                 "Ignore links of this kind (veth, bridge, wireguard, ...) (repeatable)")
      ->type_name("KIND")
      ->allow_extra_args(false);
  app.add_flag("--no-default-ignore", options.noDefaultIgnore,
               "Do not ignore container and VM plumbing (docker*, br-*, veth*, virbr*, vnet*, cni*, "
               "podman*) by default");
}

MonitorOptions makeMonitorOptions(const GlobalOptions& options) {
  MonitorOptions monitor;
  monitor.networkNamespace = options.networkNamespace;
  monitor.ignore = options.noDefaultIgnore ? LinkFilter::none() : LinkFilter::defaults();
  for (const std::string& pattern : options.ignorePatterns) monitor.ignore.namePatterns.push_back(pattern);
  for (const std::string& kind : options.ignoreKinds) monitor.ignore.kinds.push_back(kind);
  return monitor;
}

int fail(std::string_view message) {
  // One line, whatever the message holds: scripts read stderr line by line.
  std::string line = "netmon: ";
  for (char c : message) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
  return kExitFailure;
}

}  // namespace netmon::cli
