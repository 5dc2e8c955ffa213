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

#include "bench_support.h"

namespace {

using namespace netmon_bench;

constexpr size_t kPairs = 10000;
constexpr size_t kBulkRoutes = 100000;
constexpr uint32_t kGatewayA = 0xC0000201;  // 192.0.2.1: the gateway of every route at rest
constexpr uint32_t kGatewayB = 0xC0000203;  // 192.0.2.3: the gateway of the change routes
constexpr uint32_t kLocal = 0xC0000202;     // 192.0.2.2/24 on bench0
constexpr uint32_t kRemoteBase = 0xC6130000;  // 198.19.0.0
constexpr uint32_t kBulkBase = 0x0A000000;    // 10.0.0.0
constexpr size_t kMmsgSlots = 64;
constexpr auto kSettle = std::chrono::milliseconds(20);
constexpr auto kDeadline = std::chrono::seconds(10);

// The i-th watched remote: 198.19.(i / 100).(1 + i % 100).
uint32_t remoteAt(size_t i) {
  return kRemoteBase + static_cast<uint32_t>((i / 100) << 8) + static_cast<uint32_t>(1 + i % 100);
}


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
  void linksAndAddress() { link_ = builder_.vethWithAddress("bench0", "bench1", kLocal, 24); }

  // The default route, the remotes' route, and kBulkRoutes /28s, pipelined (many per datagram).
  Clock::duration routes() {
    std::vector<RouteSpec> routes;
    routes.reserve(kBulkRoutes + 2);
    routes.push_back({0, 0, kGatewayA});
    routes.push_back({kRemoteBase, 16, kGatewayA});
    for (size_t i = 0; i < kBulkRoutes; ++i) routes.push_back({kBulkBase + static_cast<uint32_t>(i << 4), 28, kGatewayA});
    return builder_.routes(routes, link_);
  }

  // Asks the kernel to add or delete `route` via bench0; returns when the kernel acknowledged.
  // `sent` is set just before the send() that asks for the change.
  void change(bool add, const RouteSpec& route, Clock::time_point& sent) { builder_.change(add, route, link_, sent); }

  uint32_t link() const { return link_; }

 private:
  NamespaceBuilder builder_;
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
  setProgramName("connection_monitor_bench");
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
