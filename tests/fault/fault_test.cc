// Fault injection on the real kernel and process. This program runs under the fault shim
// (tests/fault/fault_shim.c, LD_PRELOAD; CTest sets it up, see tests/CMakeLists.txt), which fails
// a seeded fraction of this process's netlink socket calls, and of the `netmon serve` child's
// netlink and TCP socket calls, with errnos the kernel really returns.
//
//   SocketError: one ENOMEM on the notification socket's recvmsg → a ResyncEvent{SocketError},
//     a new socket (another inode, Counters::socketReopens), and a change made afterwards is seen.
//   Churn: routes added and removed and a link flapping in a test namespace for
//     NETMON_FAULT_CHURN_SECONDS (default 20), while a StatusMonitor (own thread) in this process
//     and `netmon serve` (scraped by three curl loops, followed by a curl event stream) run under
//     faults. Then faults stop and: nothing crashed, every injected error is counted by netmon,
//     and both mirrors converge to the kernel's state (the library's compared with `ip -j`, the
//     daemon's /metrics counts with the converged library mirror).
//
// Figures (injected and counted errors, convergence times) are printed, never asserted as times.
#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "netmon/status_monitor.h"
#include "support/daemon_process.h"
#include "support/event_recorder.h"
#include "support/namespace_test.h"
#include "support/netns.h"

namespace netmon::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The shim's in-process API (fault_shim.c), looked up at run time: absent when not preloaded.
struct Shim {
  void (*pause)(int) = nullptr;
  unsigned long (*injected)(const char*, const char*) = nullptr;
  bool loaded() const { return pause && injected; }
};

Shim findShim() {
  Shim shim;
  shim.pause = reinterpret_cast<void (*)(int)>(::dlsym(RTLD_DEFAULT, "netmon_fault_pause"));
  shim.injected = reinterpret_cast<unsigned long (*)(const char*, const char*)>(
      ::dlsym(RTLD_DEFAULT, "netmon_fault_injected"));
  return shim;
}

std::string environment(const char* name, const std::string& fallback = "") {
  const char* value = std::getenv(name);
  return value ? value : fallback;
}

// Inodes of this process's netlink sockets... and of any socket: /proc/self/fd links "socket:[N]".
std::set<std::string> socketInodes() {
  std::set<std::string> inodes;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir)) {
      char target[128] = {};
      const std::string path = std::string("/proc/self/fd/") + entry->d_name;
      if (::readlink(path.c_str(), target, sizeof target - 1) > 0 && std::string(target).starts_with("socket:")) {
        inodes.insert(target);
      }
    }
    ::closedir(dir);
  }
  return inodes;
}

class FaultTest : public NamespaceTest {
 protected:
  void SetUp() override {
    shim_ = findShim();
    if (!shim_.loaded()) GTEST_SKIP() << "not running under the fault shim (LD_PRELOAD=libnetmon_fault_shim.so)";
    NamespaceTest::SetUp();
  }
  Shim shim_;
};

// --- a notification socket error --------------------------------------------------------------

TEST_F(FaultTest, SocketErrorIsReportedAndTheSocketReplaced) {
  const std::string arm = environment("NETMON_FAULT_ARM_FILE");
  if (arm.empty()) GTEST_SKIP() << "NETMON_FAULT_ARM_FILE is not set";
  ASSERT_EQ(environment("NETMON_FAULT_ERRNO"), "ENOMEM");
  auto monitor = StatusMonitor::create(optionsFor(*ns_));
  ASSERT_TRUE(monitor) << monitor.error().message();
  EventRecorder recorder(*monitor);
  const std::set<std::string> before = socketInodes();
  const unsigned long injected_before = shim_.injected("recvmsg", "netlink");

  // The next netlink recvmsg of this process fails once: the monitor's read of this change.
  { std::ofstream(arm) << "armed\n"; }
  ns_->ip("link add fsa0 type veth peer name fsb0");
  const auto resync = recorder.waitFor("a socket-error resync", [](const Event& event) {
    const auto* payload = payloadAs<ResyncEvent>(event);
    return payload && payload->reason == ResyncReason::SocketError;
  });
  ASSERT_TRUE(resync);
  EXPECT_EQ(::access(arm.c_str(), F_OK), -1) << "the armed fault was never taken";
  EXPECT_EQ(shim_.injected("recvmsg", "netlink") - injected_before, 1u);
  const auto& payload = std::get<ResyncEvent>(resync->payload);
  EXPECT_EQ(payload.error, ENOMEM);
  EXPECT_GE(payload.differences, 1u) << "the resync should have found the new veth pair";
  const Counters counters = monitor->counters();
  EXPECT_EQ(counters.readErrors, 1u) << describe(counters);
  EXPECT_EQ(counters.socketReopens, 1u) << describe(counters);
  EXPECT_EQ(counters.resyncs, 1u) << describe(counters);
  const std::set<std::string> after = socketInodes();
  EXPECT_NE(before, after) << "the notification socket was not replaced";
  EXPECT_EQ(before.size(), after.size()) << "the old socket was not closed";
  EXPECT_TRUE(monitor->snapshot()->findLink("fsa0")) << "the change that hit the error is not in the mirror";

  // The new socket hears what follows.
  ns_->ip("link add fsc0 type veth peer name fsd0");
  EXPECT_TRUE(recorder.waitFor("fsc0 added after the reopen",
                               linkEventWhere("fsc0", [](const LinkEvent& e) { return e.change == Change::Added; })));
  EXPECT_TRUE(waitForMirrorToMatchKernel(*ns_, *monitor, recorder));
}

