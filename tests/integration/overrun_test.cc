// A forced overrun: a tiny receive buffer and ~100k kernel changes make the kernel drop
// notifications (ENOBUFS). The monitor must resync — re-dump and diff — so that afterwards its
// mirror is the kernel's state field for field, and the event stream, replayed onto the snapshot
// the subscriber started from, ends at that same state (each object's last event is its truth).
#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "netmon/status_monitor.h"
#include "support/event_recorder.h"
#include "support/netns.h"

namespace netmon::test {
namespace {

using namespace std::chrono_literals;

std::string routeKey(const Route& r) {
  return fmt::format("{} table={} {}/{} src/{} tos={} metric={}", toString(r.family), r.table,
                     addressText(r.destination.address), r.destination.length, r.sourceLength, r.tos, r.metric);
}

std::string addressKey(const Address& a) {
  return fmt::format("#{} {}/{}", a.linkIndex, addressText(a.address), a.prefixLength);
}

std::string ruleKey(const Rule& r) {
  return fmt::format("{} pref={} table={} action={} src={}/{} dst={}/{} iif={} oif={} fwmark={:#x}/{:#x}",
                     toString(r.family), r.priority, r.table, static_cast<int>(r.action),
                     addressText(r.source.address), r.source.length, addressText(r.destination.address),
                     r.destination.length, r.inputInterface, r.outputInterface, r.fwmark, r.fwmask);
}

// The state a subscriber reconstructs: the initial snapshot plus every later event.
struct ReplayedState {
  std::map<int, Link> links;
  std::map<std::string, Address> addresses;
  std::map<std::string, Route> routes;
  std::map<std::string, Rule> rules;

  explicit ReplayedState(const Snapshot& s) {
    for (const auto& l : s.links) links[l.index] = l;
    for (const auto& a : s.addresses) addresses[addressKey(a)] = a;
    s.forEachRoute([&](const Route& r) { routes[routeKey(r)] = r; });
    for (const auto& r : s.rules) rules[ruleKey(r)] = r;
  }

  template <class Map, class Key, class Value>
  static void apply(Map& map, Change change, const Key& key, const Value& value) {
    if (change == Change::Removed) {
      map.erase(key);
    } else {
      map[key] = value;
    }
  }

