#include "rtnl/route_lookup.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <string>

#include "rtnl/netns.h"
#include "rtnl/parse.h"

// What the kernel answers, measured on Linux 6.18 (Debian 12 userland) in a test namespace: veth0
// up with carrier (192.0.2.2/24, 2001:db8:1::2/64), veth1 up without carrier (its peer is down),
// routes via 192.0.2.1 / 2001:db8:1::1; lo = 1, veth0 = 2. Checked by
// tests/integration/route_lookup_test.cc (RouteLookupTest.*), which asserts every row.
//
//   case                                              IPv4                     IPv6
//   no covering route                                 ENETUNREACH              ENETUNREACH
//   blackhole route                                   EINVAL                   EINVAL
//   unreachable route                                 EHOSTUNREACH             EHOSTUNREACH
//   prohibit route                                    EACCES                   EACCES
//   route through a link without carrier              a route (unicast, that link)       same
//   RTA_OIF of a nonexistent index                    ENODEV                   ENETUNREACH (!)
//   RTA_OIF of a link the route does not use          a route "on-link" out of that link,
//                                                     no gateway, RTA_TABLE 0  ENETUNREACH
//   RTA_SRC that is no local address                  ENETUNREACH              a route; RTA_SRC
//                                                                              is not checked
//   RTA_SRC 127.0.0.1 / ::1 to a remote via veth      EINVAL (also with OIF)   a route; PREFSRC is
//                                                                              the kernel's pick
//   fe80::1 without RTA_OIF                           —                        a route out of the
//                                                     first link with an fe80::/64 route (veth0)
//   fe80::1 with RTA_OIF                              —                        a route out of that
//                                                     link; ENETUNREACH if it has no fe80::/64
//                                                     route (no carrier yet, or lo)
//   a local address                                   type local, oif lo (1); table: IPv6 local
//                                                     (255); IPv4 main (254) until the namespace's
//                                                     first policy rule, local (255) from then on
//                                                     (the local table stays merged into main
//                                                     until fib_unmerge(); a deleted rule does not
//                                                     merge it back)
//   source 192.0.2.10 / 2001:db8:1::10 with
//   `ip rule add from ... lookup 100` + a route there  RTA_TABLE 100 (IPv4 only with
//                                                     RTM_F_LOOKUP_TABLE, see putRequest)
//   multipath route                                   RTA_OIF/RTA_GATEWAY of the selected next
//                                                     hop, no RTA_MULTIPATH (both families)
//   IPv4 route via inet6 gateway                      RTA_VIA (parsed into the gateway)
//
// Every message of a datagram is answered, in order, an error answer not stopping the next
// (netlink_rcv_skb() acks each failing message and goes on): a 42-query datagram mixing all the
// rows above came back as 42 replies. rtnetlink answers inside sendmsg(), so the replies are
// queued (or dropped, with ENOBUFS) by the time send() returns.

namespace netmon::rtnl {

using detail::RouteAnswer;
using detail::RouteQuery;

namespace {

using Clock = std::chrono::steady_clock;

// Replies read per recvmmsg() call.
constexpr size_t kRepliesPerRead = 64;

// nlmsghdr + rtmsg + RTA_DST + RTA_SRC (IPv6) + RTA_OIF.
constexpr size_t kMaxRequestBytes = NLMSG_ALIGN(sizeof(nlmsghdr)) + NLMSG_ALIGN(sizeof(rtmsg)) +
                                    2 * MNL_ALIGN(MNL_ATTR_HDRLEN + 16) + MNL_ALIGN(MNL_ATTR_HDRLEN + 4);

int familyOf(const IpAddress& address) { return address.family() == Family::Ipv4 ? AF_INET : AF_INET6; }

bool isValid(const RouteQuery& query) {
  if (!query.destination.isSpecified()) return false;
  if (query.source.isSpecified() && query.source.family() != query.destination.family()) return false;
  return query.outputLink >= 0;
}

// Appends one RTM_GETROUTE request at `where` (aligned, kMaxRequestBytes free); returns its length.
size_t putRequest(uint8_t* where, const RouteQuery& query, uint32_t seq) {
  nlmsghdr* header = mnl_nlmsg_put_header(where);
  header->nlmsg_type = RTM_GETROUTE;
  header->nlmsg_flags = NLM_F_REQUEST;
  header->nlmsg_seq = seq;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(rtmsg)));
  const int family = familyOf(query.destination);
  const auto full = static_cast<unsigned char>(query.destination.size() * 8);
  rtm->rtm_family = static_cast<unsigned char>(family);
  rtm->rtm_dst_len = full;
  // Without RTM_F_LOOKUP_TABLE, IPv4 replies say RTA_TABLE 254 (main) whatever table answered,
  // even local (255) or a policy rule's; with it, the real table (inet_rtm_getroute). IPv6 replies
  // always name the real table, and a strictly checked IPv6 request with the flag is refused
  // EINVAL (inet6_rtm_valid_getroute_req allows only RTM_F_FIB_MATCH). Measured on 6.18.
  if (family == AF_INET) rtm->rtm_flags = RTM_F_LOOKUP_TABLE;
  mnl_attr_put(header, RTA_DST, query.destination.size(), query.destination.data());
  if (query.source.isSpecified()) {
    rtm->rtm_src_len = full;
    mnl_attr_put(header, RTA_SRC, query.source.size(), query.source.data());
  }
  if (query.outputLink != 0) mnl_attr_put_u32(header, RTA_OIF, static_cast<uint32_t>(query.outputLink));
  return NLMSG_ALIGN(header->nlmsg_len);
}

