// serve_bench_client: the timing half of bench/serve_bench.sh (the daemon benchmark). It runs inside
// the network namespace the script made, next to a running `netmon serve`, and measures how long a
// kernel change takes to reach the daemon's event-stream clients:
//
//   floor    a bare rtnetlink listener (a thread blocked in epoll_wait on a socket joined to
//            RTMGRP_IPV4_ROUTE, no netmon code) receiving the same change, in every round;
//   single   1 SSE client on the daemon's GET /v1/events;
//   bare     --clients clients of BareServer, a thread of this process that turns each rtnetlink
//            notification into one frame of the daemon's shape and send()s it to every client:
//            the floor of a fan-out over loopback TCP on this machine, read by the same code;
//   fanout   --clients SSE clients (1,000 by default) on the daemon, all on one epoll thread.
//
// A change is the add (next round: the delete) of one /32 route on --link, sent by this program over
// its own rtnetlink socket; the clock (CLOCK_MONOTONIC) is read just before that send(). Each client
// timestamps the frame for that change when the recv() that completes it returns. Between rounds the
// program waits until every client and the floor listener got the change (bounded), then --settle-ms,
// so that each change finds the daemon idle, as a single change would.
//
// It also reads the daemon's memory (VmRSS, VmHWM from /proc/PID/status) idle, with every client
// connected, after the fan-out and after the clients disconnect, and its CPU time (utime+stime from
// /proc/PID/stat, and the nanosecond sum of /proc/PID/task/*/schedstat) over each phase.
//
// Output: `key=value` lines on stdout for the script to tabulate; diagnostics on stderr.
// Exit status: 0 when every client got every change exactly once; 1 otherwise (figures still
// printed when there are any); 2 for bad arguments.
#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "bench_support.h"

namespace {

constexpr auto kDeliveryDeadline = std::chrono::seconds(5);  // per change, for every client
constexpr auto kConnectDeadline = std::chrono::seconds(60);  // for all clients together
constexpr int kMaxChanges = 500;                              // 250 adds: one /24 of destinations

using netmon_bench::die;

std::string errnoText() { return netmon_bench::errnoText(errno); }

int64_t nowNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}
int64_t mono() { return nowNs(CLOCK_MONOTONIC); }

// Flushed line by line: what was measured survives a later failure or timeout.
void emit(const std::string& key, double value) {
  fmt::print("{}={:.3f}\n", key, value);
  std::fflush(stdout);
}
void emitInt(const std::string& key, int64_t value) {
  fmt::print("{}={}\n", key, value);
  std::fflush(stdout);
}

// Nearest-rank percentile of `values` (sorted here), p in (0, 100].
double percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nan("");
  std::sort(values.begin(), values.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

// ---------------------------------------------------------------------------------------------
// The daemon's process, read from /proc (the namespace shares the PID namespace and /proc).

struct Memory {
  int64_t rssKb = -1, hwmKb = -1, threads = -1;
};

Memory readMemory(pid_t pid) {
  Memory memory;
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    int64_t value = 0;
    fields >> name >> value;
    if (name == "VmRSS:") memory.rssKb = value;
    if (name == "VmHWM:") memory.hwmKb = value;
    if (name == "Threads:") memory.threads = value;
  }
  if (memory.rssKb < 0) die(fmt::format("cannot read /proc/{}/status: is the daemon still running?", pid));
  return memory;
}

struct Cpu {
  int64_t ticks = 0;    // utime + stime, all threads (clock ticks)
  int64_t schedNs = 0;  // sum of /proc/PID/task/*/schedstat run time (ns)
};

Cpu readCpu(pid_t pid) {
  Cpu cpu;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) die(fmt::format("cannot read /proc/{}/stat", pid));
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14 || index == 15) cpu.ticks += std::stoll(field);
  }
  const std::string tasks = fmt::format("/proc/{}/task", pid);
  if (DIR* dir = opendir(tasks.c_str())) {
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      std::ifstream sched(tasks + "/" + entry->d_name + "/schedstat");
      int64_t ns = 0;
      if (sched >> ns) cpu.schedNs += ns;
    }
    closedir(dir);
  }
  return cpu;
}

// ---------------------------------------------------------------------------------------------
// Routes: the changes, and the floor listener.

// Change i of a phase: i even adds <prefix>.(i/2+1)/32 on the link, i odd deletes it.
struct Destinations {
  uint32_t base = 0;   // host order, x.y.z.0
  std::string prefix;  // "x.y.z."
};