  void apply(const Event& event) {
    if (const auto* e = payloadAs<LinkEvent>(event)) apply(links, e->change, e->link.index, e->link);
    if (const auto* e = payloadAs<AddressEvent>(event)) apply(addresses, e->change, addressKey(e->address), e->address);
    if (const auto* e = payloadAs<RouteEvent>(event)) apply(routes, e->change, routeKey(e->route), e->route);
    if (const auto* e = payloadAs<RuleEvent>(event)) apply(rules, e->change, ruleKey(e->rule), e->rule);
  }
};

template <class Map, class Describe>
std::string compareMaps(const char* what, const Map& replayed, const Map& final_state, Describe describe_value,
                        size_t max_lines = 20) {
  std::string out;
  size_t problems = 0;
  auto note = [&](const std::string& line) {
    if (problems++ < max_lines) out += "  " + line + "\n";
  };
  for (const auto& [key, value] : replayed) {
    const auto it = final_state.find(key);
    if (it == final_state.end()) {
      note(fmt::format("{}: events leave {} that the snapshot lacks: {}", what, key, describe_value(value)));
    } else if (!(it->second == value)) {
      note(fmt::format("{}: last event says {} but the snapshot has {}", what, describe_value(value),
                       describe_value(it->second)));
    }
  }
  for (const auto& [key, value] : final_state) {
    if (!replayed.count(key)) note(fmt::format("{}: snapshot has {} but the events removed it or never added it", what, describe_value(value)));
  }
  if (problems > max_lines) out += fmt::format("  ... {} problems in all\n", problems);
  return out;
}

class OverrunTest : public ::testing::Test {
 protected:
  void SetUp() override { requireNetAdmin(); }
};

TEST_F(OverrunTest, ForcedOverrunResyncsToKernelTruth) {
  TestNamespace ns;
  ASSERT_TRUE(ns.valid());
  ns.addVethWithPeer("veth0");
  ns.addVethWithPeer("veth1");
  // IPv6 off on the flapping link: its fe80::/64 would share a key with veth0's (covered by
  // KernelQuirksTest.Ipv6RoutesWithTheSamePrefixOnTwoLinksAreDistinct), not what this test is about.
  ns.run("sysctl -qw net.ipv6.conf.veth1.disable_ipv6=1");
  ns.peer().ip("addr add 192.0.2.1/24 dev veth0");
  ns.ip("link set veth0 up");
  ns.ip("link set veth1 up");
  ns.ip("addr add 192.0.2.2/24 dev veth0");
  ns.ip("-6 addr add 2001:db8:1::2/64 dev veth0 nodad");
  ns.ip("addr add 198.51.100.2/24 dev veth1");
  ns.ip("route add default via 192.0.2.1 dev veth0");
  ASSERT_TRUE(ns.waitForCarrier("veth0"));
  ASSERT_TRUE(ns.waitForCarrier("veth1"));

  MonitorOptions options = optionsFor(ns);
  options.receiveBufferBytes = 4096;
  auto created = StatusMonitor::create(options);
  ASSERT_TRUE(created) << created.error().message();
  StatusMonitor& monitor = *created;
  EventRecorder recorder(monitor);
  const auto initial = recorder.initialSnapshot();
  ASSERT_EQ(mirrorKernelDifferences(ns, *initial), "");

  // ~100k route changes: 50,176 adds (203.0.113.0/24 as /32s in tables 1000-1195), 25,088 deletes,
  // 12,544 replaces (gateway added), 12,000 IPv6 /128 adds inside 2001:db8:100::/64.
  std::vector<std::string> route_changes;
  route_changes.reserve(100000);
  for (int table = 1000; table < 1196; ++table) {
    for (int host = 0; host < 256; ++host) {
      route_changes.push_back(fmt::format("route add 203.0.113.{}/32 dev veth0 table {}", host, table));
    }
  }
  for (int table = 1001; table < 1196; table += 2) {
    for (int host = 0; host < 256; ++host) {
      route_changes.push_back(fmt::format("route del 203.0.113.{}/32 table {}", host, table));
    }
  }
  for (int table = 1000; table < 1196; table += 4) {
    for (int host = 0; host < 256; ++host) {
      route_changes.push_back(
          fmt::format("route replace 203.0.113.{}/32 via 192.0.2.1 dev veth0 table {}", host, table));
    }
  }
  for (int i = 0; i < 12000; ++i) {
    route_changes.push_back(fmt::format("route add 2001:db8:100::{:x}/128 dev veth0 table 2000", i));
  }
  // 1,000 down/up cycles of veth1, concurrently.
  std::vector<std::string> flaps;
  for (int i = 0; i < 1000; ++i) {
    flaps.push_back("link set veth1 down");
    flaps.push_back("link set veth1 up");
  }

  const auto started = std::chrono::steady_clock::now();
  std::thread flapper([&] { ns.ipBatch(flaps); });
  ns.ipBatch(route_changes);
  flapper.join();
  const auto generated = std::chrono::steady_clock::now();

  // Quiescence: no event for 2 s and counters unchanged across it, within ~60 s.
  const auto deadline = generated + 60s;
  Counters last = monitor.counters();
  bool settled = false;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const bool quiet = recorder.waitForQuiet(2s, std::max(remaining, std::chrono::milliseconds(1)));
    const Counters now = monitor.counters();
    if (quiet && now == last) {
      settled = true;
      break;
    }
    last = now;
  }
  EXPECT_TRUE(settled) << "the monitor did not settle within 60 s of the last change: " << describe(monitor.counters());
  const Counters counters = monitor.counters();
  RecordProperty("changes", static_cast<int>(route_changes.size() + flaps.size()));
  RecordProperty("generate_ms", static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(generated - started).count()));
  RecordProperty("events", static_cast<int>(recorder.size()));
  RecordProperty("overruns", static_cast<int>(counters.overruns));
  RecordProperty("resyncs", static_cast<int>(counters.resyncs));
  RecordProperty("dumps_interrupted", static_cast<int>(counters.dumpsInterrupted));

