#include "bench_support.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <thread>

#include <fmt/core.h>

namespace netmon_bench {
namespace {
const char* program_name = "bench";
}  // namespace

void setProgramName(const char* name) { program_name = name; }

void die(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "%s: %s\n", program_name, message.c_str());
  std::fflush(stderr);
  // A monitor's thread may be running: leave without destructors racing it.
  std::_Exit(1);
}

std::string errnoText(int error) { return std::strerror(error); }

std::string withCommas(size_t value) {
  const std::string digits = std::to_string(value);
  std::string text;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) text += ',';
    text += digits[i];
  }
  return text;
}

std::string ipv4Text(uint32_t host_order) {
  const in_addr address{htonl(host_order)};
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &address, text, sizeof text);
  return text;
}

double toMs(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double toUs(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double cpuSeconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

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

double percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

ino_t netnsInode() {
  struct stat st {};
  if (stat("/proc/self/ns/net", &st) != 0) die("stat /proc/self/ns/net: " + errnoText(errno));
  return st.st_ino;
}

bool enterOwnNamespace() {
  const ino_t before = netnsInode();
  if (unshare(CLONE_NEWNET) != 0) {
    if (errno == EPERM) return false;
    die("unshare(CLONE_NEWNET): " + errnoText(errno));
  }
  if (netnsInode() == before) die("unshare(CLONE_NEWNET) left the network namespace unchanged");
  return true;
}

void writeSysctl(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  if (!out.flush()) die("write " + path);
}

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

// ---------------------------------------------------------------------------------------------

Netlink::Netlink(unsigned groups, size_t receive_buffer) {
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
  timeval timeout{2, 0};
  setsockopt(fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  buffer_.resize(kBufferBytes);
}

Netlink::~Netlink() { mnl_socket_close(socket_); }

int Netlink::fd() const { return mnl_socket_get_fd(socket_); }

void Netlink::send(const uint8_t* data, size_t length) {
  const ssize_t sent = mnl_socket_sendto(socket_, data, length);
  if (sent < 0 || static_cast<size_t>(sent) != length) die("send to rtnetlink: " + errnoText(errno));
}

ssize_t Netlink::receive(int flags) {
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

int Netlink::collectAcks(uint32_t first_seq, uint32_t last_seq) {
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

// ---------------------------------------------------------------------------------------------

size_t putRoute(uint8_t* where, uint16_t type, const RouteSpec& route, uint32_t link, uint32_t seq) {
  nlmsghdr* header = mnl_nlmsg_put_header(where);
  header->nlmsg_type = type;
  header->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  if (type == RTM_NEWROUTE) header->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
  header->nlmsg_seq = seq;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(rtmsg)));
  rtm->rtm_family = route.v6 ? AF_INET6 : AF_INET;
  rtm->rtm_dst_len = route.length;
  rtm->rtm_table = RT_TABLE_MAIN;
  if (type == RTM_NEWROUTE) {
    rtm->rtm_protocol = RTPROT_STATIC;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    rtm->rtm_type = RTN_UNICAST;
  } else {
    rtm->rtm_scope = RT_SCOPE_NOWHERE;
  }
  if (route.v6) {
    if (route.length > 0) mnl_attr_put(header, RTA_DST, 16, route.destination6.data());
    mnl_attr_put(header, RTA_GATEWAY, 16, route.gateway6.data());
  } else {
    if (route.length > 0) mnl_attr_put_u32(header, RTA_DST, htonl(route.destination));
    mnl_attr_put_u32(header, RTA_GATEWAY, htonl(route.gateway));
  }
  mnl_attr_put_u32(header, RTA_OIF, link);
  return NLMSG_ALIGN(header->nlmsg_len);
}

// ---------------------------------------------------------------------------------------------

namespace {
nlmsghdr* putLinkHeader(uint8_t* buffer, uint32_t seq, uint16_t flags, ifinfomsg** info) {
  nlmsghdr* header = mnl_nlmsg_put_header(buffer);
  header->nlmsg_type = RTM_NEWLINK;
  header->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  header->nlmsg_seq = seq;
  *info = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifinfomsg)));
  (*info)->ifi_family = AF_UNSPEC;
  return header;
}
}  // namespace

void NamespaceBuilder::transact(uint8_t* buffer, const std::string& what) {
  auto* header = reinterpret_cast<nlmsghdr*>(buffer);
  control_.send(buffer, header->nlmsg_len);
  if (const int error = control_.collectAcks(header->nlmsg_seq, header->nlmsg_seq); error != 0) {
    die(what + ": " + errnoText(-error));
  }
}

