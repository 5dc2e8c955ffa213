// StatusMonitor: owns the backend and the mirror, publishes events, hands out snapshots.
#include "netmon/status_monitor.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <thread>

#include "core/backend.h"
#include "core/mirror.h"
#include "core/status_monitor_access.h"
#include "core/subscription_registry.h"
#include "core/thread_annotations.h"
#include "probe/prober.h"
#include "rtnl/netns.h"
#include "rtnl/rtnl_backend.h"

namespace netmon {

class StatusMonitor::Impl {
 public:
  Impl(MonitorOptions options, std::unique_ptr<detail::Backend> backend)
      : options_(std::move(options)),
        backend_(std::move(backend)),
        mirror_(options_.ignore, options_.networkNamespace.empty() && options_.networkNamespaceFd < 0 &&
                                         options_.replayPath.empty()
                                     ? detail::MediumHintsProvider(rtnl::readSysfsMediumHints)
                                     : detail::MediumHintsProvider()),
        registry_(std::make_shared<detail::SubscriptionRegistry>(options_.subscriberQueueLimit)) {}

  ~Impl() {
    stopThread();
    prober_.reset();
    if (poll_fd_ >= 0) close(poll_fd_);
    registry_->close();
    backend_->flushRecording();
  }

  Result<void> start() {
    {
      detail::MutexLock lock(mutex_);
      mirror_.setInterest(EventMask::none());  // nobody can be subscribed yet: build no events
      if (auto synced = backend_->initialSync(mirror_); !synced) return synced;
      mirror_.finishBatch();
      mirror_.takeEvents();  // nobody can be subscribed yet
      counters_ = backend_->counters();
    }
    if (options_.probe) {
      if (auto started = startProbe(); !started) return started;
    }
    if (options_.threading == MonitorOptions::Threading::OwnThread) return startThread();
    return {};
  }

  std::shared_ptr<const Snapshot> snapshot() {
    detail::MutexLock lock(mutex_);
    if (auto cached = cached_.lock()) return cached;
    auto snapshot = std::make_shared<Snapshot>(mirror_.makeSnapshot());
    snapshot->sequence = sequence_;
    snapshot->counters = countersLocked();
    cached_ = snapshot;
    return snapshot;
  }

  Reachability reachability() {
    detail::MutexLock lock(mutex_);
    return mirror_.reachability();
  }

  Counters counters() {
    detail::MutexLock lock(mutex_);
    return countersLocked();
  }

  Subscription subscribe(Executor executor, Callback callback, EventMask mask) {
    return Subscription(registry_->add(std::move(executor), std::move(callback), mask));
  }

  int fd() const { return poll_fd_ >= 0 ? poll_fd_ : backend_->fd(); }
  bool threaded() const { return options_.threading == MonitorOptions::Threading::OwnThread; }

  // Set once, before the monitor thread starts (see StatusMonitorAccess).
  void setBatchObserver(EventMask mask, detail::StatusMonitorAccess::BatchObserver observer) {
    observer_mask_ = mask;
    observer_ = std::move(observer);
  }

  Result<size_t> process() {
    // Inline callbacks run inside process(): calling it again from one would apply batch N+1 before
    // the observers and subscribers of batch N are done with it.
    if (processing_.exchange(true)) {
      return makeError(EBUSY, "process", "called from inside a callback of the same monitor");
    }
    struct Done {
      std::atomic<bool>& flag;
      ~Done() { flag.store(false); }
    } done{processing_};
    std::vector<Event> events;
    Result<size_t> handled;
    std::optional<Verdict> routed;
    {
      detail::MutexLock lock(mutex_);
      mirror_.setInterest(registry_->interest() | observer_mask_);
      handled = backend_->process(mirror_);
      if (prober_) {
        std::vector<ProbeResult> results = prober_->takeResults();
        if (handled) *handled += results.size();
        for (ProbeResult& result : results) mirror_.applyProbe(std::move(result));
      }
      mirror_.finishBatch();
      if (prober_) routed = mirror_.routedVerdict();
      const auto now = std::chrono::system_clock::now();
      for (auto& payload : mirror_.takeEvents()) {
        events.push_back(Event{++sequence_, now, std::move(payload)});
      }
      const Counters& latest = backend_->counters();
      if (mirror_.generation() != cached_generation_ || !(latest == counters_)) cached_.reset();
      cached_generation_ = mirror_.generation();
      counters_ = latest;
    }
    // The prober has its own lock; it never takes ours.
    if (routed) prober_->routeChanged(*routed);
    // Published outside the lock: inline callbacks may call snapshot() or subscribe().
    registry_->publish(events);
    if (observer_ && !events.empty()) observer_(events);
    return handled;
  }

