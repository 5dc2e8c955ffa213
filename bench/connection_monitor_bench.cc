// Connection-monitor benchmark (issue 4): with 10,000 watched connections and 100,000 routes, how
// long one route change takes to reach the callbacks of every connection it affects, and how much
// work it costs, for 1, 100 and 10,000 affected connections. Printed next to floors measured in the
// same run with bare libmnl (independent of netmon): the kernel's notification to a listening
// thread, one route lookup per round trip (what a naive monitor does), the same lookups batched
// many per datagram (what netmon's batching can at best reach), and re-asking the kernel about all
// 10,000 connections (what a monitor without targeting pays on every change).
//
// Everything happens in a network namespace this process makes for itself: unshare(CLONE_NEWNET)
// runs first, before any thread exists, and the program stops unless the namespace really changed.
// The host's links, addresses and routes are never touched; no packet is sent.
//
// The namespace:
//   bench0 192.0.2.2/24 ── veth ── bench1 (up, no address: it only gives bench0 carrier)
//   default          via 192.0.2.1 dev bench0
//   198.19.0.0/16    via 192.0.2.1 dev bench0   the route every watched remote uses
//   100,000 × /28 in 10.0.0.0/8 via 192.0.2.1  the bulk of the table; they cover no remote
//   remotes: 198.19.B.H for B = 0..99, H = 1..100 (10,000; 100 per /24, all inside 198.19.0.0/17)
// A change adds (and the next round deletes) one route via 192.0.2.3. Nothing more specific than it
// covers any remote, so it changes the kernel's answer (the gateway) for exactly the remotes inside
// it, and for no other:
//   198.19.5.7/32 → 1 remote;   198.19.5.0/24 → 100 (hosts 1..100);   198.19.0.0/17 → all 10,000.
// The program checks each count three ways: ConnectionEvents received, counters().evaluations
// and counters().kernelLookups per change; any difference fails the run.
//
// Timing: a sample starts just before the send() that asks the kernel for the change and ends when
// the last affected connection's callback (inline on the monitor thread) runs. Between rounds the
// program waits kSettle so each change finds the monitor idle, as a single change would.
//
// Exit status: 0 when every measurement completed and every count was exact (a missed 10 ms target
// is a result, printed as NOT MET, not a failure); 1 when a measurement failed; 2 for bad
// arguments; 77 without the privileges to make a network namespace.

// <net/if.h> before the <linux/*> headers: linux/libc-compat.h then skips what glibc defines.
#include <net/if.h>
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "netmon/connection_monitor.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kPairs = 10000;
constexpr size_t kBulkRoutes = 100000;
constexpr uint32_t kGatewayA = 0xC0000201;  // 192.0.2.1: the gateway of every route at rest
constexpr uint32_t kGatewayB = 0xC0000203;  // 192.0.2.3: the gateway of the change routes
constexpr uint32_t kLocal = 0xC0000202;     // 192.0.2.2/24 on bench0
constexpr uint32_t kRemoteBase = 0xC6130000;  // 198.19.0.0
constexpr uint32_t kBulkBase = 0x0A000000;    // 10.0.0.0
constexpr size_t kBatchPerSend = 256;         // requests per datagram, as netmon's default
constexpr size_t kMmsgSlots = 64;
constexpr auto kSettle = std::chrono::milliseconds(20);
constexpr auto kDeadline = std::chrono::seconds(10);
constexpr size_t kBufferBytes = 32 * 1024;

// The i-th watched remote: 198.19.(i / 100).(1 + i % 100).
uint32_t remoteAt(size_t i) {
  return kRemoteBase + static_cast<uint32_t>((i / 100) << 8) + static_cast<uint32_t>(1 + i % 100);
}

// 10000 → "10,000".
std::string withCommas(size_t value) {
  const std::string digits = std::to_string(value);
  std::string text;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) text += ',';
    text += digits[i];
  }
  return text;
}

std::string ipv4Text(uint32_t host_order) { return netmon::IpAddress::v4(host_order).toString(); }

[[noreturn]] void die(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "connection_monitor_bench: %s\n", message.c_str());
  std::fflush(stderr);
  // The monitor's thread may be running: leave without destructors racing it.
  std::_Exit(1);
}

std::string errnoText(int error) { return std::strerror(error); }