class RouteSender {
 public:
  explicit RouteSender(unsigned ifindex) : ifindex_(ifindex) {
    socket_ = mnl_socket_open(NETLINK_ROUTE);
    if (!socket_ || mnl_socket_bind(socket_, 0, MNL_SOCKET_AUTOPID) < 0) die("rtnetlink socket: " + errnoText());
    timeval timeout{2, 0};
    setsockopt(mnl_socket_get_fd(socket_), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  RouteSender(const RouteSender&) = delete;
  RouteSender& operator=(const RouteSender&) = delete;
  ~RouteSender() { mnl_socket_close(socket_); }

  // Builds the request; send() then only sends it, so the clock read before it times the kernel.
  void prepare(uint32_t destination_host_order, bool add) {
    nlmsghdr* header = mnl_nlmsg_put_header(request_);
    header->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
    header->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
    header->nlmsg_seq = ++sequence_;
    auto* route = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(rtmsg)));
    route->rtm_family = AF_INET;
    route->rtm_dst_len = 32;
    route->rtm_table = RT_TABLE_MAIN;
    route->rtm_protocol = RTPROT_STATIC;
    route->rtm_scope = add ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE;
    route->rtm_type = add ? RTN_UNICAST : RTN_UNSPEC;
    mnl_attr_put_u32(header, RTA_DST, htonl(destination_host_order));
    mnl_attr_put_u32(header, RTA_OIF, ifindex_);
    length_ = header->nlmsg_len;
  }
  void send() {
    if (mnl_socket_sendto(socket_, request_, length_) < 0) die("send route change: " + errnoText());
  }
  // The kernel's answer to the last request (it is queued by the time send() returns).
  void awaitAck() {
    const ssize_t n = mnl_socket_recvfrom(socket_, reply_, sizeof reply_);
    if (n < 0) die("route change ack: " + errnoText());
    const auto* header = reinterpret_cast<const nlmsghdr*>(reply_);
    if (header->nlmsg_type == NLMSG_ERROR) {
      const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
      if (error->error != 0) die("route change refused: " + std::string(std::strerror(-error->error)));
    }
  }
  void change(uint32_t destination, bool add) {
    prepare(destination, add);
    send();
    awaitAck();
  }

 private:
  mnl_socket* socket_ = nullptr;
  unsigned ifindex_;
  uint32_t sequence_ = 0;
  alignas(nlmsghdr) char request_[256]{};
  size_t length_ = 0;
  alignas(nlmsghdr) char reply_[8192]{};
};

// The shared record of one phase's changes. The listener thread and the stream reader thread write
// their own arrays; completion is signalled under `mutex`.
struct Phase {
  std::string name;
  Destinations destinations;
  int changes = 0;
  int clients = 0;
  std::vector<int64_t> t0;        // CLOCK_MONOTONIC just before the send()
  std::vector<int64_t> t0Real;    // CLOCK_REALTIME at the same moment (the event's "time" field)
  std::vector<std::atomic<int64_t>> floorAt;  // listener thread: receipt (monotonic), 0 = not yet
  std::vector<int64_t> arrivals;  // reader thread: [change * clients + client] (monotonic), 0 = not yet
  std::vector<int> received;      // reader thread: clients that got change i
  std::vector<int64_t> appliedReal;  // reader thread: the frame's "time" (realtime ns), 0 = unknown
  std::vector<int64_t> idSequence;   // reader thread: the frame's id sequence
  int64_t frameBytes = 0;            // reader thread: the size of the first change's frame
  std::vector<char> floorDone, clientsDone;
  std::mutex mutex;
  std::condition_variable changed;

  Phase(std::string phase_name, Destinations where, int change_count, int client_count)
      : name(std::move(phase_name)), destinations(std::move(where)), changes(change_count), clients(client_count),
        t0(changes), t0Real(changes), floorAt(changes), arrivals(size_t(changes) * size_t(clients)),
        received(changes), appliedReal(changes), idSequence(changes, -1), floorDone(changes), clientsDone(changes) {}

  // Which change a destination/direction names, or -1.
  int indexOf(uint32_t destination, bool add) const {
    if ((destination & 0xFFFFFF00u) != destinations.base) return -1;
    const int k = static_cast<int>(destination & 0xFF);
    const int index = (k - 1) * 2 + (add ? 0 : 1);
    return k >= 1 && index < changes ? index : -1;
  }
};

