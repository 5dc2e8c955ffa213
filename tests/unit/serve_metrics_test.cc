// netmon::serve::DaemonMetrics and the /metrics format negotiation: the rendered exposition read
// back sample by sample (state sets, per-link series that follow the snapshot, the monitor's
// counters, what the daemon counts itself), the OpenMetrics differences, label escaping, and —
// when Prometheus' promtool is installed — its verdict on the text format.
#include "serve/metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/route_store.h"
#include "netmon/version.h"
#include "support/fake_backend.h"

namespace netmon::serve {
namespace {

using test::ip;
using test::makeAddress;
using test::makeRoute;
using test::upVeth;

// ─── Reading an exposition back ─────────────────────────────────────────────────────────────────

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string value;  // as written, so "+Inf" and "1e+21" can be checked too
};

// One sample line: name{label="value",...} value. Label values are unescaped (\\, \", \n), the
// escaping both formats share. No timestamps (DaemonMetrics writes none).
std::optional<Sample> parseSample(std::string_view line) {
  Sample sample;
  size_t at = line.find_first_of("{ ");
  if (at == std::string_view::npos) return std::nullopt;
  sample.name = line.substr(0, at);
  if (line[at] == '{') {
    ++at;
    while (at < line.size() && line[at] != '}') {
      const size_t equals = line.find("=\"", at);
      if (equals == std::string_view::npos) return std::nullopt;
      const std::string name(line.substr(at, equals - at));
      std::string value;
      for (at = equals + 2; at < line.size() && line[at] != '"'; ++at) {
        if (line[at] != '\\') {
          value += line[at];
        } else if (++at < line.size()) {
          value += line[at] == 'n' ? '\n' : line[at];
        }
      }
      if (at >= line.size()) return std::nullopt;
      sample.labels[name] = value;
      ++at;                                   // closing quote
      if (at < line.size() && line[at] == ',') ++at;
    }
    if (at >= line.size()) return std::nullopt;
    ++at;  // '}'
  }
  if (at >= line.size() || line[at] != ' ') return std::nullopt;
  sample.value = line.substr(at + 1);
  return sample;
}

std::vector<std::string_view> linesOf(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    lines.push_back(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
  }
  return lines;
}

std::vector<Sample> samplesOf(std::string_view text) {
  std::vector<Sample> samples;
  for (std::string_view line : linesOf(text)) {
    if (line.empty() || line.starts_with('#')) continue;
    std::optional<Sample> sample = parseSample(line);
    EXPECT_TRUE(sample.has_value()) << "unparsable line: " << line;
    if (sample) samples.push_back(std::move(*sample));
  }
  return samples;
}

std::vector<Sample> samplesNamed(std::string_view text, std::string_view name) {
  std::vector<Sample> out;
  for (Sample& sample : samplesOf(text)) {
    if (sample.name == name) out.push_back(std::move(sample));
  }
  return out;
}

// The value of the one sample of `name` whose labels include `labels`; nullopt when there is none,
// a test failure when there are several.
std::optional<double> valueOf(std::string_view text, std::string_view name,
                              const std::map<std::string, std::string>& labels = {}) {
  std::optional<double> found;
  for (const Sample& sample : samplesNamed(text, name)) {
    bool matches = true;
    for (const auto& [key, value] : labels) {
      const auto it = sample.labels.find(key);
      matches = matches && it != sample.labels.end() && it->second == value;
    }
    if (!matches) continue;
    EXPECT_FALSE(found.has_value()) << "several samples of " << name << " match";
    found = std::stod(sample.value);
  }
  return found;
}

// ─── Snapshots ──────────────────────────────────────────────────────────────────────────────────

// lo, eth0 (index 2, routable, IPv4 online via 192.0.2.1) and wlan0 (index 3, no carrier); IPv6
// disconnected. Two addresses per family, one rule, three routes.
Snapshot onlineSnapshot() {
  Snapshot snapshot;
  Link lo = test::loopback();
  lo.operationalState = OperationalState::Carrier;
  lo.medium = TransportMedium::Loopback;
  Link eth0 = upVeth(2, "eth0");
  eth0.operationalState = OperationalState::Routable;
  eth0.medium = TransportMedium::Ethernet;
  Link wlan0 = test::makeLink(3, "wlan0", test::kIffUp);
  wlan0.operationalState = OperationalState::NoCarrier;
  wlan0.medium = TransportMedium::Wifi;
  wlan0.mtu = 2304;
  snapshot.links = {lo, eth0, wlan0};
  snapshot.addresses = {makeAddress(1, "127.0.0.1/8"), makeAddress(1, "::1/128"), makeAddress(2, "192.0.2.10/24"),
                        makeAddress(2, "fe80::2/64")};
  snapshot.rules.push_back(Rule());

  snapshot.ipv4.reachability = Reachability::Online;
  snapshot.ipv4.verdict.reachability = Reachability::Online;
  snapshot.ipv4.verdict.reason = Reason::InternetRoute;
  snapshot.ipv4.verdict.linkIndex = 2;  // named through the snapshot's links
  snapshot.ipv4.verdict.gateway = ip("192.0.2.1");
  snapshot.ipv6.reachability = Reachability::Local;
  snapshot.ipv6.verdict.reachability = Reachability::Local;
  snapshot.ipv6.verdict.reason = Reason::LinkLocalOnly;
  snapshot.reachability = Reachability::Online;
  snapshot.verdict = snapshot.ipv4.verdict;
  snapshot.transportMedium = TransportMedium::Ethernet;

  auto routes = std::make_shared<detail::RouteStore>();
  routes->upsert(makeRoute("default", "192.0.2.1", 2), false);
  routes->upsert(makeRoute("192.0.2.0/24", "", 2), false);
  routes->upsert(makeRoute("fe80::/64", "", 2), false);
  snapshot.setRouteStoreForInternalUse(routes);
  return snapshot;
}

Event reachabilityEvent(Family family, std::chrono::system_clock::time_point time) {
  Event event;
  event.sequence = 7;
  event.time = time;
  event.payload = ReachabilityEvent{family, Reachability::Online, Reachability::Site, Verdict()};
  return event;
}

Event linkEvent() {
  Event event;
  event.payload = LinkEvent{Change::Added, upVeth()};
  return event;
}

std::string prometheusText(const DaemonMetrics& metrics, const Snapshot& snapshot) {
  return metrics.render(snapshot, MetricsFormat::PrometheusText);
}

// ─── Negotiation ────────────────────────────────────────────────────────────────────────────────

struct NegotiationRow {
  std::string_view accept;
  MetricsFormat expected;
};

TEST(ServeMetricsNegotiation, PicksOpenMetricsOnlyWhenAskedForWithPositiveQuality) {
  const NegotiationRow rows[] = {
      // What Prometheus 2.x sends.
      {"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
       "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
       MetricsFormat::OpenMetrics},
      {"text/plain", MetricsFormat::PrometheusText},
      {"application/openmetrics-text;q=0", MetricsFormat::PrometheusText},
      {"application/openmetrics-text", MetricsFormat::OpenMetrics},
      {"", MetricsFormat::PrometheusText},
      {"*/*", MetricsFormat::PrometheusText},
      {"application/*", MetricsFormat::PrometheusText},
      {"Application/OpenMetrics-Text; Version=1.0.0", MetricsFormat::OpenMetrics},
      {"text/plain;q=0.9 , application/openmetrics-text ; Q=0.1", MetricsFormat::OpenMetrics},
      {"application/openmetrics-text;q=0.000,text/plain", MetricsFormat::PrometheusText},
      {"application/openmetrics-text;version=1.0.0;q=0, application/openmetrics-text;q=0.2",
       MetricsFormat::OpenMetrics},
      // Garbled weights are not a request for OpenMetrics.
      {"application/openmetrics-text;q=high", MetricsFormat::PrometheusText},
      {"application/openmetrics-text;q=", MetricsFormat::PrometheusText},
      {"application/openmetrics-text;q=2", MetricsFormat::PrometheusText},
      {"application/openmetrics-text;q=-1", MetricsFormat::PrometheusText},
      {"application/openmetrics-textual", MetricsFormat::PrometheusText},
      {",,;;,", MetricsFormat::PrometheusText},
  };
  for (const NegotiationRow& row : rows) {
    EXPECT_EQ(negotiateMetricsFormat(row.accept), row.expected) << row.accept;
  }
}

TEST(ServeMetricsNegotiation, ContentTypes) {
  EXPECT_EQ(contentTypeOf(MetricsFormat::PrometheusText), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(contentTypeOf(MetricsFormat::OpenMetrics), "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

// ─── State from the snapshot ────────────────────────────────────────────────────────────────────

TEST(ServeMetricsRender, ReachabilityStateSetsHaveExactlyOneCurrentState) {
  DaemonMetrics metrics;
  const std::string text = prometheusText(metrics, onlineSnapshot());
  const std::map<std::string, std::string> expected = {{"ipv4", "online"}, {"ipv6", "local"}, {"any", "online"}};
  for (const auto& [family, state] : expected) {
    SCOPED_TRACE(family);
    int series = 0;
    int ones = 0;
    for (const Sample& sample : samplesNamed(text, "netmon_reachability")) {
      if (sample.labels.at("family") != family) continue;
      ++series;
      if (sample.value == "1") {
        ++ones;
        EXPECT_EQ(sample.labels.at("state"), state);
      } else {
        EXPECT_EQ(sample.value, "0");
      }
    }
    EXPECT_EQ(series, 5);  // unknown, disconnected, local, site, online
    EXPECT_EQ(ones, 1);
    for (std::string_view each : {"unknown", "disconnected", "local", "site", "online"}) {
      EXPECT_TRUE(valueOf(text, "netmon_reachability", {{"family", family}, {"state", std::string(each)}}))
          << each;
    }
  }
}

TEST(ServeMetricsRender, ReachabilityEvidenceAndMedium) {
  DaemonMetrics metrics;
  const std::string text = prometheusText(metrics, onlineSnapshot());
  for (std::string family : {"ipv4", "any"}) {
    const std::map<std::string, std::string> labels = {
        {"family", family}, {"reason", "internet-route"}, {"interface", "eth0"}, {"gateway", "192.0.2.1"}};
    EXPECT_EQ(valueOf(text, "netmon_reachability_info", labels), 1) << family;
  }
  // Absent interface and gateway are empty label values.
  EXPECT_EQ(valueOf(text, "netmon_reachability_info",
                    {{"family", "ipv6"}, {"reason", "link-local-only"}, {"interface", ""}, {"gateway", ""}}),
            1);
  EXPECT_EQ(samplesNamed(text, "netmon_reachability_info").size(), 3u);
  EXPECT_EQ(valueOf(text, "netmon_transport_medium_info", {{"medium", "ethernet"}}), 1);
  EXPECT_EQ(valueOf(text, "netmon_build_info", {{"version", NETMON_VERSION_STRING}}), 1);
}

TEST(ServeMetricsRender, LinkSeries) {
  DaemonMetrics metrics;
  const std::string text = prometheusText(metrics, onlineSnapshot());
  EXPECT_EQ(valueOf(text, "netmon_link_up", {{"device", "eth0"}}), 1);
  EXPECT_EQ(valueOf(text, "netmon_link_carrier", {{"device", "eth0"}}), 1);
  EXPECT_EQ(valueOf(text, "netmon_link_up", {{"device", "wlan0"}}), 1);
  EXPECT_EQ(valueOf(text, "netmon_link_carrier", {{"device", "wlan0"}}), 0);
  EXPECT_EQ(valueOf(text, "netmon_link_mtu_bytes", {{"device", "wlan0"}}), 2304);
  EXPECT_EQ(valueOf(text, "netmon_link_info",
                    {{"device", "eth0"}, {"kind", "veth"}, {"mac", "02:00:00:00:00:02"}, {"medium", "ethernet"},
                     {"ifindex", "2"}}),
            1);
  EXPECT_EQ(valueOf(text, "netmon_link_info",
                    {{"device", "lo"}, {"kind", ""}, {"mac", ""}, {"medium", "loopback"}, {"ifindex", "1"}}),
            1);
  // The operational state set: every state once per link, the current one 1.
  for (const auto& [device, state] : std::map<std::string, std::string>{
           {"lo", "carrier"}, {"eth0", "routable"}, {"wlan0", "no-carrier"}}) {
    SCOPED_TRACE(device);
    int series = 0;
    int ones = 0;
    for (const Sample& sample : samplesNamed(text, "netmon_link_operational_state")) {
      if (sample.labels.at("device") != device) continue;
      ++series;
      if (sample.value == "1") {
        ++ones;
        EXPECT_EQ(sample.labels.at("state"), state);
      }
    }
    EXPECT_EQ(series, 8);
    EXPECT_EQ(ones, 1);
  }
}

TEST(ServeMetricsRender, RemovedLinkLeavesNoSeries) {
  DaemonMetrics metrics;
  Snapshot snapshot = onlineSnapshot();
  EXPECT_NE(prometheusText(metrics, snapshot).find("device=\"wlan0\""), std::string::npos);
  snapshot.links.pop_back();
  const std::string text = prometheusText(metrics, snapshot);
  EXPECT_EQ(text.find("wlan0"), std::string::npos) << text;
  EXPECT_EQ(valueOf(text, "netmon_link_up", {{"device", "eth0"}}), 1);
  EXPECT_EQ(valueOf(text, "netmon_links"), 2);
}

TEST(ServeMetricsRender, CountsAndMonitorCounters) {
  Snapshot snapshot = onlineSnapshot();
  snapshot.counters.messages = 101;
  snapshot.counters.foreignSenderDropped = 2;
  snapshot.counters.malformed = 3;
  snapshot.counters.unknownSkipped = 4;
  snapshot.counters.overruns = 5;
  snapshot.counters.resyncs = 6;
  snapshot.counters.dumpsInterrupted = 7;
  snapshot.counters.linkRouteFlushes = 8;
  snapshot.counters.subscriberOverflows = 9;
  snapshot.counters.readErrors = 10;
  snapshot.counters.routesRefused = 11;
  snapshot.counters.sendErrors = 12;
  snapshot.counters.socketReopens = 13;
  snapshot.counters.callbackExceptions = 14;
  snapshot.counters.degraded = true;
  DaemonMetrics metrics;
  const std::string text = prometheusText(metrics, snapshot);

  EXPECT_EQ(valueOf(text, "netmon_links"), 3);
  EXPECT_EQ(valueOf(text, "netmon_addresses", {{"family", "ipv4"}}), 2);
  EXPECT_EQ(valueOf(text, "netmon_addresses", {{"family", "ipv6"}}), 2);
  EXPECT_EQ(valueOf(text, "netmon_routes"), 3);
  EXPECT_EQ(valueOf(text, "netmon_rules"), 1);

  const std::map<std::string, double> counters = {
      {"netmon_netlink_messages_total", 101},
      {"netmon_netlink_foreign_sender_dropped_total", 2},
      {"netmon_netlink_malformed_total", 3},
      {"netmon_netlink_unknown_skipped_total", 4},
      {"netmon_netlink_overruns_total", 5},
      {"netmon_resyncs_total", 6},
      {"netmon_netlink_dumps_interrupted_total", 7},
      {"netmon_link_route_flushes_total", 8},
      {"netmon_subscriber_overflows_total", 9},
      {"netmon_netlink_read_errors_total", 10},
      {"netmon_routes_refused_total", 11},
      {"netmon_netlink_send_errors_total", 12},
      {"netmon_netlink_socket_reopens_total", 13},
      {"netmon_callback_exceptions_total", 14},
  };
  for (const auto& [name, value] : counters) {
    EXPECT_EQ(valueOf(text, name), value) << name;
    EXPECT_NE(text.find("# TYPE " + name + " counter\n"), std::string::npos) << name;
  }
  EXPECT_EQ(valueOf(text, "netmon_degraded"), 1);
}

TEST(ServeMetricsRender, EveryFamilyHasHelp) {
  DaemonMetrics metrics;
  const std::string text = prometheusText(metrics, onlineSnapshot());
  std::map<std::string, bool> helped;
  for (std::string_view line : linesOf(text)) {
    if (line.starts_with("# HELP ")) {
      line.remove_prefix(7);
      const size_t space = line.find(' ');
      ASSERT_NE(space, std::string_view::npos);
      EXPECT_GT(line.size() - space, 10u) << line;
      helped[std::string(line.substr(0, space))] = true;
    }
  }
  for (const Sample& sample : samplesOf(text)) EXPECT_TRUE(helped[sample.name]) << sample.name;
}

TEST(ServeMetricsRender, ProcessMetrics) {
  DaemonMetrics metrics;
  const std::string text = prometheusText(metrics, onlineSnapshot());
  for (std::string_view name : {"process_open_fds", "process_max_fds", "process_resident_memory_bytes",
                                "process_virtual_memory_bytes", "process_start_time_seconds",
                                "process_cpu_seconds_total"}) {
    const std::optional<double> value = valueOf(text, name);
    ASSERT_TRUE(value.has_value()) << name;
    // A test process run alone may not have used one clock tick (10 ms) of CPU yet.
    if (name == "process_cpu_seconds_total") {
      EXPECT_GE(*value, 0) << name;
    } else {
      EXPECT_GT(*value, 0) << name;
    }
  }
  const double start = *valueOf(text, "process_start_time_seconds");
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 24 * 3600);  // this test process started within a day
}

// ─── What the daemon counts ─────────────────────────────────────────────────────────────────────

TEST(ServeMetricsCounting, EventSeriesExistFromTheStart) {
  DaemonMetrics metrics;
  const std::string text = prometheusText(metrics, Snapshot());
  for (std::string_view type : {"link", "address", "route", "rule", "reachability", "resync"}) {
    EXPECT_EQ(valueOf(text, "netmon_events_total", {{"type", std::string(type)}}), 0) << type;
  }
  for (std::string_view family : {"ipv4", "ipv6", "any"}) {
    EXPECT_EQ(valueOf(text, "netmon_reachability_changes_total", {{"family", std::string(family)}}), 0) << family;
  }
  EXPECT_EQ(valueOf(text, "netmon_http_connections_rejected_total", {{"reason", "limit"}}), 0);
  EXPECT_EQ(valueOf(text, "netmon_http_connections_rejected_total", {{"reason", "evicted"}}), 0);
  EXPECT_EQ(valueOf(text, "netmon_sse_clients_dropped_total", {{"reason", "queue-overflow"}}), 0);
  EXPECT_EQ(valueOf(text, "netmon_http_connections"), 0);
  EXPECT_EQ(valueOf(text, "netmon_sse_clients"), 0);
}

TEST(ServeMetricsCounting, CountEventIncrementsEventsAndReachabilityChanges) {
  DaemonMetrics metrics;
  const auto changed = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  metrics.countEvent(linkEvent());
  metrics.countEvent(linkEvent());
  metrics.countEvent(reachabilityEvent(Family::Ipv6, changed - std::chrono::seconds(5)));
  metrics.countEvent(reachabilityEvent(Family::Unspecified, changed));
  const std::string text =
      metrics.render(Snapshot(), MetricsFormat::PrometheusText, changed + std::chrono::seconds(30));

  EXPECT_EQ(valueOf(text, "netmon_events_total", {{"type", "link"}}), 2);
  EXPECT_EQ(valueOf(text, "netmon_events_total", {{"type", "reachability"}}), 2);
  EXPECT_EQ(valueOf(text, "netmon_events_total", {{"type", "route"}}), 0);
  EXPECT_EQ(valueOf(text, "netmon_reachability_changes_total", {{"family", "ipv6"}}), 1);
  EXPECT_EQ(valueOf(text, "netmon_reachability_changes_total", {{"family", "any"}}), 1);
  EXPECT_EQ(valueOf(text, "netmon_reachability_changes_total", {{"family", "ipv4"}}), 0);
  EXPECT_EQ(valueOf(text, "netmon_last_change_timestamp_seconds"), 1'700'000'000);
  EXPECT_EQ(valueOf(text, "netmon_seconds_since_last_change"), 30);
}

TEST(ServeMetricsCounting, LastChangeIsTheStartUntilAReachabilityChange) {
  const auto before = std::chrono::system_clock::now();
  DaemonMetrics metrics;
  const auto after = std::chrono::system_clock::now();
  metrics.countEvent(linkEvent());  // not a reachability change
  const std::string text = metrics.render(Snapshot(), MetricsFormat::PrometheusText, after + std::chrono::seconds(90));
  const std::optional<double> last = valueOf(text, "netmon_last_change_timestamp_seconds");
  ASSERT_TRUE(last.has_value());
  EXPECT_GE(*last, std::chrono::duration<double>(before.time_since_epoch()).count() - 0.001);
  EXPECT_LE(*last, std::chrono::duration<double>(after.time_since_epoch()).count() + 0.001);
  const std::optional<double> since = valueOf(text, "netmon_seconds_since_last_change");
  ASSERT_TRUE(since.has_value());
  EXPECT_NEAR(*since, 90, 1);
}

TEST(ServeMetricsCounting, HttpAndStreamMetrics) {
  DaemonMetrics metrics;
  metrics.countHttpRequest("/metrics", 200);
  metrics.countHttpRequest("/metrics", 200);
  metrics.countHttpRequest("other", 404);
  metrics.countRejectedConnection(ConnectionRejection::Limit);
  metrics.countRejectedConnection(ConnectionRejection::Evicted);
  metrics.countRejectedConnection(ConnectionRejection::Evicted);
  metrics.countStreamOverflow();
  metrics.setOpenConnections(5);
  metrics.setStreamClients(2);
  const std::string text = prometheusText(metrics, Snapshot());
  EXPECT_EQ(valueOf(text, "netmon_http_requests_total", {{"handler", "/metrics"}, {"code", "200"}}), 2);
  EXPECT_EQ(valueOf(text, "netmon_http_requests_total", {{"handler", "other"}, {"code", "404"}}), 1);
  EXPECT_EQ(samplesNamed(text, "netmon_http_requests_total").size(), 2u);
  EXPECT_EQ(valueOf(text, "netmon_http_connections_rejected_total", {{"reason", "limit"}}), 1);
  EXPECT_EQ(valueOf(text, "netmon_http_connections_rejected_total", {{"reason", "evicted"}}), 2);
  EXPECT_EQ(valueOf(text, "netmon_sse_clients_dropped_total", {{"reason", "queue-overflow"}}), 1);
  EXPECT_EQ(valueOf(text, "netmon_http_connections"), 5);
  EXPECT_EQ(valueOf(text, "netmon_sse_clients"), 2);
  metrics.setOpenConnections(1);
  EXPECT_EQ(valueOf(prometheusText(metrics, Snapshot()), "netmon_http_connections"), 1);
}

// ─── OpenMetrics ────────────────────────────────────────────────────────────────────────────────

TEST(ServeMetricsOpenMetrics, CountersAreNamedWithoutTotalAndTheTextEndsWithEof) {
  DaemonMetrics metrics;
  metrics.countEvent(linkEvent());
  const std::string text = metrics.render(onlineSnapshot(), MetricsFormat::OpenMetrics);
  ASSERT_TRUE(text.ends_with("\n# EOF\n")) << text.substr(text.size() > 200 ? text.size() - 200 : 0);
  EXPECT_EQ(text.find("# EOF"), text.size() - 6);  // once, at the end

  EXPECT_NE(text.find("# TYPE netmon_events counter\n"), std::string::npos);
  EXPECT_NE(text.find("# HELP netmon_events "), std::string::npos);
  EXPECT_NE(text.find("\nnetmon_events_total{type=\"link\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE netmon_netlink_messages counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE process_cpu_seconds counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE netmon_links gauge\n"), std::string::npos);
  EXPECT_EQ(text.find("_total counter"), std::string::npos);
  EXPECT_EQ(text.find("_total gauge"), std::string::npos);

  // Every sample belongs to the family its TYPE line announced: counters with `_total`, gauges as named.
  std::string family;
  bool counter = false;
  for (std::string_view line : linesOf(text)) {
    if (line.starts_with("# TYPE ")) {
      line.remove_prefix(7);
      const size_t space = line.find(' ');
      family = line.substr(0, space);
      counter = line.substr(space + 1) == "counter";
      EXPECT_TRUE(counter || line.substr(space + 1) == "gauge") << line;
    } else if (!line.starts_with('#')) {
      const std::optional<Sample> sample = parseSample(line);
      ASSERT_TRUE(sample.has_value()) << line;
      EXPECT_EQ(sample->name, counter ? family + "_total" : family) << line;
    }
  }
}

TEST(ServeMetricsOpenMetrics, SameSamplesAsThePrometheusFormat) {
  DaemonMetrics metrics;
  metrics.countEvent(reachabilityEvent(Family::Ipv4, std::chrono::system_clock::now()));
  metrics.countHttpRequest("/v1/status", 200);
  const Snapshot snapshot = onlineSnapshot();
  const auto now = std::chrono::system_clock::now();
  const std::vector<Sample> prometheus = samplesOf(metrics.render(snapshot, MetricsFormat::PrometheusText, now));
  const std::vector<Sample> openMetrics = samplesOf(metrics.render(snapshot, MetricsFormat::OpenMetrics, now));
  ASSERT_EQ(prometheus.size(), openMetrics.size());
  for (size_t i = 0; i < prometheus.size(); ++i) {
    SCOPED_TRACE(prometheus[i].name);
    EXPECT_EQ(prometheus[i].name, openMetrics[i].name);
    EXPECT_EQ(prometheus[i].labels, openMetrics[i].labels);
    if (prometheus[i].name.starts_with("process_")) continue;  // CPU time and memory move between renders
    EXPECT_DOUBLE_EQ(std::stod(prometheus[i].value), std::stod(openMetrics[i].value));
  }
}

// ─── Escaping ───────────────────────────────────────────────────────────────────────────────────

TEST(ServeMetricsEscaping, LabelValuesEscapeQuoteBackslashAndNewline) {
  Snapshot snapshot;
  Link odd = upVeth(4, "we\"ird\\nic");  // interface names may hold any byte but '/', ':' and space
  odd.kind = "line\nbreak";             // no kernel kind holds one, but label values may
  snapshot.links = {odd};
  DaemonMetrics metrics;
  for (MetricsFormat format : {MetricsFormat::PrometheusText, MetricsFormat::OpenMetrics}) {
    SCOPED_TRACE(std::string(contentTypeOf(format)));
    const std::string text = metrics.render(snapshot, format);
    EXPECT_NE(text.find("netmon_link_up{device=\"we\\\"ird\\\\nic\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("kind=\"line\\nbreak\""), std::string::npos);
    EXPECT_EQ(text.find("line\nbreak"), std::string::npos);
    EXPECT_EQ(valueOf(text, "netmon_link_mtu_bytes", {{"device", "we\"ird\\nic"}}), 1500);
    EXPECT_EQ(valueOf(text, "netmon_link_info", {{"device", "we\"ird\\nic"}, {"kind", "line\nbreak"}}), 1);
  }
}

// Prometheus refuses a whole scrape over one label value that is not UTF-8; interface names are
// bytes. Ill-formed bytes become U+FFFD, well-formed characters stay.
TEST(ServeMetricsEscaping, LabelValuesAreMadeValidUtf8) {
  const struct {
    std::string name;
    std::string label;
  } rows[] = {
      {"caf\xC3\xA9", "caf\xC3\xA9"},                          // é: kept
      {"\xF0\x9F\x93\xA1net", "\xF0\x9F\x93\xA1net"},          // a 4-byte character: kept
      {"bad\xFF", "bad\xEF\xBF\xBD"},                          // never valid in UTF-8
      {"cut\xC3", "cut\xEF\xBF\xBD"},                          // truncated sequence
      {"\xC0\xAFx", "\xEF\xBF\xBD\xEF\xBF\xBDx"},              // overlong '/'
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // a surrogate
  };
  for (const auto& row : rows) {
    Snapshot snapshot;
    snapshot.links = {upVeth(5, row.name)};
    DaemonMetrics metrics;
    const std::string text = prometheusText(metrics, snapshot);
    EXPECT_EQ(valueOf(text, "netmon_link_up", {{"device", row.label}}), 1) << row.label;
  }
}

// ─── promtool ───────────────────────────────────────────────────────────────────────────────────

struct CommandResult {
  int status = -1;
  std::string output;
};

CommandResult runShell(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST(ServeMetricsPromtool, PrometheusTextPassesPromtoolCheckMetrics) {
  constexpr const char* kPromtool = "/usr/bin/promtool";
  if (access(kPromtool, X_OK) != 0) GTEST_SKIP() << kPromtool << " is not installed (Debian package prometheus)";

  DaemonMetrics metrics;
  metrics.countEvent(linkEvent());
  metrics.countEvent(reachabilityEvent(Family::Ipv4, std::chrono::system_clock::now()));
  metrics.countHttpRequest("/metrics", 200);
  metrics.countHttpRequest("other", 404);
  metrics.countRejectedConnection(ConnectionRejection::Evicted);
  metrics.countStreamOverflow();
  metrics.setOpenConnections(3);
  Snapshot snapshot = onlineSnapshot();
  snapshot.links.push_back(upVeth(9, "we\"ird\\nic"));
  snapshot.links.push_back(upVeth(10, "bad\xFF\xFE"));
  snapshot.counters.messages = 42;

  const std::filesystem::path file =
      std::filesystem::path(::testing::TempDir()) / ("netmon-metrics-" + std::to_string(getpid()) + ".prom");
  {
    std::ofstream out(file);
    out << metrics.render(snapshot, MetricsFormat::PrometheusText);
    ASSERT_TRUE(out.good());
  }
  const CommandResult result = runShell(std::string(kPromtool) + " check metrics < '" + file.string() + "' 2>&1");
  std::filesystem::remove(file);
  EXPECT_EQ(result.status, 0) << result.output;
  EXPECT_EQ(result.output, "");
}

}  // namespace
}  // namespace netmon::serve
