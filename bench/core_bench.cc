// Core benchmark (issue 8, items 1–4): netmon's StatusMonitor against the bare rtnetlink floor and
// against its peers — GLib's GNetworkMonitor (bench/glib_peer.c, netlink backend) and `ip monitor` —
// in one run, in a network namespace of its own:
//   1. initial sync: time until StatusMonitor::create() returns with 10k/100k/1M IPv4 and 100k IPv6
//      routes, against a bare libmnl dump of links, addresses, routes and rules that only counts the
//      messages (the floor, this binary), and GLib until g_network_monitor_get_default() returns;
//   2. memory: resident bytes per route above the process baseline (a fresh process per sample),
//      and the peak during a resync forced by an overrun;
//   3. event latency: a default-route change made here → the netmon callback, against a listener
//      thread woken by the same notification (floor), GLib's network-changed signal and the line
//      `ip monitor` prints; and link down → Disconnected, counted over N link-downs (IPv4 only);
//   4. churn: N route adds + N deletes, pipelined, and the CPU each observer (its own process)
//      spends on them; overruns, resyncs, and netmon's final mirror compared with a fresh dump.
//
// Namespace: unshare(CLONE_NEWNET) runs first, while this process has one thread, and the program
// stops unless /proc/self/ns/net changed. Children (netmon in a fresh process, glib_peer, ip) inherit
// it; the link-down child makes one more of its own. The host is never touched; no packet is sent.
//   bench0 192.0.2.2/24 2001:db8::2/64 ── veth ── bench1 (up: carrier)
//   default via 192.0.2.1, default via 2001:db8::1; the table: /32s from 10.0.0.0 up;
//   IPv6 table: /64s in 2001:db8:100::/40; churn: /32s from 10.128.0.0 up; sentinel 198.18.255.254/32
//
// Exit status: 0 when every measurement completed (a target not met is printed NOT MET, a result);
// 1 when a measurement failed; 2 for bad arguments; 77 without the privilege to make a namespace.
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "bench_support.h"
#include "netmon/status_monitor.h"

extern char** environ;

namespace {

using namespace netmon_bench;

constexpr uint32_t kGateway = 0xC0000201;     // 192.0.2.1
constexpr uint32_t kLocal = 0xC0000202;       // 192.0.2.2/24
constexpr uint32_t kTableBase = 0x0A000000;   // 10.0.0.0: the table's /32s
constexpr uint32_t kChurnBase = 0x0A800000;   // 10.128.0.0: the churn's /32s
constexpr uint32_t kSentinel = 0xC612FFFE;    // 198.18.255.254/32: "everything before me is done"
constexpr std::array<uint8_t, 16> kGateway6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr std::array<uint8_t, 16> kLocal6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

RouteSpec v4Route(uint32_t destination, uint8_t length = 32) { return {destination, length, kGateway}; }
RouteSpec defaultRoute() { return v4Route(0, 0); }

std::vector<RouteSpec> v4Routes(uint32_t base, size_t from, size_t to) {
  std::vector<RouteSpec> routes;
  routes.reserve(to - from);
  for (size_t i = from; i < to; ++i) routes.push_back(v4Route(base + static_cast<uint32_t>(i)));
  return routes;
}

std::vector<RouteSpec> v6Routes(size_t count) {
  std::vector<RouteSpec> routes(count);
  for (size_t i = 0; i < count; ++i) {
    RouteSpec& r = routes[i];
    r.v6 = true;
    r.length = 64;
    r.destination6 = {0x20, 0x01, 0x0d, 0xb8, 0x01, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                      static_cast<uint8_t>(i)};
    r.gateway6 = kGateway6;
  }
  return routes;
}

long long residentBytes() {
  long long size = 0, resident = 0;
  std::ifstream statm("/proc/self/statm");
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// A /proc/PID/status field in bytes (VmHWM, VmRSS).
long long statusBytes(pid_t pid, const std::string& field) {
  std::ifstream status(pid == 0 ? "/proc/self/status" : fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  }
  return -1;
}

double processCpuSeconds(pid_t pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text;
  std::getline(stat, text);
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double selfCpuUs() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

// Progress on stderr, so a long run shows where it is.
void progress(const std::string& text) {
  static const auto start = Clock::now();
  std::fprintf(stderr, "core_bench: [%6.1f s] %s\n", toMs(Clock::now() - start) / 1000, text.c_str());
}

std::string selfPath() {
  char path[4096] = {};
  const ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
  if (length <= 0) die("readlink /proc/self/exe: " + errnoText(errno));
  return std::string(path, static_cast<size_t>(length));
}

// ---------------------------------------------------------------------------------------------
// Child processes: netmon in a fresh process, the raw listener, glib_peer, ip. Their stdout lines
// are read by a thread of ours and stamped on receipt; stdin carries commands.

class ChildProcess {
 public:
  using LineHandler = std::function<void(Clock::time_point, const std::string&)>;

  // discard_output: stdout to /dev/null. stderr goes to the same pipe as stdout (GLib's warnings).
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {},
               bool discard_output = false, LineHandler handler = {})
      : handler_(std::move(handler)) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) die("pipe: " + errnoText(errno));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    if (discard_output) {
      posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    } else {
      posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    }
    posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> args, envp;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const int error = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    if (error != 0) die("start " + argv[0] + ": " + errnoText(error));
    input_ = in[1];
    output_ = out[0];
    name_ = argv[0];
    reader_ = std::thread([this] { readLines(); });
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    closeInput();
    // ip monitor does not read stdin: it stops on SIGTERM. The others exit on EOF.
    if (!exited_ && name_ == "ip") kill(pid_, SIGTERM);
    if (!exited_) {
      // Bounded: 5 s after stdin closed (children exit on EOF), then SIGKILL.
      if (wait(Clock::now() + std::chrono::seconds(5)) < 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        exited_ = true;
      }
    }
    reader_.join();
    close(output_);
  }

  pid_t pid() const { return pid_; }
  // Lines that reported ENOBUFS (GLib warns "No buffer space available" and stops listening).
  size_t overrunLines() const { return overrun_lines_.load(); }
  double cpuSeconds() const { return processCpuSeconds(pid_); }