// Calls f(destination, added) for each IPv4 /32 route of the main table in a datagram.
template <typename F>
void forEachHostRoute(const char* data, ssize_t length, F&& f) {
  int remaining = static_cast<int>(length);
  for (auto* header = reinterpret_cast<const nlmsghdr*>(data); mnl_nlmsg_ok(header, remaining);
       header = mnl_nlmsg_next(header, &remaining)) {
    if (header->nlmsg_type != RTM_NEWROUTE && header->nlmsg_type != RTM_DELROUTE) continue;
    const auto* route = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(header));
    if (route->rtm_family != AF_INET || route->rtm_dst_len != 32 || route->rtm_table != RT_TABLE_MAIN) continue;
    uint32_t destination = 0;
    mnl_attr_parse(header, sizeof(rtmsg), [](const nlattr* attr, void* out) -> int {
      if (mnl_attr_get_type(attr) == RTA_DST && mnl_attr_get_payload_len(attr) == 4) {
        *static_cast<uint32_t*>(out) = ntohl(mnl_attr_get_u32(attr));
      }
      return MNL_CB_OK;
    }, &destination);
    f(destination, header->nlmsg_type == RTM_NEWROUTE);
  }
}

mnl_socket* routeListenerSocket() {
  mnl_socket* socket = mnl_socket_open(NETLINK_ROUTE);
  if (!socket || mnl_socket_bind(socket, RTMGRP_IPV4_ROUTE, MNL_SOCKET_AUTOPID) < 0) {
    die("rtnetlink listener: " + errnoText());
  }
  const int size = 1 << 20;
  setsockopt(mnl_socket_get_fd(socket), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  return socket;
}

// A thread blocked in epoll_wait on a socket joined to RTMGRP_IPV4_ROUTE: the kernel's own
// notification latency, what any listener gets before doing anything with it.
class FloorListener {
 public:
  FloorListener() {
    socket_ = routeListenerSocket();
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, mnl_socket_get_fd(socket_), &event) != 0) die("epoll_ctl: " + errnoText());
    thread_ = std::thread([this] { run(); });
  }
  FloorListener(const FloorListener&) = delete;
  FloorListener& operator=(const FloorListener&) = delete;
  ~FloorListener() {
    stop_ = true;
    thread_.join();
    close(epoll_);
    mnl_socket_close(socket_);
  }
  void setPhase(Phase* phase) { phase_.store(phase); }

 private:
  void run() {
    std::vector<char> buffer(64 * 1024);
    while (!stop_) {
      epoll_event event{};
      if (epoll_wait(epoll_, &event, 1, 50) <= 0) continue;
      const ssize_t n = recv(mnl_socket_get_fd(socket_), buffer.data(), buffer.size(), MSG_DONTWAIT);
      const int64_t at = mono();
      if (n <= 0) continue;
      Phase* phase = phase_.load();
      if (!phase) continue;
      forEachHostRoute(buffer.data(), n, [&](uint32_t destination, bool add) {
        const int index = phase->indexOf(destination, add);
        if (index < 0 || phase->floorAt[index] != 0) return;
        phase->floorAt[index] = at;
        std::lock_guard lock(phase->mutex);
        phase->floorDone[index] = 1;
        phase->changed.notify_all();
      });
    }
  }

  mnl_socket* socket_ = nullptr;
  int epoll_ = -1;
  std::atomic<Phase*> phase_{nullptr};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// The event-stream clients: non-blocking sockets on one epoll thread.

// "2026-11-26T02:06:33.137382Z" → realtime ns, 0 when malformed.
int64_t parseRfc3339(std::string_view text) {
  std::tm tm{};
  int micros = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &micros) != 7) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return int64_t{timegm(&tm)} * 1'000'000'000 + int64_t{micros} * 1000;
}

// The value of a top-level member of a JSON object, as text (a string without its quotes, a number
// as written), or empty. Nested objects are skipped: a route's own "type" is not the event's.
std::string_view topLevel(std::string_view json, std::string_view key) {
  int depth = 0;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '"') {
      const size_t close = json.find('"', i + 1);  // netmon's keys and these values hold no escapes
      if (close == std::string_view::npos) return {};
      const bool isKey = depth == 1 && close + 1 < json.size() && json[close + 1] == ':';
      if (isKey && json.substr(i + 1, close - i - 1) == key) {
        const size_t value = close + 2;
        if (value < json.size() && json[value] == '"') {
          const size_t valueEnd = json.find('"', value + 1);
          return valueEnd == std::string_view::npos ? std::string_view() : json.substr(value + 1, valueEnd - value - 1);
        }
        const size_t valueEnd = json.find_first_of(",}", value);
        return json.substr(value, valueEnd == std::string_view::npos ? std::string_view::npos : valueEnd - value);
      }
      i = close;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return {};
}

std::optional<int64_t> numberOf(std::string_view text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const std::string copy(text);
  const long long value = std::strtoll(copy.c_str(), &end, 10);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return value;
}

struct Client {
  int fd = -1;
  std::string buffer;
  bool headerDone = false;
  bool ready = false;      // headers and the initial "where things stand" frames received
  int initialFrames = 0;
  bool failed = false;     // not a 200, or closed by the daemon
  int64_t frames = 0;      // data frames after ready
};