// What the parser made of one reply message.
class ReplySink final : public ParseSink {
 public:
  void onLink(bool, Link&&, uint16_t) override {}
  void onAddress(bool, Address&&, uint16_t) override {}
  void onRoute(bool removed, Route&& route, uint16_t) override {
    if (!removed) route_ = std::move(route);
  }
  void onRule(bool, Rule&&, uint16_t) override {}
  void onError(uint32_t, int error) override { error_ = error; }

  std::optional<Route> route_;
  std::optional<int> error_;
};

// The reply for a route: the kernel's get reply describes the route it resolved (rt_fill_info /
// rt6_fill_node from the dst), with the selected next hop of a multipath route in RTA_OIF and
// RTA_GATEWAY; the RTA_MULTIPATH fallback is for a reply that only lists next hops.
RouteAnswer answerFrom(const Route& route, const RouteQuery& query) {
  RouteAnswer answer;
  answer.type = route.type;
  answer.outputLink = route.linkIndex;
  answer.gateway = route.gateway;
  if (answer.outputLink == 0 && !route.nextHops.empty()) {
    answer.outputLink = route.nextHops.front().linkIndex;
    if (!answer.gateway.isSpecified()) answer.gateway = route.nextHops.front().gateway;
  }
  answer.preferredSource = route.preferredSource;
  // IPv4 replies to a query with RTA_SRC carry RTA_SRC and omit RTA_PREFSRC when the two are
  // equal (rt_fill_info puts PREFSRC only when fl4->saddr differs): the source used is the query's.
  if (!answer.preferredSource.isSpecified()) answer.preferredSource = query.source;
  answer.table = route.table;
  return answer;
}

bool isAgain(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

}  // namespace

// The queries of one datagram: seq first_seq + i asks for queries[slots[i]].
struct RtnlRouteLookup::Batch {
  std::vector<size_t> slots;
  std::vector<bool> answered;
  size_t unanswered = 0;
  uint32_t first_seq = 0;
};

RtnlRouteLookup::RtnlRouteLookup(NetlinkSocket socket, const RouteLookupLimits& limits)
    : socket_(std::move(socket)),
      limits_(limits),
      window_(std::max<size_t>(1, limits.maxRequestsPerSend)),
      send_buffer_(std::max(limits.maxBytesPerSend, kMaxRequestBytes)) {}

