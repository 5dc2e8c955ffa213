// Datagrams that did not come from the kernel must change nothing (STYLE.md §7, CVE-2009-1185): a
// root process can unicast forged rtnetlink messages to any socket's port id and multicast them
// to rtnetlink groups. Here a socket inside the monitor's namespace does both.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "netmon/status_monitor.h"
#include "support/event_recorder.h"
#include "support/netns.h"

namespace netmon::test {
namespace {

struct NetlinkSocket {
  uint32_t portId = 0;
  uint32_t groups = 0;  // the first 32 multicast groups, as /proc/net/netlink shows them
  unsigned long inode = 0;
  int fd = -1;          // our descriptor for it
};

// Socket inodes of this process: "socket:[INODE]" links in /proc/self/fd.
std::map<unsigned long, int> ownSocketInodes() {
  std::map<unsigned long, int> inodes;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return inodes;
  while (dirent* entry = ::readdir(dir)) {
    char target[64] = {};
    const std::string link = std::string("/proc/self/fd/") + entry->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    unsigned long inode = 0;
    if (n > 0 && std::sscanf(target, "socket:[%lu]", &inode) == 1) inodes[inode] = std::atoi(entry->d_name);
  }
  ::closedir(dir);
  return inodes;
}

// The NETLINK_ROUTE sockets of this process that live in `ns`. /proc/net/netlink is per network
// namespace, so it is read by a process inside `ns`; the inode ties each line to our descriptors.
std::vector<NetlinkSocket> ownRouteSocketsIn(const TestNamespace& ns, std::string* table_text) {
  const auto inodes = ownSocketInodes();
  const CommandResult table = ns.run("cat /proc/net/netlink");
  *table_text = table.output;
  std::vector<NetlinkSocket> sockets;
  std::istringstream lines(table.output);
  std::string line;
  std::getline(lines, line);  // header: sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string sk;
    int protocol = -1;
    uint32_t pid = 0;
    std::string groups_hex;
    unsigned long rmem, wmem, dump, locks, drops, inode = 0;
    if (!(fields >> sk >> protocol >> pid >> groups_hex >> rmem >> wmem >> dump >> locks >> drops >> inode)) continue;
    const auto it = inodes.find(inode);
    if (protocol != NETLINK_ROUTE || pid == 0 || it == inodes.end()) continue;
    sockets.push_back({pid, static_cast<uint32_t>(std::stoul(groups_hex, nullptr, 16)), inode, it->second});
  }
  return sockets;
}

// A NETLINK_ROUTE socket created inside `ns` (setns() on a helper thread; the socket keeps the
// namespace it was created in, whichever thread uses it afterwards).
int routeSocketInside(const TestNamespace& ns, std::string* error) {
  int result = -1;
  std::thread helper([&] {
    const int ns_fd = ::open(ns.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0 || ::setns(ns_fd, CLONE_NEWNET) != 0) {
      *error = fmt::format("enter {}: {}", ns.path(), std::strerror(errno));
      if (ns_fd >= 0) ::close(ns_fd);
      return;
    }
    ::close(ns_fd);
    result = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (result < 0) *error = fmt::format("socket: {}", std::strerror(errno));
  });
  helper.join();
  if (result >= 0) {
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    if (::bind(result, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      *error = fmt::format("bind: {}", std::strerror(errno));
      ::close(result);
      return -1;
    }
    timeval timeout{5, 0};  // a monitor that stops reading must fail the test, not hang it
    ::setsockopt(result, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  }
  return result;
}

// Forged notifications, shaped as the kernel sends them (nlmsg_pid 0, seq 0).
std::vector<char> forgedDefaultRoute(int ifindex) {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buffer.data());
  nlh->nlmsg_type = RTM_NEWROUTE;
  nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_BOOT;
  rtm->rtm_scope = RT_SCOPE_UNIVERSE;
  rtm->rtm_type = RTN_UNICAST;
  mnl_attr_put_u32(nlh, RTA_TABLE, RT_TABLE_MAIN);
  in_addr gateway{};
  ::inet_pton(AF_INET, "203.0.113.99", &gateway);
  mnl_attr_put(nlh, RTA_GATEWAY, sizeof gateway, &gateway);
  mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(ifindex));
  buffer.resize(nlh->nlmsg_len);
  return buffer;
}

std::vector<char> forgedLinkDown(int ifindex) {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buffer.data());
  nlh->nlmsg_type = RTM_NEWLINK;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_type = ARPHRD_ETHER;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = 0;  // down, no carrier
  ifi->ifi_change = 0xFFFFFFFFu;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, "veth0");
  mnl_attr_put_u32(nlh, IFLA_MTU, 1280);
  mnl_attr_put_u8(nlh, IFLA_OPERSTATE, 2 /* IF_OPER_DOWN */);
  buffer.resize(nlh->nlmsg_len);
  return buffer;
}