struct StreamCounters {
  int64_t duplicates = 0, idMismatches = 0, closedByDaemon = 0, refused = 0, keepAlives = 0, otherFrames = 0;
  std::string refusal;
};

class StreamClients {
 public:
  StreamClients(int count, uint16_t port) : clients_(count), port_(port) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) die("epoll_create1: " + errnoText());
  }
  StreamClients(const StreamClients&) = delete;
  StreamClients& operator=(const StreamClients&) = delete;
  ~StreamClients() {
    stopReader();
    closeAll();
    close(epoll_);
  }

  void setPhase(Phase* phase) { phase_.store(phase); }

  // Connects every client and sends its request; returns once all are ready (or the deadline).
  // Returns the number ready.
  int connectAll() {
    reader_ = std::thread([this] { run(); });
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port_);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const std::string request = fmt::format(
        "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n"
        "User-Agent: serve_bench_client\r\n\r\n",
        port_);
    for (size_t i = 0; i < clients_.size(); ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) die(fmt::format("socket for client {}: {}", i, errnoText()));
      timeval timeout{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
      if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        die(fmt::format("connect client {}: {}", i, errnoText()));
      }
      if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
        die(fmt::format("send request of client {}: {}", i, errnoText()));
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      clients_[i].fd = fd;
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = i;
      if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) die("epoll_ctl: " + errnoText());
    }
    std::unique_lock lock(mutex_);
    readyChanged_.wait_for(lock, kConnectDeadline, [&] { return ready_ + counters_.refused >= int(clients_.size()); });
    return ready_;
  }

  // Stops the reader, then closes every socket the ordinary way (FIN, everything read).
  void closeAll() {
    stopReader();
    for (Client& client : clients_) {
      if (client.fd >= 0) close(client.fd);
      client.fd = -1;
    }
  }

  void stopReader() {
    if (!reader_.joinable()) return;
    stop_ = true;
    reader_.join();
  }

  const StreamCounters& counters() const { return counters_; }  // after stopReader()
  const std::vector<Client>& clients() const { return clients_; }

 private:
  void run() {
    std::vector<epoll_event> events(1024);
    std::vector<char> chunk(64 * 1024);
    while (!stop_) {
      const int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 50);
      for (int e = 0; e < n; ++e) {
        const size_t index = events[e].data.u64;
        Client& client = clients_[index];
        while (client.fd >= 0) {
          const ssize_t got = recv(client.fd, chunk.data(), chunk.size(), 0);
          const int64_t at = mono();
          if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          if (got <= 0) {
            if (!client.failed) ++counters_.closedByDaemon;
            client.failed = true;
            epoll_ctl(epoll_, EPOLL_CTL_DEL, client.fd, nullptr);
            break;
          }
          client.buffer.append(chunk.data(), static_cast<size_t>(got));
          consume(client, index, at);
        }
      }
    }
  }

  void consume(Client& client, size_t index, int64_t at) {
    if (!client.headerDone) {
      const size_t end = client.buffer.find("\r\n\r\n");
      if (end == std::string::npos) return;
      if (!client.buffer.starts_with("HTTP/1.1 200")) {
        std::lock_guard lock(mutex_);
        ++counters_.refused;
        if (counters_.refusal.empty()) counters_.refusal = client.buffer.substr(0, client.buffer.find("\r\n"));
        client.failed = true;
        readyChanged_.notify_all();
        return;
      }
      client.headerDone = true;
      client.buffer.erase(0, end + 4);
    }
    size_t end;
    while ((end = client.buffer.find("\n\n")) != std::string::npos) {
      frame(client, index, std::string_view(client.buffer).substr(0, end), at);
      client.buffer.erase(0, end + 2);
    }
  }

  void frame(Client& client, size_t index, std::string_view text, int64_t at) {
    if (text.starts_with(':')) {
      ++counters_.keepAlives;
      return;
    }
    const size_t data = text.find("data: ");
    if (data == std::string_view::npos) return;
    const std::string_view json = text.substr(data + 6);
    if (!client.ready) {
      // Joining without Last-Event-ID: three "where things stand" reachability frames.
      if (topLevel(json, "type") == "reachability" && topLevel(json, "previous") == "unknown") {
        if (++client.initialFrames == 3) {
          client.ready = true;
          std::lock_guard lock(mutex_);
          ++ready_;
          readyChanged_.notify_all();
        }
        return;
      }
    }
    ++client.frames;
    Phase* phase = phase_.load();
    const size_t route = json.find("\"route\":{");
    const std::string_view destination =
        route == std::string_view::npos ? std::string_view() : topLevel(json.substr(route + 8), "destination");
    if (!phase || topLevel(json, "type") != "route" || !destination.starts_with(phase->destinations.prefix)) {
      ++counters_.otherFrames;
      return;
    }
    const std::string_view change = topLevel(json, "change");
    in_addr parsed{};
    const std::string address(destination.substr(0, destination.find('/')));
    if (inet_pton(AF_INET, address.c_str(), &parsed) != 1 || !destination.ends_with("/32")) {
      ++counters_.otherFrames;
      return;
    }
    const int i = phase->indexOf(ntohl(parsed.s_addr), change == "added");
    if (i < 0 || (change != "added" && change != "removed") || index >= size_t(phase->clients)) {
      ++counters_.otherFrames;
      return;
    }
    int64_t& slot = phase->arrivals[size_t(i) * size_t(phase->clients) + index];
    if (slot != 0) {
      ++counters_.duplicates;
      return;
    }
    slot = at;
    // The SSE id is EPOCH-SEQUENCE; it must name the event's own sequence.
    const size_t dash = text.find('-');
    const auto sequence = numberOf(topLevel(json, "sequence"));
    const size_t idEnd = text.find('\n');
    if (!text.starts_with("id: ") || dash == std::string_view::npos || idEnd == std::string_view::npos ||
        dash > idEnd || !sequence || numberOf(text.substr(dash + 1, idEnd - dash - 1)) != sequence) {
      ++counters_.idMismatches;
    }
    if (++phase->received[i] == 1) {
      phase->appliedReal[i] = parseRfc3339(topLevel(json, "time"));
      phase->idSequence[i] = sequence.value_or(-1);
      if (phase->frameBytes == 0) phase->frameBytes = static_cast<int64_t>(text.size()) + 2;
    }
    if (phase->received[i] == phase->clients) {
      std::lock_guard lock(phase->mutex);
      phase->clientsDone[i] = 1;
      phase->changed.notify_all();
    }
  }

  std::vector<Client> clients_;
  uint16_t port_;
  int epoll_ = -1;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  std::atomic<Phase*> phase_{nullptr};
  std::mutex mutex_;
  std::condition_variable readyChanged_;
  int ready_ = 0;
  StreamCounters counters_;
};

