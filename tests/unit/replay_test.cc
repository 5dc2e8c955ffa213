// Record/replay through files: the rtmon file format (RtmonWriter/RtmonReader), replaying
// builder-made recordings through StatusMonitor (dump, notifications, overrun resync, link-down
// route checks), and the real-kernel recordings in tests/fixtures/netlink/.
#include <gtest/gtest.h>
#include <linux/if.h>  // not <net/if.h>: IFF_LOWER_UP and IF_OPER_* live only here
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/rtmon_file.h"
#include "netmon/status_monitor.h"
#include "support/netlink_builder.h"

#ifndef NETMON_FIXTURES_DIR
#error "NETMON_FIXTURES_DIR must name tests/fixtures"
#endif

namespace netmon {
namespace {

using detail::RtmonReader;
using detail::RtmonWriter;
using test::Datagram;
using test::Message;

namespace fs = std::filesystem;

// A fresh directory under the test temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::path(::testing::TempDir()) / "netmon-replay-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  bool ok() const { return !path_.empty(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::vector<uint8_t> concat(std::initializer_list<Message> messages) {
  Datagram d;
  for (const auto& m : messages) d.add(m);
  return d.bytes();
}

void appendRaw(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// --- the records of a small host: lo, veth0 (up, carrier), 192.0.2.2/24, routes --------------

constexpr uint32_t kDumpSeq = 1;

Message loLink(uint16_t flags) {
  return Message::link(RTM_NEWLINK,
                       {.type = ARPHRD_LOOPBACK, .index = 1, .flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP},
                       flags, flags ? kDumpSeq : 0)
      .string(IFLA_IFNAME, "lo")
      .u32(IFLA_MTU, 65536)
      .u8(IFLA_OPERSTATE, IF_OPER_UNKNOWN);
}
Message vethLink(uint16_t type, uint32_t ifflags, uint16_t flags) {
  Message m = Message::link(type, {.type = ARPHRD_ETHER, .index = 2, .flags = ifflags}, flags, flags ? kDumpSeq : 0);
  m.string(IFLA_IFNAME, "veth0")
      .u32(IFLA_MTU, 1500)
      .u8(IFLA_OPERSTATE, (ifflags & IFF_LOWER_UP) ? IF_OPER_UP : IF_OPER_DOWN)
      .beginNest(IFLA_LINKINFO)
      .string(IFLA_INFO_KIND, "veth")
      .endNest();
  return m;
}
Message vethAddress(uint16_t flags) {
  return Message::addr(RTM_NEWADDR, {.family = AF_INET, .prefixLength = 24, .index = 2}, flags, flags ? kDumpSeq : 0)
      .address(IFA_LOCAL, "192.0.2.2")
      .address(IFA_ADDRESS, "192.0.2.2");
}
Message connectedRoute(uint16_t flags) {
  return Message::route(RTM_NEWROUTE,
                        {.family = AF_INET, .dstLength = 24, .protocol = RTPROT_KERNEL, .scope = RT_SCOPE_LINK},
                        flags, flags ? kDumpSeq : 0)
      .address(RTA_DST, "192.0.2.0")
      .u32(RTA_OIF, 2)
      .address(RTA_PREFSRC, "192.0.2.2");
}
Message defaultRoute(uint16_t type, uint16_t flags) {
  return Message::route(type, {.family = AF_INET, .dstLength = 0}, flags, flags ? kDumpSeq : 0)
      .address(RTA_GATEWAY, "192.0.2.1")
      .u32(RTA_OIF, 2);
}

constexpr uint32_t kUpCarrier = IFF_UP | IFF_RUNNING | IFF_LOWER_UP;

// --- RtmonWriter / RtmonReader ---------------------------------------------------------------

TEST(RtmonFileTest, WriterAndReaderRoundTripBatches) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.file("roundtrip.rtmon");
  const auto first = concat({loLink(NLM_F_MULTI), vethLink(RTM_NEWLINK, kUpCarrier, NLM_F_MULTI), Message::done(kDumpSeq)});
  const auto second = concat({defaultRoute(RTM_NEWROUTE, 0)});
  const auto third = concat({defaultRoute(RTM_DELROUTE, 0), vethAddress(0)});
  {
    auto writer = RtmonWriter::open(path);
    ASSERT_TRUE(writer) << writer.error().message();
    (*writer)->beginBatch();
    (*writer)->write(first);
    (*writer)->beginBatch();
    (*writer)->write(second);
    (*writer)->beginBatch();  // an empty batch: two timestamps in a row
    (*writer)->beginBatch();
    (*writer)->write(std::span(third).first(defaultRoute(RTM_DELROUTE, 0).bytes().size()));
    (*writer)->write(std::span(third).subspan(defaultRoute(RTM_DELROUTE, 0).bytes().size()));  // one batch, two writes
    (*writer)->flush();
  }
  // The file is what `ip monitor file F` reads: every message as-is, timestamps in between.
  const auto messages = test::readRtmonFile(path);
  EXPECT_EQ(messages.size(), 6u);

  auto reader = RtmonReader::open(path);
  ASSERT_TRUE(reader) << reader.error().message();
  auto b1 = (*reader)->nextBatch();
  ASSERT_TRUE(b1);
  EXPECT_EQ(*b1, first);
  auto b2 = (*reader)->nextBatch();
  ASSERT_TRUE(b2);
  EXPECT_EQ(*b2, second);
  auto b3 = (*reader)->nextBatch();
  ASSERT_TRUE(b3);
  EXPECT_EQ(*b3, third);
  EXPECT_TRUE((*reader)->atEnd());
  EXPECT_FALSE((*reader)->nextBatch());
  EXPECT_FALSE((*reader)->nextBatch());
  EXPECT_EQ((*reader)->truncated(), 0u);
}

TEST(RtmonFileTest, MessagesBeforeTheFirstTimestampFormABatch) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.file("nostamp.rtmon");
  const auto first = concat({loLink(NLM_F_MULTI)});
  const auto second = concat({defaultRoute(RTM_NEWROUTE, 0)});
  {
    auto writer = RtmonWriter::open(path);
    ASSERT_TRUE(writer);
    (*writer)->write(first);
    (*writer)->beginBatch();
    (*writer)->write(second);
  }
  auto reader = RtmonReader::open(path);
  ASSERT_TRUE(reader);
  EXPECT_EQ((*reader)->nextBatch(), first);
  EXPECT_EQ((*reader)->nextBatch(), second);
  EXPECT_FALSE((*reader)->nextBatch());
}