std::vector<char> forgedAddressRemoval(int ifindex) {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buffer.data());
  nlh->nlmsg_type = RTM_DELADDR;
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = 24;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  in_addr local{};
  ::inet_pton(AF_INET, "192.0.2.2", &local);
  mnl_attr_put(nlh, IFA_LOCAL, sizeof local, &local);
  mnl_attr_put(nlh, IFA_ADDRESS, sizeof local, &local);
  buffer.resize(nlh->nlmsg_len);
  return buffer;
}

bool sendTo(int fd, const std::vector<char>& message, uint32_t port_id, uint32_t group_mask, std::string* error) {
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  to.nl_pid = port_id;
  to.nl_groups = group_mask;
  if (::sendto(fd, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    *error = fmt::format("sendto(port {}, groups {:#x}): {}", port_id, group_mask, std::strerror(errno));
    return false;
  }
  return true;
}

class ForgedDatagramTest : public ::testing::Test {
 protected:
  void SetUp() override { requireNetAdmin(); }
};

TEST_F(ForgedDatagramTest, ForgedMessagesChangeNothingAndAreCounted) {
  TestNamespace ns;
  ASSERT_TRUE(ns.valid());
  ns.addVethWithPeer("veth0");
  ns.peer().ip("addr add 192.0.2.1/24 dev veth0");
  ns.ip("link set veth0 up");
  ns.ip("addr add 192.0.2.2/24 dev veth0");
  ASSERT_TRUE(ns.waitForCarrier("veth0"));
  const int ifindex = ns.linkIndex("veth0");

  auto created = StatusMonitor::create(optionsFor(ns));
  ASSERT_TRUE(created) << created.error().message();
  StatusMonitor& monitor = *created;
  EventRecorder recorder(monitor);
  const auto before = monitor.snapshot();
  ASSERT_EQ(toString(before->ipv4.reachability), "site") << describe(before->ipv4.verdict);
  ASSERT_EQ(mirrorKernelDifferences(ns, *before), "");
  const Counters counters_before = monitor.counters();

  std::string table_text;
  const auto targets = ownRouteSocketsIn(ns, &table_text);
  if (targets.empty()) {
    GTEST_SKIP() << "cannot find the monitor's NETLINK_ROUTE port id in " << ns.name()
                 << "'s /proc/net/netlink:\n" << table_text;
  }
  for (const auto& target : targets) {
    // The descriptor must not leak into the `ip` processes the program (and this test) spawns.
    std::ifstream fdinfo(fmt::format("/proc/self/fdinfo/{}", target.fd));
    std::string key;
    std::string flags_octal;
    while (fdinfo >> key >> flags_octal && key != "flags:") {
    }
    EXPECT_TRUE(std::stoul(flags_octal, nullptr, 8) & O_CLOEXEC)
        << "monitor's netlink socket (port " << target.portId << ") lacks O_CLOEXEC";
  }

  std::string error;
  const int forger = routeSocketInside(ns, &error);
  ASSERT_GE(forger, 0) << error;
  const std::vector<char> messages[] = {forgedDefaultRoute(ifindex), forgedLinkDown(ifindex),
                                        forgedAddressRemoval(ifindex)};

  const size_t mark = recorder.mark();
  uint64_t sent = 0;
  bool any_listener = false;
  for (const auto& target : targets) {
    if (target.groups == 0) continue;  // a request socket: not read between dumps
    any_listener = true;
    for (int i = 0; i < 10000; ++i) {
      ASSERT_TRUE(sendTo(forger, messages[i % 3], target.portId, 0, &error)) << error;
      ++sent;
    }
  }
  if (!any_listener) {
    ::close(forger);
    GTEST_SKIP() << "none of the monitor's sockets is subscribed to a multicast group:\n" << table_text;
  }
  // Multicast to the groups themselves (root may): RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE.
  const uint32_t group_for[] = {RTMGRP_IPV4_ROUTE, RTMGRP_LINK, RTMGRP_IPV4_IFADDR};
  uint64_t multicast = 0;
  for (int i = 0; i < 1500; ++i) {
    ASSERT_TRUE(sendTo(forger, messages[i % 3], 0, group_for[i % 3], &error)) << error;
    ++multicast;
  }
  ::close(forger);

  // A real change as a barrier: it is queued behind every forged datagram.
  ns.ip("route add 198.51.100.0/24 via 192.0.2.1 dev veth0");
  const auto barrier = recorder.waitFor("the barrier route (198.51.100.0/24) is added",
                                        routeEventWhere(Change::Added, [](const Route& r) {
                                          return r.destination == prefix("198.51.100.0/24");
                                        }),
                                        kEventTimeout, mark);
  ASSERT_TRUE(barrier);
  EXPECT_TRUE(recorder.waitUntil(
      fmt::format("foreignSenderDropped >= {} (unicast) + {} (multicast)", sent, multicast),
      [&] { return monitor.counters().foreignSenderDropped >= counters_before.foreignSenderDropped + sent + multicast; },
      kEventTimeout, [&] { return describe(monitor.counters()); }));

  // Nothing but the barrier happened.
  for (const auto& event : recorder.events(mark)) {
    if (event.sequence == barrier->sequence) continue;
    if (const auto* resync = payloadAs<ResyncEvent>(event); resync && resync->differences == 0) continue;
    ADD_FAILURE() << "event caused by a forged datagram: " << describe(event);
  }
  const auto after = monitor.snapshot();
  EXPECT_EQ(mirrorLinks(*after), mirrorLinks(*before));
  EXPECT_EQ(mirrorAddresses(*after), mirrorAddresses(*before));
  EXPECT_EQ(mirrorRules(*after), mirrorRules(*before));
  std::vector<std::string> routes_without_barrier;
  for (const auto& line : mirrorRoutes(*after)) {
    if (line.find("dst=198.51.100.0/24") == std::string::npos) routes_without_barrier.push_back(line);
  }
  EXPECT_EQ(diffLines(mirrorRoutes(*before), routes_without_barrier), "");
  // (The barrier may refine a Site verdict's `uncovered` example; reachability and reason may not move.)
  for (auto [now, then] : {std::pair{after->ipv4, before->ipv4}, std::pair{after->ipv6, before->ipv6}}) {
    EXPECT_EQ(toString(now.reachability), toString(then.reachability)) << describe(now.verdict);
    EXPECT_EQ(toString(now.verdict.reason), toString(then.verdict.reason)) << describe(now.verdict);
    EXPECT_EQ(now.verdict.route, then.verdict.route) << describe(now.verdict);
  }
  EXPECT_EQ(toString(after->reachability), toString(before->reachability));
  EXPECT_EQ(mirrorKernelDifferences(ns, *after), "");
  const Counters counters = monitor.counters();
  RecordProperty("monitor_sockets", static_cast<int>(targets.size()));
  RecordProperty("unicast_sent", static_cast<int>(sent));
  RecordProperty("multicast_sent", static_cast<int>(multicast));
  RecordProperty("foreign_sender_dropped", static_cast<int>(counters.foreignSenderDropped));
  EXPECT_GE(counters.foreignSenderDropped, 10000u) << describe(counters);
  EXPECT_EQ(counters.malformed, counters_before.malformed) << describe(counters);
}

}  // namespace
}  // namespace netmon::test