// The fan-out floor: the least a daemon could do, in this process, measured by the same clients.
// One thread blocked in epoll_wait on its own rtnetlink listener and a listening TCP socket. A
// client that connects gets a 200 and three placeholder "where things stand" frames (its request is
// never read). A route change is formatted into one frame shaped like the daemon's and written to
// every client with one send() each, in connection order: no HTTP parser, no Asio, no queues, no
// state mirror.
class BareServer {
 public:
  BareServer() {
    listen_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listen_ < 0 || bind(listen_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        listen(listen_, 4096) != 0 || getsockname(listen_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      die("bare server socket: " + errnoText());
    }
    port_ = ntohs(address.sin_port);
    netlink_ = routeListenerSocket();
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = 0;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, listen_, &event);
    event.data.u64 = 1;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, mnl_socket_get_fd(netlink_), &event);
    thread_ = std::thread([this] { run(); });
  }
  BareServer(const BareServer&) = delete;
  BareServer& operator=(const BareServer&) = delete;
  ~BareServer() {
    stop_ = true;
    thread_.join();
    for (const int fd : clients_) close(fd);
    close(listen_);
    close(epoll_);
    mnl_socket_close(netlink_);
  }

  uint16_t port() const { return port_; }
  void setPhase(Phase* phase) { phase_.store(phase); }
  // After the thread stopped (the destructor) or while no change is in flight.
  int64_t fanoutCpuNs() const { return cpuNs_.load(); }
  int64_t fanouts() const { return fanouts_.load(); }
  int64_t shortWrites() const { return shortWrites_.load(); }

 private:
  static int64_t threadCpu() { return nowNs(CLOCK_THREAD_CPUTIME_ID); }

  static std::string rfc3339Now() {
    const int64_t now = nowNs(CLOCK_REALTIME);
    const time_t seconds = static_cast<time_t>(now / 1'000'000'000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, (now % 1'000'000'000) / 1000);
  }

  void sendAll(const std::string& bytes, int fd) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent != static_cast<ssize_t>(bytes.size())) ++shortWrites_;
  }

  void run() {
    std::vector<char> buffer(64 * 1024);
    const std::string greeting =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        "id: 0-0\ndata: {\"previous\":\"unknown\",\"type\":\"reachability\"}\n\n"
        "id: 0-0\ndata: {\"previous\":\"unknown\",\"type\":\"reachability\"}\n\n"
        "id: 0-0\ndata: {\"previous\":\"unknown\",\"type\":\"reachability\"}\n\n";
    while (!stop_) {
      epoll_event events[2];
      const int n = epoll_wait(epoll_, events, 2, 50);
      for (int e = 0; e < n; ++e) {
        if (events[e].data.u64 == 0) {
          for (int accepted = 0; accepted < 4096; ++accepted) {
            const int fd = accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0) break;
            const int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            clients_.push_back(fd);
            sendAll(greeting, fd);
          }
          continue;
        }
        const ssize_t got = recv(mnl_socket_get_fd(netlink_), buffer.data(), buffer.size(), MSG_DONTWAIT);
        const int64_t cpuStart = threadCpu();
        if (got <= 0) continue;
        Phase* phase = phase_.load();
        if (!phase) continue;
        forEachHostRoute(buffer.data(), got, [&](uint32_t destination, bool add) {
          if (phase->indexOf(destination, add) < 0) return;
          const std::string frame = fmt::format(
              "id: 0-{0}\ndata: {{\"change\":\"{1}\",\"route\":{{\"destination\":\"{2}.{3}.{4}.{5}/32\","
              "\"family\":\"ipv4\","
              "\"gateway\":null,\"interface\":\"sv0a\",\"interface_index\":3,\"metric\":0,\"protocol\":\"static\","
              "\"scope\":\"link\",\"source\":null,\"table\":254,\"type\":\"unicast\"}},\"sequence\":{0},"
              "\"time\":\"{6}\",\"type\":\"route\"}}\n\n",
              ++sequence_, add ? "added" : "removed", destination >> 24, (destination >> 16) & 0xFF,
              (destination >> 8) & 0xFF, destination & 0xFF, rfc3339Now());
          for (const int fd : clients_) sendAll(frame, fd);
          ++fanouts_;
        });
        cpuNs_ += threadCpu() - cpuStart;
      }
    }
  }

  int listen_ = -1;
  int epoll_ = -1;
  mnl_socket* netlink_ = nullptr;
  uint16_t port_ = 0;
  std::vector<int> clients_;
  uint64_t sequence_ = 0;
  std::atomic<Phase*> phase_{nullptr};
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> cpuNs_{0}, fanouts_{0}, shortWrites_{0};
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// One blocking GET /metrics, for the daemon's own connection gauges.

