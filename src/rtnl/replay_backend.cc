// Replays an rtmon-format recording through the same parser and mirror as the live backend:
// a user's bug report (`netmon watch --record F`) becomes a deterministic run, and unit tests get
// a seam with real kernel bytes.
//
// Batches (between timestamps) are interpreted as the live backend wrote them: the first batch is
// the initial dump; a later batch of dump messages (NLM_F_MULTI) is a resync, except right after a
// link went down, when the next two batches are the IPv4 and IPv6 route checks of that link.
#include <linux/netlink.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>

#include "core/rtmon_file.h"
#include "rtnl/mirror_sink.h"
#include "rtnl/parse.h"
#include "rtnl/rtnl_backend.h"

namespace netmon::rtnl {

namespace {

bool containsDumpMessages(const std::vector<uint8_t>& batch) {
  size_t offset = 0;
  while (offset + sizeof(nlmsghdr) <= batch.size()) {
    nlmsghdr header;
    std::memcpy(&header, batch.data() + offset, sizeof header);
    if (header.nlmsg_len < sizeof header) break;
    if ((header.nlmsg_flags & NLM_F_MULTI) || header.nlmsg_type == NLMSG_DONE) return true;
    offset += NLMSG_ALIGN(header.nlmsg_len);
  }
  return false;
}

class ReplayBackend final : public detail::Backend {
 public:
  explicit ReplayBackend(std::unique_ptr<detail::RtmonReader> reader) : reader_(std::move(reader)) {
    event_fd_ = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
  }
  ~ReplayBackend() override {
    if (event_fd_ >= 0) close(event_fd_);
  }

  Result<void> initialSync(detail::Mirror& mirror) override {
    if (event_fd_ < 0) return makeError(errno, "create replay event fd");
    if (auto batch = reader_->nextBatch()) apply(mirror, *batch);
    mirror.markHasData();
    updateReadiness();
    return {};
  }

  int fd() const override { return event_fd_; }
  const Counters& counters() const override { return counters_; }

  Result<size_t> process(detail::Mirror& mirror) override {
    auto batch = reader_->nextBatch();
    if (!batch) {
      updateReadiness();
      return size_t(0);
    }
    size_t handled = 0;
    if (!pending_link_checks_.empty() && containsDumpMessages(*batch)) {
      auto [link, family] = pending_link_checks_.front();
      pending_link_checks_.pop_front();
      RouteCollector collector(0);
      handled = account(parseDatagram(*batch, collector));
      mirror.reconcileLinkRoutes(link, family, collector.routes);
      ++counters_.linkRouteFlushes;
    } else if (containsDumpMessages(*batch)) {
      mirror.beginResync();
      handled = apply(mirror, *batch);
      const uint64_t differences = mirror.endResync();
      ++counters_.resyncs;
      mirror.emitNotice(ResyncEvent{ResyncReason::Overrun, counters_.resyncs, differences, 0});
    } else {
      handled = apply(mirror, *batch);
    }
    for (int link : mirror.takeLinksNeedingRouteCheck()) {
      pending_link_checks_.emplace_back(link, Family::Ipv4);
      pending_link_checks_.emplace_back(link, Family::Ipv6);
    }
    updateReadiness();
    return handled == 0 ? size_t(1) : handled;  // 0 means "at the end"
  }

 private:
  size_t apply(detail::Mirror& mirror, const std::vector<uint8_t>& batch) {
    MirrorSink sink(mirror);
    return account(parseDatagram(batch, sink));
  }
  size_t account(const ParseStats& stats) { return addToCounters(counters_, stats); }
  // The event fd stays readable while the recording has batches left.
  void updateReadiness() {
    uint64_t value = 0;
    if (reader_->atEnd()) {
      while (read(event_fd_, &value, sizeof value) > 0) {
      }
    }
  }

  std::unique_ptr<detail::RtmonReader> reader_;
  int event_fd_ = -1;
  Counters counters_;
  std::deque<std::pair<int, Family>> pending_link_checks_;
};

}  // namespace

Result<std::unique_ptr<detail::Backend>> createReplayBackend(const MonitorOptions& options) {
  auto reader = detail::RtmonReader::open(options.replayPath);
  if (!reader) return tl::unexpected(reader.error());
  return std::unique_ptr<detail::Backend>(std::make_unique<ReplayBackend>(std::move(*reader)));
}

}  // namespace netmon::rtnl