double toMs(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double toUs(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct Stats {
  double min = 0, median = 0, max = 0;
};

Stats statsOf(std::vector<double> values) {
  Stats s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  s.min = values.front();
  s.max = values.back();
  s.median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return s;
}

double cpuSeconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// ---------------------------------------------------------------------------------------------
// The namespace.

ino_t netnsInode() {
  struct stat st {};
  if (stat("/proc/self/ns/net", &st) != 0) die("stat /proc/self/ns/net: " + errnoText(errno));
  return st.st_ino;
}

// Moves this process (it has one thread yet) into a fresh network namespace, or stops.
// Returns false when the privilege is missing (the caller exits 77).
bool enterOwnNamespace() {
  const ino_t before = netnsInode();
  if (unshare(CLONE_NEWNET) != 0) {
    if (errno == EPERM) return false;
    die("unshare(CLONE_NEWNET): " + errnoText(errno));
  }
  if (netnsInode() == before) die("unshare(CLONE_NEWNET) left the network namespace unchanged");
  return true;
}

// /proc/sys/net is the namespace of the process that opens it: this writes only to ours.
void writeSysctl(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  if (!out.flush()) die("write " + path);
}

// ---------------------------------------------------------------------------------------------
// A NETLINK_ROUTE socket (libmnl), with the sender check libmnl's recvfrom cannot make.

class Netlink {
 public:
  explicit Netlink(unsigned groups = 0, size_t receive_buffer = 4u << 20) {
    socket_ = mnl_socket_open(NETLINK_ROUTE);
    if (!socket_) die("open rtnetlink socket: " + errnoText(errno));
    if (mnl_socket_bind(socket_, groups, MNL_SOCKET_AUTOPID) < 0) die("bind rtnetlink socket: " + errnoText(errno));
    const int size = static_cast<int>(receive_buffer);
    if (setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
      die("SO_RCVBUFFORCE: " + errnoText(errno));
    }
    // As netmon's lookup socket: strict request checking, error answers without the request.
    const int on = 1;
    setsockopt(fd(), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on, sizeof on);
    setsockopt(fd(), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
    // Every blocking read is bounded.
    timeval timeout{2, 0};
    setsockopt(fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    buffer_.resize(kBufferBytes);
  }
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  ~Netlink() { mnl_socket_close(socket_); }

  int fd() const { return mnl_socket_get_fd(socket_); }
  uint32_t nextSeq() { return ++seq_; }

  void send(const uint8_t* data, size_t length) {
    const ssize_t sent = mnl_socket_sendto(socket_, data, length);
    if (sent < 0 || static_cast<size_t>(sent) != length) die("send to rtnetlink: " + errnoText(errno));
  }

  // One datagram from the kernel (others are dropped) into buffer(); its length, or -errno.
  ssize_t receive(int flags = 0) {
    for (int attempt = 0; attempt < 64; ++attempt) {
      sockaddr_nl from{};
      iovec iov{buffer_.data(), buffer_.size()};
      msghdr message{};
      message.msg_name = &from;
      message.msg_namelen = sizeof from;
      message.msg_iov = &iov;
      message.msg_iovlen = 1;
      const ssize_t length = recvmsg(fd(), &message, flags);
      if (length < 0) return -errno;
      if (message.msg_flags & MSG_TRUNC) return -EMSGSIZE;
      if (from.nl_pid != 0) continue;
      return length;
    }
    return -EPROTO;
  }
  const uint8_t* buffer() const { return buffer_.data(); }

  // Waits for the acknowledgements of requests first_seq..last_seq (sent with NLM_F_ACK); the
  // first error, or 0.
  int collectAcks(uint32_t first_seq, uint32_t last_seq) {
    size_t pending = last_seq - first_seq + 1;
    int first_error = 0;
    // The callback below counts `pending` down; the loop is bounded by the reads.
    for (size_t reads = 0; pending > 0; ++reads) {
      if (reads > 4 * static_cast<size_t>(last_seq - first_seq + 1) + 16) return -EPROTO;
      const ssize_t length = receive();
      if (length < 0) return static_cast<int>(length);
      forEachMessage(buffer(), static_cast<size_t>(length), [&](const nlmsghdr* header) {
        if (header->nlmsg_type != NLMSG_ERROR) return;
        if (header->nlmsg_seq < first_seq || header->nlmsg_seq > last_seq) return;
        const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
        if (error->error != 0 && first_error == 0) first_error = error->error;
        --pending;
      });
    }
    return first_error;
  }

  template <class F>
  static void forEachMessage(const uint8_t* data, size_t length, F&& f) {
    const auto* header = reinterpret_cast<const nlmsghdr*>(data);
    int left = static_cast<int>(length);
    while (mnl_nlmsg_ok(header, left)) {
      f(header);
      header = mnl_nlmsg_next(header, &left);
    }
  }

 private:
  mnl_socket* socket_ = nullptr;
  uint32_t seq_ = 0;
  std::vector<uint8_t> buffer_;
};

// ---------------------------------------------------------------------------------------------
// Requests.

struct RouteSpec {
  uint32_t destination = 0;  // host order
  uint8_t length = 0;
  uint32_t gateway = 0;
};

size_t putRoute(uint8_t* where, uint16_t type, const RouteSpec& route, uint32_t link, uint32_t seq) {
  nlmsghdr* header = mnl_nlmsg_put_header(where);
  header->nlmsg_type = type;
  header->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  if (type == RTM_NEWROUTE) header->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
  header->nlmsg_seq = seq;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = route.length;
  rtm->rtm_table = RT_TABLE_MAIN;
  if (type == RTM_NEWROUTE) {
    rtm->rtm_protocol = RTPROT_STATIC;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    rtm->rtm_type = RTN_UNICAST;
  } else {
    rtm->rtm_scope = RT_SCOPE_NOWHERE;
  }
  if (route.length > 0) mnl_attr_put_u32(header, RTA_DST, htonl(route.destination));
  mnl_attr_put_u32(header, RTA_GATEWAY, htonl(route.gateway));
  mnl_attr_put_u32(header, RTA_OIF, link);
  return NLMSG_ALIGN(header->nlmsg_len);
}

// The request netmon's lookup sends (src/rtnl/route_lookup.cc): RTM_GETROUTE for one /32,
// RTM_F_LOOKUP_TABLE so the reply names the table that answered.
constexpr size_t kLookupBytes = NLMSG_ALIGN(sizeof(nlmsghdr)) + NLMSG_ALIGN(sizeof(rtmsg)) + MNL_ALIGN(MNL_ATTR_HDRLEN + 4);
static_assert(kBatchPerSend * kLookupBytes <= kBufferBytes, "one datagram of lookups fits the send buffer");

size_t putLookup(uint8_t* where, uint32_t destination, uint32_t seq) {
  nlmsghdr* header = mnl_nlmsg_put_header(where);
  header->nlmsg_type = RTM_GETROUTE;
  header->nlmsg_flags = NLM_F_REQUEST;
  header->nlmsg_seq = seq;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = 32;
  rtm->rtm_flags = RTM_F_LOOKUP_TABLE;
  mnl_attr_put_u32(header, RTA_DST, htonl(destination));
  return NLMSG_ALIGN(header->nlmsg_len);
}

// What a lookup reply says, parsed as far as a monitor needs it.
struct Answer {
  int error = 0;
  uint32_t gateway = 0;  // host order
  uint32_t link = 0;
  uint32_t source = 0;
  uint32_t table = 0;
};

int answerAttribute(const nlattr* attribute, void* data) {
  auto* answer = static_cast<Answer*>(data);
  switch (mnl_attr_get_type(attribute)) {
    case RTA_GATEWAY:
      if (mnl_attr_validate(attribute, MNL_TYPE_U32) >= 0) answer->gateway = ntohl(mnl_attr_get_u32(attribute));
      break;
    case RTA_OIF:
      if (mnl_attr_validate(attribute, MNL_TYPE_U32) >= 0) answer->link = mnl_attr_get_u32(attribute);
      break;
    case RTA_PREFSRC:
      if (mnl_attr_validate(attribute, MNL_TYPE_U32) >= 0) answer->source = ntohl(mnl_attr_get_u32(attribute));
      break;
    case RTA_TABLE:
      if (mnl_attr_validate(attribute, MNL_TYPE_U32) >= 0) answer->table = mnl_attr_get_u32(attribute);
      break;
    default:
      break;
  }
  return MNL_CB_OK;
}

Answer parseAnswer(const nlmsghdr* header) {
  Answer answer;
  if (header->nlmsg_type == NLMSG_ERROR) {
    answer.error = -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header))->error;
    if (answer.error == 0) answer.error = EBADMSG;  // an ACK does not answer a get request
  } else if (header->nlmsg_type == RTM_NEWROUTE) {
    if (mnl_attr_parse(header, sizeof(rtmsg), answerAttribute, &answer) < 0) answer.error = EBADMSG;
  } else {
    answer.error = EBADMSG;
  }
  return answer;
}

// ---------------------------------------------------------------------------------------------
// Setting the namespace up.

class Setup {
 public:
  void linksAndAddress() {
    // lo up.
    setUp(1);
    createVeth("bench0", "bench1");
    link_ = if_nametoindex("bench0");
    const unsigned peer = if_nametoindex("bench1");
    if (link_ == 0 || peer == 0) die("veth bench0/bench1 not found after creation");
    setUp(link_);
    setUp(peer);
    addAddress(link_, kLocal, 24);
    waitForCarrier(link_);
  }

  // The default route, the remotes' route, and kBulkRoutes /28s, pipelined (many per datagram).
  Clock::duration routes() {
    std::vector<RouteSpec> routes;
    routes.reserve(kBulkRoutes + 2);
    routes.push_back({0, 0, kGatewayA});
    routes.push_back({kRemoteBase, 16, kGatewayA});
    for (size_t i = 0; i < kBulkRoutes; ++i) routes.push_back({kBulkBase + static_cast<uint32_t>(i << 4), 28, kGatewayA});
    const auto start = Clock::now();
    std::vector<uint8_t> buffer(kBufferBytes);
    size_t next = 0;
    while (next < routes.size()) {
      size_t length = 0;
      uint32_t first = 0, last = 0;
      for (size_t n = 0; n < kBatchPerSend && next < routes.size(); ++n, ++next) {
        last = control_.nextSeq();
        if (n == 0) first = last;
        length += putRoute(buffer.data() + length, RTM_NEWROUTE, routes[next], link_, last);
      }
      control_.send(buffer.data(), length);
      if (const int error = control_.collectAcks(first, last); error != 0) {
        die("add routes: " + errnoText(-error));
      }
    }
    return Clock::now() - start;
  }

  // Asks the kernel to add or delete `route` via bench0; returns when the kernel acknowledged.
  // `sent` is set just before the send() that asks for the change.
  void change(bool add, const RouteSpec& route, Clock::time_point& sent) {
    std::array<uint8_t, 256> buffer{};
    const uint32_t seq = control_.nextSeq();
    const size_t length = putRoute(buffer.data(), add ? RTM_NEWROUTE : RTM_DELROUTE, route, link_, seq);
    sent = Clock::now();
    control_.send(buffer.data(), length);
    if (const int error = control_.collectAcks(seq, seq); error != 0) {
      die(fmt::format("{} route {}/{}: {}", add ? "add" : "delete", ipv4Text(route.destination), route.length,
                      errnoText(-error)));
    }
  }

  uint32_t link() const { return link_; }

 private:
  void transact(uint8_t* buffer, const std::string& what) {
    auto* header = reinterpret_cast<nlmsghdr*>(buffer);
    control_.send(buffer, header->nlmsg_len);
    if (const int error = control_.collectAcks(header->nlmsg_seq, header->nlmsg_seq); error != 0) {
      die(what + ": " + errnoText(-error));
    }
  }

  nlmsghdr* putLinkHeader(uint8_t* buffer, uint16_t flags, ifinfomsg** info) {
    nlmsghdr* header = mnl_nlmsg_put_header(buffer);
    header->nlmsg_type = RTM_NEWLINK;
    header->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    header->nlmsg_seq = control_.nextSeq();
    *info = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifinfomsg)));
    (*info)->ifi_family = AF_UNSPEC;
    return header;
  }

  void createVeth(const char* name, const char* peer) {
    std::array<uint8_t, 1024> buffer{};
    ifinfomsg* info = nullptr;
    nlmsghdr* header = putLinkHeader(buffer.data(), NLM_F_CREATE | NLM_F_EXCL, &info);
    mnl_attr_put_strz(header, IFLA_IFNAME, name);
    nlattr* link_info = mnl_attr_nest_start(header, IFLA_LINKINFO);
    mnl_attr_put_strz(header, IFLA_INFO_KIND, "veth");
    nlattr* data = mnl_attr_nest_start(header, IFLA_INFO_DATA);
    nlattr* peer_info = mnl_attr_nest_start(header, VETH_INFO_PEER);
    auto* peer_header = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifinfomsg)));
    peer_header->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(header, IFLA_IFNAME, peer);
    mnl_attr_nest_end(header, peer_info);
    mnl_attr_nest_end(header, data);
    mnl_attr_nest_end(header, link_info);
    transact(buffer.data(), fmt::format("create veth {}/{}", name, peer));
  }

  void setUp(unsigned index) {
    std::array<uint8_t, 256> buffer{};
    ifinfomsg* info = nullptr;
    putLinkHeader(buffer.data(), 0, &info);
    info->ifi_index = static_cast<int>(index);
    info->ifi_flags = IFF_UP;
    info->ifi_change = IFF_UP;
    transact(buffer.data(), fmt::format("set link {} up", index));
  }

  void addAddress(unsigned index, uint32_t address, uint8_t length) {
    std::array<uint8_t, 256> buffer{};
    nlmsghdr* header = mnl_nlmsg_put_header(buffer.data());
    header->nlmsg_type = RTM_NEWADDR;
    header->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    header->nlmsg_seq = control_.nextSeq();
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = length;
    ifa->ifa_index = index;
    mnl_attr_put_u32(header, IFA_LOCAL, htonl(address));
    mnl_attr_put_u32(header, IFA_ADDRESS, htonl(address));
    transact(buffer.data(), "add address " + ipv4Text(address));
  }

  // Waits for the link's carrier: asks once (RTM_GETLINK), then follows its link notifications
  // (subscribed before asking, so none is missed); bounded to 5 s.
  void waitForCarrier(unsigned index) {
    Netlink notifications(RTMGRP_LINK);
    const auto hasCarrier = [index](const uint8_t* data, size_t length) {
      bool carrier = false;
      Netlink::forEachMessage(data, length, [&](const nlmsghdr* message) {
        if (message->nlmsg_type != RTM_NEWLINK) return;
        const auto* info = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(message));
        if (static_cast<unsigned>(info->ifi_index) == index) carrier = (info->ifi_flags & IFF_LOWER_UP) != 0;
      });
      return carrier;
    };
    std::array<uint8_t, 256> buffer{};
    nlmsghdr* header = mnl_nlmsg_put_header(buffer.data());
    header->nlmsg_type = RTM_GETLINK;
    header->nlmsg_flags = NLM_F_REQUEST;
    header->nlmsg_seq = control_.nextSeq();
    auto* info = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifinfomsg)));
    info->ifi_index = static_cast<int>(index);
    control_.send(buffer.data(), header->nlmsg_len);
    const ssize_t length = control_.receive();
    if (length < 0) die("read link state: " + errnoText(static_cast<int>(-length)));
    if (hasCarrier(control_.buffer(), static_cast<size_t>(length))) return;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
      const ssize_t got = notifications.receive();  // each read bounded by SO_RCVTIMEO (2 s)
      if (got == -EAGAIN || got == -EWOULDBLOCK) continue;
      if (got < 0) die("read link notifications: " + errnoText(static_cast<int>(-got)));
      if (hasCarrier(notifications.buffer(), static_cast<size_t>(got))) return;
    }
    die("bench0 has no carrier after 5 s");
  }

  Netlink control_{0, 8u << 20};
  uint32_t link_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Floors, bare libmnl.