struct Gauges {
  int64_t connections = -1, streams = -1;
};

Gauges readGauges(uint16_t port) {
  Gauges gauges;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string body;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request =
        fmt::format("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", port);
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char chunk[16384];
      for (int reads = 0; reads < 10000; ++reads) {
        const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) break;
        body.append(chunk, static_cast<size_t>(n));
      }
    }
  }
  close(fd);
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("netmon_http_connections ")) gauges.connections = std::stoll(line.substr(24));
    if (line.starts_with("netmon_sse_clients ")) gauges.streams = std::stoll(line.substr(19));
  }
  return gauges;
}

// ---------------------------------------------------------------------------------------------

struct Options {
  uint16_t port = 0;
  pid_t daemonPid = 0;
  std::string link;
  int clients = 1000;
  int changes = 100;
  int settleMs = 20;
  bool samples = false;
};

void emitMemory(const std::string& key, const Memory& memory) {
  emitInt(key + ".rss_kb", memory.rssKb);
  emitInt(key + ".hwm_kb", memory.hwmKb);
  emitInt(key + ".threads", memory.threads);
}

// Drives one phase's changes; returns the deliveries missing (client × change), 0 when complete.
int64_t runChanges(Phase& phase, RouteSender& sender, int settle_ms) {
  int64_t missing = 0;
  for (int i = 0; i < phase.changes; ++i) {
    const uint32_t destination = phase.destinations.base + static_cast<uint32_t>(i / 2 + 1);
    const bool add = i % 2 == 0;
    sender.prepare(destination, add);
    phase.t0Real[i] = nowNs(CLOCK_REALTIME);
    phase.t0[i] = mono();
    sender.send();
    sender.awaitAck();
    std::unique_lock lock(phase.mutex);
    const bool complete = phase.changed.wait_for(lock, kDeliveryDeadline, [&] {
      return phase.floorDone[i] && (phase.clients == 0 || phase.clientsDone[i]);
    });
    lock.unlock();
    if (!complete) {
      std::lock_guard again(phase.mutex);
      fmt::print(stderr,
                 "serve_bench_client: {} change {}: not delivered everywhere within {} s (floor listener: {})\n",
                 phase.name, i, kDeliveryDeadline.count(), phase.floorDone[i] ? "got it" : "missed it");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));
  }
  // Read after the settle of the last change; the reader thread is stopped by the caller before the
  // arrival arrays are read.
  for (int i = 0; i < phase.changes; ++i) {
    std::lock_guard lock(phase.mutex);
    if (!phase.floorDone[i]) ++missing;
  }
  return missing;
}