TEST(RtmonFileTest, TruncatedTrailingRecordIsCountedAndEndsTheFile) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.file("truncated.rtmon");
  const auto first = concat({loLink(NLM_F_MULTI), Message::done(kDumpSeq)});
  const auto complete = concat({defaultRoute(RTM_NEWROUTE, 0)});
  {
    auto writer = RtmonWriter::open(path);
    ASSERT_TRUE(writer);
    (*writer)->beginBatch();
    (*writer)->write(first);
    (*writer)->beginBatch();
    (*writer)->write(complete);
  }
  // The recorder died mid-write: a header that promises more than the file holds.
  auto partial = vethLink(RTM_NEWLINK, kUpCarrier, 0).bytes();
  partial.resize(24);
  appendRaw(path, partial);

  auto reader = RtmonReader::open(path);
  ASSERT_TRUE(reader);
  EXPECT_EQ((*reader)->nextBatch(), first);
  EXPECT_EQ((*reader)->nextBatch(), complete) << "the complete message before the cut is kept";
  EXPECT_FALSE((*reader)->nextBatch());
  EXPECT_EQ((*reader)->truncated(), 1u);
  EXPECT_TRUE((*reader)->atEnd());
}

TEST(RtmonFileTest, TrailingBytesShorterThanAHeaderAreCounted) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.file("short.rtmon");
  const auto first = concat({loLink(NLM_F_MULTI)});
  {
    auto writer = RtmonWriter::open(path);
    ASSERT_TRUE(writer);
    (*writer)->beginBatch();
    (*writer)->write(first);
  }
  appendRaw(path, {1, 2, 3, 4, 5, 6, 7});
  auto reader = RtmonReader::open(path);
  ASSERT_TRUE(reader);
  EXPECT_EQ((*reader)->nextBatch(), first);
  EXPECT_FALSE((*reader)->nextBatch());
  EXPECT_EQ((*reader)->truncated(), 1u);
}