  EXPECT_GT(counters.overruns, 0u)
      << "the kernel never overran a 4096-byte receive buffer during " << route_changes.size() + flaps.size()
      << " changes, so this run did not exercise the resync path: " << describe(counters);
  EXPECT_GT(counters.resyncs, 0u) << describe(counters);
  EXPECT_FALSE(counters.degraded) << describe(counters);
  EXPECT_EQ(counters.malformed, 0u) << describe(counters);
  bool saw_overrun_event = false;
  uint64_t previous_sequence = initial->sequence;
  bool sequences_increase = true;
  for (const auto& event : recorder.events()) {
    const auto* resync = payloadAs<ResyncEvent>(event);
    saw_overrun_event = saw_overrun_event || (resync && resync->reason == ResyncReason::Overrun);
    if (event.sequence <= initial->sequence) continue;
    sequences_increase = sequences_increase && event.sequence > previous_sequence;
    previous_sequence = event.sequence;
  }
  EXPECT_TRUE(saw_overrun_event || counters.overruns == 0) << "overruns were counted but no ResyncEvent{Overrun} was delivered";
  EXPECT_TRUE(sequences_increase) << "Event::sequence must strictly increase";

  // Kernel truth, field for field: routes (all tables, both families), addresses and links.
  EXPECT_TRUE(waitForMirrorToMatchKernel(ns, monitor, recorder, kRoutes | kAddresses | kLinks | kRules, 30s));
  const auto final_snapshot = monitor.snapshot();
  const Link* veth1 = final_snapshot->findLink("veth1");
  ASSERT_NE(veth1, nullptr);
  EXPECT_TRUE(veth1->isUp() && veth1->hasCarrier()) << describe(*veth1);
  EXPECT_EQ(toString(final_snapshot->ipv4.reachability), "online") << describe(final_snapshot->ipv4.verdict);

  // Each object's last event matches its final state.
  if (recorder.sawSubscriberOverflow()) {
    ADD_FAILURE() << "an inline subscriber overflowed; the event replay check is not meaningful";
  } else {
    ReplayedState replayed(*initial);
    for (const auto& event : recorder.events()) {
      if (event.sequence > initial->sequence) replayed.apply(event);
    }
    ReplayedState truth(*final_snapshot);
    std::string problems;
    problems += compareMaps("link", replayed.links, truth.links, [](const Link& l) { return describe(l); });
    problems += compareMaps("address", replayed.addresses, truth.addresses, [](const Address& a) { return describe(a); });
    problems += compareMaps("route", replayed.routes, truth.routes, [](const Route& r) { return describe(r); });
    problems += compareMaps("rule", replayed.rules, truth.rules, [](const Rule& r) { return ruleKey(r); });
    EXPECT_EQ(problems, "") << "replaying the delivered events onto the initial snapshot does not give the final one";
  }

  // And the same, spelled out for a sample against the kernel's own listing.
  const auto kernel = kernelRoutes(ns);
  for (int table = 1000; table < 1012; ++table) {
    const std::string start = fmt::format("ipv4 table={} dst=203.0.113.5/32 ", table);
    const auto in_kernel = std::find_if(kernel.begin(), kernel.end(), [&](const std::string& l) { return l.rfind(start, 0) == 0; });
    std::optional<RouteEvent> last_event;
    for (const auto& event : recorder.events()) {
      const auto* r = payloadAs<RouteEvent>(event);
      if (r && r->route.table == static_cast<uint32_t>(table) && r->route.destination == prefix("203.0.113.5/32")) {
        last_event = *r;
      }
    }
    if (in_kernel == kernel.end()) {
      EXPECT_TRUE(!last_event || last_event->change == Change::Removed)
          << "table " << table << ": absent from the kernel, but the last event was "
          << toString(last_event->change) << " " << describe(last_event->route);
    } else {
      ASSERT_TRUE(last_event) << "table " << table << ": no event ever announced " << *in_kernel;
      EXPECT_NE(last_event->change, Change::Removed) << "table " << table << ": kernel has " << *in_kernel;
      EXPECT_EQ(routeLine(last_event->route, *final_snapshot), *in_kernel) << "table " << table;
    }
  }
}

}  // namespace
}  // namespace netmon::test