void NamespaceBuilder::createVeth(const char* name, const char* peer) {
  std::array<uint8_t, 1024> buffer{};
  ifinfomsg* info = nullptr;
  nlmsghdr* header = putLinkHeader(buffer.data(), control_.nextSeq(), NLM_F_CREATE | NLM_F_EXCL, &info);
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

unsigned NamespaceBuilder::vethWithAddress(const char* name, const char* peer, uint32_t ipv4_local, uint8_t length) {
  setLink(1, true);  // lo
  createVeth(name, peer);
  const unsigned link = if_nametoindex(name), peer_link = if_nametoindex(peer);
  if (link == 0 || peer_link == 0) die(fmt::format("veth {}/{} not found after creation", name, peer));
  setLink(link, true);
  setLink(peer_link, true);
  const uint32_t local = htonl(ipv4_local);
  addAddress(link, AF_INET, &local, length);
  waitForCarrier(link);
  return link;
}

void NamespaceBuilder::setLink(unsigned index, bool up) {
  std::array<uint8_t, 256> buffer{};
  ifinfomsg* info = nullptr;
  putLinkHeader(buffer.data(), control_.nextSeq(), 0, &info);
  info->ifi_index = static_cast<int>(index);
  info->ifi_flags = up ? IFF_UP : 0;
  info->ifi_change = IFF_UP;
  transact(buffer.data(), fmt::format("set link {} {}", index, up ? "up" : "down"));
}

void NamespaceBuilder::addAddress(unsigned index, int family, const void* address, uint8_t length) {
  std::array<uint8_t, 256> buffer{};
  nlmsghdr* header = mnl_nlmsg_put_header(buffer.data());
  header->nlmsg_type = RTM_NEWADDR;
  header->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
  header->nlmsg_seq = control_.nextSeq();
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifaddrmsg)));
  ifa->ifa_family = static_cast<uint8_t>(family);
  ifa->ifa_prefixlen = length;
  ifa->ifa_index = index;
  const uint16_t size = family == AF_INET6 ? 16 : 4;
  mnl_attr_put(header, IFA_LOCAL, size, address);
  mnl_attr_put(header, IFA_ADDRESS, size, address);
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, address, text, sizeof text);
  transact(buffer.data(), fmt::format("add address {}", text));
}

// Asks once (RTM_GETLINK), then follows the link's notifications (subscribed before asking, so
// none is missed); bounded to 5 s.
void NamespaceBuilder::waitForCarrier(unsigned index) {
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
  die(fmt::format("link {} has no carrier after 5 s", index));
}

Clock::duration NamespaceBuilder::routes(const std::vector<RouteSpec>& routes, uint32_t link, bool add) {
  const auto start = Clock::now();
  std::vector<uint8_t> buffer(kBufferBytes);
  size_t next = 0;
  while (next < routes.size()) {
    size_t length = 0;
    uint32_t first = 0, last = 0;
    for (size_t n = 0; n < kBatchPerSend && next < routes.size(); ++n, ++next) {
      last = control_.nextSeq();
      if (n == 0) first = last;
      length += putRoute(buffer.data() + length, add ? RTM_NEWROUTE : RTM_DELROUTE, routes[next], link, last);
    }
    control_.send(buffer.data(), length);
    if (const int error = control_.collectAcks(first, last); error != 0) {
      die(fmt::format("{} routes: {}", add ? "add" : "delete", errnoText(-error)));
    }
  }
  return Clock::now() - start;
}

void NamespaceBuilder::change(bool add, const RouteSpec& route, uint32_t link, Clock::time_point& sent) {
  std::array<uint8_t, 256> buffer{};
  const uint32_t seq = control_.nextSeq();
  const size_t length = putRoute(buffer.data(), add ? RTM_NEWROUTE : RTM_DELROUTE, route, link, seq);
  sent = Clock::now();
  control_.send(buffer.data(), length);
  if (const int error = control_.collectAcks(seq, seq); error != 0) {
    die(fmt::format("{} route {}/{}: {}", add ? "add" : "delete",
                    route.v6 ? std::string("(IPv6)") : ipv4Text(route.destination), route.length, errnoText(-error)));
  }
}

// ---------------------------------------------------------------------------------------------

NotificationFloor::NotificationFloor() : socket_(RTMGRP_IPV4_ROUTE, 8u << 20) {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) die("epoll_create1: " + errnoText(errno));
  epoll_event interest{};
  interest.events = EPOLLIN;
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, socket_.fd(), &interest) != 0) die("epoll_ctl: " + errnoText(errno));
  thread_ = std::thread([this] { run(); });
}

NotificationFloor::~NotificationFloor() {
  stop_.store(true);
  thread_.join();
  close(epoll_);
}

void NotificationFloor::arm(uint32_t destination, uint8_t length) {
  std::lock_guard lock(mutex_);
  destination_ = destination;
  length_ = length;
  seen_.reset();
}

std::optional<Clock::time_point> NotificationFloor::wait(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  cv_.wait_until(lock, deadline, [&] { return seen_.has_value(); });
  return seen_;
}

namespace {
int routeDestination(const nlattr* attribute, void* data) {
  if (mnl_attr_get_type(attribute) == RTA_DST && mnl_attr_validate(attribute, MNL_TYPE_U32) >= 0) {
    *static_cast<uint32_t*>(data) = mnl_attr_get_u32(attribute);
  }
  return MNL_CB_OK;
}
}  // namespace

void NotificationFloor::run() {
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

}  // namespace netmon_bench