// Everything the phase measured, as key=value lines. Returns missing client deliveries.
int64_t report(const Phase& phase, bool samples) {
  std::vector<double> floor, applied, first, median, last;
  int64_t missing = 0;
  for (int i = 0; i < phase.changes; ++i) {
    const int64_t floorAt = phase.floorAt[i].load();
    const double floorUs = floorAt != 0 ? double(floorAt - phase.t0[i]) / 1000.0 : std::nan("");
    const double appliedUs =
        phase.appliedReal[i] != 0 ? double(phase.appliedReal[i] - phase.t0Real[i]) / 1000.0 : std::nan("");
    if (floorAt != 0) floor.push_back(floorUs);
    if (phase.appliedReal[i] != 0) applied.push_back(appliedUs);
    std::vector<double> arrivals;
    for (int c = 0; c < phase.clients; ++c) {
      const int64_t at = phase.arrivals[size_t(i) * size_t(phase.clients) + size_t(c)];
      if (at == 0) {
        ++missing;
        continue;
      }
      arrivals.push_back(double(at - phase.t0[i]) / 1000.0);
    }
    if (arrivals.empty()) continue;
    std::sort(arrivals.begin(), arrivals.end());
    first.push_back(arrivals.front());
    median.push_back(percentile(arrivals, 50));
    last.push_back(arrivals.back());
    if (samples) {
      fmt::print("sample.{}.{}=floor_us:{:.1f} applied_us:{:.1f} first_us:{:.1f} median_us:{:.1f} "
                 "last_us:{:.1f} seq:{}\n",
                 phase.name, i, floorUs, appliedUs, arrivals.front(), percentile(arrivals, 50), arrivals.back(),
                 phase.idSequence[i]);
    }
  }
  const auto stats = [&](const std::string& what, const std::vector<double>& values) {
    emitInt(phase.name + "." + what + ".n", int64_t(values.size()));
    emit(phase.name + "." + what + ".p50_us", percentile(values, 50));
    emit(phase.name + "." + what + ".p99_us", percentile(values, 99));
    emit(phase.name + "." + what + ".max_us", percentile(values, 100));
  };
  stats("floor", floor);
  stats("applied", applied);
  stats("first", first);
  stats("median", median);
  stats("last", last);
  emitInt(phase.name + ".missing", missing);
  emitInt(phase.name + ".frame_bytes", phase.frameBytes);
  return missing;
}

// Closes the clients the ordinary way, then reads what the daemon still holds: after 1 s, and
// after two more route changes (a write to a closed peer draws a reset; the next write fails).
void disconnect(StreamClients& clients, const std::string& name, const Options& options, RouteSender& sender,
                uint32_t flush_destination) {
  clients.closeAll();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const Gauges held = readGauges(options.port);
  emitInt(name + ".after_close_1s.sse_clients", held.streams);
  emitInt(name + ".after_close_1s.connections", held.connections);
  emitMemory(name + ".after_close_1s", readMemory(options.daemonPid));
  sender.change(flush_destination, true);
  sender.change(flush_destination, false);
  Gauges flushed;
  for (int attempt = 0; attempt < 40; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    flushed = readGauges(options.port);
    if (flushed.streams == 0) break;
  }
  emitInt(name + ".after_flush.sse_clients", flushed.streams);
  emitInt(name + ".after_flush.connections", flushed.connections);
  emitMemory(name + ".after_flush", readMemory(options.daemonPid));
}

