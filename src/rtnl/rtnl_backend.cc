// The rtnetlink backend: initial dump, notifications, overrun resync, link-flush reconciliation.
#include "rtnl/rtnl_backend.h"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "core/rtmon_file.h"
#include "rtnl/mirror_sink.h"
#include "rtnl/netns.h"
#include "rtnl/parse.h"
#include "rtnl/socket.h"

namespace netmon::rtnl {

namespace {

using Clock = std::chrono::steady_clock;

// Datagrams handled per process() call before returning, so reachability is re-derived and events
// are published at least this often under a flood.
constexpr int kDatagramsPerProcess = 2048;
// How long a dump may stall before it is abandoned and retried.
constexpr int kDumpTimeoutMs = 5000;
constexpr auto kDegradedRetry = std::chrono::seconds(1);

constexpr unsigned kGroups[] = {RTNLGRP_LINK,       RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE,
                                RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV4_RULE,   RTNLGRP_IPV6_RULE};

struct Sockets {
  NetlinkSocket events;
  NetlinkSocket requests;
};

Result<Sockets> openSockets() {
  auto events = NetlinkSocket::open();
  if (!events) return tl::unexpected(events.error());
  auto requests = NetlinkSocket::open();
  if (!requests) return tl::unexpected(requests.error());
  return Sockets{std::move(*events), std::move(*requests)};
}

class RtnlBackend final : public detail::Backend {
 public:
  RtnlBackend(MonitorOptions options, Sockets sockets, std::unique_ptr<detail::RtmonWriter> writer)
      : options_(std::move(options)),
        events_(std::move(sockets.events)),
        requests_(std::move(sockets.requests)),
        writer_(std::move(writer)),
        random_(uint32_t(Clock::now().time_since_epoch().count())) {}

  ~RtnlBackend() override {
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (timer_fd_ >= 0) close(timer_fd_);
  }