// --- churn under faults -------------------------------------------------------------------------

// `ip -batch` lines that add `count` routes through `link` and delete them again.
std::vector<std::string> routeChurn(const std::string& link, int round, int count) {
  std::vector<std::string> lines;
  for (int i = 0; i < count; ++i) lines.push_back(fmt::format("route add 198.18.{}.{}/32 dev {}", round % 200, i, link));
  for (int i = 0; i < count; i += 2) lines.push_back(fmt::format("route del 198.18.{}.{}/32 dev {}", round % 200, i, link));
  lines.push_back(fmt::format("-6 route add 2001:db8:{:x}::/64 dev {}", round % 4096 + 1, link));
  return lines;
}

// The value of one series in a Prometheus text exposition ("name{labels} value").
std::optional<double> metricValue(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(series + " ")) return std::strtod(line.c_str() + series.size() + 1, nullptr);
  }
  return std::nullopt;
}

// The shim's report: "call family ERRNO count" lines, summed per (call, family).
std::map<std::string, unsigned long> readReport(const std::string& path, std::string& text) {
  std::map<std::string, unsigned long> sums;
  std::ifstream in(path);
  std::string call, family, error;
  unsigned long count = 0;
  while (in >> call >> family >> error >> count) {
    sums[call + " " + family] += count;
    text += fmt::format("  {} {} {} {}\n", call, family, error, count);
  }
  return sums;
}