TEST(RtmonFileTest, ZeroLengthHeaderEndsTheFileInsteadOfLooping) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.file("zero.rtmon");
  const auto first = concat({loLink(NLM_F_MULTI)});
  {
    auto writer = RtmonWriter::open(path);
    ASSERT_TRUE(writer);
    (*writer)->beginBatch();
    (*writer)->write(first);
  }
  appendRaw(path, std::vector<uint8_t>(32, 0));
  auto reader = RtmonReader::open(path);
  ASSERT_TRUE(reader);
  EXPECT_EQ((*reader)->nextBatch(), first);
  EXPECT_FALSE((*reader)->nextBatch());
  EXPECT_EQ((*reader)->truncated(), 1u);
}

TEST(RtmonFileTest, MissingFileIsAnError) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  auto reader = RtmonReader::open(dir.file("does-not-exist.rtmon"));
  ASSERT_FALSE(reader);
  EXPECT_FALSE(reader.error().operation.empty());
  auto writer = RtmonWriter::open(dir.file("no-such-dir/x.rtmon"));
  ASSERT_FALSE(writer);
}

// --- replay through StatusMonitor ------------------------------------------------------------

struct Replay {
  std::optional<StatusMonitor> monitor;
  std::vector<Event> events;
  Subscription subscription;
  std::shared_ptr<const Snapshot> initial;
};

std::string describeReachability(const std::vector<Event>& events, Family family) {
  std::string out;
  for (const auto& e : events) {
    if (auto* r = std::get_if<ReachabilityEvent>(&e.payload); r && r->family == family) {
      out += std::string(toString(r->previous)) + "->" + std::string(toString(r->current)) + " ";
    }
  }
  return out;
}

// Opens `path` for replay; records every event from the second batch on.
void openReplay(Replay& replay, const std::string& path) {
  MonitorOptions options;
  options.threading = MonitorOptions::Threading::External;
  options.ignore = LinkFilter::none();
  options.replayPath = path;
  auto created = StatusMonitor::create(options);
  ASSERT_TRUE(created) << created.error().message();
  replay.monitor.emplace(std::move(*created));
  replay.initial = replay.monitor->snapshot();
  replay.subscription = replay.monitor->subscribe(Executor::inlineOnMonitorThread(),
                                                  [&replay](const Event& e) { replay.events.push_back(e); });
}

// Processes one batch; false at the end of the recording.
bool step(Replay& replay) {
  auto handled = replay.monitor->process();
  EXPECT_TRUE(handled) << handled.error().message();
  return handled && *handled > 0;
}

size_t replayAll(Replay& replay) {
  size_t batches = 0;
  while (step(replay)) {
    if (++batches > 100000) {
      ADD_FAILURE() << "replay does not end";
      break;
    }
  }
  return batches;
}

TEST(ReplayTest, ReplayNeedsExternalThreading) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.file("x.rtmon");
  {
    auto writer = RtmonWriter::open(path);
    ASSERT_TRUE(writer);
    (*writer)->beginBatch();
    (*writer)->write(concat({loLink(NLM_F_MULTI), Message::done(kDumpSeq)}));
  }
  MonitorOptions options;
  options.replayPath = path;  // OwnThread by default
  auto created = StatusMonitor::create(options);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, std::errc::invalid_argument);

  options.threading = MonitorOptions::Threading::External;
  options.replayPath = dir.file("missing.rtmon");
  EXPECT_FALSE(StatusMonitor::create(options));
}