// RTM_GETROUTE for a list of destinations, three ways.
class LookupFloor {
 public:
  LookupFloor() : send_buffer_(kBufferBytes), answers_(kPairs) {
    for (auto& slot : slots_) slot.resize(2048);
  }

  // One request, one reply, in turn: what a monitor without batching pays per connection.
  std::span<const Answer> sequential(std::span<const uint32_t> destinations) {
    for (size_t i = 0; i < destinations.size(); ++i) {
      const uint32_t seq = socket_.nextSeq();
      const size_t length = putLookup(send_buffer_.data(), destinations[i], seq);
      socket_.send(send_buffer_.data(), length);
      bool answered = false;
      for (int reads = 0; !answered; ++reads) {  // `answered` is set by the callback below
        if (reads > 16) die("lookup: no reply");
        const ssize_t received = socket_.receive();
        if (received < 0) die("lookup: " + errnoText(static_cast<int>(-received)));
        Netlink::forEachMessage(socket_.buffer(), static_cast<size_t>(received), [&](const nlmsghdr* header) {
          if (header->nlmsg_seq != seq) return;
          answers_[i] = parseAnswer(header);
          answered = true;
        });
      }
    }
    return {answers_.data(), destinations.size()};
  }

  // kBatchPerSend requests per datagram; replies read one recvmsg() each (the kernel queues each
  // reply as its own datagram), or kMmsgSlots per recvmmsg() call.
  std::span<const Answer> batched(std::span<const uint32_t> destinations, bool use_recvmmsg) {
    for (size_t begin = 0; begin < destinations.size(); begin += kBatchPerSend) {
      const size_t count = std::min(kBatchPerSend, destinations.size() - begin);
      const uint32_t first = socket_.nextSeq();
      size_t length = putLookup(send_buffer_.data(), destinations[begin], first);
      for (size_t n = 1; n < count; ++n) {
        length += putLookup(send_buffer_.data() + length, destinations[begin + n], socket_.nextSeq());
      }
      socket_.send(send_buffer_.data(), length);
      size_t pending = count;
      const auto take = [&](const nlmsghdr* header) {
        const uint32_t slot = header->nlmsg_seq - first;
        if (slot >= count) return;
        answers_[begin + slot] = parseAnswer(header);
        --pending;
      };
      size_t reads = 0;
      while (pending > 0) {  // `take` counts `pending` down
        if (++reads > count + 16) die("batched lookup: replies missing");
        if (use_recvmmsg) {
          receiveMany(take);
        } else {
          const ssize_t received = socket_.receive();
          if (received < 0) die("batched lookup: " + errnoText(static_cast<int>(-received)));
          Netlink::forEachMessage(socket_.buffer(), static_cast<size_t>(received), take);
        }
      }
    }
    return {answers_.data(), destinations.size()};
  }

