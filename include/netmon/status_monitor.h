#pragma once
// StatusMonitor: a kernel-truth mirror of links, addresses, routes (all tables) and policy rules,
// IPv4 and IPv6, with derived per-link operational state, per-family and overall reachability (and
// the reason for it) and transport medium. On Linux it listens to rtnetlink; it never polls.
//
// Creation: StatusMonitor::create() returns only after the initial dump is mirrored, so the first
// answer is the truth, never an assumed "connected" or "unknown".
//
// Threading (MonitorOptions::threading):
//   - OwnThread (default): one internal thread owns the kernel socket and the mirror.
//   - External: no thread; the program's event loop (GLib, libuv, sd-event, Qt) watches fd() for
//     readability and calls process(). Inline callbacks then run inside process().
//   With MonitorOptions::probe set, either mode has one more thread, the probe worker, which only
//   runs HTTP requests (it never touches the mirror or calls back). Its results enter the
//   monitor's state on the monitor's thread, or inside process() in External mode: fd() becomes
//   readable when a result is ready, like for a kernel message.
//
// Thread safety: all methods may be called from any thread, except process(), which must be called
// from one thread at a time, and only in External mode.
//
// Callbacks: see subscribe() and subscription.h.
//
// Coalescing: netmon reads every datagram the kernel has queued in one wake-up, applies them in
// order, and only then re-derives reachability. Object events (link, address, route, rule) are
// delivered for every real change; reachability events only when the derived value differs from the
// previous one delivered, so a flap inside one batch (down and up within microseconds) produces
// object events but no reachability event. A message that changes nothing (the kernel repeats
// itself, or a resync confirms the mirror) produces no event at all.
//
// Errors: kernel input that cannot be trusted (datagrams from other processes, malformed messages)
// is dropped and counted (counters()); an overrun (ENOBUFS) triggers a resync: a re-dump compared
// against the mirror, which emits exactly the real differences and then a ResyncEvent. Any other
// receive error on the notification socket (ENOMEM, ...) replaces the socket (the new one joins
// before the old one closes) and resyncs: ResyncEvent{SocketError} with the errno,
// Counters::readErrors and socketReopens. Failed dump requests and reads are counted (sendErrors,
// readErrors) and the dump retried. The monitor never stops listening. If a dump cannot complete
// after bounded retries it reports itself degraded (Counters::degraded and a
// ResyncEvent{Degraded}) and tries again later. A subscriber callback that throws is caught and
// counted (Counters::callbackExceptions; subscription.h): the monitor goes on.
//
// Lifetime: destroying the monitor stops its thread (and aborts a probe in flight within ~100 ms);
// subscriptions may outlive it.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netmon/event.h"
#include "netmon/executor.h"
#include "netmon/export.h"
#include "netmon/probe.h"
#include "netmon/result.h"
#include "netmon/snapshot.h"
#include "netmon/subscription.h"

namespace netmon {

// Links whose name matches a glob (fnmatch) or whose kind matches exactly are ignored when deriving
// reachability and transport medium. They stay in the mirror and in events (with Link::ignored).
struct NETMON_EXPORT LinkFilter {
  std::vector<std::string> namePatterns;
  std::vector<std::string> kinds;

  // The default policy: container and VM plumbing that other monitors mistake for connectivity —
  // Docker ("docker*", "br-*" user networks, "veth*" host ends), libvirt ("virbr*", "vnet*") and
  // Podman/CNI ("cni*", "podman*"). VPN tunnels (tun, wireguard) are NOT ignored: when a VPN carries
  // the default route, it is the Internet route.
  static LinkFilter defaults();
  static LinkFilter none() { return {}; }
  bool matches(std::string_view name, std::string_view kind) const;
};

struct NETMON_EXPORT MonitorOptions {
  enum class Threading { OwnThread, External };
  Threading threading = Threading::OwnThread;

  // Monitor another network namespace: a name under /run/netns ("blue"), or an absolute path
  // ("/proc/1234/ns/net"). Empty: the caller's namespace. The sockets are opened inside it
  // (needs CAP_SYS_ADMIN), so one process can watch many containers.
  std::string networkNamespace;
  // Alternatively an open namespace file descriptor (not taken over); -1: unused.
  int networkNamespaceFd = -1;