TEST(ReplayTest, BuilderRecordingReplaysDumpNotificationsResyncAndLinkDown) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.file("scripted.rtmon");
  {
    auto writer = RtmonWriter::open(path);
    ASSERT_TRUE(writer);
    auto batch = [&](const std::vector<uint8_t>& bytes) {
      (*writer)->beginBatch();
      (*writer)->write(bytes);
    };
    // 1: the initial dump.
    batch(concat({loLink(NLM_F_MULTI), vethLink(RTM_NEWLINK, kUpCarrier, NLM_F_MULTI), vethAddress(NLM_F_MULTI),
                  connectedRoute(NLM_F_MULTI), Message::done(kDumpSeq)}));
    // 2, 3: notifications.
    batch(concat({defaultRoute(RTM_NEWROUTE, 0)}));
    batch(concat({defaultRoute(RTM_DELROUTE, 0)}));
    // 4: an overrun resync whose dump has the default route back.
    batch(concat({loLink(NLM_F_MULTI), vethLink(RTM_NEWLINK, kUpCarrier, NLM_F_MULTI), vethAddress(NLM_F_MULTI),
                  connectedRoute(NLM_F_MULTI), defaultRoute(RTM_NEWROUTE, NLM_F_MULTI), Message::done(kDumpSeq)}));
    // 5: veth0 administratively down (IPv4 flushes its routes without RTM_DELROUTE) ...
    batch(concat({vethLink(RTM_NEWLINK, 0, 0)}));
    // 6, 7: ... and the targeted IPv4 and IPv6 route dumps of that link: empty.
    batch(concat({Message::done(2)}));
    batch(concat({Message::done(3)}));
  }

  Replay replay;
  ASSERT_NO_FATAL_FAILURE(openReplay(replay, path));
  EXPECT_EQ(replay.initial->reachability, Reachability::Site);
  EXPECT_EQ(replay.initial->routeCount(), 1u);
  ASSERT_NE(replay.initial->findLink("veth0"), nullptr);
  EXPECT_EQ(replay.initial->findLink("veth0")->kind, "veth");

  ASSERT_TRUE(step(replay));  // default route added
  EXPECT_EQ(replay.monitor->reachability(), Reachability::Online);
  EXPECT_EQ(replay.monitor->snapshot()->verdict.linkName, "veth0");
  ASSERT_TRUE(step(replay));  // removed
  EXPECT_EQ(replay.monitor->reachability(), Reachability::Site);

  const size_t before_resync = replay.events.size();
  ASSERT_TRUE(step(replay));  // the resync
  std::vector<Event> resync(replay.events.begin() + long(before_resync), replay.events.end());
  ASSERT_FALSE(resync.empty());
  int route_added = 0;
  const ResyncEvent* notice = nullptr;
  for (const auto& e : resync) {
    if (auto* r = std::get_if<RouteEvent>(&e.payload)) route_added += r->change == Change::Added;
    if (auto* n = std::get_if<ResyncEvent>(&e.payload)) notice = n;
    EXPECT_EQ(e.kind() == EventKind::Link || e.kind() == EventKind::Address, false) << "unchanged objects are no event";
  }
  EXPECT_EQ(route_added, 1);
  ASSERT_NE(notice, nullptr);
  EXPECT_EQ(notice->reason, ResyncReason::Overrun);
  EXPECT_EQ(notice->differences, 1u);
  EXPECT_EQ(replay.monitor->reachability(), Reachability::Online);
  EXPECT_EQ(replay.monitor->counters().resyncs, 1u);

  const size_t before_down = replay.events.size();
  ASSERT_TRUE(step(replay));  // link down
  ASSERT_TRUE(step(replay));  // IPv4 route check: nothing left through veth0
  ASSERT_TRUE(step(replay));  // IPv6 route check
  EXPECT_FALSE(step(replay));  // the end
  EXPECT_FALSE(step(replay));  // stays at the end

  std::vector<std::string> removed;
  for (auto it = replay.events.begin() + long(before_down); it != replay.events.end(); ++it) {
    if (auto* r = std::get_if<RouteEvent>(&it->payload); r && r->change == Change::Removed) {
      removed.push_back(r->route.destination.toString());
    }
  }
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{"0.0.0.0/0", "192.0.2.0/24"}));
  const auto final_snapshot = replay.monitor->snapshot();
  EXPECT_EQ(final_snapshot->routeCount(), 0u);
  EXPECT_EQ(final_snapshot->reachability, Reachability::Disconnected);
  EXPECT_EQ(final_snapshot->findLink("veth0")->operationalState, OperationalState::Off);
  EXPECT_EQ(replay.monitor->counters().linkRouteFlushes, 2u);
  EXPECT_EQ(describeReachability(replay.events, Family::Ipv4), "site->online online->site site->online online->disconnected ");
  for (size_t i = 1; i < replay.events.size(); ++i) EXPECT_GT(replay.events[i].sequence, replay.events[i - 1].sequence);
}

TEST(ReplayTest, ReplayOfATruncatedRecordingStopsCleanly) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.file("cut.rtmon");
  {
    auto writer = RtmonWriter::open(path);
    ASSERT_TRUE(writer);
    (*writer)->beginBatch();
    (*writer)->write(concat({loLink(NLM_F_MULTI), vethLink(RTM_NEWLINK, kUpCarrier, NLM_F_MULTI),
                             vethAddress(NLM_F_MULTI), Message::done(kDumpSeq)}));
    (*writer)->beginBatch();
    (*writer)->write(concat({defaultRoute(RTM_NEWROUTE, 0)}));
  }
  auto partial = defaultRoute(RTM_DELROUTE, 0).bytes();
  partial.resize(partial.size() - 4);
  appendRaw(path, partial);
  Replay replay;
  ASSERT_NO_FATAL_FAILURE(openReplay(replay, path));
  EXPECT_EQ(replayAll(replay), 1u);
  EXPECT_EQ(replay.monitor->reachability(), Reachability::Online) << "the cut DELROUTE is not applied";
}