 private:
  template <class F>
  void receiveMany(F& take) {
    std::array<mmsghdr, kMmsgSlots> messages{};
    std::array<iovec, kMmsgSlots> iovs{};
    std::array<sockaddr_nl, kMmsgSlots> senders{};
    for (size_t i = 0; i < kMmsgSlots; ++i) {
      iovs[i] = iovec{slots_[i].data(), slots_[i].size()};
      messages[i].msg_hdr.msg_iov = &iovs[i];
      messages[i].msg_hdr.msg_iovlen = 1;
      messages[i].msg_hdr.msg_name = &senders[i];
      messages[i].msg_hdr.msg_namelen = sizeof(sockaddr_nl);
    }
    const int received = recvmmsg(socket_.fd(), messages.data(), kMmsgSlots, MSG_WAITFORONE, nullptr);
    if (received < 0) die("recvmmsg: " + errnoText(errno));
    for (int i = 0; i < received; ++i) {
      if (senders[i].nl_pid != 0) continue;
      if (messages[i].msg_hdr.msg_flags & MSG_TRUNC) die("recvmmsg: reply truncated");
      Netlink::forEachMessage(slots_[i].data(), messages[i].msg_len, take);
    }
  }

  Netlink socket_;
  std::vector<uint8_t> send_buffer_;
  std::vector<Answer> answers_;
  std::array<std::vector<uint8_t>, kMmsgSlots> slots_;
};

// How many answers are not "a route via `gateway` out of `link`".
size_t wrongAnswers(std::span<const Answer> answers, uint32_t gateway, uint32_t link) {
  return static_cast<size_t>(std::count_if(answers.begin(), answers.end(), [&](const Answer& a) {
    return a.error != 0 || a.gateway != gateway || a.link != link;
  }));
}