  void flushRecording() {
    detail::MutexLock lock(mutex_);
    backend_->flushRecording();
  }

 private:
  Counters countersLocked() NETMON_REQUIRES(mutex_) {
    Counters counters = counters_;
    counters.subscriberOverflows = registry_->overflows();
    counters.callbackExceptions = registry_->callbackExceptions();
    counters.routesRefused = mirror_.routesRefused();
    counters.probesOnline = mirror_.probeRuns()[size_t(ProbeOutcome::Online)];
    counters.probesCaptivePortal = mirror_.probeRuns()[size_t(ProbeOutcome::CaptivePortal)];
    counters.probesNoAnswer = mirror_.probeRuns()[size_t(ProbeOutcome::NoAnswer)];
    return counters;
  }

  // The probe worker runs in the monitored namespace. Its results enter the mirror in process(),
  // on the thread that handles kernel messages; fd() (External mode) becomes an epoll set of the
  // backend's fd and the prober's eventfd, so the caller's loop still watches one descriptor.
  Result<void> startProbe() {
    if (!options_.replayPath.empty()) return makeError(EINVAL, "create status monitor", "a replay cannot be probed");
    auto namespace_fd = rtnl::openNamespaceFd(options_);
    if (!namespace_fd) return tl::unexpected(namespace_fd.error());
    auto prober = probe::Prober::create(*options_.probe, *namespace_fd);
    rtnl::closeNamespaceFd(*namespace_fd);
    if (!prober) return tl::unexpected(prober.error());
    prober_ = std::move(*prober);
    if (options_.threading == MonitorOptions::Threading::External) {
      poll_fd_ = epoll_create1(EPOLL_CLOEXEC);
      if (poll_fd_ < 0) return makeError(errno, "create monitor epoll");
      for (int fd : {backend_->fd(), prober_->fd()}) {
        if (fd < 0) continue;
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.fd = fd;
        if (epoll_ctl(poll_fd_, EPOLL_CTL_ADD, fd, &event) < 0) return makeError(errno, "watch probe results");
      }
    }
    Verdict routed;
    {
      detail::MutexLock lock(mutex_);
      routed = mirror_.routedVerdict();
    }
    prober_->routeChanged(routed);
    return {};
  }

  Result<void> startThread() {
    stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd_ < 0) return makeError(errno, "create monitor stop event");
    thread_ = std::thread([this] { run(); });
    return {};
  }

  // The monitor thread: sleeps in epoll until the kernel (or the resync timer) has something.
  void run() {
    const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    for (int fd : {backend_->fd(), stop_fd_, prober_ ? prober_->fd() : -1}) {
      if (fd < 0) continue;
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.fd = fd;
      epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
    }
    for (;;) {
      epoll_event ready[3];
      const int count = epoll_wait(epoll_fd, ready, 3, -1);
      if (count < 0 && errno == EINTR) continue;
      bool stop = false;
      for (int i = 0; i < count; ++i) stop |= ready[i].data.fd == stop_fd_;
      if (stop) break;
      // Errors here are counted by the backend; the monitor never stops listening.
      (void)process();
    }
    close(epoll_fd);
  }

