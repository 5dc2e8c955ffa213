#include "support/netns.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sched.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "netmon/model.h"
#include "rtnl/socket.h"

namespace netmon::test {
namespace {

std::atomic<int> g_namespace_counter{0};

constexpr uint32_t kIffUp = 0x1;          // IFF_UP
constexpr uint32_t kIffLowerUp = 0x10000;  // IFF_LOWER_UP (linux/if.h)

std::string truncateForMessage(const std::string& text, size_t limit = 4000) {
  if (text.size() <= limit) return text;
  return text.substr(0, limit) + fmt::format("\n... ({} more bytes)", text.size() - limit);
}

// Runs through popen; `merge_stderr` folds stderr into the captured output.
CommandResult runShell(const std::string& command, bool merge_stderr) {
  CommandResult result;
  const std::string full = merge_stderr ? "(" + command + ") 2>&1" : command;
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) {
    result.output = fmt::format("popen failed: {}", std::strerror(errno));
    return result;
  }
  char buffer[65536];
  size_t n = 0;
  while ((n = ::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != -1 && WIFEXITED(status)) result.exitCode = WEXITSTATUS(status);
  return result;
}

CommandResult checked(const std::string& command, CommandResult result, MayFail may_fail) {
  if (!result.ok() && may_fail == MayFail::No) {
    ADD_FAILURE() << "command failed (exit " << result.exitCode << "): " << command << "\n"
                  << truncateForMessage(result.output);
  }
  return result;
}

bool processExists(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

// Deletes namespaces that earlier, killed test processes left behind ("nmt-<pid>-<n>" whose pid
// is gone). Only our own prefix is ever touched.
void deleteStaleNamespaces() {
  DIR* dir = ::opendir("/run/netns");
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (dirent* entry = ::readdir(dir)) {
    long pid = 0;
    int consumed = 0;
    if (std::sscanf(entry->d_name, "nmt-%ld-%*d%n", &pid, &consumed) == 1 &&
        entry->d_name[consumed] == '\0' && pid > 0 && pid != ::getpid() && !processExists(pid)) {
      stale.emplace_back(entry->d_name);
    }
  }
  ::closedir(dir);
  for (const auto& name : stale) runShell("ip netns del " + shellQuote(name), true);
}

std::string canonicalAddress(const std::string& text) {
  unsigned char bytes[16];
  char out[INET6_ADDRSTRLEN];
  if (::inet_pton(AF_INET, text.c_str(), bytes) == 1) return ::inet_ntop(AF_INET, bytes, out, sizeof out);
  if (::inet_pton(AF_INET6, text.c_str(), bytes) == 1) return ::inet_ntop(AF_INET6, bytes, out, sizeof out);
  return "?" + text;
}

std::string formatAddress(const IpAddress& address) { return addressText(address); }

std::string familyWord(Family family) {
  return family == Family::Ipv4 ? "ipv4" : family == Family::Ipv6 ? "ipv6" : "unspec";
}

// iproute2's names (rt_names.c / ip_common), so both sides print the same words.
std::string routeTypeWord(unsigned type) {
  static const char* const kNames[] = {"unspec",    "unicast",     "local",    "broadcast",
                                       "anycast",   "multicast",   "blackhole", "unreachable",
                                       "prohibit",  "throw",       "nat",      "xresolve"};
  return type < std::size(kNames) ? kNames[type] : std::to_string(type);
}

unsigned routeTypeFromWord(const std::string& word) {
  for (unsigned i = 0; i < 12; ++i) {
    if (routeTypeWord(i) == word) return i;
  }
  return 255;
}

uint32_t tableFromJson(const nlohmann::json& entry) {
  if (!entry.contains("table")) return kTableMain;
  const auto& table = entry["table"];
  if (table.is_number()) return table.get<uint32_t>();
  const std::string name = table.get<std::string>();
  if (name == "main") return kTableMain;
  if (name == "local") return kTableLocal;
  if (name == "default") return kTableDefault;
  return static_cast<uint32_t>(std::stoul(name));
}

unsigned protocolFromJson(const nlohmann::json& entry) {
  if (!entry.contains("protocol")) return 3;  // RTPROT_BOOT is not printed by iproute2
  const auto& protocol = entry["protocol"];
  if (protocol.is_number()) return protocol.get<unsigned>();
  static const std::map<std::string, unsigned> kNames = {
      {"redirect", 1}, {"kernel", 2}, {"boot", 3},  {"static", 4}, {"ra", 9},
      {"dhcp", 16},    {"bird", 12},  {"zebra", 11}, {"babel", 42}, {"bgp", 186},
      {"isis", 187},   {"ospf", 188}, {"rip", 189},  {"eigrp", 192}, {"keepalived", 18}};
  const std::string name = protocol.get<std::string>();
  if (auto it = kNames.find(name); it != kNames.end()) return it->second;
  try {
    return static_cast<unsigned>(std::stoul(name));
  } catch (...) {
    return 1000;
  }
}

unsigned scopeFromWord(const nlohmann::json& value) {
  if (value.is_number()) return value.get<unsigned>();
  const std::string word = value.get<std::string>();
  if (word == "global" || word == "universe") return 0;
  if (word == "site") return 200;
  if (word == "link") return 253;
  if (word == "host") return 254;
  if (word == "nowhere") return 255;
  try {
    return static_cast<unsigned>(std::stoul(word));
  } catch (...) {
    return 1000;
  }
}

std::string destinationFromJson(const std::string& dst, Family family) {
  if (dst == "default") return family == Family::Ipv4 ? "0.0.0.0/0" : "::/0";
  const auto slash = dst.find('/');
  if (slash == std::string::npos) return canonicalAddress(dst) + (family == Family::Ipv4 ? "/32" : "/128");
  return canonicalAddress(dst.substr(0, slash)) + dst.substr(slash);
}

std::string linkName(const Snapshot& snapshot, int index) {
  if (index == 0) return "-";
  const Link* link = snapshot.findLink(index);
  return link != nullptr ? link->name : fmt::format("#{}", index);
}

std::string formatRoute(Family family, uint32_t table, const std::string& dst, const std::string& gateway,
                        const std::string& dev, uint32_t metric, unsigned type, unsigned protocol,
                        unsigned scope, const std::string& prefsrc) {
  return fmt::format("{} table={} dst={} gw={} dev={} metric={} type={} proto={} scope={} src={}",
                     familyWord(family), table, dst, gateway, dev, metric, routeTypeWord(type), protocol,
                     scope, prefsrc);
}

std::vector<std::string> sorted(std::vector<std::string> lines) {
  std::sort(lines.begin(), lines.end());
  return lines;
}

}  // namespace

std::string addressText(const IpAddress& address) {
  char out[INET6_ADDRSTRLEN];
  switch (address.family()) {
    case Family::Ipv4: return ::inet_ntop(AF_INET, address.data(), out, sizeof out);
    case Family::Ipv6: return ::inet_ntop(AF_INET6, address.data(), out, sizeof out);
    default: return "-";
  }
}

std::string shellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

CommandResult runHostCommand(const std::string& command, MayFail may_fail) {
  return checked(command, runShell(command, true), may_fail);
}

const std::string& netAdminUnavailableReason() {
  static const std::string reason = [] {
    if (::geteuid() != 0) return fmt::format("not root (euid {})", ::geteuid());
    if (runShell("command -v ip", true).exitCode != 0) return std::string("`ip` (iproute2) not found");
    deleteStaleNamespaces();
    const std::string probe = fmt::format("nmt-{}-probe", ::getpid());
    const CommandResult add = runShell("ip netns add " + probe, true);
    if (!add.ok()) return fmt::format("`ip netns add` failed: {}", add.output);
    const CommandResult veth =
        runShell(fmt::format("ip -n {0} link add nmtprobe0 type veth peer name nmtprobe1", probe), true);
    runShell("ip netns del " + probe, true);
    if (!veth.ok()) return fmt::format("cannot create a veth pair in a namespace: {}", veth.output);
    return std::string();
  }();
  return reason;
}

void requireNetAdmin() {
  if (!netAdminUnavailableReason().empty()) {
    GTEST_SKIP() << "needs CAP_NET_ADMIN and ip netns: " << netAdminUnavailableReason();
  }
}

TestNamespace::TestNamespace()
    : name_(fmt::format("nmt-{}-{}", ::getpid(), g_namespace_counter.fetch_add(1))) {
  if (!runHostCommand("ip netns add " + name_).ok()) return;
  valid_ = true;
  // Before any link exists: new links then get non-tentative fe80:: addresses at once.
  run("sysctl -qw net.ipv6.conf.all.accept_dad=0 && sysctl -qw net.ipv6.conf.default.accept_dad=0");
  ip("link set lo up");
}

TestNamespace::~TestNamespace() {
  peer_.reset();
  if (valid_) runHostCommand("ip netns del " + name_);
}

CommandResult TestNamespace::run(const std::string& command, MayFail may_fail) const {
  const std::string full = fmt::format("ip netns exec {} sh -c {}", name_, shellQuote(command));
  return checked(full, runShell(full, true), may_fail);
}

CommandResult TestNamespace::ip(const std::string& args, MayFail may_fail) const {
  const std::string full = fmt::format("ip -n {} {}", name_, args);
  return checked(full, runShell(full, true), may_fail);
}

nlohmann::json TestNamespace::ipJson(const std::string& args) const {
  const std::string full = fmt::format("ip -j -n {} {}", name_, args);
  const CommandResult result = runShell(full + " 2>/dev/null", false);
  if (!result.ok()) {
    const CommandResult again = runShell(full, true);
    ADD_FAILURE() << "command failed (exit " << result.exitCode << "): " << full << "\n"
                  << truncateForMessage(again.output);
    return nullptr;
  }
  // iproute2 prints nothing at all (not "[]") when a dump is empty.
  if (result.output.find_first_not_of(" \n\t") == std::string::npos) return nlohmann::json::array();
  try {
    return nlohmann::json::parse(result.output);
  } catch (const std::exception& e) {
    ADD_FAILURE() << full << " printed no JSON (" << e.what() << "):\n" << truncateForMessage(result.output);
    return nullptr;
  }
}

CommandResult TestNamespace::ipBatch(const std::vector<std::string>& lines, bool force,
                                     MayFail may_fail) const {
  char path[] = "/tmp/nmt-batch-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) {
    ADD_FAILURE() << "mkstemp: " << std::strerror(errno);
    return {};
  }
  ::close(fd);
  {
    std::ofstream out(path);
    for (const auto& line : lines) out << line << '\n';
  }
  const std::string full = fmt::format("ip -n {} {}-batch {}", name_, force ? "-force " : "", path);
  CommandResult result = checked(full, runShell(full, true), may_fail);
  ::unlink(path);
  return result;
}

TestNamespace& TestNamespace::peer() {
  if (!peer_) peer_ = std::make_unique<TestNamespace>();
  return *peer_;
}

void TestNamespace::addVethWithPeer(const std::string& name, TestNamespace& peer_namespace,
                                    const std::string& peer_name) {
  const std::string other = peer_name.empty() ? name : peer_name;
  EXPECT_LE(name.size(), size_t{IFNAMSIZ - 1}) << name;
  EXPECT_LE(other.size(), size_t{IFNAMSIZ - 1}) << other;
  ip(fmt::format("link add {} type veth peer name {} netns {}", name, other, peer_namespace.name()));
  peer_namespace.ip(fmt::format("link set {} up", other));
}

int TestNamespace::linkIndex(const std::string& link_name) const {
  const nlohmann::json links = ipJson("link show dev " + link_name);
  if (!links.is_array() || links.empty()) {
    ADD_FAILURE() << "no link " << link_name << " in " << name_;
    return 0;
  }
  return links[0].value("ifindex", 0);
}

bool TestNamespace::waitForCarrier(const std::string& link_name, std::chrono::milliseconds timeout) const {
  // Event-driven: listen to the namespace's link notifications first, then check the state, and
  // re-check only when the kernel announces a link change (or the deadline passes).
  std::optional<rtnl::NetlinkSocket> listener;
  std::thread opener([&] {
    const int ns_fd = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) return;
    if (setns(ns_fd, CLONE_NEWNET) == 0) {
      if (auto socket = rtnl::NetlinkSocket::open(); socket && socket->joinGroup(RTNLGRP_LINK)) {
        listener = std::move(*socket);
      }
    }
    ::close(ns_fd);
  });
  opener.join();
  if (!listener) {
    ADD_FAILURE() << "cannot listen to link notifications in " << name_;
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (true) {
    const CommandResult result = runShell(fmt::format("ip -n {} link show dev {}", name_, link_name), true);
    last = result.output;
    // LOWER_UP is the carrier bit; "state UP" comes from linkwatch, which also runs IPv6 addrconf
    // (the fe80:: address) — after it the link is settled.
    if (result.ok() && last.find("LOWER_UP") != std::string::npos && last.find(" state UP ") != std::string::npos) {
      return true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd ready{listener->fd(), POLLIN, 0};
    if (::poll(&ready, 1, int(left.count())) <= 0) continue;  // timeout: check once more, then fail
    while (listener->receive()) {
    }
  }
  ADD_FAILURE() << link_name << " in " << name_ << " has no carrier after " << timeout.count()
                << " ms:\n" << last;
  return false;
}

// --- kernel truth -----------------------------------------------------------------------------

std::vector<std::string> kernelRoutes(const TestNamespace& ns) {
  std::vector<std::string> lines;
  for (Family family : {Family::Ipv4, Family::Ipv6}) {
    const nlohmann::json routes =
        ns.ipJson(std::string(family == Family::Ipv4 ? "-4" : "-6") + " route show table all");
    if (!routes.is_array()) continue;
    for (const auto& r : routes) {
      std::string gateway = "-";
      if (r.contains("gateway")) {
        gateway = canonicalAddress(r["gateway"].get<std::string>());
      } else if (r.contains("via") && r["via"].contains("host")) {
        gateway = canonicalAddress(r["via"]["host"].get<std::string>());
      } else if (r.contains("nexthops")) {
        std::vector<std::string> hops;
        for (const auto& hop : r["nexthops"]) {
          hops.push_back(fmt::format("{}@{}",
                                     hop.contains("gateway") ? canonicalAddress(hop["gateway"].get<std::string>())
                                                             : std::string("-"),
                                     hop.value("dev", std::string("-"))));
        }
        gateway = "nh[" + fmt::format("{}", fmt::join(hops, ",")) + "]";
      }
      const std::string dev = r.contains("nexthops") ? "-" : r.value("dev", std::string("-"));
      lines.push_back(formatRoute(
          family, tableFromJson(r), destinationFromJson(r.value("dst", std::string("?")), family), gateway, dev,
          r.value("metric", 0u), r.contains("type") ? routeTypeFromWord(r["type"].get<std::string>()) : 1u,
          protocolFromJson(r), r.contains("scope") ? scopeFromWord(r["scope"]) : 0u,
          r.contains("prefsrc") ? canonicalAddress(r["prefsrc"].get<std::string>()) : std::string("-")));
    }
  }
  return sorted(std::move(lines));
}

std::string routeLine(const Route& route, const Snapshot& snapshot) {
  std::string gateway = formatAddress(route.gateway);
  std::string dev = linkName(snapshot, route.linkIndex);
  if (!route.nextHops.empty()) {
    std::vector<std::string> hops;
    for (const auto& hop : route.nextHops) {
      hops.push_back(fmt::format("{}@{}", formatAddress(hop.gateway), linkName(snapshot, hop.linkIndex)));
    }
    gateway = "nh[" + fmt::format("{}", fmt::join(hops, ",")) + "]";
    dev = "-";
  }
  return formatRoute(route.family, route.table,
                     formatAddress(route.destination.address) + "/" + std::to_string(route.destination.length),
                     gateway, dev, route.metric, static_cast<unsigned>(route.type), route.protocol,
                     static_cast<unsigned>(route.scope), formatAddress(route.preferredSource));
}

std::vector<std::string> mirrorRoutes(const Snapshot& snapshot) {
  std::vector<std::string> lines;
  lines.reserve(snapshot.routeCount());
  snapshot.forEachRoute([&](const Route& route) { lines.push_back(routeLine(route, snapshot)); });
  return sorted(std::move(lines));
}

namespace {
std::string formatAddressLine(const std::string& dev, Family family, const std::string& local, unsigned prefix,
                              unsigned scope, bool tentative, bool dadfailed) {
  return fmt::format("dev={} {} {}/{} scope={} tentative={} dadfailed={}", dev, familyWord(family), local,
                     prefix, scope, int{tentative}, int{dadfailed});
}
}  // namespace

std::vector<std::string> kernelAddresses(const TestNamespace& ns) {
  std::vector<std::string> lines;
  const nlohmann::json links = ns.ipJson("addr show");
  if (!links.is_array()) return lines;
  for (const auto& link : links) {
    const std::string dev = link.value("ifname", std::string("?"));
    if (!link.contains("addr_info")) continue;
    for (const auto& a : link["addr_info"]) {
      const std::string family = a.value("family", std::string());
      if (family != "inet" && family != "inet6") continue;
      lines.push_back(formatAddressLine(dev, family == "inet" ? Family::Ipv4 : Family::Ipv6,
                                        canonicalAddress(a.value("local", std::string("?"))),
                                        a.value("prefixlen", 0u), a.contains("scope") ? scopeFromWord(a["scope"]) : 0u,
                                        a.value("tentative", false), a.value("dadfailed", false)));
    }
  }
  return sorted(std::move(lines));
}

std::vector<std::string> mirrorAddresses(const Snapshot& snapshot) {
  std::vector<std::string> lines;
  for (const auto& a : snapshot.addresses) {
    lines.push_back(formatAddressLine(linkName(snapshot, a.linkIndex), a.family(), formatAddress(a.address),
                                      a.prefixLength, static_cast<unsigned>(a.scope), a.isTentative(),
                                      a.isDadFailed()));
  }
  return sorted(std::move(lines));
}

std::vector<std::string> kernelLinks(const TestNamespace& ns) {
  std::vector<std::string> lines;
  const nlohmann::json links = ns.ipJson("link show");
  if (!links.is_array()) return lines;
  std::map<std::string, int> index_by_name;
  for (const auto& link : links) index_by_name[link.value("ifname", std::string())] = link.value("ifindex", 0);
  for (const auto& link : links) {
    bool up = false;
    bool lower_up = false;
    for (const auto& flag : link.value("flags", nlohmann::json::array())) {
      up = up || flag == "UP";
      lower_up = lower_up || flag == "LOWER_UP";
    }
    int master = 0;
    if (link.contains("master")) master = index_by_name[link["master"].get<std::string>()];
    lines.push_back(fmt::format("index={} name={} up={} lower_up={} mtu={} master={}", link.value("ifindex", 0),
                                link.value("ifname", std::string("?")), int{up}, int{lower_up},
                                link.value("mtu", 0u), master));
  }
  return sorted(std::move(lines));
}

std::vector<std::string> mirrorLinks(const Snapshot& snapshot) {
  std::vector<std::string> lines;
  for (const auto& link : snapshot.links) {
    lines.push_back(fmt::format("index={} name={} up={} lower_up={} mtu={} master={}", link.index, link.name,
                                int{(link.flags & kIffUp) != 0}, int{(link.flags & kIffLowerUp) != 0}, link.mtu,
                                link.master));
  }
  return sorted(std::move(lines));
}

std::vector<std::string> kernelRules(const TestNamespace& ns) {
  std::vector<std::string> lines;
  for (Family family : {Family::Ipv4, Family::Ipv6}) {
    const nlohmann::json rules = ns.ipJson(std::string(family == Family::Ipv4 ? "-4" : "-6") + " rule show");
    if (!rules.is_array()) continue;
    for (const auto& r : rules) {
      uint32_t table = 0;
      if (r.contains("table")) table = tableFromJson(r);
      lines.push_back(fmt::format("{} pref={} table={}", familyWord(family), r.value("priority", 0u), table));
    }
  }
  return sorted(std::move(lines));
}

std::vector<std::string> mirrorRules(const Snapshot& snapshot) {
  std::vector<std::string> lines;
  for (const auto& rule : snapshot.rules) {
    lines.push_back(fmt::format("{} pref={} table={}", familyWord(rule.family), rule.priority, rule.table));
  }
  return sorted(std::move(lines));
}

std::string diffLines(const std::vector<std::string>& kernel, const std::vector<std::string>& mirror,
                      size_t max_lines) {
  std::vector<std::string> only_kernel;
  std::vector<std::string> only_mirror;
  std::set_difference(kernel.begin(), kernel.end(), mirror.begin(), mirror.end(), std::back_inserter(only_kernel));
  std::set_difference(mirror.begin(), mirror.end(), kernel.begin(), kernel.end(), std::back_inserter(only_mirror));
  if (only_kernel.empty() && only_mirror.empty()) return {};
  std::ostringstream out;
  out << "kernel has " << kernel.size() << ", netmon has " << mirror.size() << "; " << only_kernel.size()
      << " only in kernel, " << only_mirror.size() << " only in netmon\n";
  size_t shown = 0;
  for (const auto& line : only_kernel) {
    if (shown++ == max_lines) break;
    out << "  - only in kernel: " << line << "\n";
  }
  shown = 0;
  for (const auto& line : only_mirror) {
    if (shown++ == max_lines) break;
    out << "  + only in netmon: " << line << "\n";
  }
  return out.str();
}

}  // namespace netmon::test
