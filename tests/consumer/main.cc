// Prints the reachability word of the caller's namespace and checks that 127.0.0.1 is reachable:
// proves headers, library and CMake package of an installed netmon work together.
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
  // The connection monitor links too: a lookup of the loopback address (a read-only kernel query).
  auto connections = netmon::ConnectionMonitor::create({.threading = netmon::MonitorOptions::Threading::External});
  if (!connections) {
    std::fprintf(stderr, "consumer: %s\n", connections.error().message().c_str());
    return 1;
  }
  auto loopback = connections->add(*netmon::ConnectionTarget::parse("127.0.0.1"));
  if (!loopback || !loopback->state.reachable) {
    std::fprintf(stderr, "consumer: 127.0.0.1 not reachable\n");
    return 1;
  }
  return 0;
}