  LinkFilter ignore = LinkFilter::defaults();

  // Kernel receive buffer for notifications. Bigger survives bigger bursts without overrun. As
  // root SO_RCVBUFFORCE is used; otherwise it is capped by net.core.rmem_max.
  size_t receiveBufferBytes = 8u << 20;
  // Events queued for one subscriber before its queue is coalesced (see subscription.h).
  size_t subscriberQueueLimit = 65536;
  // Interrupted dumps are retried this many times (with jitter) before the monitor is degraded.
  int maxDumpAttempts = 5;
  // Overrun resyncs are at least this far apart; overruns inside the window are merged into one.
  std::chrono::milliseconds minResyncInterval{200};

  // Write the raw netlink stream (rtmon format: `ip monitor file F` prints it), initial dump first.
  std::string recordPath;
  // Drive the monitor from such a recording instead of the kernel (deterministic replay). Requires
  // Threading::External: create() applies the recording's first dump, each process() one batch.
  std::string replayPath;

  // The active probe (probe.h): unset, no host is ever contacted. Set, a probe worker checks the
  // Internet route with an HTTP request and refines reachability (Snapshot::probe). Advice, not
  // proof: a plain-HTTP verdict can be forged by anyone on the path. Not with replayPath. In
  // another network namespace the worker runs inside it.
  std::optional<ProbeOptions> probe;
};

class StatusMonitor;
namespace detail {
class Backend;
class StatusMonitorAccess;  // library-internal hooks (src/core/status_monitor_access.h)
// Test-only: a monitor over a fake backend (tests/unit). Not part of the supported API.
NETMON_EXPORT Result<StatusMonitor> createStatusMonitorForTest(MonitorOptions options, std::unique_ptr<Backend> backend);
}  // namespace detail

class NETMON_EXPORT StatusMonitor {
 public:
  using Callback = std::function<void(const Event&)>;

  // Opens the kernel sockets (or the replay file), mirrors the initial dump and, in OwnThread mode,
  // starts the monitor thread. Errors: socket/namespace/permission problems, a replay file that
  // cannot be read, or a dump that failed after bounded retries.
  [[nodiscard]] static Result<StatusMonitor> create(MonitorOptions options = {});

  StatusMonitor(StatusMonitor&&) noexcept;
  StatusMonitor& operator=(StatusMonitor&&) noexcept;
  StatusMonitor(const StatusMonitor&) = delete;
  StatusMonitor& operator=(const StatusMonitor&) = delete;
  ~StatusMonitor();

  // The current state. Cheap when nothing changed since the last call (the snapshot is cached).
  std::shared_ptr<const Snapshot> snapshot() const;
  Reachability reachability() const;
  Counters counters() const;

  // Registers `callback` for events whose kind is in `mask`, run through `executor`. Events that
  // happened before subscribe() returned are not replayed: read snapshot() after subscribing and
  // ignore events whose sequence is <= snapshot()->sequence to join without a gap.
  [[nodiscard]] Subscription subscribe(Executor executor, Callback callback, EventMask mask = EventMask::all());

  // External threading only: a file descriptor that becomes readable when process() has work (a
  // kernel message, or a probe result). Level-triggered: it stays readable until process() ran.
  int fd() const;
  // External threading only: handles everything pending without blocking; returns the number of
  // kernel (or replayed) messages handled, 0 when there was nothing to do (replay: at the end).
  // Error EBUSY when called from inside one of this monitor's inline callbacks.
  [[nodiscard]] Result<size_t> process();

  // Writes the recording's pending bytes to disk (recordPath). Called on destruction as well.
  void flushRecording();

  class Impl;

 private:
  friend Result<StatusMonitor> detail::createStatusMonitorForTest(MonitorOptions, std::unique_ptr<detail::Backend>);
  friend class detail::StatusMonitorAccess;
  explicit StatusMonitor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace netmon