Result<std::unique_ptr<RtnlRouteLookup>> RtnlRouteLookup::create(const MonitorOptions& options,
                                                                 const RouteLookupLimits& limits) {
  auto socket = runInNamespaceOf(options, NetlinkSocket::open);
  if (!socket) return tl::unexpected(socket.error());
  // NetlinkSocket::open() makes a non-blocking socket; replies are awaited with SO_RCVTIMEO
  // (receive(wait=true)), which needs a blocking one. Non-waiting reads pass MSG_DONTWAIT.
  const int flags = fcntl(socket->fd(), F_GETFL);
  if (flags < 0 || fcntl(socket->fd(), F_SETFL, flags & ~O_NONBLOCK) < 0) {
    return makeError(errno, "make route lookup socket blocking");
  }
  auto granted = socket->setReceiveBuffer(limits.receiveBufferBytes);
  if (!granted) return tl::unexpected(granted.error());
  // Each reply is charged to the receive buffer as a whole skb (allocated at NLMSG_GOODSIZE, about
  // 4.5 KiB with overhead), not its ~100 bytes: unprivileged, SO_RCVBUF is capped (~416 KiB here)
  // and 256 replies would overrun it on every batch. Fit the window to what was granted.
  constexpr size_t kChargedBytesPerReply = 4608;
  RouteLookupLimits fitted = limits;
  if (limits.fitWindowToBuffer) fitted.maxRequestsPerSend =
      std::clamp<size_t>(*granted / kChargedBytesPerReply, 1, std::max<size_t>(1, limits.maxRequestsPerSend));
  // Strict checking makes the kernel reject a request header or attribute it would otherwise
  // ignore (inet_rtm_valid_getroute_req), so a malformed request cannot pass as a lookup.
  socket->enableStrictChecking();
  // Error answers without a copy of the request (RFC 3549 leaves it optional): smaller replies.
  int on = 1;
  setsockopt(socket->fd(), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
  return std::make_unique<RtnlRouteLookup>(std::move(*socket), fitted);
}

Result<std::unique_ptr<detail::RouteLookup>> createRtnlRouteLookup(const MonitorOptions& options) {
  auto lookup = RtnlRouteLookup::create(options);
  if (!lookup) return tl::unexpected(lookup.error());
  return std::unique_ptr<detail::RouteLookup>(std::move(*lookup));
}

Result<std::vector<RouteAnswer>> RtnlRouteLookup::lookup(std::span<const RouteQuery> queries) {
  std::vector<RouteAnswer> answers(queries.size());
  std::deque<size_t> todo;
  for (size_t i = 0; i < queries.size(); ++i) {
    if (isValid(queries[i])) {
      todo.push_back(i);
    } else {
      answers[i].error = EINVAL;
      ++counters_.invalidQueries;
    }
  }
  const size_t max_window = std::max<size_t>(1, limits_.maxRequestsPerSend);
  const size_t per_datagram = std::max<size_t>(1, send_buffer_.size() / kMaxRequestBytes);
  int stalled = 0;
  Batch batch;
  while (!todo.empty()) {
    const size_t count = std::min({todo.size(), window_, per_datagram});
    batch.slots.assign(todo.begin(), todo.begin() + static_cast<std::ptrdiff_t>(count));
    todo.erase(todo.begin(), todo.begin() + static_cast<std::ptrdiff_t>(count));
    auto outcome = runBatch(queries, batch, answers);
    if (!outcome) return tl::unexpected(outcome.error());
    if (*outcome == Outcome::Complete) {
      stalled = 0;
      window_ = std::min(max_window, window_ * 2);
      continue;
    }
    // Replies were lost: send the unanswered again (first, in their order), in smaller datagrams.
    window_ = std::max<size_t>(1, window_ / 2);
    stalled = batch.unanswered == count ? stalled + 1 : 0;
    for (size_t i = batch.slots.size(); i-- > 0;) {
      if (!batch.answered[i]) todo.push_front(batch.slots[i]);
    }
    if (stalled >= std::max(1, limits_.maxStalledAttempts)) {
      return makeError(*outcome == Outcome::TimedOut ? ETIMEDOUT : ENOBUFS, "look up routes",
                       std::to_string(todo.size()) + " of " + std::to_string(queries.size()) +
                           " queries unanswered after " + std::to_string(stalled) + " attempts");
    }
    counters_.resent += batch.unanswered;
  }
  return answers;
}

Result<RtnlRouteLookup::Outcome> RtnlRouteLookup::runBatch(std::span<const RouteQuery> queries, Batch& batch,
                                                           std::vector<RouteAnswer>& answers) {
  const size_t count = batch.slots.size();
  // Sequence numbers of one datagram are consecutive, so a reply's slot is seq - first_seq. They
  // never restart at 0 (notifications carry 0), and wrap to 1 before overflowing.
  if (sequence_ > UINT32_MAX - count) sequence_ = 0;
  batch.first_seq = sequence_ + 1;
  sequence_ += static_cast<uint32_t>(count);
  batch.answered.assign(count, false);
  batch.unanswered = count;

  size_t length = 0;
  for (size_t i = 0; i < count; ++i) {
    length += putRequest(send_buffer_.data() + length, queries[batch.slots[i]],
                         batch.first_seq + static_cast<uint32_t>(i));
  }
  if (auto sent = socket_.send(std::span<const uint8_t>(send_buffer_.data(), length)); !sent) {
    ++counters_.socketErrors;
    return tl::unexpected(sent.error());
  }
  counters_.lookups += count;
  ++counters_.datagramsSent;
  return collect(queries, batch, answers);
}

Result<RtnlRouteLookup::Outcome> RtnlRouteLookup::collect(std::span<const RouteQuery> queries, Batch& batch,
                                                          std::vector<RouteAnswer>& answers) {
  const auto deadline = Clock::now() + limits_.batchTimeout;
  bool lost = false;
  const auto handleDatagram = [&](const NetlinkSocket::Datagram& datagram) {
    if (!datagram.fromKernel) {
      ++counters_.foreignDropped;
      return;
    }
    if (datagram.truncated) {  // its replies are gone
      lost = true;
      return;
    }
    // Walk the messages with the same checks as parse.cc (header fits, nlmsg_len within the
    // datagram); each message is then parsed alone, so its sequence number is known.
    const std::span<const uint8_t> bytes = datagram.bytes;
    size_t offset = 0;
    while (bytes.size() - offset >= sizeof(nlmsghdr)) {
      nlmsghdr header;
      std::memcpy(&header, bytes.data() + offset, sizeof header);
      if (header.nlmsg_len < sizeof(nlmsghdr) || header.nlmsg_len > bytes.size() - offset) {
        ++counters_.malformed;  // the rest of the datagram cannot be delimited
        break;
      }
      if (!handleMessage(bytes.subspan(offset, header.nlmsg_len), queries, batch, answers)) lost = true;
      offset += std::min<size_t>(NLMSG_ALIGN(header.nlmsg_len), bytes.size() - offset);
    }
  };
  while (batch.unanswered > 0) {
    // Each reply is its own small datagram: read them many per system call (recvmmsg). One
    // recvmsg per reply cost 2.0 us a lookup against 0.7 us this way (bench/, 10,000 lookups).
    auto many = socket_.receiveMany(kRepliesPerRead);
    if (many) {
      for (const NetlinkSocket::Datagram& datagram : *many) handleDatagram(datagram);
      continue;
    }
    const int error = many.error().code.value();
    if (isAgain(error)) {
      // rtnetlink answers inside send(): after an overrun nothing more is coming. Otherwise wait
      // out the rest of the deadline (a kernel that answers asynchronously).
      if (lost) return Outcome::Overrun;
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        ++counters_.timeouts;
        return Outcome::TimedOut;
      }
      socket_.setReceiveTimeout(static_cast<int>(left.count()));
      auto received = socket_.receive(/*wait=*/true);
      if (received) {
        handleDatagram(*received);
        continue;
      }
      if (isAgain(received.error().code.value())) {
        ++counters_.timeouts;
        return Outcome::TimedOut;
      }
      if (received.error().code.value() != ENOBUFS) {
        ++counters_.socketErrors;
        return tl::unexpected(received.error());
      }
    } else if (error != ENOBUFS) {
      ++counters_.socketErrors;
      return tl::unexpected(many.error());
    }
    // ENOBUFS: replies were dropped; those still queued are read before the rest is sent again.
    ++counters_.overruns;
    lost = true;
  }
  return lost ? Outcome::Overrun : Outcome::Complete;
}

