#pragma once
// What the C++ benchmarks share: their own network namespace, a bare libmnl rtnetlink socket (the
// floors use no netmon code), pipelined route installation, statistics and the report's header
// lines. Everything here is single-threaded unless noted; a Netlink object is used by one thread.
// <net/if.h> before the <linux/*> headers: linux/libc-compat.h then skips what glibc defines.
#include <net/if.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/types.h>
#include <time.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace netmon_bench {

using Clock = std::chrono::steady_clock;

constexpr size_t kBufferBytes = 32 * 1024;  // rtnetlink read buffer (FACTS: 32 KiB dumps fastest)
constexpr size_t kBatchPerSend = 256;       // requests per datagram when pipelining

// The program name die() prints; set once in main().
void setProgramName(const char* name);
[[noreturn]] void die(const std::string& message);
std::string errnoText(int error);
std::string withCommas(size_t value);  // 10000 → "10,000"
std::string ipv4Text(uint32_t host_order);
double toMs(Clock::duration d);
double toUs(Clock::duration d);
double cpuSeconds(clockid_t clock);

struct Stats {
  double min = 0, median = 0, max = 0;
};
Stats statsOf(std::vector<double> values);
double percentile(std::vector<double> values, double fraction);  // nearest rank; 0 when empty

// The namespace. enterOwnNamespace() moves the process (it must have one thread yet) into a fresh
// network namespace and checks /proc/self/ns/net changed; false when the privilege is missing.
ino_t netnsInode();
bool enterOwnNamespace();
void writeSysctl(const std::string& path, const std::string& value);  // /proc/sys/net: our namespace's

// "Linux 6.18 x86_64, 2 CPUs (...), Debian 12.11, load average 0.8", the UTC minute, MET/NOT MET.
std::string machineLine();
std::string utcNow();
std::string verdict(bool met);

// A NETLINK_ROUTE socket (libmnl), with the sender check libmnl's recvfrom cannot make. Every
// blocking read is bounded (SO_RCVTIMEO 2 s).
class Netlink {
 public:
  explicit Netlink(unsigned groups = 0, size_t receive_buffer = 4u << 20);
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  ~Netlink();

  int fd() const;
  uint32_t nextSeq() { return ++seq_; }
  void send(const uint8_t* data, size_t length);
  // One datagram from the kernel (others are dropped) into buffer(); its length, or -errno.
  ssize_t receive(int flags = 0);
  const uint8_t* buffer() const { return buffer_.data(); }
  // Waits for the acknowledgements of requests first_seq..last_seq (sent with NLM_F_ACK); the
  // first error, or 0.
  int collectAcks(uint32_t first_seq, uint32_t last_seq);

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

// A route via a gateway out of one link, in table main. IPv4 when `v6` is false (destination and
// gateway in host order, the low 4 bytes of the arrays unused), otherwise IPv6 (network order).
struct RouteSpec {
  uint32_t destination = 0;
  uint8_t length = 0;
  uint32_t gateway = 0;
  bool v6 = false;
  std::array<uint8_t, 16> destination6{};
  std::array<uint8_t, 16> gateway6{};
};
// Appends an RTM_NEWROUTE (create, exclusive) or RTM_DELROUTE with NLM_F_ACK; returns its length.
size_t putRoute(uint8_t* where, uint16_t type, const RouteSpec& route, uint32_t link, uint32_t seq);

// Changes the namespace with acknowledged requests on its own socket.
class NamespaceBuilder {
 public:
  // lo up, a veth pair `name` ── `peer`, both up, `name` with ipv4_local/length (host order);
  // returns `name`'s index once it has carrier.
  unsigned vethWithAddress(const char* name, const char* peer, uint32_t ipv4_local, uint8_t length);
  void createVeth(const char* name, const char* peer);
  void setLink(unsigned index, bool up);
  void addAddress(unsigned index, int family, const void* address, uint8_t length);
  // Waits (≤ 5 s) until the link has carrier, following its notifications.
  void waitForCarrier(unsigned index);
  // Adds (or deletes) every route, kBatchPerSend per datagram, waiting for each datagram's acks.
  Clock::duration routes(const std::vector<RouteSpec>& routes, uint32_t link, bool add = true);
  // One route change; returns when the kernel acknowledged. `sent` is set just before the send().
  void change(bool add, const RouteSpec& route, uint32_t link, Clock::time_point& sent);

 private:
  void transact(uint8_t* buffer, const std::string& what);
  Netlink control_{0, 8u << 20};
};

// A thread blocked in epoll_wait on a socket joined to the IPv4 route group: when does the kernel's
// notification of a change wake a listener (the floor under any monitor)? arm() names the route
// (host order; 0/0 is the default route), wait() returns when the listener woke with it.
// Thread safety: arm() and wait() from one thread; the listener is the object's own thread.
class NotificationFloor {
 public:
  NotificationFloor();
  ~NotificationFloor();
  NotificationFloor(const NotificationFloor&) = delete;
  NotificationFloor& operator=(const NotificationFloor&) = delete;

  void arm(uint32_t destination, uint8_t length);
  std::optional<Clock::time_point> wait(Clock::time_point deadline);

 private:
  void run();

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

}  // namespace netmon_bench
