// Prints the reachability word of the caller's namespace: proves headers, library and CMake
// package of an installed netmon work together.
#include <netmon/netmon.h>

#include <cstdio>

int main() {
  auto monitor = netmon::StatusMonitor::create({.threading = netmon::MonitorOptions::Threading::External});
  if (!monitor) {
    std::fprintf(stderr, "consumer: %s\n", monitor.error().message().c_str());
    return 1;
  }
  std::printf("%s %s\n", std::string(netmon::toString(monitor->snapshot()->reachability)).c_str(),
              NETMON_VERSION_STRING);
  return 0;
}