int run(const Options& options) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur < 2 * rlim_t(options.clients) + 64) {
    die(fmt::format("RLIMIT_NOFILE {} is too low for {} clients (and the bare server's ends)", limit.rlim_cur,
                    options.clients));
  }
  const unsigned ifindex = if_nametoindex(options.link.c_str());
  if (ifindex == 0) die("no link " + options.link + " in this namespace");

  const long ticks = sysconf(_SC_CLK_TCK);
  emitInt("clock_ticks_per_s", ticks);
  emitMemory("idle", readMemory(options.daemonPid));
  const Gauges idle = readGauges(options.port);
  emitInt("idle.connections", idle.connections);
  if (idle.connections < 0) die("GET /metrics failed or has no netmon_http_connections");

  RouteSender sender(ifindex);
  FloorListener listener;
  int64_t failures = 0;

  // A phase against the daemon (bare == nullptr) or against the bare fan-out floor.
  const auto runPhase = [&](const std::string& name, const Destinations& destinations, int client_count,
                            uint32_t flush_destination, BareServer* bare) {
    Phase phase(name, destinations, options.changes, client_count);
    StreamClients clients(client_count, bare ? bare->port() : options.port);
    clients.setPhase(&phase);
    listener.setPhase(&phase);
    if (bare) bare->setPhase(&phase);
    const int64_t connectStart = mono();
    const int ready = clients.connectAll();
    emit(name + ".connect_ms", double(mono() - connectStart) / 1e6);
    emitInt(name + ".ready", ready);
    if (ready != client_count) {
      clients.stopReader();
      fmt::print(stderr, "serve_bench_client: {}: {} of {} clients ready ({} refused: {})\n", name, ready, client_count,
                 clients.counters().refused, clients.counters().refusal);
      listener.setPhase(nullptr);
      if (bare) bare->setPhase(nullptr);
      ++failures;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (!bare) {
      const Gauges connected = readGauges(options.port);
      emitInt(name + ".connected.sse_clients", connected.streams);
      emitInt(name + ".connected.connections", connected.connections);
      emitMemory(name + ".connected", readMemory(options.daemonPid));
    }

    const Cpu before = readCpu(options.daemonPid);
    const int64_t wallStart = mono();
    const int64_t floorMissing = runChanges(phase, sender, options.settleMs);
    const int64_t wall = mono() - wallStart;
    const Cpu after = readCpu(options.daemonPid);
    clients.stopReader();
    listener.setPhase(nullptr);
    if (bare) {
      bare->setPhase(nullptr);
      emit(name + ".server_cpu_ms", double(bare->fanoutCpuNs()) / 1e6);
      emitInt(name + ".short_writes", bare->shortWrites());
    } else {
      emitMemory(name + ".after_changes", readMemory(options.daemonPid));
      emit(name + ".cpu_ms", double(after.ticks - before.ticks) * 1000.0 / double(ticks));
      emit(name + ".server_cpu_ms", double(after.schedNs - before.schedNs) / 1e6);
    }
    emit(name + ".wall_ms", double(wall) / 1e6);
    emitInt(name + ".changes", options.changes);
    // Frames client 0 got during the changes: the server's events in the phase.
    emitInt(name + ".events", clients.clients().front().frames);

    const int64_t missing = report(phase, options.samples);
    const StreamCounters& counters = clients.counters();
    emitInt(name + ".floor_missing", floorMissing);
    emitInt(name + ".duplicates", counters.duplicates);
    emitInt(name + ".id_mismatches", counters.idMismatches);
    emitInt(name + ".closed_by_server", counters.closedByDaemon);
    emitInt(name + ".other_frames", counters.otherFrames);
    if (missing || floorMissing || counters.duplicates || counters.idMismatches || counters.closedByDaemon) ++failures;
    if (bare) {
      clients.closeAll();
    } else {
      disconnect(clients, name, options, sender, flush_destination);
    }
  };

  runPhase("single", Destinations{0xC6336400, "198.51.100."}, 1, 0xC6120001, nullptr);  // 198.51.100.k
  {
    BareServer bare;
    runPhase("bare", Destinations{0xC0000200, "192.0.2."}, options.clients, 0, &bare);  // 192.0.2.k
  }
  runPhase("fanout", Destinations{0xCB007100, "203.0.113."}, options.clients, 0xC6120002, nullptr);  // 203.0.113.k
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  netmon_bench::setProgramName("serve_bench_client");
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "serve_bench_client: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (arg == "--port") options.port = static_cast<uint16_t>(std::stoi(value()));
      else if (arg == "--daemon-pid") options.daemonPid = static_cast<pid_t>(std::stoi(value()));
      else if (arg == "--link") options.link = value();
      else if (arg == "--clients") options.clients = std::stoi(value());
      else if (arg == "--changes") options.changes = std::stoi(value());
      else if (arg == "--settle-ms") options.settleMs = std::stoi(value());
      else if (arg == "--samples") options.samples = true;
      else {
        std::fprintf(stderr,
                     "usage: serve_bench_client --port PORT --daemon-pid PID --link NAME [--clients N] [--changes N] "
                     "[--settle-ms MS] [--samples]\n");
        return arg == "--help" || arg == "-h" ? 0 : 2;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "serve_bench_client: bad value for %s\n", argv[i - 1]);
      return 2;
    }
  }
  if (options.port == 0 || options.daemonPid <= 0 || options.link.empty() || options.clients < 1 ||
      options.clients > 100000 || options.changes < 2 || options.changes > kMaxChanges || options.changes % 2 ||
      options.settleMs < 0 || options.settleMs > 10000) {
    std::fprintf(stderr, "serve_bench_client: --port, --daemon-pid and --link are required; --changes is even, 2..%d\n",
                 kMaxChanges);
    return 2;
  }
  return run(options);
}