  void stopThread() {
    if (!thread_.joinable()) return;
    const uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof one);
    thread_.join();
    close(stop_fd_);
  }

  const MonitorOptions options_;
  const std::unique_ptr<detail::Backend> backend_;
  detail::Mutex mutex_;
  detail::Mirror mirror_ NETMON_GUARDED_BY(mutex_);
  // Weak: the monitor itself must not keep a snapshot alive, or every route change after a
  // snapshot() call would copy the route table (copy-on-write, see Mirror).
  std::weak_ptr<const Snapshot> cached_ NETMON_GUARDED_BY(mutex_);
  uint64_t sequence_ NETMON_GUARDED_BY(mutex_) = 0;
  uint64_t cached_generation_ NETMON_GUARDED_BY(mutex_) = 0;
  Counters counters_ NETMON_GUARDED_BY(mutex_);
  const std::shared_ptr<detail::SubscriptionRegistry> registry_;
  EventMask observer_mask_;
  detail::StatusMonitorAccess::BatchObserver observer_;
  std::thread thread_;
  int stop_fd_ = -1;
  std::atomic<bool> processing_{false};
  std::unique_ptr<probe::Prober> prober_;  // set when options_.probe is
  int poll_fd_ = -1;                       // External mode with a probe: backend fd + prober fd
};

Result<StatusMonitor> StatusMonitor::create(MonitorOptions options) {
  Result<std::unique_ptr<detail::Backend>> backend;
  if (!options.replayPath.empty()) {
    if (options.threading != MonitorOptions::Threading::External) {
      return makeError(EINVAL, "create status monitor", "replay needs Threading::External");
    }
    backend = rtnl::createReplayBackend(options);
  } else {
    backend = rtnl::createRtnlBackend(options);
  }
  if (!backend) return tl::unexpected(backend.error());
  auto impl = std::make_unique<Impl>(std::move(options), std::move(*backend));
  if (auto started = impl->start(); !started) return tl::unexpected(started.error());
  return StatusMonitor(std::move(impl));
}

Result<StatusMonitor> detail::createStatusMonitorForTest(MonitorOptions options, std::unique_ptr<Backend> backend) {
  auto impl = std::make_unique<StatusMonitor::Impl>(std::move(options), std::move(backend));
  if (auto started = impl->start(); !started) return tl::unexpected(started.error());
  return StatusMonitor(std::move(impl));
}

StatusMonitor::StatusMonitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StatusMonitor::StatusMonitor(StatusMonitor&&) noexcept = default;
StatusMonitor& StatusMonitor::operator=(StatusMonitor&&) noexcept = default;
StatusMonitor::~StatusMonitor() = default;

std::shared_ptr<const Snapshot> StatusMonitor::snapshot() const { return impl_->snapshot(); }
Reachability StatusMonitor::reachability() const { return impl_->reachability(); }
Counters StatusMonitor::counters() const { return impl_->counters(); }
Subscription StatusMonitor::subscribe(Executor executor, Callback callback, EventMask mask) {
  return impl_->subscribe(std::move(executor), std::move(callback), mask);
}
int StatusMonitor::fd() const { return impl_->fd(); }
Result<size_t> StatusMonitor::process() {
  if (impl_->threaded()) return makeError(EINVAL, "process", "the monitor runs its own thread (Threading::OwnThread)");
  return impl_->process();
}
void StatusMonitor::flushRecording() { impl_->flushRecording(); }

Result<StatusMonitor> detail::StatusMonitorAccess::create(MonitorOptions options, std::unique_ptr<Backend> backend,
                                                          EventMask mask, BatchObserver observer) {
  if (!backend) {
    if (!options.replayPath.empty()) {
      return makeError(EINVAL, "create monitor", "a recording cannot answer route lookups (replay refused)");
    }
    auto created = rtnl::createRtnlBackend(options);
    if (!created) return tl::unexpected(created.error());
    backend = std::move(*created);
  }
  auto impl = std::make_unique<StatusMonitor::Impl>(std::move(options), std::move(backend));
  impl->setBatchObserver(mask, std::move(observer));
  if (auto started = impl->start(); !started) return tl::unexpected(started.error());
  return StatusMonitor(std::move(impl));
}

}  // namespace netmon