bool RtnlRouteLookup::handleMessage(std::span<const uint8_t> message, std::span<const RouteQuery> queries,
                                    Batch& batch, std::vector<RouteAnswer>& answers) {
  nlmsghdr header;
  std::memcpy(&header, message.data(), sizeof header);
  const uint32_t slot = header.nlmsg_seq - batch.first_seq;  // wraps for older numbers: rejected
  if (slot >= batch.slots.size() || batch.answered[slot]) {
    ++counters_.staleReplies;
    return true;
  }
  if (header.nlmsg_type != RTM_NEWROUTE && header.nlmsg_type != NLMSG_ERROR) {
    ++counters_.staleReplies;  // nothing a get request is answered with (NOOP, DONE)
    return true;
  }
  ReplySink sink;
  parseDatagram(message, sink);
  const size_t index = batch.slots[slot];
  RouteAnswer& answer = answers[index];
  if (sink.error_) {
    // The kernel could not queue the reply (receive buffer full): it was lost, not answered.
    if (*sink.error_ == EAGAIN || *sink.error_ == ENOBUFS) return false;
    answer = RouteAnswer{};
    // An ACK (error 0) is not an answer to a get request without NLM_F_ACK.
    answer.error = *sink.error_ != 0 ? *sink.error_ : EBADMSG;
    if (*sink.error_ == 0) ++counters_.malformed;
  } else if (sink.route_ && sink.route_->family == queries[index].destination.family()) {
    answer = answerFrom(*sink.route_, queries[index]);
  } else {
    answer = RouteAnswer{};
    answer.error = EBADMSG;
    ++counters_.malformed;
  }
  batch.answered[slot] = true;
  --batch.unanswered;
  return true;
}

}  // namespace netmon::rtnl