  void writeLine(const std::string& line) {
    const std::string text = line + "\n";
    if (::write(input_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      die("write to " + name_ + ": " + errnoText(errno));
    }
  }
  void closeInput() {
    if (input_ >= 0) close(input_);
    input_ = -1;
  }

  // The next line not taken yet, or none by the deadline.
  std::optional<std::string> readLine(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    cv_.wait_until(lock, deadline, [&] { return !lines_.empty() || eof_; });
    if (lines_.empty()) return std::nullopt;
    std::string line = std::move(lines_.front());
    lines_.pop_front();
    return line;
  }
  // The next line starting with `prefix` (others are dropped), or die.
  std::string expectLine(const std::string& prefix, std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (auto line = readLine(deadline)) {
      if (line->rfind(prefix, 0) == 0) return *line;
    }
    die(fmt::format("{} printed no \"{}\" line within {} s", name_, prefix, timeout.count()));
  }

  // True once the process has a netlink socket bound to multicast groups (`ip monitor` prints no
  // ready line; /proc/net/netlink lists each socket's port id, = the pid for a process's first
  // socket, and its groups), false at the deadline.
  bool waitNetlinkListener(Clock::time_point deadline) const {
    while (Clock::now() < deadline) {
      std::ifstream table("/proc/net/netlink");
      std::string line;
      std::getline(table, line);  // header: sk Eth Pid Groups ...
      while (std::getline(table, line)) {
        std::istringstream fields(line);
        std::string socket, groups;
        int protocol = -1;
        long port = -1;
        fields >> socket >> protocol >> port >> groups;
        if (protocol == 0 && port == pid_ && groups.find_first_not_of('0') != std::string::npos) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // re-read until it joins
    }
    return false;
  }

  // Exit status, or -1 if still running at the deadline.
  int wait(Clock::time_point deadline) {
    while (true) {
      int status = 0;
      const pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (Clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Waits until the process has used no CPU for `quiet` (its work is done), bounded by `limit`;
  // false when it was still busy at the limit.
  bool waitIdle(std::chrono::milliseconds quiet, std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    double last = cpuSeconds();
    auto since = Clock::now();
    while (Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const double now = cpuSeconds();
      if (now != last) {
        last = now;
        since = Clock::now();
      } else if (Clock::now() - since >= quiet) {
        return true;
      }
    }
    return false;
  }

 private:
  void readLines() {
    std::string pending;
    char buffer[65536];
    while (true) {
      const ssize_t got = ::read(output_, buffer, sizeof buffer);
      if (got <= 0) break;
      const auto now = Clock::now();
      pending.append(buffer, static_cast<size_t>(got));
      size_t start = 0;
      for (size_t end; (end = pending.find('\n', start)) != std::string::npos; start = end + 1) {
        std::string line = pending.substr(start, end - start);
        if (line.find("No buffer space available") != std::string::npos) overrun_lines_.fetch_add(1);
        if (handler_) handler_(now, line);
        std::lock_guard lock(mutex_);
        if (lines_.size() < 100000) lines_.push_back(std::move(line));  // bounded: unread lines are dropped
      }
      pending.erase(0, start);
      cv_.notify_all();
    }
    std::lock_guard lock(mutex_);
    eof_ = true;
    cv_.notify_all();
  }

  LineHandler handler_;
  pid_t pid_ = -1;
  int input_ = -1, output_ = -1;
  bool exited_ = false;
  std::string name_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> lines_;
  bool eof_ = false;
  std::atomic<size_t> overrun_lines_{0};
  std::thread reader_;
};

// One awaited moment, set from another thread: the first signal after arm().
class Waiter {
 public:
  void arm() {
    std::lock_guard lock(mutex_);
    armed_ = true;
    seen_.reset();
  }
  void signal(Clock::time_point when) {
    std::lock_guard lock(mutex_);
    if (!armed_ || seen_) return;
    seen_ = when;
    cv_.notify_all();
  }
  std::optional<Clock::time_point> wait(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    cv_.wait_until(lock, deadline, [&] { return seen_.has_value(); });
    armed_ = false;
    return seen_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool armed_ = false;
  std::optional<Clock::time_point> seen_;
};

// ---------------------------------------------------------------------------------------------
// Bare dumps (no netmon code): the floor of the initial sync, and the kernel's truth for checks.

// Dumps `type` (RTM_GETLINK, ...) for `family` on `socket`, calling visit for each message;
// returns the number of messages.
template <class Visit>
size_t dump(Netlink& socket, uint16_t type, uint8_t family, Visit&& visit) {
  std::array<uint8_t, 256> request{};
  nlmsghdr* header = mnl_nlmsg_put_header(request.data());
  header->nlmsg_type = type;
  header->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  header->nlmsg_seq = socket.nextSeq();
  const uint32_t seq = header->nlmsg_seq;
  // The socket checks requests strictly: each dump gets its own header, zeroed but for the family
  // (the first byte of every one of them; fib_rule_hdr has rtmsg's size).
  const size_t size = type == RTM_GETLINK ? sizeof(ifinfomsg) : type == RTM_GETADDR ? sizeof(ifaddrmsg) : sizeof(rtmsg);
  auto* family_byte = static_cast<uint8_t*>(mnl_nlmsg_put_extra_header(header, size));
  *family_byte = family;
  socket.send(request.data(), header->nlmsg_len);
  size_t messages = 0;
  bool done = false;
  for (size_t reads = 0; !done; ++reads) {  // `done` is set on NLMSG_DONE; each read bounded (2 s)
    const ssize_t length = socket.receive();
    if (length < 0) die("dump: " + errnoText(static_cast<int>(-length)));
    Netlink::forEachMessage(socket.buffer(), static_cast<size_t>(length), [&](const nlmsghdr* message) {
      if (message->nlmsg_seq != seq) return;
      if (message->nlmsg_type == NLMSG_DONE || message->nlmsg_type == NLMSG_ERROR) {
        // A dump that failed ends with NLMSG_DONE (or NLMSG_ERROR) carrying the negative errno.
        const int error = message->nlmsg_len >= NLMSG_LENGTH(sizeof(int))
                              ? *static_cast<const int*>(mnl_nlmsg_get_payload(message)) : 0;
        if (error != 0) die(fmt::format("dump (type {}): {}", type, errnoText(-error)));
        done = true;
      } else {
        ++messages;
        visit(message);
      }
    });
  }
  return messages;
}

// What netmon's initial dump asks for: links, addresses, routes, rules of both families.
size_t floorDump() {
  Netlink socket(0, 4u << 20);
  size_t messages = 0;
  const auto count = [](const nlmsghdr*) {};
  messages += dump(socket, RTM_GETLINK, AF_UNSPEC, count);
  messages += dump(socket, RTM_GETADDR, AF_UNSPEC, count);
  messages += dump(socket, RTM_GETROUTE, AF_UNSPEC, count);
  messages += dump(socket, RTM_GETRULE, AF_UNSPEC, count);
  return messages;
}

using RouteKey = std::tuple<uint32_t, uint8_t, uint32_t>;  // table, prefix length, destination

struct RouteAttributes {
  uint32_t destination = 0;
  uint32_t table = 0;
};

int routeAttribute(const nlattr* attribute, void* data) {
  auto* route = static_cast<RouteAttributes*>(data);
  const int type = mnl_attr_get_type(attribute);
  if (type == RTA_DST && mnl_attr_validate(attribute, MNL_TYPE_U32) >= 0) route->destination = ntohl(mnl_attr_get_u32(attribute));
  if (type == RTA_TABLE && mnl_attr_validate(attribute, MNL_TYPE_U32) >= 0) route->table = mnl_attr_get_u32(attribute);
  return MNL_CB_OK;
}

// The second floor: the same dumps, each route's attributes parsed (libmnl) into a 20-byte record
// appended to a vector — what any mirror must at least do, without an index to find a route again.
struct ParsedRoute {
  uint32_t destination, gateway, table, link, metric;
};
int parsedAttribute(const nlattr* attribute, void* data) {
  auto* route = static_cast<ParsedRoute*>(data);
  const int type = mnl_attr_get_type(attribute);
  if (mnl_attr_validate(attribute, MNL_TYPE_U32) < 0) return MNL_CB_OK;
  if (type == RTA_DST) route->destination = mnl_attr_get_u32(attribute);
  if (type == RTA_GATEWAY) route->gateway = mnl_attr_get_u32(attribute);
  if (type == RTA_TABLE) route->table = mnl_attr_get_u32(attribute);
  if (type == RTA_OIF) route->link = mnl_attr_get_u32(attribute);
  if (type == RTA_PRIORITY) route->metric = mnl_attr_get_u32(attribute);
  return MNL_CB_OK;
}
size_t floorDumpParsed() {
  Netlink socket(0, 4u << 20);
  std::vector<ParsedRoute> routes;
  const auto ignore = [](const nlmsghdr*) {};
  dump(socket, RTM_GETLINK, AF_UNSPEC, ignore);
  dump(socket, RTM_GETADDR, AF_UNSPEC, ignore);
  dump(socket, RTM_GETROUTE, AF_UNSPEC, [&](const nlmsghdr* message) {
    ParsedRoute route{};
    mnl_attr_parse(message, sizeof(rtmsg), parsedAttribute, &route);
    routes.push_back(route);
  });
  dump(socket, RTM_GETRULE, AF_UNSPEC, ignore);
  return routes.size();
}

std::vector<RouteKey> kernelIpv4Routes() {
  Netlink socket(0, 4u << 20);
  std::vector<RouteKey> keys;
  dump(socket, RTM_GETROUTE, AF_INET, [&](const nlmsghdr* message) {
    if (message->nlmsg_type != RTM_NEWROUTE) return;
    const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(message));
    RouteAttributes route;
    route.table = rtm->rtm_table;
    mnl_attr_parse(message, sizeof(rtmsg), routeAttribute, &route);
    keys.emplace_back(route.table, rtm->rtm_dst_len, route.destination);
  });
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<RouteKey> mirrorIpv4Routes(const netmon::Snapshot& snapshot) {
  std::vector<RouteKey> keys;
  snapshot.forEachRoute([&](const netmon::Route& route) {
    if (route.family != netmon::Family::Ipv4) return;
    keys.emplace_back(route.table, route.destination.length, route.destination.address.v4HostOrder());
  });
  std::sort(keys.begin(), keys.end());
  return keys;
}

bool hasSentinel(const netmon::Snapshot& snapshot) {
  bool found = false;
  snapshot.forEachRoute([&](const netmon::Route& route) {
    if (route.family == netmon::Family::Ipv4 && route.destination.length == 32 &&
        route.destination.address.v4HostOrder() == kSentinel) {
      found = true;
    }
  });
  return found;
}

// ---------------------------------------------------------------------------------------------
// Child modes (core_bench --child MODE ...): run in a fresh process, so that what they measure
// (resident memory, CPU) is theirs alone.

// sync: "sync MS RSS_BEFORE RSS_AFTER ROUTES".
int childSync() {
  const long long before = residentBytes();
  const auto start = Clock::now();
  auto monitor = netmon::StatusMonitor::create();
  const double ms = toMs(Clock::now() - start);
  const long long after = residentBytes();
  if (!monitor) die("StatusMonitor::create: " + monitor.error().message());
  fmt::print("sync {:.3f} {} {} {}\n", ms, before, after, monitor->snapshot()->routeCount());
  std::fflush(stdout);
  std::_Exit(0);
}

// resync: an External-mode monitor with a small receive buffer; FLOOD routes are added while it
// is not reading, so the kernel overruns its socket; then process() until the resync completed.
// "resync BASELINE STEADY PEAK AFTER RESYNC_MS OVERRUNS RESYNCS".
int childResync(size_t flood) {
  const long long baseline = residentBytes();
  netmon::MonitorOptions options;
  options.threading = netmon::MonitorOptions::Threading::External;
  options.receiveBufferBytes = 64 * 1024;
  auto monitor = netmon::StatusMonitor::create(options);
  if (!monitor) die("StatusMonitor::create: " + monitor.error().message());
  const long long steady = residentBytes();
  writeSysctl("/proc/self/clear_refs", "5");  // resets VmHWM to the current RSS
  const uint32_t link = if_nametoindex("bench0");
  NamespaceBuilder builder;
  const auto routes = v4Routes(kChurnBase, 0, flood);
  builder.routes(routes, link);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(60);
  while (monitor->counters().resyncs == 0 && Clock::now() < deadline) {
    pollfd ready{monitor->fd(), POLLIN, 0};
    poll(&ready, 1, 100);
    if (auto handled = monitor->process(); !handled) die("process: " + handled.error().message());
  }
  const double resync_ms = toMs(Clock::now() - start);
  const long long peak = statusBytes(0, "VmHWM");
  const long long after = residentBytes();
  const auto counters = monitor->counters();
  builder.routes(routes, link, false);
  fmt::print("resync {} {} {} {} {:.1f} {} {}\n", baseline, steady, peak, after, resync_ms, counters.overruns,
             counters.resyncs);
  std::fflush(stdout);
  std::_Exit(0);
}

// listen: an OwnThread monitor (options: subscriber, receive buffer) answering commands on stdin:
//   cpu    → "cpu US MESSAGES OVERRUNS RESYNCS EVENTS"   (getrusage of this process)
//   check  → waits for the sentinel route, then "check equal N" once the mirror's IPv4 routes equal
//            a fresh dump, or "check differ MISSING EXTRA N" after 20 s
int childListen(bool subscriber, size_t receive_buffer) {
  netmon::MonitorOptions options;
  options.receiveBufferBytes = receive_buffer;
  auto monitor = netmon::StatusMonitor::create(options);
  if (!monitor) die("StatusMonitor::create: " + monitor.error().message());
  std::atomic<uint64_t> events{0};
  std::optional<netmon::Subscription> subscription;
  if (subscriber) {
    subscription = monitor->subscribe(netmon::Executor::inlineOnMonitorThread(),
                                      [&events](const netmon::Event&) { events.fetch_add(1, std::memory_order_relaxed); });
  }
  fmt::print("ready\n");
  std::fflush(stdout);
  for (std::string command; std::getline(std::cin, command);) {
    if (command == "cpu") {
      const auto c = monitor->counters();
      fmt::print("cpu {:.0f} {} {} {} {}\n", selfCpuUs(), c.messages, c.overruns, c.resyncs, events.load());
    } else if (command == "check") {
      const auto deadline = Clock::now() + std::chrono::seconds(30);
      while (!hasSentinel(*monitor->snapshot()) && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      size_t missing = 0, extra = 0, count = 0;
      const auto compare_until = Clock::now() + std::chrono::seconds(20);
      do {
        const auto mirror = mirrorIpv4Routes(*monitor->snapshot());
        const auto kernel = kernelIpv4Routes();
        std::vector<RouteKey> difference;
        std::set_difference(kernel.begin(), kernel.end(), mirror.begin(), mirror.end(), std::back_inserter(difference));
        missing = difference.size();
        difference.clear();
        std::set_difference(mirror.begin(), mirror.end(), kernel.begin(), kernel.end(), std::back_inserter(difference));
        extra = difference.size();
        count = kernel.size();
        if (missing == 0 && extra == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      } while (Clock::now() < compare_until);
      if (missing == 0 && extra == 0) {
        fmt::print("check equal {}\n", count);
      } else {
        fmt::print("check differ {} {} {}\n", missing, extra, count);
      }
    }
    std::fflush(stdout);
  }
  std::_Exit(0);
}

// raw: the floor of a listener: one socket joined to the groups netmon joins, epoll, every
// message's attributes parsed (libmnl), nothing kept. stdin: cpu → "cpu US MESSAGES ENOBUFS".
int childRaw(size_t receive_buffer) {
  Netlink socket(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE |
                     RTMGRP_IPV4_RULE,
                 receive_buffer);
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  epoll_event interest{};
  interest.events = EPOLLIN;
  interest.data.fd = socket.fd();
  epoll_ctl(epoll, EPOLL_CTL_ADD, socket.fd(), &interest);
  interest.data.fd = 0;
  epoll_ctl(epoll, EPOLL_CTL_ADD, 0, &interest);
  uint64_t messages = 0, enobufs = 0;
  uint64_t attributes = 0;
  const auto countAttribute = [](const nlattr*, void* data) {
    ++*static_cast<uint64_t*>(data);
    return MNL_CB_OK;
  };
  fmt::print("ready\n");
  std::fflush(stdout);
  std::string input;
  while (true) {
    epoll_event ready[2];
    const int n = epoll_wait(epoll, ready, 2, 1000);
    for (int i = 0; i < n; ++i) {
      if (ready[i].data.fd == 0) {
        char buffer[256];
        const ssize_t got = ::read(0, buffer, sizeof buffer);
        if (got <= 0) std::_Exit(0);
        input.append(buffer, static_cast<size_t>(got));
        for (size_t end; (end = input.find('\n')) != std::string::npos; input.erase(0, end + 1)) {
          if (input.compare(0, end, "cpu") == 0) fmt::print("cpu {:.0f} {} {}\n", selfCpuUs(), messages, enobufs);
          std::fflush(stdout);
        }
        continue;
      }
      for (int reads = 0; reads < 4096; ++reads) {
        const ssize_t length = socket.receive(MSG_DONTWAIT);
        if (length == -ENOBUFS) {
          ++enobufs;
          continue;
        }
        if (length < 0) break;
        Netlink::forEachMessage(socket.buffer(), static_cast<size_t>(length), [&](const nlmsghdr* message) {
          ++messages;
          const size_t header = message->nlmsg_type == RTM_NEWLINK || message->nlmsg_type == RTM_DELLINK ? sizeof(ifinfomsg)
                                : message->nlmsg_type == RTM_NEWADDR || message->nlmsg_type == RTM_DELADDR ? sizeof(ifaddrmsg)
                                                                                                             : sizeof(rtmsg);
          mnl_attr_parse(message, static_cast<unsigned>(header), countAttribute, &attributes);
        });
      }
    }
  }
}

// linkdown: a namespace of its own with IPv4 only (disable_ipv6): ld0 192.0.2.2/24 ── veth ── ld1,
// default via 192.0.2.1. N times: ld0 down → netmon's overall reachability Disconnected? GLib's
// network-changed with available = FALSE? Then up, default route again, Online again.
// "linkdown N NETMON_SEEN GLIB_SEEN NETMON_P50_US".
int childLinkDown(int count, const std::string& glib_peer) {
  if (!enterOwnNamespace()) die("unshare(CLONE_NEWNET) for the link-down namespace: permission denied");
  writeSysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
  writeSysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
  NamespaceBuilder builder;
  const unsigned link = builder.vethWithAddress("ld0", "ld1", kLocal, 24);
  Clock::time_point sent;
  builder.change(true, defaultRoute(), link, sent);

  auto monitor = netmon::StatusMonitor::create();
  if (!monitor) die("StatusMonitor::create: " + monitor.error().message());
  Waiter disconnected, online;
  const auto subscription = monitor->subscribe(
      netmon::Executor::inlineOnMonitorThread(),
      [&](const netmon::Event& event) {
        const auto now = Clock::now();
        const auto* change = std::get_if<netmon::ReachabilityEvent>(&event.payload);
        if (!change || change->family != netmon::Family::Unspecified) return;
        if (change->current == netmon::Reachability::Disconnected) disconnected.signal(now);
        if (change->current == netmon::Reachability::Online) online.signal(now);
      },
      netmon::EventKind::Reachability);
  if (monitor->reachability() != netmon::Reachability::Online) die("link-down namespace: netmon is not Online at start");
  Waiter glib_down;
  ChildProcess glib({glib_peer, "listen"}, {"GIO_USE_NETWORK_MONITOR=netlink", "GIO_MODULE_DIR=/nonexistent"}, false,
                    [&](Clock::time_point now, const std::string& line) {
                      if (line.rfind("changed ", 0) == 0 && line.back() == '0') glib_down.signal(now);
                    });
  glib.expectLine("ready", std::chrono::seconds(10));
  int netmon_seen = 0, glib_seen = 0;
  std::vector<double> latencies;
  for (int i = 0; i < count; ++i) {
    disconnected.arm();
    glib_down.arm();
    Clock::time_point down;
    down = Clock::now();
    builder.setLink(link, false);
    if (const auto seen = disconnected.wait(down + std::chrono::seconds(2))) {
      ++netmon_seen;
      latencies.push_back(toUs(*seen - down));
    }
    if (glib_down.wait(down + std::chrono::milliseconds(300))) ++glib_seen;
    online.arm();
    builder.setLink(link, true);
    builder.waitForCarrier(link);
    builder.change(true, defaultRoute(), link, sent);  // the kernel flushed it with the link
    if (!online.wait(Clock::now() + std::chrono::seconds(2))) die("link-down namespace: netmon not Online again");
  }
  fmt::print("linkdown {} {} {} {:.1f}\n", count, netmon_seen, glib_seen, statsOf(latencies).median);
  std::fflush(stdout);
  std::_Exit(0);
}

// ---------------------------------------------------------------------------------------------
// The measurements in the benchmark's own process.

struct Options {
  bool json = false;
  std::vector<size_t> sizes{10000, 100000, 1000000};
  size_t v6 = 100000;
  int changes = 1000;
  size_t churn = 1000000;
  size_t churnAtTable = 200000;
  size_t batchChurn = 100000;
  int linkDowns = 20;
  int repeats = 5;
  int repeatsLarge = 3;  // for tables of 1M routes and more
  std::string glibPeer;
};

struct SyncRow {
  std::string table;
  size_t routes = 0;
  int runs = 0;
  Stats floorMs, parseMs, netmonMs, glibMs;
  double netmonBytesPerRoute = 0, glibBytesPerRoute = 0;  // medians
  size_t floorMessages = 0;
};

struct LatencyRow {
  std::string observer;
  std::vector<double> us;
  int missed = 0;
  double p50() const { return percentile(us, 0.50); }
  double p99() const { return percentile(us, 0.99); }
};

struct ChurnRow {
  std::string observer;
  size_t table = 0;
  size_t events = 0;          // notifications the kernel sent (adds + deletes)
  double wallSeconds = 0;     // the churn, sender side
  double cpuSeconds = 0;      // the observer's, until it was idle again
  bool idle = true;           // false: still busy at the bound (its CPU is a lower bound)
  long long overruns = -1, resyncs = -1;
  std::string check;          // netmon: "equal N" / "differ M E N"
  double usPerEvent() const { return events ? cpuSeconds * 1e6 / static_cast<double>(events) : 0; }
};

struct ResyncFigures {
  long long baseline = 0, steady = 0, peak = 0, after = 0;
  double ms = 0;
  long long overruns = 0, resyncs = 0;
  long long glibSteady = 0, glibPeak = 0;
  double glibOneChangeCpuMs = 0;
};

struct Results {
  std::vector<SyncRow> sync;
  std::vector<LatencyRow> latency;
  int linkDowns = 0, linkDownNetmon = 0, linkDownGlib = 0;
  double linkDownP50Us = 0;
  std::vector<ChurnRow> churn;
  ChurnRow batch;
  double batchEventsPerSecond = 0;
  ResyncFigures resync;
  size_t oneChangeTable = 0;
  double oneChangeNetmonUs = 0, oneChangeRawUs = 0;
  std::vector<std::string> problems;
};

class Bench {
 public:
  explicit Bench(Options options) : options_(std::move(options)), self_(selfPath()) {}

  void setUpNamespace() {
    writeSysctl("/proc/sys/net/ipv6/conf/all/accept_dad", "0");
    writeSysctl("/proc/sys/net/ipv6/conf/default/accept_dad", "0");
    link_ = builder_.vethWithAddress("bench0", "bench1", kLocal, 24);
    builder_.addAddress(link_, AF_INET6, kLocal6.data(), 64);
    Clock::time_point sent;
    builder_.change(true, defaultRoute(), link_, sent);
    RouteSpec default6;
    default6.v6 = true;
    default6.gateway6 = kGateway6;
    builder_.change(true, default6, link_, sent);
  }

  // 3. Latency: the default route deleted and added in turn, one observer at a time, in two passes
  // (floor, netmon, GLib, ip, then again) so that a change in the machine's load hits all alike.
  void latency() {
    const int total = options_.changes;
    for (int pass = 0; pass < 2; ++pass) {
      options_.changes = pass == 0 ? total / 2 : total - total / 2;
      latencyPass();
    }
    options_.changes = total;
    std::vector<LatencyRow> merged;
    for (auto& row : results_.latency) {
      auto same = std::find_if(merged.begin(), merged.end(), [&](const LatencyRow& m) { return m.observer == row.observer; });
      if (same == merged.end()) {
        merged.push_back(std::move(row));
      } else {
        same->us.insert(same->us.end(), row.us.begin(), row.us.end());
        same->missed += row.missed;
      }
    }
    results_.latency = std::move(merged);
  }

  void latencyPass() {
    {
      NotificationFloor floor;
      results_.latency.push_back(latencyOf("bare listener (floor)", [&] { floor.arm(0, 0); },
                                           [&](Clock::time_point d) { return floor.wait(d); }, std::chrono::seconds(1)));
    }
    {
      auto monitor = netmon::StatusMonitor::create();
      if (!monitor) die("StatusMonitor::create: " + monitor.error().message());
      Waiter waiter;
      const auto subscription = monitor->subscribe(
          netmon::Executor::inlineOnMonitorThread(),
          [&waiter](const netmon::Event& event) {
            const auto now = Clock::now();
            const auto* change = std::get_if<netmon::RouteEvent>(&event.payload);
            if (change && change->route.family == netmon::Family::Ipv4 && change->route.destination.length == 0 &&
                change->route.table == netmon::kTableMain) {
              waiter.signal(now);
            }
          },
          netmon::EventKind::Route);
      results_.latency.push_back(latencyOf("netmon callback", [&] { waiter.arm(); },
                                           [&](Clock::time_point d) { return waiter.wait(d); }, std::chrono::seconds(1)));
    }
    {
      Waiter waiter;
      ChildProcess glib({options_.glibPeer, "listen"}, {"GIO_USE_NETWORK_MONITOR=netlink", "GIO_MODULE_DIR=/nonexistent"}, false,
                        [&waiter](Clock::time_point, const std::string& line) {
                          long long ns = 0;
                          int available = 0;
                          if (std::sscanf(line.c_str(), "changed %lld %d", &ns, &available) == 2) {
                            waiter.signal(Clock::time_point(std::chrono::nanoseconds(ns)));
                          }
                        });
      glib.expectLine("ready", std::chrono::seconds(10));
      results_.latency.push_back(latencyOf("GLib network-changed", [&] { waiter.arm(); },
                                           [&](Clock::time_point d) { return waiter.wait(d); },
                                           std::chrono::milliseconds(50)));
    }
    {
      Waiter waiter;
      ChildProcess ip({"ip", "monitor", "route"}, {}, false, [&waiter](Clock::time_point now, const std::string& line) {
        if (line.find("default via 192.0.2.1") != std::string::npos) waiter.signal(now);
      });
      // ip prints nothing when it is ready: wait for the line of a change made for that purpose.
      waitReady(ip, waiter);
      results_.latency.push_back(latencyOf("ip monitor line", [&] { waiter.arm(); },
                                           [&](Clock::time_point d) { return waiter.wait(d); },
                                           std::chrono::milliseconds(50)));
    }
  }

  void linkDown() {
    ChildProcess child({self_, "--child", "linkdown", std::to_string(options_.linkDowns), options_.glibPeer});
    const std::string line = child.expectLine("linkdown", std::chrono::seconds(30 + options_.linkDowns * 3));
    std::sscanf(line.c_str(), "linkdown %d %d %d %lf", &results_.linkDowns, &results_.linkDownNetmon,
                &results_.linkDownGlib, &results_.linkDownP50Us);
    if (child.wait(Clock::now() + std::chrono::seconds(10)) != 0) die("link-down child failed");
  }

  // 4. Churn on the current table, for each observer.
  void churn(size_t count, bool all_observers) {
    const size_t table = table_;
    results_.churn.push_back(churnOf("raw listener (floor)", {self_, "--child", "raw", "8388608"}, {}, count, table));
    results_.churn.push_back(churnOf("netmon", {self_, "--child", "listen", "0", "8388608"}, {}, count, table));
    if (!all_observers) {
      results_.churn.push_back(
          churnOf("GLib", {options_.glibPeer, "listen"}, {"GIO_USE_NETWORK_MONITOR=netlink", "GIO_MODULE_DIR=/nonexistent"}, count, table));
      return;
    }
    results_.churn.push_back(churnOf("netmon + subscriber", {self_, "--child", "listen", "1", "8388608"}, {}, count, table));
    results_.churn.push_back(churnOf("ip monitor", {"ip", "monitor", "route"}, {}, count, table));
    results_.churn.push_back(
        churnOf("GLib", {options_.glibPeer, "listen"}, {"GIO_USE_NETWORK_MONITOR=netlink", "GIO_MODULE_DIR=/nonexistent"}, count, table));
  }

  // ENOBUFS at `ip -batch` speed with a 1 MiB receive buffer.
  void batchChurn() {
    const std::string path = fmt::format("/tmp/core_bench-{}.batch", getpid());
    {
      std::ofstream batch(path);
      for (int pass = 0; pass < 2; ++pass) {
        for (size_t i = 0; i < options_.batchChurn; ++i) {
          batch << (pass == 0 ? "route add " : "route del ") << ipv4Text(kChurnBase + static_cast<uint32_t>(i))
                << "/32 via 192.0.2.1 dev bench0\n";
        }
      }
    }
    ChildProcess netmon({self_, "--child", "listen", "0", "1048576"});
    netmon.expectLine("ready", std::chrono::seconds(60));
    netmon.waitIdle(std::chrono::milliseconds(500), std::chrono::seconds(30));
    const double cpu0 = netmon.cpuSeconds();
    const auto start = Clock::now();
    {
      ChildProcess ip({"ip", "-batch", path});
      if (ip.wait(Clock::now() + std::chrono::seconds(120)) != 0) die("ip -batch failed");
    }
    const double seconds = toMs(Clock::now() - start) / 1000;
    std::remove(path.c_str());
    ChurnRow row = finishChurn("netmon, 1 MiB buffer, ip -batch", netmon, 2 * options_.batchChurn, table_, seconds, true, cpu0);
    results_.batch = row;
    results_.batchEventsPerSecond = static_cast<double>(2 * options_.batchChurn) / seconds;
  }

  // 1 + 2. Initial sync and memory with `routes` routes of one family installed.
  void sync(const std::string& name, size_t routes) {
    SyncRow row;
    row.table = name;
    row.routes = routes;
    row.runs = routes >= 1000000 ? options_.repeatsLarge : options_.repeats;
    std::vector<double> floor_ms, parse_ms, netmon_ms, glib_ms, netmon_bytes, glib_bytes;
    row.floorMessages = floorDump();  // warm-up
    for (int run = 0; run < row.runs; ++run) {
      const auto start = Clock::now();
      floorDump();
      floor_ms.push_back(toMs(Clock::now() - start));
      const auto parse_start = Clock::now();
      floorDumpParsed();
      parse_ms.push_back(toMs(Clock::now() - parse_start));
      {
        ChildProcess child({self_, "--child", "sync"});
        const std::string line = child.expectLine("sync", std::chrono::seconds(120));
        double ms = 0;
        long long before = 0, after = 0;
        size_t count = 0;
        std::sscanf(line.c_str(), "sync %lf %lld %lld %zu", &ms, &before, &after, &count);
        if (count < routes) problem(fmt::format("{}: netmon mirrored {} routes, fewer than {}", name, count, routes));
        netmon_ms.push_back(ms);
        netmon_bytes.push_back(static_cast<double>(after - before) / static_cast<double>(routes));
      }
      {
        ChildProcess child({options_.glibPeer, "sync"}, {"GIO_USE_NETWORK_MONITOR=netlink", "GIO_MODULE_DIR=/nonexistent"});
        const std::string line = child.expectLine("sync", std::chrono::seconds(120));
        double ms = 0;
        long long before = 0, after = 0;
        std::sscanf(line.c_str(), "sync %lf %lld %lld", &ms, &before, &after);
        glib_ms.push_back(ms);
        glib_bytes.push_back(static_cast<double>(after - before) / static_cast<double>(routes));
        if (child.wait(Clock::now() + std::chrono::seconds(10)) != 0) problem(name + ": glib_peer did not use the netlink monitor");
      }
    }
    row.floorMs = statsOf(floor_ms);
    row.parseMs = statsOf(parse_ms);
    row.netmonMs = statsOf(netmon_ms);
    row.glibMs = statsOf(glib_ms);
    row.netmonBytesPerRoute = statsOf(netmon_bytes).median;
    row.glibBytesPerRoute = statsOf(glib_bytes).median;
    results_.sync.push_back(row);
  }

  void syncAll() {
    if (options_.v6 > 0) {
      const auto routes = v6Routes(options_.v6);
      builder_.routes(routes, link_);
      sync(fmt::format("{} IPv6", withCommas(options_.v6)), options_.v6);
      builder_.routes(routes, link_, false);
    }
    for (size_t size : options_.sizes) {
      growTable(size);
      sync(fmt::format("{} IPv4", withCommas(size)), size);
    }
  }

  void growTable(size_t size) {
    if (size > table_) builder_.routes(v4Routes(kTableBase, table_, size), link_);
    table_ = std::max(table_, size);
  }

  // At the largest table: the resync peak (netmon, GLib), the CPU of one change, churn.
  void atLargestTable() {
    {
      ChildProcess child({self_, "--child", "resync", "20000"});
      const std::string line = child.expectLine("resync", std::chrono::seconds(120));
      auto& r = results_.resync;
      std::sscanf(line.c_str(), "resync %lld %lld %lld %lld %lf %lld %lld", &r.baseline, &r.steady, &r.peak, &r.after,
                  &r.ms, &r.overruns, &r.resyncs);
      if (r.resyncs < 1) problem("resync: the forced overrun did not lead to a resync within 60 s");
    }
    {
      ChildProcess glib({options_.glibPeer, "listen"}, {"GIO_USE_NETWORK_MONITOR=netlink", "GIO_MODULE_DIR=/nonexistent"});
      glib.expectLine("ready", std::chrono::seconds(60));
      glib.waitIdle(std::chrono::milliseconds(2500), std::chrono::seconds(30));
      results_.resync.glibSteady = statusBytes(glib.pid(), "VmRSS");
      writeSysctl(fmt::format("/proc/{}/clear_refs", glib.pid()), "5");
      const double cpu0 = glib.cpuSeconds();
      Clock::time_point sent;
      builder_.change(true, v4Route(kSentinel), link_, sent);
      if (!glib.waitIdle(std::chrono::milliseconds(2500), std::chrono::seconds(30))) problem("GLib still busy 30 s after one change");
      results_.resync.glibOneChangeCpuMs = (glib.cpuSeconds() - cpu0) * 1000;
      results_.resync.glibPeak = statusBytes(glib.pid(), "VmHWM");
      builder_.change(false, v4Route(kSentinel), link_, sent);
    }
    results_.oneChangeTable = table_;
    results_.oneChangeNetmonUs = oneChangeCpu({self_, "--child", "listen", "0", "8388608"});
    results_.oneChangeRawUs = oneChangeCpu({self_, "--child", "raw", "8388608"});
    if (options_.churnAtTable > 0) churn(options_.churnAtTable, false);
  }

  const Results& results() const { return results_; }
  size_t table() const { return table_; }

 private:
  void problem(const std::string& text) {
    std::fprintf(stderr, "core_bench: PROBLEM: %s\n", text.c_str());
    results_.problems.push_back(text);
  }

  // Changes the default route until `waiter` sees it (≤ 5 tries), so the observer is listening.
  void waitReady(ChildProcess&, Waiter& waiter) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      waiter.arm();
      Clock::time_point sent;
      builder_.change(false, defaultRoute(), link_, sent);
      builder_.change(true, defaultRoute(), link_, sent);
      if (waiter.wait(Clock::now() + std::chrono::seconds(1))) return;
    }
    die("ip monitor printed nothing for 5 default-route changes");
  }

  template <class Arm, class Wait>
  LatencyRow latencyOf(const std::string& observer, Arm arm, Wait wait, Clock::duration timeout) {
    LatencyRow row;
    row.observer = observer;
    for (int i = 0; i < options_.changes; ++i) {
      arm();
      Clock::time_point sent;
      builder_.change(i % 2 == 1, defaultRoute(), link_, sent);  // delete first: the route exists
      // A signal stamped before the change belongs to an earlier one: not this change's.
      if (const auto seen = wait(sent + timeout); seen && *seen >= sent) {
        row.us.push_back(toUs(*seen - sent));
      } else {
        ++row.missed;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // each change finds the observer idle
    }
    if (options_.changes % 2 == 1) {  // leave the default route in place
      Clock::time_point sent;
      builder_.change(true, defaultRoute(), link_, sent);
    }
    return row;
  }

  ChurnRow churnOf(const std::string& observer, const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   size_t count, size_t table) {
    const bool is_netmon_or_raw = argv[0] == self_;
    ChildProcess child(argv, env, !is_netmon_or_raw && argv[0] == "ip");
    if (is_netmon_or_raw) {
      child.expectLine("ready", std::chrono::seconds(60));
    } else if (argv[0] == options_.glibPeer) {
      child.expectLine("ready", std::chrono::seconds(60));
    } else {
      if (!child.waitNetlinkListener(Clock::now() + std::chrono::seconds(30))) die("ip monitor joined no netlink group within 30 s");
    }
    child.waitIdle(std::chrono::milliseconds(500), std::chrono::seconds(30));
    const auto routes = v4Routes(kChurnBase, 0, count);
    const double cpu0 = child.cpuSeconds();
    const auto start = Clock::now();
    builder_.routes(routes, link_);
    builder_.routes(routes, link_, false);
    const double seconds = toMs(Clock::now() - start) / 1000;
    ChurnRow row = finishChurn(observer, child, 2 * count, table, seconds, argv.size() > 2 && argv[2] == "listen", cpu0);
    return row;
  }

  ChurnRow finishChurn(const std::string& observer, ChildProcess& child, size_t events, size_t table, double seconds,
                       bool netmon, double cpu0 = -1) {
    ChurnRow row;
    row.observer = observer;
    row.table = table;
    row.events = events;
    row.wallSeconds = seconds;
    Clock::time_point sent;
    builder_.change(true, v4Route(kSentinel), link_, sent);
    row.idle = child.waitIdle(std::chrono::milliseconds(1500), std::chrono::seconds(90));
    if (cpu0 >= 0) row.cpuSeconds = child.cpuSeconds() - cpu0;
    if (netmon) {
      child.writeLine("check");
      row.check = child.expectLine("check", std::chrono::seconds(60)).substr(6);
      child.writeLine("cpu");
      const std::string line = child.expectLine("cpu", std::chrono::seconds(10));
      double us = 0;
      unsigned long long messages = 0, overruns = 0, resyncs = 0, delivered = 0;
      std::sscanf(line.c_str(), "cpu %lf %llu %llu %llu %llu", &us, &messages, &overruns, &resyncs, &delivered);
      row.overruns = static_cast<long long>(overruns);
      row.resyncs = static_cast<long long>(resyncs);
      if (row.check.rfind("equal", 0) != 0) problem(observer + ": final mirror differs from the kernel: " + row.check);
    } else if (child.pid() > 0 && observer.find("raw") != std::string::npos) {
      child.writeLine("cpu");
      const std::string line = child.expectLine("cpu", std::chrono::seconds(10));
      double us = 0;
      unsigned long long messages = 0, enobufs = 0;
      std::sscanf(line.c_str(), "cpu %lf %llu %llu", &us, &messages, &enobufs);
      row.overruns = static_cast<long long>(enobufs);
    }
    if (!netmon && observer.find("raw") == std::string::npos && child.overrunLines() > 0) {
      row.overruns = static_cast<long long>(child.overrunLines());
    }
    if (cpu0 < 0) row.cpuSeconds = child.cpuSeconds();
    builder_.change(false, v4Route(kSentinel), link_, sent);
    return row;
  }

  // CPU µs per single route change (add or delete of one /32, 2 ms apart) of a listener child.
  double oneChangeCpu(const std::vector<std::string>& argv) {
    ChildProcess child(argv);
    child.expectLine("ready", std::chrono::seconds(60));
    child.waitIdle(std::chrono::milliseconds(500), std::chrono::seconds(30));
    const auto cpu = [&] {
      child.writeLine("cpu");
      double us = 0;
      std::sscanf(child.expectLine("cpu", std::chrono::seconds(10)).c_str(), "cpu %lf", &us);
      return us;
    };
    constexpr int kChanges = 200;
    const double before = cpu();
    for (int i = 0; i < kChanges; ++i) {
      Clock::time_point sent;
      builder_.change(i % 2 == 0, v4Route(kSentinel), link_, sent);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    child.waitIdle(std::chrono::milliseconds(300), std::chrono::seconds(10));
    return (cpu() - before) / kChanges;
  }

  Options options_;
  std::string self_;
  NamespaceBuilder builder_;
  uint32_t link_ = 0;
  size_t table_ = 0;
  Results results_;
};

// ---------------------------------------------------------------------------------------------
// Report.

std::string ratio(double value, double base) { return base > 0 ? fmt::format("{:.2f}x", value / base) : "-"; }
std::string stats3(const Stats& s) { return fmt::format("{:.1f} / {:.1f} / {:.1f}", s.min, s.median, s.max); }

void printText(const Options& options, const Results& r) {
  fmt::print("netmon core benchmark ({})\n", utcNow());
  fmt::print("machine: {}\n", machineLine());
  fmt::print("namespace: bench0 192.0.2.2/24 + 2001:db8::2/64, default routes; table: /32s via 192.0.2.1 "
             "(IPv6: /64s via 2001:db8::1); peers: GLib {} (GNetworkMonitorNetlink), iproute2 `ip monitor route`\n\n",
             "2.74");

  fmt::print("1. Initial sync, ms (min / median / max). floor: bare libmnl dump of links, addresses, routes, rules, "
             "counting messages\n");
  fmt::print("{:<14} {:>4} {:>9} {:>22} {:>22} {:>7} {:>24} {:>7} {:>7} {:>24} {:>7}\n", "table", "runs", "messages",
             "floor (count)", "floor+parse", "ratio", "netmon create()", "ratio", "/parse", "GLib get_default()", "ratio");
  for (const auto& s : r.sync) {
    fmt::print("{:<14} {:>4} {:>9} {:>22} {:>22} {:>7} {:>24} {:>7} {:>7} {:>24} {:>7}\n", s.table, s.runs,
               withCommas(s.floorMessages), stats3(s.floorMs), stats3(s.parseMs), ratio(s.parseMs.median, s.floorMs.median),
               stats3(s.netmonMs), ratio(s.netmonMs.median, s.floorMs.median), ratio(s.netmonMs.median, s.parseMs.median),
               stats3(s.glibMs), ratio(s.glibMs.median, s.floorMs.median));
  }
  fmt::print("floor+parse: the same dumps with each route's attributes parsed into a 20-byte record appended to a "
             "vector (no index); /parse: netmon against it\n");

  fmt::print("\n2. Memory: resident bytes per route above the process baseline (fresh process each run, median)\n");
  fmt::print("{:<12} {:>10} {:>10} {:>12}\n", "table", "netmon", "GLib", "GLib/netmon");
  for (const auto& s : r.sync) {
    fmt::print("{:<12} {:>10.1f} {:>10.1f} {:>12}\n", s.table, s.netmonBytesPerRoute, s.glibBytesPerRoute,
               ratio(s.glibBytesPerRoute, s.netmonBytesPerRoute));
  }
  const auto& z = r.resync;
  const double mib = 1024.0 * 1024.0;
  fmt::print("resync forced by an overrun (64 KiB buffer, 20,000 routes added unread) on the {}-route table: "
             "steady {:.1f} MiB, peak {:.1f} MiB ({}), mirror alone {} (baseline {:.1f} MiB); resync took {:.0f} ms, "
             "overruns {}, resyncs {}\n",
             withCommas(r.oneChangeTable), z.steady / mib, z.peak / mib, ratio(z.peak, z.steady),
             ratio(z.peak - z.baseline, z.steady - z.baseline), z.baseline / mib, z.ms, z.overruns, z.resyncs);
  fmt::print("GLib on the same table, one route change: steady {:.1f} MiB, peak {:.1f} MiB ({}), {:.0f} ms CPU for it\n",
             z.glibSteady / mib, z.glibPeak / mib, ratio(z.glibPeak, z.glibSteady), z.glibOneChangeCpuMs);

  const LatencyRow* floor = r.latency.empty() ? nullptr : &r.latency[0];
  fmt::print("\n3. Event latency: default route deleted/added by this process -> observer, us, {} changes each\n",
             options.changes);
  fmt::print("{:<24} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10}\n", "observer", "seen", "missed", "min", "p50", "p99",
             "p50-floor", "p99/floor");
  for (const auto& l : r.latency) {
    fmt::print("{:<24} {:>8} {:>8} {:>8.1f} {:>8.1f} {:>8.1f} {:>10.1f} {:>10}\n", l.observer, l.us.size(), l.missed,
               l.us.empty() ? 0.0 : *std::min_element(l.us.begin(), l.us.end()), l.p50(), l.p99(),
               floor ? l.p50() - floor->p50() : 0.0, floor ? ratio(l.p99(), floor->p99()) : "-");
  }
  fmt::print("link down -> Disconnected (IPv4 only, {} link-downs): netmon {} of {} (median {:.0f} us), GLib "
             "available=FALSE {} of {}\n",
             r.linkDowns, r.linkDownNetmon, r.linkDowns, r.linkDownP50Us, r.linkDownGlib, r.linkDowns);

  fmt::print("\n4. Churn: N /32 adds then N deletes, pipelined ({} per datagram); observer CPU until idle again\n",
             kBatchPerSend);
  fmt::print("{:<34} {:>9} {:>10} {:>8} {:>9} {:>9} {:>10} {:>8} {:>8}  {}\n", "observer", "table", "events", "wall s",
             "events/s", "CPU s", "us/event", "overrun", "resyncs", "final mirror");
  const auto churnLine = [](const ChurnRow& c) {
    fmt::print("{:<34} {:>9} {:>10} {:>8.2f} {:>9.0f} {:>9.2f} {:>10.2f} {:>8} {:>8}  {}{}\n", c.observer,
               withCommas(c.table), withCommas(c.events), c.wallSeconds, c.events / c.wallSeconds, c.cpuSeconds,
               c.usPerEvent(), c.overruns < 0 ? "-" : std::to_string(c.overruns),
               c.resyncs < 0 ? "-" : std::to_string(c.resyncs), c.check.empty() ? "-" : c.check,
               c.idle ? "" : " (still busy at 90 s: CPU is a lower bound)");
  };
  for (const auto& c : r.churn) churnLine(c);
  churnLine(r.batch);
  fmt::print("one route change on the {}-route table, CPU per change (200 changes): netmon {:.1f} us, raw listener {:.1f} "
             "us ({}); GLib {:.0f} ms\n",
             withCommas(r.oneChangeTable), r.oneChangeNetmonUs, r.oneChangeRawUs,
             ratio(r.oneChangeNetmonUs, r.oneChangeRawUs), r.resync.glibOneChangeCpuMs);

  fmt::print("\nTargets (issue 8)\n");
  for (const auto& s : r.sync) {
    const double x = s.netmonMs.median / s.floorMs.median;
    fmt::print("  initial sync {}: {:.2f}x the floor (target <= 1.5x): {}\n", s.table, x, verdict(x <= 1.5));
  }
  for (const auto& s : r.sync) {
    if (s.routes < 100000) continue;  // fixed costs dominate small tables
    const bool v6 = s.table.find("IPv6") != std::string::npos;
    const double target = v6 ? 96 : 48;
    fmt::print("  memory {}: {:.1f} B/route (target <= {:.0f}): {}\n", s.table, s.netmonBytesPerRoute, target,
               verdict(s.netmonBytesPerRoute <= target));
  }
  fmt::print("  resync peak: {} of steady state, process (target <= 1.25x): {}\n", ratio(z.peak, z.steady),
             verdict(z.steady > 0 && z.peak <= 1.25 * static_cast<double>(z.steady)));
  const LatencyRow* netmon = nullptr;
  const LatencyRow* glib = nullptr;
  for (const auto& l : r.latency) {
    if (l.observer.rfind("netmon", 0) == 0) netmon = &l;
    if (l.observer.rfind("GLib", 0) == 0) glib = &l;
  }
  if (floor && netmon) {
    fmt::print("  latency p50: {:.1f} us, floor {:.1f} + {:.1f} (target <= floor + 15 us): {}\n", netmon->p50(), floor->p50(),
               netmon->p50() - floor->p50(), verdict(netmon->p50() <= floor->p50() + 15));
    fmt::print("  latency p99: {:.1f} us, {} the floor's {:.1f} (target <= 2x): {}\n", netmon->p99(),
               ratio(netmon->p99(), floor->p99()), floor->p99(), verdict(netmon->p99() <= 2 * floor->p99()));
  }
  if (netmon && glib) {
    fmt::print("  latency vs GLib: p50 {} faster (target >= 3x): {}\n", ratio(glib->p50(), netmon->p50()),
               verdict(glib->p50() >= 3 * netmon->p50()));
  }
  fmt::print("  link down -> Disconnected never missed: {} of {}: {}\n", r.linkDownNetmon, r.linkDowns,
             verdict(r.linkDowns > 0 && r.linkDownNetmon == r.linkDowns));
  for (const auto& c : r.churn) {
    if (c.observer.rfind("netmon", 0) != 0) continue;
    fmt::print("  churn CPU per event, {}, table {}: {:.2f} us (target <= 10): {}\n", c.observer, withCommas(c.table),
               c.usPerEvent(), verdict(c.usPerEvent() <= 10));
    for (const auto& g : r.churn) {
      if (g.observer.rfind("GLib", 0) != 0 || g.table != c.table) continue;
      if (g.overruns > 0) {
        fmt::print("  churn CPU vs GLib, {}, table {}: not comparable: GLib overran ({} ENOBUFS warning(s)) and stopped "
                   "listening, so it spent only {:.2f} s\n", c.observer, withCommas(c.table), g.overruns, g.cpuSeconds);
      } else {
        fmt::print("  churn CPU vs GLib, {}, table {}: {} less (target >= 15x): {}\n", c.observer, withCommas(c.table),
                   ratio(g.cpuSeconds, c.cpuSeconds), verdict(g.cpuSeconds >= 15 * c.cpuSeconds));
      }
    }
  }
  if (r.oneChangeNetmonUs > 0) {
    const double glib_us = r.resync.glibOneChangeCpuMs * 1000;
    fmt::print("  CPU for one route change on the {}-route table vs GLib: {} less (target >= 15x): {}\n",
               withCommas(r.oneChangeTable), ratio(glib_us, r.oneChangeNetmonUs), verdict(glib_us >= 15 * r.oneChangeNetmonUs));
  }
  fmt::print("  one change on the {}-route table: {:.1f} us CPU (target <= 1 ms): {}\n", withCommas(r.oneChangeTable),
             r.oneChangeNetmonUs, verdict(r.oneChangeNetmonUs <= 1000));
  bool equal = r.batch.check.rfind("equal", 0) == 0;
  for (const auto& c : r.churn) {
    if (c.observer.rfind("netmon", 0) == 0) equal = equal && c.check.rfind("equal", 0) == 0;
  }
  fmt::print("  zero lost final state (every netmon mirror equal to a fresh dump): {}\n", verdict(equal));
  fmt::print("  no ENOBUFS with 1 MiB at ip -batch speed ({:.0f} events/s): {} overruns: {}\n", r.batchEventsPerSecond,
             r.batch.overruns, verdict(r.batch.overruns == 0));
  for (const auto& p : r.problems) fmt::print("PROBLEM: {}\n", p);
}

nlohmann::json statsJson(const Stats& s) { return {{"min", s.min}, {"median", s.median}, {"max", s.max}}; }

void printJson(const Options& options, const Results& r) {
  nlohmann::json out;
  out["benchmark"] = "core_bench";
  out["date"] = utcNow();
  out["machine"] = machineLine();
  out["sync"] = nlohmann::json::array();
  for (const auto& s : r.sync) {
    out["sync"].push_back({{"table", s.table}, {"routes", s.routes}, {"runs", s.runs}, {"floor_messages", s.floorMessages},
                           {"floor_ms", statsJson(s.floorMs)}, {"floor_parse_ms", statsJson(s.parseMs)}, {"netmon_ms", statsJson(s.netmonMs)},
                           {"glib_ms", statsJson(s.glibMs)}, {"netmon_bytes_per_route", s.netmonBytesPerRoute},
                           {"glib_bytes_per_route", s.glibBytesPerRoute}});
  }
  const auto& z = r.resync;
  out["resync"] = {{"baseline", z.baseline}, {"steady", z.steady}, {"peak", z.peak}, {"after", z.after}, {"ms", z.ms},
                   {"overruns", z.overruns}, {"resyncs", z.resyncs}, {"glib_steady", z.glibSteady},
                   {"glib_peak", z.glibPeak}, {"glib_one_change_cpu_ms", z.glibOneChangeCpuMs}};
  out["latency"] = nlohmann::json::array();
  for (const auto& l : r.latency) {
    out["latency"].push_back({{"observer", l.observer}, {"changes", options.changes}, {"seen", l.us.size()},
                              {"missed", l.missed}, {"p50_us", l.p50()}, {"p99_us", l.p99()}});
  }
  out["link_down"] = {{"count", r.linkDowns}, {"netmon", r.linkDownNetmon}, {"glib", r.linkDownGlib},
                      {"netmon_median_us", r.linkDownP50Us}};
  out["churn"] = nlohmann::json::array();
  auto rows = r.churn;
  rows.push_back(r.batch);
  for (const auto& c : rows) {
    out["churn"].push_back({{"observer", c.observer}, {"table", c.table}, {"events", c.events}, {"wall_s", c.wallSeconds},
                            {"cpu_s", c.cpuSeconds}, {"us_per_event", c.usPerEvent()}, {"idle", c.idle},
                            {"overruns", c.overruns}, {"resyncs", c.resyncs}, {"final_mirror", c.check}});
  }
  out["one_change"] = {{"table", r.oneChangeTable}, {"netmon_cpu_us", r.oneChangeNetmonUs}, {"raw_cpu_us", r.oneChangeRawUs}};
  out["problems"] = r.problems;
  fmt::print("{}\n", out.dump(2));
}

int usage(int status) {
  std::fprintf(status == 0 ? stdout : stderr,
               "usage: core_bench [--json] [--quick] [--sizes N,N,...] [--ipv6 N] [--changes N] [--churn N]\n"
               "                  [--churn-at-table N] [--batch-churn N] [--link-downs N] [--repeats N] [--glib-peer PATH]\n"
               "  --json            one JSON object instead of tables\n"
               "  --quick           sizes 10000,100000, IPv6 10000, 200 changes, churn 100000, 5 link-downs, 3 runs\n"
               "  --sizes           IPv4 table sizes for the initial sync (default 10000,100000,1000000)\n"
               "  --ipv6            IPv6 table size (default 100000; 0 skips it)\n"
               "  --changes         latency samples per observer (default 1000)\n"
               "  --churn           routes added then deleted per churn run (default 1000000)\n"
               "  --churn-at-table  churn on the largest table, netmon and the raw listener (default 200000; 0 skips)\n"
               "  --batch-churn     routes added then deleted by ip -batch, 1 MiB buffer (default 100000)\n"
               "  --link-downs      link-downs counted (default 20)\n"
               "  --repeats         runs per initial-sync size (default 5; 3 for 1M routes and more)\n"
               "Needs root: it makes its own network namespace (the host's is never touched).\n");
  return status;
}

std::optional<size_t> number(const char* text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value > 20000000) return std::nullopt;
  return static_cast<size_t>(value);
}

int childMain(int argc, char** argv) {
  const std::string_view mode = argv[2];
  if (mode == "sync") return childSync();
  if (mode == "resync" && argc == 4) return childResync(*number(argv[3]));
  if (mode == "listen" && argc == 5) return childListen(std::string_view(argv[3]) == "1", *number(argv[4]));
  if (mode == "raw" && argc == 4) return childRaw(*number(argv[3]));
  if (mode == "linkdown" && argc == 5) return childLinkDown(static_cast<int>(*number(argv[3])), argv[4]);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  setProgramName("core_bench");
  if (argc >= 3 && std::string_view(argv[1]) == "--child") return childMain(argc, argv);
  Options options;
  options.glibPeer = selfPath().substr(0, selfPath().rfind('/') + 1) + "glib_peer";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::optional<size_t> { return i + 1 < argc ? number(argv[++i]) : std::nullopt; };
    std::optional<size_t> v;
    if (arg == "--json") {
      options.json = true;
    } else if (arg == "--quick") {
      options.sizes = {10000, 100000};
      options.v6 = 10000;
      options.changes = 200;
      options.churn = 100000;
      options.churnAtTable = 50000;
      options.batchChurn = 20000;
      options.linkDowns = 5;
      options.repeats = options.repeatsLarge = 3;
    } else if (arg == "--sizes" && i + 1 < argc) {
      options.sizes.clear();
      std::stringstream list(argv[++i]);
      for (std::string item; std::getline(list, item, ',');) {
        const auto size = number(item.c_str());
        if (!size || *size == 0) return usage(2);
        options.sizes.push_back(*size);
      }
      std::sort(options.sizes.begin(), options.sizes.end());
      if (options.sizes.empty() || options.sizes.back() > 8000000) return usage(2);
    } else if (arg == "--ipv6" && (v = value())) {
      options.v6 = std::min<size_t>(*v, 1u << 24);
    } else if (arg == "--changes" && (v = value()) && *v > 0) {
      options.changes = static_cast<int>(*v);
    } else if (arg == "--churn" && (v = value()) && *v > 0 && *v <= 8000000) {
      options.churn = *v;
    } else if (arg == "--churn-at-table" && (v = value()) && *v <= 8000000) {
      options.churnAtTable = *v;
    } else if (arg == "--batch-churn" && (v = value()) && *v > 0 && *v <= 8000000) {
      options.batchChurn = *v;
    } else if (arg == "--link-downs" && (v = value()) && *v > 0 && *v <= 1000) {
      options.linkDowns = static_cast<int>(*v);
    } else if (arg == "--repeats" && (v = value()) && *v > 0 && *v <= 100) {
      options.repeats = static_cast<int>(*v);
      options.repeatsLarge = std::min(options.repeats, 3);
    } else if (arg == "--glib-peer" && i + 1 < argc) {
      options.glibPeer = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      return usage(0);
    } else {
      return usage(2);
    }
  }
  if (access(options.glibPeer.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "core_bench: no glib_peer at %s (build it, or pass --glib-peer)\n", options.glibPeer.c_str());
    return 2;
  }
  // First, while this is the only thread: every thread and child started later lives there too.
  if (!enterOwnNamespace()) {
    std::fprintf(stderr, "core_bench: needs CAP_SYS_ADMIN and CAP_NET_ADMIN (run as root), skipping\n");
    return 77;
  }
  signal(SIGPIPE, SIG_IGN);
  Bench bench(options);
  progress("setting up the namespace");
  bench.setUpNamespace();
  progress("event latency");
  bench.latency();
  progress("link-downs");
  bench.linkDown();
  progress("churn");
  bench.churn(options.churn, true);
  progress("churn at ip -batch speed");
  bench.batchChurn();
  progress("initial sync and memory");
  bench.syncAll();
  progress("resync peak, one change, churn on the largest table");
  bench.atLargestTable();
  progress("done");
  if (options.json) {
    printJson(options, bench.results());
  } else {
    printText(options, bench.results());
  }
  std::fflush(stdout);
  if (!bench.results().problems.empty()) {
    std::fprintf(stderr, "core_bench: FAILED: %zu measurement(s) did not complete (PROBLEM lines)\n",
                 bench.results().problems.size());
    return 1;
  }
  return 0;
}