// --- real-kernel fixtures ----------------------------------------------------------------------

std::string fixture(const std::string& name) { return std::string(NETMON_FIXTURES_DIR) + "/netlink/" + name; }

#define REQUIRE_FIXTURE(path)                                                                     \
  do {                                                                                            \
    if (!fs::exists(path)) GTEST_SKIP() << "fixture " << (path) << " is missing (record it with " \
                                        << "tests/fixtures/netlink/record.sh as root)";           \
  } while (0)

TEST(ReplayFixtureTest, OnlineV4V6) {
  const std::string path = fixture("online-v4-v6.rtmon");
  REQUIRE_FIXTURE(path);
  Replay replay;
  ASSERT_NO_FATAL_FAILURE(openReplay(replay, path));
  EXPECT_GT(replayAll(replay), 0u);
  const auto snapshot = replay.monitor->snapshot();
  const Link* veth = snapshot->findLink("veth0");
  ASSERT_NE(veth, nullptr);
  EXPECT_EQ(veth->kind, "veth");
  EXPECT_TRUE(veth->isUp());
  EXPECT_TRUE(veth->hasCarrier());
  EXPECT_EQ(veth->operationalState, OperationalState::Routable);
  EXPECT_EQ(snapshot->ipv4.reachability, Reachability::Online) << snapshot->ipv4.verdict.explanation();
  EXPECT_EQ(snapshot->ipv6.reachability, Reachability::Online) << snapshot->ipv6.verdict.explanation();
  EXPECT_EQ(snapshot->reachability, Reachability::Online);
  EXPECT_EQ(snapshot->ipv4.verdict.linkName, "veth0");
  EXPECT_EQ(snapshot->ipv4.verdict.gateway.toString(), "192.0.2.1");
  EXPECT_EQ(snapshot->ipv6.verdict.linkName, "veth0");
  EXPECT_EQ(snapshot->ipv6.verdict.gateway.toString(), "2001:db8::1");
  EXPECT_EQ(snapshot->transportMedium, TransportMedium::Virtual);
  // The recording starts from an empty namespace: everything was learnt from notifications, and
  // each family reached Online exactly once.
  EXPECT_NE(replay.initial->reachability, Reachability::Online);
  const std::string v4 = describeReachability(replay.events, Family::Ipv4);
  const std::string v6 = describeReachability(replay.events, Family::Ipv6);
  EXPECT_NE(v4.find("->online"), std::string::npos) << v4;
  EXPECT_EQ(v4.find("online->"), std::string::npos) << v4;
  EXPECT_NE(v6.find("->online"), std::string::npos) << v6;
  EXPECT_EQ(v6.find("online->"), std::string::npos) << v6;
  EXPECT_EQ(replay.monitor->counters().malformed, 0u);
}

std::string dumpEvents(const std::vector<Event>& events) {
  std::string out;
  for (const auto& e : events) {
    out += std::to_string(e.sequence) + " " + std::string(toString(e.kind()));
    if (auto* l = std::get_if<LinkEvent>(&e.payload)) {
      out += " " + std::string(toString(l->change)) + " " + l->link.name + " flags=" + std::to_string(l->link.flags) +
             " " + std::string(toString(l->link.operationalState));
    } else if (auto* a = std::get_if<AddressEvent>(&e.payload)) {
      out += " " + std::string(toString(a->change)) + " " + a->address.address.toString();
    } else if (auto* r = std::get_if<RouteEvent>(&e.payload)) {
      out += " " + std::string(toString(r->change)) + " " + r->route.destination.toString() + " table " +
             std::to_string(r->route.table) + " type " + std::string(toString(r->route.type));
    } else if (auto* u = std::get_if<RuleEvent>(&e.payload)) {
      out += " " + std::string(toString(u->change)) + " pref " + std::to_string(u->rule.priority);
    } else if (auto* x = std::get_if<ReachabilityEvent>(&e.payload)) {
      out += " " + std::string(toString(x->family)) + " " + std::string(toString(x->previous)) + "->" +
             std::string(toString(x->current)) + " (" + x->verdict.explanation() + ")";
    }
    out += "\n";
  }
  return out;
}