// A thread blocked in epoll_wait on a socket joined to the IPv4 route group: when does the kernel's
// notification of a change wake a listener (the floor under any monitor)?
class NotificationFloor {
 public:
  NotificationFloor() : socket_(RTMGRP_IPV4_ROUTE, 8u << 20) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) die("epoll_create1: " + errnoText(errno));
    epoll_event interest{};
    interest.events = EPOLLIN;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, socket_.fd(), &interest) != 0) die("epoll_ctl: " + errnoText(errno));
    thread_ = std::thread([this] { run(); });
  }
  ~NotificationFloor() {
    stop_.store(true);
    thread_.join();
    close(epoll_);
  }

  void arm(uint32_t destination, uint8_t length) {
    std::lock_guard lock(mutex_);
    destination_ = destination;
    length_ = length;
    seen_.reset();
  }
  std::optional<Clock::time_point> wait(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    cv_.wait_until(lock, deadline, [&] { return seen_.has_value(); });
    return seen_;
  }

 private:
  void run() {
    while (!stop_.load()) {
      epoll_event ready{};
      if (epoll_wait(epoll_, &ready, 1, 100) <= 0) continue;
      const auto now = Clock::now();
      for (int reads = 0; reads < 64; ++reads) {
        const ssize_t length = socket_.receive(MSG_DONTWAIT);
        if (length < 0) break;
        Netlink::forEachMessage(socket_.buffer(), static_cast<size_t>(length), [&](const nlmsghdr* header) {
          if (header->nlmsg_type != RTM_NEWROUTE && header->nlmsg_type != RTM_DELROUTE) return;
          const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(header));
          uint32_t destination = 0;
          mnl_attr_parse(header, sizeof(rtmsg), routeDestination, &destination);
          std::lock_guard lock(mutex_);
          if (rtm->rtm_dst_len == length_ && ntohl(destination) == destination_ && !seen_) {
            seen_ = now;
            cv_.notify_all();
          }
        });
      }
    }
  }

  static int routeDestination(const nlattr* attribute, void* data) {
    if (mnl_attr_get_type(attribute) == RTA_DST && mnl_attr_validate(attribute, MNL_TYPE_U32) >= 0) {
      *static_cast<uint32_t*>(data) = mnl_attr_get_u32(attribute);
    }
    return MNL_CB_OK;
  }

  Netlink socket_;
  int epoll_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  uint32_t destination_ = 0;
  uint8_t length_ = 0;
  std::optional<Clock::time_point> seen_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// netmon's side: what the callbacks saw.

class Recorder {
 public:
  struct Round {
    bool complete = false;
    uint64_t events = 0;
    uint64_t wrong = 0;   // ConnectionEvents whose new state is not the expected one
    uint64_t other = 0;   // other events (ResyncEvent)
    std::optional<Clock::time_point> route;  // the status monitor's RouteEvent for the change
    Clock::time_point first, last;
  };

  void arm(uint64_t expected, uint32_t gateway, const netmon::IpPrefix& prefix) {
    std::lock_guard lock(mutex_);
    round_ = Round{};
    expected_ = expected;
    gateway_ = netmon::IpAddress::v4(gateway);
    prefix_ = prefix;
  }

  void onConnection(const netmon::Event& event) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    const auto* change = std::get_if<netmon::ConnectionEvent>(&event.payload);
    if (!change) {
      ++round_.other;
      return;
    }
    if (++round_.events == 1) round_.first = now;
    round_.last = now;
    if (!change->current.reachable || change->current.gateway != gateway_) ++round_.wrong;
    if (round_.events == expected_) cv_.notify_all();
  }

  void onRoute(const netmon::Event& event) {
    const auto now = Clock::now();
    const auto* route = std::get_if<netmon::RouteEvent>(&event.payload);
    std::lock_guard lock(mutex_);
    if (route && route->route.destination == prefix_ && !round_.route) round_.route = now;
  }

  Round wait(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    cv_.wait_until(lock, deadline, [&] { return round_.events >= expected_; });
    Round round = round_;
    round.complete = round_.events >= expected_;
    return round;
  }

  Round current() {
    std::lock_guard lock(mutex_);
    return round_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  Round round_;
  uint64_t expected_ = 0;
  netmon::IpAddress gateway_;
  netmon::IpPrefix prefix_;
};

// ---------------------------------------------------------------------------------------------
// The measurements.

struct Scenario {
  RouteSpec change;  // the route added and deleted, via kGatewayB
  size_t affected;   // watched remotes it covers
  int rounds;        // timed rounds (even: the route is gone at the end)
  std::vector<uint32_t> remotes;  // the affected remotes, for the lookup floors
};

struct ScenarioResult {
  size_t affected = 0;
  std::string prefix;
  int samples = 0;
  Stats toLast, toRoute, toFirst;  // ms from the change request
  Stats toLastAdd, toLastDelete;   // toLast of the adds and of the deletes alone
  Stats cpu;                       // ms of process CPU per change (monitor thread + this thread)
  double eventsPerChange = 0, evaluationsPerChange = 0, lookupsPerChange = 0;
  bool exact = true;               // every change: events == evaluations == lookups == affected
  std::vector<std::string> problems;
  std::vector<std::string> rawSamples;  // one line per timed change (--samples)
  // Floors for the same remotes (ms for all of them, medians).
  double floorSequential = 0, floorBatched = 0, floorBatchedMmsg = 0;
};

struct FloorResult {
  Stats notificationUs;
  double sequentialUsPerLookup = 0, batchedUsPerLookup = 0, batchedMmsgUsPerLookup = 0;
  double allSequentialMs = 0;  // 10,000 sequential lookups: re-evaluating every pair naively
  double allBatchedMs = 0;
};

template <class F>
double medianMs(int repeats, F&& f) {
  std::vector<double> samples;
  for (int i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    f();
    samples.push_back(toMs(Clock::now() - start));
  }
  return statsOf(std::move(samples)).median;
}

void measureLookupFloors(std::vector<Scenario>& scenarios, std::vector<ScenarioResult>& results, FloorResult& floor,
                         uint32_t link) {
  LookupFloor lookups;
  for (size_t s = 0; s < scenarios.size(); ++s) {
    const auto& remotes = scenarios[s].remotes;
    const int repeats = remotes.size() >= 10000 ? 7 : remotes.size() >= 100 ? 31 : 301;
    // Warm up and check the answers once per method.
    if (wrongAnswers(lookups.sequential(remotes), kGatewayA, link) != 0 ||
        wrongAnswers(lookups.batched(remotes, false), kGatewayA, link) != 0 ||
        wrongAnswers(lookups.batched(remotes, true), kGatewayA, link) != 0) {
      die("lookup floor: the kernel's answers are not the expected route via 192.0.2.1");
    }
    results[s].floorSequential = medianMs(repeats, [&] { (void)lookups.sequential(remotes); });
    results[s].floorBatched = medianMs(repeats, [&] { (void)lookups.batched(remotes, false); });
    results[s].floorBatchedMmsg = medianMs(repeats, [&] { (void)lookups.batched(remotes, true); });
    if (remotes.size() == kPairs) {
      floor.allSequentialMs = results[s].floorSequential;
      floor.allBatchedMs = results[s].floorBatched;
      floor.sequentialUsPerLookup = results[s].floorSequential * 1000 / kPairs;
      floor.batchedUsPerLookup = results[s].floorBatched * 1000 / kPairs;
      floor.batchedMmsgUsPerLookup = results[s].floorBatchedMmsg * 1000 / kPairs;
    }
  }
}

