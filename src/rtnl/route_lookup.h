#pragma once
// The kernel's route lookup on Linux (`ip route get`, in bulk): detail::RouteLookup answered by
// RTM_GETROUTE requests on a NETLINK_ROUTE socket of the monitored network namespace.
//
// Batching: queries are not sent one round trip each. Up to RouteLookupLimits::maxRequestsPerSend
// requests (and at most maxBytesPerSend bytes) go out in one datagram, each with its own sequence
// number; the kernel answers every message of a datagram in order, an error answer not stopping
// the others. Replies are matched to queries by sequence number; a reply whose number is not
// awaited (a stale reply to an abandoned batch) is ignored, and so is every datagram that does not
// come from the kernel (nl_pid != 0).
//
// Lost replies: when the socket overruns (ENOBUFS) or a batch's replies do not all arrive within
// batchTimeout, only the unanswered queries are sent again, in smaller datagrams (the batch size
// halves after each loss and doubles back after a clean batch). lookup() fails when
// maxStalledAttempts attempts in a row bring no answer at all.
//
// Answers without asking the kernel: a query whose destination is unspecified, whose source is
// specified but of another family than the destination, or whose outputLink is negative, is
// answered error = EINVAL locally (counted in Counters::invalidQueries, not in lookups()).
// A kernel reply that fails a length check, or is of the wrong family, is answered EBADMSG
// (Counters::malformed).
//
// RouteAnswer::table is the kernel's word: IPv4 names table main (254) for local destinations
// until the namespace has had a policy rule (the local table is merged into main until then).
//
// Which errno the kernel gives for which case (no route, blackhole, unknown RTA_OIF, a source that
// is not local, ...) is measured and written down in route_lookup.cc and checked by
// tests/integration/route_lookup_test.cc.
//
// Thread safety: one caller at a time (detail::RouteLookup's contract); not internally locked.
// Lifetime: the socket, and with it the namespace, are held until destruction.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/route_lookup.h"
#include "netmon/result.h"
#include "netmon/status_monitor.h"
#include "rtnl/socket.h"

namespace netmon::rtnl {

struct RouteLookupLimits {
  // Per datagram sent. 256 requests are at most 19.5 KiB; their replies ~0.25–0.5 MiB of receive
  // buffer (kernel skb accounting), well inside receiveBufferBytes.
  size_t maxRequestsPerSend = 256;
  size_t maxBytesPerSend = size_t{32} * 1024;
  // How long one datagram's replies may take to arrive (the kernel answers while sending, so they
  // are normally all queued when send() returns).
  std::chrono::milliseconds batchTimeout{1000};
  // Consecutive attempts that brought no answer before lookup() gives up.
  int maxStalledAttempts = 3;
  // SO_RCVBUFFORCE when privileged, else SO_RCVBUF (capped by net.core.rmem_max).
  size_t receiveBufferBytes = size_t{4} * 1024 * 1024;
  // Shrink maxRequestsPerSend so one datagram's replies fit the buffer actually granted. Off only
  // in the test that provokes lost replies.
  bool fitWindowToBuffer = true;
};

class RtnlRouteLookup final : public detail::RouteLookup {
 public:
  struct Counters {
    uint64_t lookups = 0;         // requests sent to the kernel, resends included
    uint64_t datagramsSent = 0;   // send() calls
    uint64_t resent = 0;          // requests sent again because their reply was lost
    uint64_t overruns = 0;        // ENOBUFS on the socket: the kernel dropped replies
    uint64_t timeouts = 0;        // batches whose replies did not all arrive within batchTimeout
    uint64_t staleReplies = 0;    // kernel replies with a sequence number not awaited (ignored)
    uint64_t foreignDropped = 0;  // datagrams from a sender other than the kernel (ignored)
    uint64_t malformed = 0;       // replies that failed a length or family check (answered EBADMSG)
    uint64_t invalidQueries = 0;  // queries answered EINVAL without asking the kernel
    uint64_t socketErrors = 0;    // send()/recv() failures other than overrun: the call failed
  };

  // Opens the socket inside the namespace `options` name (networkNamespaceFd, else
  // networkNamespace, else the caller's), as the status monitor's backend does; no thread of the
  // caller changes namespace. Other MonitorOptions fields are not used.
  // Errors: opening the namespace or the socket.
  static Result<std::unique_ptr<RtnlRouteLookup>> create(const MonitorOptions& options,
                                                         const RouteLookupLimits& limits = {});

  // Errors (the whole call fails, no answers): send()/recv() failing other than by overrun, or
  // replies still missing after maxStalledAttempts attempts in a row without any answer
  // (ETIMEDOUT after timeouts, ENOBUFS after overruns).
  Result<std::vector<detail::RouteAnswer>> lookup(std::span<const detail::RouteQuery> queries) override;
  uint64_t lookups() const override { return counters_.lookups; }
  uint64_t overruns() const override { return counters_.overruns; }
  uint64_t socketErrors() const override { return counters_.socketErrors; }
  const Counters& counters() const { return counters_; }

  // Test-only: sends raw bytes on the lookup's socket (to provoke replies the lookup did not ask
  // for); the sequence number the next request will carry; the socket's netlink port id.
  Result<void> sendForTest(std::span<const uint8_t> bytes) { return socket_.send(bytes); }
  uint32_t nextSequenceForTest() const { return sequence_ + 1; }
  uint32_t portIdForTest() const { return socket_.portId(); }

  RtnlRouteLookup(NetlinkSocket socket, const RouteLookupLimits& limits);

 private:
  struct Batch;
  enum class Outcome { Complete, Overrun, TimedOut };

  Result<Outcome> runBatch(std::span<const detail::RouteQuery> queries, Batch& batch,
                           std::vector<detail::RouteAnswer>& answers);
  Result<Outcome> collect(std::span<const detail::RouteQuery> queries, Batch& batch,
                          std::vector<detail::RouteAnswer>& answers);
  // False when the message says its reply was lost.
  bool handleMessage(std::span<const uint8_t> message, std::span<const detail::RouteQuery> queries,
                     Batch& batch, std::vector<detail::RouteAnswer>& answers);

  NetlinkSocket socket_;
  RouteLookupLimits limits_;
  size_t window_;                // requests per datagram now: halves after a loss
  uint32_t sequence_ = 0;        // the last sequence number used; requests start at 1
  std::vector<uint8_t> send_buffer_;
  Counters counters_;
};

// The connection monitor's entry point: RtnlRouteLookup::create(options) with default limits.
Result<std::unique_ptr<detail::RouteLookup>> createRtnlRouteLookup(const MonitorOptions& options);

}  // namespace netmon::rtnl