// The recordings hold what rtmon saw: its initial dump has links only (rtmon asks for nothing
// else), so state configured before rtmon started is absent. Tests that need it splice builder-made
// batches into a copy of the recording: the pre-existing state right after the first dump, and —
// where a link went down — the two targeted route dumps netmon's own recorder would have written.

std::vector<std::vector<uint8_t>> batchesOf(const std::string& path) {
  std::vector<std::vector<uint8_t>> batches;
  auto reader = RtmonReader::open(path);
  if (!reader) {
    ADD_FAILURE() << reader.error().message();
    return batches;
  }
  while (auto batch = (*reader)->nextBatch()) batches.push_back(std::move(*batch));
  EXPECT_EQ((*reader)->truncated(), 0u) << path;
  return batches;
}

void writeRecording(const std::string& path, const std::vector<std::vector<uint8_t>>& batches) {
  auto writer = RtmonWriter::open(path);
  ASSERT_TRUE(writer) << writer.error().message();
  for (const auto& batch : batches) {
    (*writer)->beginBatch();
    (*writer)->write(batch);
  }
}

// What tests/fixtures/netlink/record.sh configures on veth0 (index 2) before starting rtmon.
std::vector<uint8_t> configuredVeth0(bool with_defaults) {
  Datagram d;
  d.add(vethAddress(0));
  d.add(Message::addr(RTM_NEWADDR, {.family = AF_INET6, .prefixLength = 64, .flags = IFA_F_PERMANENT, .index = 2})
            .address(IFA_ADDRESS, "2001:db8::2"));
  d.add(Message::addr(RTM_NEWADDR,
                      {.family = AF_INET6, .prefixLength = 64, .flags = IFA_F_PERMANENT, .scope = RT_SCOPE_LINK, .index = 2})
            .address(IFA_ADDRESS, "fe80::ff:fe00:2"));
  d.add(connectedRoute(0));
  d.add(Message::route(RTM_NEWROUTE, {.family = AF_INET6, .dstLength = 64, .protocol = RTPROT_KERNEL})
            .address(RTA_DST, "2001:db8::")
            .u32(RTA_OIF, 2)
            .u32(RTA_PRIORITY, 256));
  d.add(Message::route(RTM_NEWROUTE, {.family = AF_INET6, .dstLength = 64, .protocol = RTPROT_KERNEL})
            .address(RTA_DST, "fe80::")
            .u32(RTA_OIF, 2)
            .u32(RTA_PRIORITY, 256));
  if (with_defaults) {
    d.add(defaultRoute(RTM_NEWROUTE, 0));
    d.add(Message::route(RTM_NEWROUTE, {.family = AF_INET6, .dstLength = 0, .protocol = RTPROT_BOOT})
              .address(RTA_GATEWAY, "2001:db8::1")
              .u32(RTA_OIF, 2)
              .u32(RTA_PRIORITY, 1024));
  }
  return d.bytes();
}

std::string reachabilityChain(const std::vector<Event>& events, Family family, Reachability initial) {
  std::string out = std::string(toString(initial));
  for (const auto& e : events) {
    if (auto* r = std::get_if<ReachabilityEvent>(&e.payload); r && r->family == family) {
      out += " " + std::string(toString(r->current));
    }
  }
  return out;
}

// Every event's `previous` is the `current` before it (per family), and never equal to `current`.
void expectConsistentChains(const Replay& replay) {
  std::map<Family, Reachability> last{{Family::Ipv4, replay.initial->ipv4.reachability},
                                      {Family::Ipv6, replay.initial->ipv6.reachability},
                                      {Family::Unspecified, replay.initial->reachability}};
  for (const auto& e : replay.events) {
    auto* r = std::get_if<ReachabilityEvent>(&e.payload);
    if (!r) continue;
    EXPECT_EQ(r->previous, last[r->family]) << "sequence " << e.sequence;
    EXPECT_NE(r->previous, r->current) << "sequence " << e.sequence;
    last[r->family] = r->current;
  }
}