Stats measureNotificationFloor(Setup& setup, const RouteSpec& route, int rounds) {
  NotificationFloor listener;
  std::vector<double> samples;
  for (int round = 0; round < rounds + 2; ++round) {
    listener.arm(route.destination, route.length);
    Clock::time_point sent;
    setup.change(round % 2 == 0, route, sent);
    const auto seen = listener.wait(sent + kDeadline);
    if (!seen) die("notification floor: the listener never saw the change");
    if (round >= 2) samples.push_back(toUs(*seen - sent));
    std::this_thread::sleep_for(kSettle);  // as between netmon's rounds: wake-up cost depends on idle time
  }
  return statsOf(std::move(samples));
}

ScenarioResult measureScenario(Setup& setup, netmon::ConnectionMonitor& monitor, Recorder& recorder,
                               const Scenario& scenario, ScenarioResult result) {
  const netmon::IpPrefix prefix{netmon::IpAddress::v4(scenario.change.destination), scenario.change.length};
  result.affected = scenario.affected;
  result.prefix = prefix.toString();
  std::vector<double> to_last, to_route, to_first, cpu, to_last_add, to_last_delete;
  uint64_t events = 0, evaluations = 0, lookups = 0;
  constexpr int kWarmup = 2;
  for (int round = 0; round < kWarmup + scenario.rounds; ++round) {
    const bool add = round % 2 == 0;
    recorder.arm(scenario.affected, add ? kGatewayB : kGatewayA, prefix);
    const auto before = monitor.counters();
    const double cpu_before = cpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
    Clock::time_point sent;
    setup.change(add, scenario.change, sent);
    const Recorder::Round seen = recorder.wait(sent + kDeadline);
    const auto after = monitor.counters();
    // Let the monitor finish (free the batch) and go idle, then count what else arrived.
    std::this_thread::sleep_for(kSettle);
    const double cpu_after = cpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
    const Recorder::Round settled = recorder.current();
    const uint64_t round_lookups = after.kernelLookups - before.kernelLookups;
    const uint64_t round_evaluations = after.evaluations - before.evaluations;
    const std::string what = fmt::format("{} {} (round {})", add ? "add" : "delete", result.prefix, round);
    if (!seen.complete) {
      result.problems.push_back(fmt::format("{}: {} of {} callbacks within {} s", what, seen.events,
                                            scenario.affected, kDeadline.count()));
      result.exact = false;
      break;
    }
    if (settled.events != scenario.affected || round_evaluations != scenario.affected ||
        round_lookups != scenario.affected || settled.wrong != 0 || settled.other != 0 ||
        after.lookupFailures != before.lookupFailures) {
      result.exact = false;
      result.problems.push_back(fmt::format(
          "{}: {} events ({} with an unexpected state, {} other), {} evaluations, {} lookups, {} lookup failures; "
          "expected {} of each and no failure",
          what, settled.events, settled.wrong, settled.other, round_evaluations, round_lookups,
          after.lookupFailures - before.lookupFailures, scenario.affected));
    }
    if (round < kWarmup) continue;
    to_last.push_back(toMs(seen.last - sent));
    (add ? to_last_add : to_last_delete).push_back(toMs(seen.last - sent));
    to_first.push_back(toMs(seen.first - sent));
    if (seen.route) to_route.push_back(toMs(*seen.route - sent));
    cpu.push_back((cpu_after - cpu_before) * 1000);
    result.rawSamples.push_back(fmt::format("{:>6} {:>16} {:>7} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>8}",
                                            add ? "add" : "delete", result.prefix, round - kWarmup,
                                            toMs(seen.last - sent), toMs(seen.first - sent),
                                            seen.route ? toMs(*seen.route - sent) : -1.0,
                                            (cpu_after - cpu_before) * 1000, round_lookups));
    events += settled.events;
    evaluations += round_evaluations;
    lookups += round_lookups;
  }
  result.samples = static_cast<int>(to_last.size());
  result.toLast = statsOf(to_last);
  result.toLastAdd = statsOf(to_last_add);
  result.toLastDelete = statsOf(to_last_delete);
  result.toFirst = statsOf(to_first);
  result.toRoute = statsOf(to_route);
  result.cpu = statsOf(cpu);
  if (result.samples > 0) {
    result.eventsPerChange = static_cast<double>(events) / result.samples;
    result.evaluationsPerChange = static_cast<double>(evaluations) / result.samples;
    result.lookupsPerChange = static_cast<double>(lookups) / result.samples;
  }
  if (to_route.size() != to_last.size()) {
    result.problems.push_back(fmt::format("{} of {} changes had no RouteEvent at the status monitor's subscriber",
                                          to_last.size() - to_route.size(), to_last.size()));
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Report.

std::string machineLine() {
  utsname u{};
  uname(&u);
  std::string cpu = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::string debian;
  std::ifstream version("/etc/debian_version");
  std::getline(version, debian);
  // Other work on the machine shows in every figure: say how busy it was.
  std::string load;
  std::ifstream loadavg("/proc/loadavg");
  loadavg >> load;
  return fmt::format("Linux {} {}, {} CPUs ({}){}, load average {}", u.release, u.machine,
                     std::thread::hardware_concurrency(), cpu, debian.empty() ? "" : ", Debian " + debian, load);
}

std::string utcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
  return text;
}

std::string verdict(bool met) { return met ? "MET" : "NOT MET"; }

struct SetupFigures {
  size_t routes = 0;
  double routesMs = 0, monitorMs = 0, addMs = 0;
};

void printText(const SetupFigures& setup, const FloorResult& floor, const std::vector<ScenarioResult>& results) {
  fmt::print("netmon connection-monitor benchmark ({})\n", utcNow());
  fmt::print("machine: {}\n", machineLine());
  fmt::print("namespace: {} IPv4 routes in main ({} /28 bulk + default + 198.19.0.0/16), {} watched pairs\n",
             withCommas(setup.routes), withCommas(kBulkRoutes), withCommas(kPairs));
  fmt::print("setup: routes installed in {:.0f} ms ({:.0f}k/s, pipelined); ConnectionMonitor::create {:.0f} ms; "
             "{} add() calls {:.0f} ms ({:.1f} us each)\n\n",
             setup.routesMs, setup.routes / setup.routesMs, setup.monitorMs, withCommas(kPairs), setup.addMs,
             setup.addMs * 1000 / kPairs);

  fmt::print("Floors, bare libmnl in the same namespace and table (medians):\n");
  fmt::print("  kernel notification, change request -> listener thread woken with it: {:.1f} us (min {:.1f}, max {:.1f})\n",
             floor.notificationUs.median, floor.notificationUs.min, floor.notificationUs.max);
  fmt::print("  kernel lookup cost per pair, one request -> one reply in turn:        {:.2f} us\n",
             floor.sequentialUsPerLookup);
  fmt::print("  kernel lookup cost per pair, {} requests per send, recvmsg per reply: {:.2f} us\n", kBatchPerSend,
             floor.batchedUsPerLookup);
  fmt::print("  kernel lookup cost per pair, {} per send, recvmmsg {} replies/call:   {:.2f} us\n", kBatchPerSend,
             kMmsgSlots, floor.batchedMmsgUsPerLookup);
  fmt::print("  re-evaluate all {} pairs (sequential lookups, no targeting):      {:.2f} ms  (batched: {:.2f} ms)\n\n",
             withCommas(kPairs), floor.allSequentialMs, floor.allBatchedMs);

  fmt::print("One route change -> callbacks of all affected pairs (netmon, inline executor; add and delete alternate)\n");
  fmt::print("{:>8} {:>14} {:>7} {:>7} {:>7} {:>7} {:>8} {:>26} {:>19} {:>8}\n", "affected", "route changed",
             "samples", "events", "evals", "lookups", "CPU ms", "to last callback, ms", "median, ms", "per pair");
  fmt::print("{:>8} {:>14} {:>7} {:>7} {:>7} {:>7} {:>8} {:>26} {:>19} {:>8}\n", "pairs", "", "", "/change",
             "/change", "/change", "/change", "min / median / max", "add / delete", "us");
  for (const auto& r : results) {
    fmt::print("{:>8} {:>14} {:>7} {:>7.0f} {:>7.0f} {:>7.0f} {:>8.3f} {:>26} {:>19} {:>8.2f}\n", r.affected,
               r.prefix, r.samples, r.eventsPerChange, r.evaluationsPerChange, r.lookupsPerChange, r.cpu.median,
               fmt::format("{:.3f} / {:.3f} / {:.3f}", r.toLast.min, r.toLast.median, r.toLast.max),
               fmt::format("{:.3f} / {:.3f}", r.toLastAdd.median, r.toLastDelete.median),
               r.toLast.median * 1000 / static_cast<double>(r.affected));
  }

  fmt::print(
      "\nnetmon against the floors (medians, ms; floor = notification + the same lookups done bare; batched = "
      "recvmmsg, as netmon reads them)\n");
  fmt::print("{:>8} {:>9} {:>17} {:>7} {:>19} {:>7} {:>18} {:>8}\n", "affected", "netmon", "notify+batched", "ratio",
             "notify+sequential", "ratio", "notify+all 10,000", "ratio");
  const double notify_ms = floor.notificationUs.median / 1000;
  const double all_ms = notify_ms + floor.allSequentialMs;
  for (const auto& r : results) {
    const double batched = notify_ms + r.floorBatchedMmsg;
    const double sequential = notify_ms + r.floorSequential;
    const double versus_all = r.toLast.median / all_ms;
    fmt::print("{:>8} {:>9.3f} {:>17.3f} {:>6.1f}x {:>19.3f} {:>6.1f}x {:>18.3f} {:>8}\n", r.affected,
               r.toLast.median, batched, r.toLast.median / batched, sequential, r.toLast.median / sequential, all_ms,
               versus_all >= 0.1 ? fmt::format("{:.2f}x", versus_all) : fmt::format("1/{:.0f}", 1 / versus_all));
  }

  fmt::print("\nWhere the time goes (medians, ms after the change request)\n");
  fmt::print("{:>8} {:>18} {:>20} {:>14} {:>18} {:>16} {:>19}\n", "affected", "status RouteEvent",
             "first conn. callback", "last callback", "evaluate (1st-rt)", "batched floor", "deliver (last-1st)");
  for (const auto& r : results) {
    fmt::print("{:>8} {:>18.3f} {:>20.3f} {:>14.3f} {:>18.3f} {:>16.3f} {:>19.3f}\n", r.affected, r.toRoute.median,
               r.toFirst.median, r.toLast.median, r.toFirst.median - r.toRoute.median, r.floorBatchedMmsg,
               r.toLast.median - r.toFirst.median);
  }
  fmt::print("  status RouteEvent: the status monitor's inline subscriber got the change (kernel notification floor\n"
             "  {:.3f} ms); evaluate: the connection monitor found the affected pairs, asked the kernel, classified\n"
             "  the answers and built the events (batched floor: the same lookups, bare); deliver: the callbacks.\n",
             floor.notificationUs.median / 1000);

  fmt::print("\nTargets (issue 4)\n");
  for (const auto& r : results) {
    fmt::print("  median time to last callback for {} affected pair{}: {:.3f} ms (target 10 ms): {}\n",
               withCommas(r.affected), r.affected == 1 ? "" : "s", r.toLast.median,
               verdict(r.samples > 0 && r.toLast.median <= 10.0));
  }
  bool proportional = true;
  std::string counts;
  for (const auto& r : results) {
    counts += fmt::format("{}K={}: {:.0f}", counts.empty() ? "" : ", ", r.affected, r.lookupsPerChange);
    proportional = proportional && r.exact && r.lookupsPerChange == static_cast<double>(r.affected);
  }
  fmt::print("  work proportional to affected pairs: lookups per change {} (of {} pairs): {}\n", counts, kPairs,
             verdict(proportional));
  for (const auto& r : results) {
    for (const auto& problem : r.problems) fmt::print("  PROBLEM: {}\n", problem);
  }
}

nlohmann::json statsJson(const Stats& s) { return {{"min", s.min}, {"median", s.median}, {"max", s.max}}; }

void printJson(const SetupFigures& setup, const FloorResult& floor, const std::vector<ScenarioResult>& results) {
  nlohmann::json out;
  out["benchmark"] = "connection_monitor";
  out["date"] = utcNow();
  out["machine"] = machineLine();
  out["pairs"] = kPairs;
  out["routes"] = setup.routes;
  out["setup_ms"] = {{"routes", setup.routesMs}, {"monitor_create", setup.monitorMs}, {"add_all_pairs", setup.addMs}};
  out["floor"] = {{"notification_us", statsJson(floor.notificationUs)},
                  {"lookup_sequential_us_per_pair", floor.sequentialUsPerLookup},
                  {"lookup_batched_us_per_pair", floor.batchedUsPerLookup},
                  {"lookup_batched_recvmmsg_us_per_pair", floor.batchedMmsgUsPerLookup},
                  {"reevaluate_all_sequential_ms", floor.allSequentialMs},
                  {"reevaluate_all_batched_ms", floor.allBatchedMs}};
  nlohmann::json scenarios = nlohmann::json::array();
  for (const auto& r : results) {
    scenarios.push_back({{"affected", r.affected},
                         {"route", r.prefix},
                         {"samples", r.samples},
                         {"to_last_callback_ms", statsJson(r.toLast)},
                         {"to_last_callback_add_ms", statsJson(r.toLastAdd)},
                         {"to_last_callback_delete_ms", statsJson(r.toLastDelete)},
                         {"to_first_callback_ms", statsJson(r.toFirst)},
                         {"to_status_route_event_ms", statsJson(r.toRoute)},
                         {"cpu_ms_per_change", statsJson(r.cpu)},
                         {"events_per_change", r.eventsPerChange},
                         {"evaluations_per_change", r.evaluationsPerChange},
                         {"lookups_per_change", r.lookupsPerChange},
                         {"floor_sequential_ms", r.floorSequential},
                         {"floor_batched_ms", r.floorBatched},
                         {"floor_batched_recvmmsg_ms", r.floorBatchedMmsg},
                         {"target_10ms_met", r.samples > 0 && r.toLast.median <= 10.0},
                         {"exact", r.exact},
                         {"problems", r.problems}});
  }
  out["scenarios"] = scenarios;
  fmt::print("{}\n", out.dump(2));
}

int usage(int status) {
  std::fprintf(status == 0 ? stdout : stderr,
               "usage: connection_monitor_bench [--json] [--samples]\n"
               "  --json     print the figures as one JSON object instead of tables\n"
               "  --samples  also print every timed change (text output)\n"
               "Needs root: it makes its own network namespace (the host's is never touched).\n");
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  bool raw_samples = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "--samples") {
      raw_samples = true;
    } else if (arg == "--help" || arg == "-h") {
      return usage(0);
    } else {
      return usage(2);
    }
  }
  // First, while this is the only thread: every thread started later inherits the namespace.
  if (!enterOwnNamespace()) {
    std::fprintf(stderr, "connection_monitor_bench: needs CAP_SYS_ADMIN and CAP_NET_ADMIN (run as root), skipping\n");
    return 77;
  }
  writeSysctl("/proc/sys/net/ipv6/conf/all/accept_dad", "0");
  writeSysctl("/proc/sys/net/ipv6/conf/default/accept_dad", "0");

  Setup setup;
  setup.linksAndAddress();
  SetupFigures figures;
  figures.routes = kBulkRoutes + 2;
  figures.routesMs = toMs(setup.routes());

  std::vector<uint32_t> all_remotes(kPairs);
  for (size_t i = 0; i < kPairs; ++i) all_remotes[i] = remoteAt(i);
  const uint32_t k1 = kRemoteBase + (5u << 8) + 7;  // 198.19.5.7
  std::vector<Scenario> scenarios = {
      {{k1, 32, kGatewayB}, 1, 30, {k1}},
      {{kRemoteBase + (5u << 8), 24, kGatewayB}, 100, 30, {}},
      {{kRemoteBase, 17, kGatewayB}, kPairs, 16, all_remotes},
  };
  for (size_t i = 500; i < 600; ++i) scenarios[1].remotes.push_back(remoteAt(i));  // 198.19.5.1–100

  // Floors first, with no monitor running beside them.
  std::vector<ScenarioResult> results(scenarios.size());
  FloorResult floor;
  floor.notificationUs = measureNotificationFloor(setup, scenarios[0].change, 30);
  measureLookupFloors(scenarios, results, floor, setup.link());

  auto start = Clock::now();
  auto monitor = netmon::ConnectionMonitor::create();
  if (!monitor) die("ConnectionMonitor::create: " + monitor.error().message());
  figures.monitorMs = toMs(Clock::now() - start);

  start = Clock::now();
  for (uint32_t remote : all_remotes) {
    netmon::ConnectionTarget target;
    target.remote = netmon::IpAddress::v4(remote);
    auto added = monitor->add(target);
    if (!added) die("add " + ipv4Text(remote) + ": " + added.error().message());
    if (!added->state.reachable || added->state.gateway != netmon::IpAddress::v4(kGatewayA) ||
        added->state.linkIndex != static_cast<int>(setup.link())) {
      die("add " + ipv4Text(remote) + ": unexpected first state: " + added->state.explanation());
    }
  }
  figures.addMs = toMs(Clock::now() - start);

  Recorder recorder;
  const netmon::Subscription connections = monitor->subscribe(
      netmon::Executor::inlineOnMonitorThread(), [&recorder](const netmon::Event& event) { recorder.onConnection(event); });
  const netmon::Subscription routes = monitor->statusMonitor().subscribe(
      netmon::Executor::inlineOnMonitorThread(), [&recorder](const netmon::Event& event) { recorder.onRoute(event); },
      netmon::EventKind::Route);

  bool exact = true;
  for (size_t s = 0; s < scenarios.size(); ++s) {
    results[s] = measureScenario(setup, *monitor, recorder, scenarios[s], results[s]);
    exact = exact && results[s].exact && results[s].problems.empty();
    if (results[s].samples == 0) break;
  }

  if (json) {
    printJson(figures, floor, results);
  } else {
    printText(figures, floor, results);
  }
  if (raw_samples && !json) {
    fmt::print("\nSamples (ms after the change request; CPU ms of the whole process)\n");
    fmt::print("{:>6} {:>16} {:>7} {:>9} {:>9} {:>9} {:>9} {:>8}\n", "change", "route", "round", "last cb",
               "first cb", "RouteEvt", "CPU", "lookups");
    for (const auto& r : results) {
      for (const auto& line : r.rawSamples) fmt::print("{}\n", line);
    }
  }
  std::fflush(stdout);
  if (!exact) {
    std::fprintf(stderr, "connection_monitor_bench: FAILED: counts were not exact (see PROBLEM lines)\n");
    return 1;
  }
  return 0;
}