TEST_F(FaultTest, ChurnUnderFaultsConvergesAndEveryErrorIsCounted) {
  const int seconds = std::atoi(environment("NETMON_FAULT_CHURN_SECONDS", "20").c_str());
  const std::string shim_path = environment("NETMON_FAULT_SHIM");
  const std::string work = environment("NETMON_FAULT_WORK_DIR", "/tmp");
  ASSERT_FALSE(shim_path.empty()) << "NETMON_FAULT_SHIM names the shim for the daemon";
  const std::string pause_file = fmt::format("{}/fault-pause-{}", work, ::getpid());
  const std::string report = fmt::format("{}/fault-report-{}", work, ::getpid());
  const std::string events_file = fmt::format("{}/fault-events-{}", work, ::getpid());
  ::unlink(pause_file.c_str());
  ::unlink(report.c_str());

  ns_->addVethWithPeer("fc0");
  ns_->addVethWithPeer("fc1");
  ns_->ip("link set fc0 up");
  ns_->ip("link set fc1 up");
  ns_->ip("address add 192.0.2.2/24 dev fc0");
  ns_->ip("address add 198.51.100.2/24 dev fc1");
  ns_->peer().ip("address add 192.0.2.1/24 dev fc0");
  ASSERT_TRUE(ns_->waitForCarrier("fc0"));
  ns_->ip("route add default via 192.0.2.1 dev fc0");

  auto monitor = StatusMonitor::create(optionsFor(*ns_));
  ASSERT_TRUE(monitor) << monitor.error().message();
  EventRecorder recorder(*monitor);

  DaemonProcess::Launch launch;
  launch.environment = {"LD_PRELOAD=" + shim_path,
                        "NETMON_FAULT_RATE=" + environment("NETMON_FAULT_RATE", "0.01"),
                        "NETMON_FAULT_SEED=" + environment("NETMON_FAULT_SEED", "1"),
                        "NETMON_FAULT_DOMAINS=netlink,inet",
                        "NETMON_FAULT_PAUSE_FILE=" + pause_file,
                        "NETMON_FAULT_REPORT=" + report};
  // The daemon may be unlucky at start (its initial dump retried); faults are off until it listens.
  { std::ofstream(pause_file) << "paused\n"; }
  auto daemon = DaemonProcess::start(*ns_, NETMON_CLI_PATH, {"--keep-alive-interval", "1"}, launch, 30s);
  ASSERT_NE(daemon, nullptr);
  ::unlink(pause_file.c_str());
  const std::string base = fmt::format("http://127.0.0.1:{}", daemon->port());

  // Clients, each bounded by `timeout`: three scrapers (/v1/reach asks the kernel's route lookup,
  // whose socket reads with recvmmsg) and an event stream.
  std::vector<std::thread> clients;
  for (const char* path : {"/metrics", "/v1/status", "/v1/reach?remote=203.0.113.5"}) {
    clients.emplace_back([&, path] {
      ns_->run(fmt::format("timeout {} sh -c 'while :; do curl -s -m 2 -o /dev/null {}{}; done'", seconds, base, path),
               MayFail::Yes);
    });
  }
  clients.emplace_back([&] {
    ns_->run(fmt::format("timeout {} curl -sN -m {} {}/v1/events > {}", seconds, seconds, base, events_file),
             MayFail::Yes);
  });

  // Churn until the deadline: route batches, and fc1 flapping (which flushes its IPv4 routes
  // without RTM_DELROUTE, so the link-flush reconciliation runs under faults too).
  const auto churn_end = Clock::now() + std::chrono::seconds(seconds);
  int rounds = 0;
  for (; Clock::now() < churn_end && rounds < 100000; ++rounds) {
    ns_->ipBatch(routeChurn(rounds % 2 ? "fc0" : "fc1", rounds, 40), /*force=*/true, MayFail::Yes);
    ns_->ip(rounds % 2 ? "link set fc1 down" : "link set fc1 up", MayFail::Yes);
  }
  ns_->ip("link set fc1 up", MayFail::Yes);
  for (auto& client : clients) client.join();

  // Faults off, then convergence.
  shim_.pause(1);
  { std::ofstream(pause_file) << "paused\n"; }
  const auto settle_start = Clock::now();
  ASSERT_TRUE(waitForMirrorToMatchKernel(*ns_, *monitor, recorder, kEverything, 60s));
  const auto library_converged = Clock::now() - settle_start;

  const auto truth = monitor->snapshot();
  size_t ipv4 = 0, ipv6 = 0;
  for (const Address& address : truth->addresses) (address.family() == Family::Ipv4 ? ipv4 : ipv6)++;
  const std::map<std::string, double> expected = {
      {"netmon_links", double(truth->links.size())},
      {"netmon_routes", double(truth->routeCount())},
      {"netmon_rules", double(truth->rules.size())},
      {"netmon_addresses{family=\"ipv4\"}", double(ipv4)},
      {"netmon_addresses{family=\"ipv6\"}", double(ipv6)},
  };
  std::string metrics;
  std::string mismatch = "no scrape";
  const auto daemon_deadline = Clock::now() + 60s;
  while (!mismatch.empty() && Clock::now() < daemon_deadline) {
    const CommandResult scraped = ns_->run(fmt::format("curl -s -m 5 {}/metrics", base), MayFail::Yes);
    if (!scraped.ok()) continue;
    metrics = scraped.output;
    mismatch.clear();
    for (const auto& [series, value] : expected) {
      const std::optional<double> got = metricValue(metrics, series);
      if (!got || *got != value) mismatch += fmt::format(" {}={} (kernel {})", series, got ? *got : -1, value);
    }
  }
  const auto daemon_converged = Clock::now() - settle_start;
  EXPECT_EQ(mismatch, "") << "the daemon's mirror did not converge";

  // Every injected error is counted. Real errors may come on top (a real overrun, a client's real
  // reset), hence >=.
  const std::optional<int> status = daemon->signalAndWait(SIGTERM, 15s);
  ASSERT_TRUE(status) << "the daemon did not stop";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status << "\n"
                                                               << daemon->stderrText();
  std::string report_text;
  std::map<std::string, unsigned long> daemon_injected = readReport(report, report_text);
  const auto value = [&](const std::string& series) { return metricValue(metrics, series).value_or(-1); };
  const double daemon_netlink_counted =
      value("netmon_netlink_read_errors_total") + value("netmon_netlink_overruns_total");
  const unsigned long daemon_netlink_receive =
      daemon_injected["recvmsg netlink"] + daemon_injected["recv netlink"] + daemon_injected["recvmmsg netlink"];
  const unsigned long daemon_netlink_send =
      daemon_injected["sendto netlink"] + daemon_injected["send netlink"] + daemon_injected["sendmsg netlink"];
  const unsigned long daemon_inet_receive = daemon_injected["recv inet"] + daemon_injected["recvmsg inet"];
  const unsigned long daemon_inet_send =
      daemon_injected["send inet"] + daemon_injected["sendmsg inet"] + daemon_injected["sendto inet"] +
      daemon_injected["write inet"] + daemon_injected["writev inet"];
  const unsigned long daemon_accept = daemon_injected["accept inet"] + daemon_injected["accept4 inet"];
  // The route lookup socket reads with recvmmsg (and recvmsg when it waits), the monitor's with
  // recvmsg; both send with sendto. recvmmsg faults can only be the lookup's.
  const double lookup_counted =
      value("netmon_route_lookup_overruns_total") + value("netmon_route_lookup_socket_errors_total");
  EXPECT_GE(lookup_counted, double(daemon_injected["recvmmsg netlink"]));
  EXPECT_GE(daemon_netlink_counted + value("netmon_netlink_send_errors_total") + lookup_counted,
            double(daemon_netlink_receive + daemon_netlink_send));
  EXPECT_GT(value("netmon_route_lookups_total"), 0) << "no /v1/reach lookup ran";
  EXPECT_GE(value("netmon_http_socket_errors_total{operation=\"receive\"}"), double(daemon_inet_receive));
  EXPECT_GE(value("netmon_http_socket_errors_total{operation=\"send\"}"), double(daemon_inet_send));
  EXPECT_GE(value("netmon_http_socket_errors_total{operation=\"accept\"}"), double(daemon_accept));

  const Counters counters = monitor->counters();
  const unsigned long library_receive = shim_.injected("recvmsg", "netlink") + shim_.injected("recv", "netlink") +
                                        shim_.injected("recvmmsg", "netlink");
  const unsigned long library_send = shim_.injected("sendto", "netlink") + shim_.injected("send", "netlink") +
                                     shim_.injected("sendmsg", "netlink");
  EXPECT_GE(counters.readErrors + counters.overruns, library_receive) << describe(counters);
  EXPECT_GE(counters.sendErrors, library_send) << describe(counters);
  EXPECT_GT(library_receive + library_send + daemon_netlink_receive + daemon_inet_receive, 0u)
      << "the shim injected nothing: the run proves nothing";

  size_t frames = 0;
  {
    std::ifstream in(events_file);
    for (std::string line; std::getline(in, line);) frames += line.starts_with("data: ");
  }
  const auto ms = [](Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::printf(
      "churn: %d s, %d rounds (each 40 route adds, 20 deletes, 1 IPv6 route, 1 link flap), %zu library events, "
      "%zu SSE frames\n"
      "library monitor: injected recv %lu send %lu; counted readErrors %lu overruns %lu sendErrors %lu "
      "socketReopens %lu resyncs %lu; converged %lld ms after faults stopped\n"
      "daemon: injected netlink recv %lu (recvmmsg %lu) send %lu, tcp recv %lu send %lu accept %lu; counted "
      "netlink read+overrun %.0f send %.0f reopens %.0f, route lookup overrun+error %.0f of %.0f lookups, http "
      "receive %.0f send %.0f accept %.0f; converged %lld ms\n"
      "daemon shim report:\n%s",
      seconds, rounds, recorder.size(), frames, library_receive, library_send, (unsigned long)counters.readErrors,
      (unsigned long)counters.overruns, (unsigned long)counters.sendErrors, (unsigned long)counters.socketReopens,
      (unsigned long)counters.resyncs, (long long)ms(library_converged), daemon_netlink_receive, daemon_injected["recvmmsg netlink"],
      daemon_netlink_send, daemon_inet_receive, daemon_inet_send, daemon_accept, daemon_netlink_counted,
      value("netmon_netlink_send_errors_total"), value("netmon_netlink_socket_reopens_total"), lookup_counted,
      value("netmon_route_lookups_total"),
      value("netmon_http_socket_errors_total{operation=\"receive\"}"),
      value("netmon_http_socket_errors_total{operation=\"send\"}"),
      value("netmon_http_socket_errors_total{operation=\"accept\"}"), (long long)ms(daemon_converged),
      report_text.c_str());
  ::unlink(pause_file.c_str());
  ::unlink(report.c_str());
  ::unlink(events_file.c_str());
}

}  // namespace
}  // namespace netmon::test