TEST(ReplayFixtureTest, LinkFlapAsRecorded) {
  const std::string path = fixture("link-flap.rtmon");
  REQUIRE_FIXTURE(path);
  Replay replay;
  ASSERT_NO_FATAL_FAILURE(openReplay(replay, path));
  ASSERT_NE(replay.initial->findLink("veth0"), nullptr);
  EXPECT_TRUE(replay.initial->addresses.empty()) << "rtmon's initial dump has links only";
  EXPECT_GT(replayAll(replay), 0u);
  // Only what the recording shows: the IPv6 link-local address the kernel re-creates when veth0
  // comes back up, lost with the carrier (peer down) and back with it.
  EXPECT_EQ(reachabilityChain(replay.events, Family::Ipv6, replay.initial->ipv6.reachability),
            "disconnected local disconnected local")
      << dumpEvents(replay.events);
  std::vector<OperationalState> states;
  for (const auto& e : replay.events) {
    if (auto* l = std::get_if<LinkEvent>(&e.payload); l && l->link.name == "veth0") {
      if (states.empty() || states.back() != l->link.operationalState) states.push_back(l->link.operationalState);
    }
  }
  const auto has = [&](OperationalState s) { return std::find(states.begin(), states.end(), s) != states.end(); };
  EXPECT_TRUE(has(OperationalState::Off));
  EXPECT_TRUE(has(OperationalState::NoCarrier));
  EXPECT_EQ(replay.monitor->snapshot()->findLink("veth0")->operationalState, OperationalState::Degraded);
  expectConsistentChains(replay);
  EXPECT_EQ(replay.monitor->counters().malformed, 0u);
}

TEST(ReplayFixtureTest, LinkFlapFromOnline) {
  const std::string path = fixture("link-flap.rtmon");
  REQUIRE_FIXTURE(path);
  auto batches = batchesOf(path);
  ASSERT_GE(batches.size(), 3u);
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  // [dump] [veth0 as configured, online] [admin down] [IPv4 and IPv6 route checks: empty] [rest]
  std::vector<std::vector<uint8_t>> spliced{batches[0], configuredVeth0(/*with_defaults=*/true), batches[1],
                                            concat({Message::done(2)}), concat({Message::done(3)})};
  spliced.insert(spliced.end(), batches.begin() + 2, batches.end());
  const std::string spliced_path = dir.file("link-flap-from-online.rtmon");
  ASSERT_NO_FATAL_FAILURE(writeRecording(spliced_path, spliced));

  Replay replay;
  ASSERT_NO_FATAL_FAILURE(openReplay(replay, spliced_path));
  ASSERT_TRUE(step(replay));
  EXPECT_EQ(replay.monitor->snapshot()->ipv4.reachability, Reachability::Online);
  EXPECT_EQ(replay.monitor->snapshot()->ipv6.reachability, Reachability::Online);
  const size_t flap_start = replay.events.size();
  replayAll(replay);
  const std::vector<Event> flap(replay.events.begin() + long(flap_start), replay.events.end());
  // Admin down: the kernel flushes veth0's routes (IPv4 silently) and IPv6 drops its addresses;
  // up again, IPv4 has its address and subnet route but no default (nobody re-adds it), IPv6 only
  // the re-created link-local address. Losing and regaining carrier keeps that.
  EXPECT_EQ(reachabilityChain(flap, Family::Ipv4, Reachability::Online), "online disconnected site disconnected site")
      << dumpEvents(flap);
  EXPECT_EQ(reachabilityChain(flap, Family::Ipv6, Reachability::Online), "online disconnected local disconnected local")
      << dumpEvents(flap);
  EXPECT_EQ(reachabilityChain(flap, Family::Unspecified, Reachability::Online),
            "online disconnected site disconnected site");
  const auto snapshot = replay.monitor->snapshot();
  EXPECT_EQ(snapshot->ipv4.verdict.reason, Reason::NoInternetRoute);
  EXPECT_EQ(replay.monitor->counters().linkRouteFlushes, 2u);
  bool default_removed = false;
  for (const auto& e : flap) {
    if (auto* r = std::get_if<RouteEvent>(&e.payload)) {
      default_removed |= r->change == Change::Removed && r->route.family == Family::Ipv4 && r->route.destination.length == 0;
    }
  }
  EXPECT_TRUE(default_removed) << "the silently flushed IPv4 default route must be reported removed";
  expectConsistentChains(replay);
}