  Result<void> setUp() {
    if (auto subscribed = subscribe(events_); !subscribed) return subscribed;
    requests_.enableStrictChecking();
    requests_.setReceiveTimeout(kDumpTimeoutMs);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epoll_fd_ < 0 || timer_fd_ < 0) return makeError(errno, "create epoll/timer fd");
    for (int fd : {events_.fd(), timer_fd_}) {
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.fd = fd;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) < 0) return makeError(errno, "watch rtnetlink socket");
    }
    return {};
  }

  Result<void> initialSync(detail::Mirror& mirror) override {
    auto synced = fullSync(mirror);
    if (!synced) return synced;
    mirror.markHasData();
    return {};
  }

  int fd() const override { return epoll_fd_; }
  const Counters& counters() const override { return counters_; }
  void flushRecording() override {
    if (writer_) writer_->flush();
  }

  Result<size_t> process(detail::Mirror& mirror) override {
    size_t handled = 0;
    if (resync_pending_) {
      // Only a pending resync arms the timer: no syscall for it on the hot path.
      uint64_t expirations = 0;
      while (read(timer_fd_, &expirations, sizeof expirations) > 0) {
      }
    }
    MirrorSink sink(mirror);
    for (int datagrams = 0; datagrams < kDatagramsPerProcess; ++datagrams) {
      auto received = events_.receive();
      if (!received) {
        const int error = received.error().code.value();
        if (error == EAGAIN || error == EWOULDBLOCK) break;
        if (error == ENOBUFS) {
          // The kernel dropped notifications. Queued ones are older than the dump about to be
          // made, and one of them could undo a change whose own notice was lost: discard them all,
          // then re-dump (the resync), rather than apply stale history on top of fresh truth.
          ++counters_.overruns;
          discardQueuedEvents();
          resync_pending_ = true;
          continue;
        }
        ++counters_.readErrors;
        replaceEventSocket(error);
        break;
      }
      const auto& datagram = *received;
      if (!datagram.fromKernel) {
        ++counters_.foreignSenderDropped;
        continue;
      }
      if (datagram.truncated) {
        // Part of a notification is lost: as good as an overrun.
        ++counters_.malformed;
        resync_pending_ = true;
        continue;
      }
      if (writer_) {
        writer_->beginBatch();
        writer_->write(datagram.bytes);
      }
      handled += account(parseDatagram(datagram.bytes, sink));
    }
    reconcileFlushedLinks(mirror);
    if (resync_pending_) maybeResync(mirror);
    return handled;
  }

 private:
  size_t account(const ParseStats& stats) { return addToCounters(counters_, stats); }

  // Joins the notification groups and sizes the receive buffer of a new notification socket.
  Result<void> subscribe(NetlinkSocket& socket) {
    for (unsigned group : kGroups) {
      if (auto joined = socket.joinGroup(group); !joined) return joined;
    }
    if (auto granted = socket.setReceiveBuffer(options_.receiveBufferBytes); !granted) {
      return tl::unexpected(granted.error());
    }
    return {};
  }

  // A receive error other than ENOBUFS (ENOMEM, EIO, ...) leaves the socket in a state nobody
  // documents: whether it dropped notifications, and whether the next read works, is unknown.
  // So it is replaced: a new socket joins the groups *before* the old one closes (no window in
  // which a change is announced to nobody), and a resync re-reads what the old one may have lost.
  // Should the new socket not open (EMFILE, ENOMEM), the old one is kept and the resync still runs.
  void replaceEventSocket(int error) {
    socket_error_ = error;
    resync_pending_ = true;
    auto opened = runInNamespaceOf(options_, NetlinkSocket::open);
    if (!opened) return;
    if (!subscribe(*opened)) return;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = opened->fd();
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, opened->fd(), &event) < 0) return;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, events_.fd(), nullptr);
    events_ = std::move(*opened);
    ++counters_.socketReopens;
  }

  // Counts a failed receive on any socket: the overrun counter for ENOBUFS, else a read error.
  void countReceiveError(int error) {
    if (error == EAGAIN || error == EWOULDBLOCK) return;
    if (error == ENOBUFS) {
      ++counters_.overruns;
    } else {
      ++counters_.readErrors;
    }
  }

  void discardQueuedEvents() {
    const auto deadline = Clock::now() + std::chrono::milliseconds(200);
    while (Clock::now() < deadline) {
      auto received = events_.receive();
      if (received) continue;
      const int error = received.error().code.value();
      if (error == EAGAIN || error == EWOULDBLOCK) break;
      countReceiveError(error);
      if (error != ENOBUFS) {
        replaceEventSocket(error);
        break;
      }
    }
  }

  void maybeResync(detail::Mirror& mirror) {
    const auto now = Clock::now();
    const auto allowed = last_resync_ + options_.minResyncInterval;
    if (last_resync_ != Clock::time_point{} && now < allowed) {
      armTimer(allowed - now);  // overruns inside the window merge into one resync
      return;
    }
    resync_pending_ = false;
    last_resync_ = now;
    auto synced = fullSync(mirror);
    if (!synced) {
      counters_.degraded = true;
      resync_pending_ = true;
      mirror.emitNotice(ResyncEvent{ResyncReason::Degraded, counters_.resyncs, 0, 0});
      armTimer(kDegradedRetry);
    }
  }

  void armTimer(Clock::duration delay) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count();
    itimerspec spec{};
    spec.it_value.tv_sec = ns / 1000000000;
    spec.it_value.tv_nsec = std::max<long>(ns % 1000000000, 1);
    timerfd_settime(timer_fd_, 0, &spec, nullptr);
  }

  // Builds a dump request: the family header zeroed except the family (strict checking rejects
  // anything else), plus optional attributes.
  std::vector<uint8_t> dumpRequest(uint16_t type, uint8_t family, uint32_t seq, int output_link = 0) {
    std::vector<uint8_t> buffer(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* header = mnl_nlmsg_put_header(buffer.data());
    header->nlmsg_type = type;
    header->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    header->nlmsg_seq = seq;
    switch (type) {
      case RTM_GETLINK: {
        auto* info = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifinfomsg)));
        info->ifi_family = family;
        mnl_attr_put_u32(header, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        break;
      }
      case RTM_GETADDR: {
        auto* info = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifaddrmsg)));
        info->ifa_family = family;
        break;
      }
      case RTM_GETROUTE: {
        auto* info = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(rtmsg)));
        info->rtm_family = family;
        if (output_link) mnl_attr_put_u32(header, RTA_OIF, uint32_t(output_link));
        break;
      }
      case RTM_GETRULE: {
        auto* info = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(header, sizeof(fib_rule_hdr)));
        info->family = family;
        break;
      }
    }
    buffer.resize(header->nlmsg_len);
    return buffer;
  }

  enum class DumpOutcome { Complete, Interrupted, Failed };
  struct DumpResult {
    DumpOutcome outcome;
    int error = 0;
  };

  // Runs one dump on the request socket, feeding `sink`; datagrams go to `recorded` if recording.
  template <class Sink>
  DumpResult dump(uint16_t type, uint8_t family, Sink& sink, uint32_t seq, int output_link,
                  std::vector<uint8_t>* recorded) {
    const auto request = dumpRequest(type, family, seq, output_link);
    if (auto sent = requests_.send(request); !sent) {
      ++counters_.sendErrors;
      return {DumpOutcome::Failed, sent.error().code.value()};
    }
    bool interrupted = false;
    while (!sink.done()) {
      auto received = requests_.receive(/*wait=*/true);
      if (!received) {
        const int error = received.error().code.value();
        // EAGAIN here is the receive timeout: the dump stalled. Counted as a read error too.
        if (error == EAGAIN || error == EWOULDBLOCK) {
          ++counters_.readErrors;
        } else {
          countReceiveError(error);
        }
        drainRequests();
        return {DumpOutcome::Failed, error};
      }
      if (!received->fromKernel) {
        ++counters_.foreignSenderDropped;
        continue;
      }
      if (received->truncated) {
        ++counters_.malformed;
        interrupted = true;
        continue;
      }
      if (recorded) recorded->insert(recorded->end(), received->bytes.begin(), received->bytes.end());
      const ParseStats stats = parseDatagram(received->bytes, sink);
      account(stats);
      interrupted |= stats.dumpInterrupted;
    }
    if (sink.error()) return {DumpOutcome::Failed, sink.error()};
    return {interrupted ? DumpOutcome::Interrupted : DumpOutcome::Complete};
  }

  // Drops what is left of an abandoned dump; the next dump's sequence number tells any straggler
  // apart anyway.
  void drainRequests() {
    for (;;) {
      auto received = requests_.receive();
      if (received) continue;
      countReceiveError(received.error().code.value());
      return;
    }
  }

  // A complete dump of links, addresses, routes and rules, diffed into the mirror (mark and
  // sweep). NLM_F_DUMP_INTR (the kernel's state changed during the dump) redoes it, a bounded
  // number of times with jitter; partial data is never swept into the mirror.
  Result<void> fullSync(detail::Mirror& mirror) {
    static constexpr uint16_t kDumps[] = {RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETRULE};
    int last_error = EINTR;
    const bool initial = !mirror.hasData();
    for (int attempt = 1; attempt <= std::max(1, options_.maxDumpAttempts); ++attempt) {
      std::vector<uint8_t> recorded;
      mirror.beginResync();
      bool complete = true;
      for (uint16_t type : kDumps) {
        MirrorSink sink(mirror, ++sequence_);
        const DumpResult result = dump(type, AF_UNSPEC, sink, sequence_, 0, writer_ ? &recorded : nullptr);
        if (result.outcome == DumpOutcome::Complete) continue;
        complete = false;
        if (result.outcome == DumpOutcome::Interrupted) ++counters_.dumpsInterrupted;
        last_error = result.outcome == DumpOutcome::Interrupted ? EINTR : result.error;
        break;
      }
      if (!complete) {
        mirror.abandonResync();
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(1, 10 * attempt)(random_)));
        continue;
      }
      const uint64_t differences = mirror.endResync();
      if (writer_) {
        writer_->beginBatch();
        writer_->write(recorded);
      }
      counters_.degraded = false;
      if (!initial) {
        ++counters_.resyncs;
        const int socket_error = std::exchange(socket_error_, 0);
        mirror.emitNotice(ResyncEvent{socket_error ? ResyncReason::SocketError : ResyncReason::Overrun,
                                      counters_.resyncs, differences, socket_error});
      }
      return {};
    }
    return makeError(last_error, "dump kernel state", "gave up after " + std::to_string(options_.maxDumpAttempts) + " attempts");
  }

  // IPv4 flushes a downed link's routes without RTM_DELROUTE (measured here: 1M routes, zero
  // delete messages). Ask the kernel for the routes still through that link (a dump filtered by
  // RTA_OIF, strict checking) and drop the mirror's others: kernel truth, not an emulation.
  void reconcileFlushedLinks(detail::Mirror& mirror) {
    for (int link : mirror.takeLinksNeedingRouteCheck()) {
      // A link deleted since it went down took its routes with it (Mirror::applyLink).
      if (!mirror.hasLink(link)) continue;
      for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)}) {
        std::vector<uint8_t> recorded;
        RouteCollector collector(++sequence_);
        DumpResult result = dump(RTM_GETROUTE, family, collector, sequence_, link, writer_ ? &recorded : nullptr);
        if (result.outcome == DumpOutcome::Failed && result.error == ENODEV) continue;  // deleted meanwhile
        if (result.outcome != DumpOutcome::Complete) {
          resync_pending_ = true;  // cannot tell which routes survived: fall back to a resync
          continue;
        }
        // Older kernels ignore the filter; keep only the link's routes either way.
        std::erase_if(collector.routes, [&](const Route& r) { return !detail::routeUsesLink(r, link); });
        ++counters_.linkRouteFlushes;
        mirror.reconcileLinkRoutes(link, family == AF_INET ? Family::Ipv4 : Family::Ipv6, collector.routes);
        if (writer_) {
          writer_->beginBatch();
          writer_->write(recorded);
        }
      }
    }
  }

  MonitorOptions options_;
  NetlinkSocket events_;
  NetlinkSocket requests_;
  std::unique_ptr<detail::RtmonWriter> writer_;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  Counters counters_;
  uint32_t sequence_ = 0;  // requests start at 1; notifications carry 0
  bool resync_pending_ = false;
  int socket_error_ = 0;  // the receive error that replaced the notification socket, until resynced
  Clock::time_point last_resync_{};
  std::minstd_rand random_;
};

}  // namespace

Result<std::unique_ptr<detail::Backend>> createRtnlBackend(const MonitorOptions& options) {
  // Sockets keep the namespace they were created in (rtnl/netns.h).
  auto sockets = runInNamespaceOf(options, openSockets);
  if (!sockets) return tl::unexpected(sockets.error());
  std::unique_ptr<detail::RtmonWriter> writer;
  if (!options.recordPath.empty()) {
    auto opened = detail::RtmonWriter::open(options.recordPath);
    if (!opened) return tl::unexpected(opened.error());
    writer = std::move(*opened);
  }
  auto backend = std::make_unique<RtnlBackend>(options, std::move(*sockets), std::move(writer));
  if (auto ready = backend->setUp(); !ready) return tl::unexpected(ready.error());
  return std::unique_ptr<detail::Backend>(std::move(backend));
}

}  // namespace netmon::rtnl