TEST(ReplayFixtureTest, SplitDefaultAndRules) {
  const std::string path = fixture("split-default-and-rules.rtmon");
  REQUIRE_FIXTURE(path);
  auto batches = batchesOf(path);
  ASSERT_EQ(batches.size(), 9u) << "expected: dump, 2 split routes, table-100 default, rule, IPv6 default, rule, "
                                   "blackhole, multipath";
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::vector<std::vector<uint8_t>> spliced{batches[0], configuredVeth0(/*with_defaults=*/false)};
  spliced.insert(spliced.end(), batches.begin() + 1, batches.end());
  const std::string spliced_path = dir.file("split.rtmon");
  ASSERT_NO_FATAL_FAILURE(writeRecording(spliced_path, spliced));

  Replay replay;
  ASSERT_NO_FATAL_FAILURE(openReplay(replay, spliced_path));
  auto state = [&] { return replay.monitor->snapshot(); };
  ASSERT_TRUE(step(replay));  // configured veth0: addresses and subnet routes only
  EXPECT_EQ(state()->ipv4.reachability, Reachability::Site);
  EXPECT_EQ(state()->ipv6.reachability, Reachability::Site);

  ASSERT_TRUE(step(replay));  // 0.0.0.0/1: half of the Internet
  EXPECT_EQ(state()->ipv4.reachability, Reachability::Site);
  EXPECT_EQ(state()->ipv4.verdict.reason, Reason::NoInternetRoute);
  ASSERT_TRUE(state()->ipv4.verdict.uncovered.has_value());
  EXPECT_EQ(state()->ipv4.verdict.uncovered->address.toString(), "128.0.0.0");

  ASSERT_TRUE(step(replay));  // 128.0.0.0/1: online through the split routes
  EXPECT_EQ(state()->ipv4.reachability, Reachability::Online) << state()->ipv4.verdict.explanation();
  ASSERT_TRUE(state()->ipv4.verdict.route.has_value());
  EXPECT_EQ(state()->ipv4.verdict.route->destination.length, 1);
  EXPECT_EQ(state()->ipv4.verdict.gateway.toString(), "192.0.2.1");
  EXPECT_EQ(state()->ipv4.verdict.ruleTable, kTableMain);

  ASSERT_TRUE(step(replay));  // default in table 100: no rule leads there yet
  EXPECT_EQ(state()->ipv4.verdict.route->destination.length, 1);
  ASSERT_TRUE(step(replay));  // rule pref 100 → table 100: its default now decides
  EXPECT_EQ(state()->ipv4.reachability, Reachability::Online);
  EXPECT_EQ(state()->ipv4.verdict.ruleTable, 100u);
  EXPECT_EQ(state()->ipv4.verdict.route->destination.length, 0);

  ASSERT_TRUE(step(replay));  // IPv6 default in table 100, no IPv6 rule yet
  EXPECT_EQ(state()->ipv6.reachability, Reachability::Site);
  ASSERT_TRUE(step(replay));  // IPv6 rule pref 100
  EXPECT_EQ(state()->ipv6.reachability, Reachability::Online) << state()->ipv6.verdict.explanation();
  EXPECT_EQ(state()->ipv6.verdict.ruleTable, 100u);
  EXPECT_EQ(state()->ipv6.verdict.gateway.toString(), "2001:db8::1");

  replayAll(replay);  // the blackhole and the multipath route decide nothing
  const auto final_state = state();
  EXPECT_EQ(final_state->reachability, Reachability::Online);
  EXPECT_EQ(final_state->rules.size(), 2u);
  std::optional<Route> blackhole, multipath;
  final_state->forEachRoute([&](const Route& r) {
    if (r.destination.toString() == "203.0.113.0/24") blackhole = r;
    if (r.destination.toString() == "198.51.100.0/24") multipath = r;
  });
  ASSERT_TRUE(blackhole);
  EXPECT_EQ(blackhole->type, RouteType::Blackhole);
  ASSERT_TRUE(multipath);
  ASSERT_EQ(multipath->nextHops.size(), 2u) << "iproute2's two nexthops";
  EXPECT_EQ(multipath->nextHops[0].gateway.toString(), "192.0.2.1");
  EXPECT_EQ(multipath->nextHops[0].weight, 1);
  EXPECT_EQ(multipath->nextHops[1].gateway.toString(), "192.0.2.3");
  EXPECT_EQ(multipath->nextHops[1].weight, 3);
  expectConsistentChains(replay);
  EXPECT_EQ(replay.monitor->counters().malformed, 0u);
}

}  // namespace
}  // namespace netmon
