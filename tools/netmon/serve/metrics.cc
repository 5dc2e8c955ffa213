#include "serve/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "netmon/version.h"

namespace netmon::serve {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// ─── Accept negotiation ─────────────────────────────────────────────────────────────────────────

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t";  // RFC 9110 OWS
  const size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The weight of one media range's parameters (";version=1.0.0;q=0.5"): 1 without a q, 0 for a q
// that is not a number between 0 and 1 — a garbled header gets the format every scraper reads.
double qualityOf(std::string_view parameters) {
  double quality = 1;
  while (!parameters.empty()) {
    const size_t semicolon = parameters.find(';');
    const std::string_view parameter = parameters.substr(0, semicolon);
    parameters = semicolon == std::string_view::npos ? std::string_view() : parameters.substr(semicolon + 1);
    const size_t equals = parameter.find('=');
    if (equals == std::string_view::npos || !equalsIgnoringCase(trim(parameter.substr(0, equals)), "q")) continue;
    const std::string_view value = trim(parameter.substr(equals + 1));
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), quality);
    if (error != std::errc() || end != value.data() + value.size() || !(quality >= 0 && quality <= 1)) return 0;
  }
  return quality;
}

// ─── Label values ───────────────────────────────────────────────────────────────────────────────

// The length of the well-formed UTF-8 sequence `text` starts with (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0 when it starts with an ill-formed one.
size_t utf8SequenceLength(std::string_view text) {
  const auto byte = [text](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80;  // the bounds of the second byte
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

// Prometheus fails the whole scrape on one label value that is not UTF-8 ("invalid label value"),
// and interface names are arbitrary bytes: each ill-formed byte becomes U+FFFD, as in the JSON API.
std::string validUtf8(std::string text) {
  std::string_view rest = text;
  while (!rest.empty() && utf8SequenceLength(rest) > 0) rest.remove_prefix(utf8SequenceLength(rest));
  if (rest.empty()) return text;
  std::string out(text.data(), text.size() - rest.size());
  while (!rest.empty()) {
    const size_t length = utf8SequenceLength(rest);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      rest.remove_prefix(1);
    } else {
      out += rest.substr(0, length);
      rest.remove_prefix(length);
    }
  }
  return out;
}

// ─── Building the state-derived families ───────────────────────────────────────────────────────

// The families rendered from a Snapshot, in order: gauge()/counter() start a family, sample()
// appends a series to the family started last.
class FamilyList {
 public:
  FamilyList& gauge(std::string name, std::string help) {
    return start(std::move(name), std::move(help), MetricType::Gauge);
  }
  FamilyList& counter(std::string name, std::string help) {
    return start(std::move(name), std::move(help), MetricType::Counter);
  }
  FamilyList& sample(double value, Labels labels = {}) {
    MetricFamily& family = families_.back();
    ClientMetric metric;
    for (ClientMetric::Label& label : labels) label.value = validUtf8(std::move(label.value));
    metric.label = std::move(labels);
    if (family.type == MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    family.metric.push_back(std::move(metric));
    return *this;
  }
  std::vector<MetricFamily> take() { return std::move(families_); }

 private:
  FamilyList& start(std::string name, std::string help, MetricType type) {
    MetricFamily family;
    family.name = std::move(name);
    family.help = std::move(help);
    family.type = type;
    families_.push_back(std::move(family));
    return *this;
  }
  std::vector<MetricFamily> families_;
};

double seconds(std::chrono::system_clock::time_point time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

// Every value of an enum, read from its string table: the values whose word parses back to
// themselves (a value outside the table prints "unknown", which parses to something else or not at
// all). A state added to the enum thus gets its state-set series without an edit here.
template <typename Enum, typename Parse>
std::vector<Enum> allValues(Parse parse) {
  static_assert(sizeof(Enum) == 1, "scans the 256 values of a uint8_t enum");
  std::vector<Enum> values;
  for (unsigned raw = 0; raw <= 255; ++raw) {
    const auto value = static_cast<Enum>(raw);
    if (parse(toString(value)) == value) values.push_back(value);
  }
  return values;
}

const std::vector<Reachability>& allReachabilities() {
  static const std::vector<Reachability> values = allValues<Reachability>(reachabilityFromString);
  return values;
}

const std::vector<OperationalState>& allOperationalStates() {
  static const std::vector<OperationalState> values = allValues<OperationalState>(operationalStateFromString);
  return values;
}

// The family label's values, spelt by toString(Family): "ipv4", "ipv6", and "any" for the overall
// reachability (the better of the two).
constexpr std::array kReachabilityFamilies = {Family::Ipv4, Family::Ipv6, Family::Unspecified};

Reachability reachabilityOf(const Snapshot& snapshot, Family family) {
  if (family == Family::Ipv4) return snapshot.ipv4.reachability;
  if (family == Family::Ipv6) return snapshot.ipv6.reachability;
  return snapshot.reachability;
}

const Verdict& verdictOf(const Snapshot& snapshot, Family family) {
  if (family == Family::Ipv4) return snapshot.ipv4.verdict;
  if (family == Family::Ipv6) return snapshot.ipv6.verdict;
  return snapshot.verdict;
}

// The verdict's interface as the JSON API names it: its own name, else the snapshot's name for it.
std::string interfaceOf(const Verdict& verdict, const Snapshot& snapshot) {
  if (!verdict.linkName.empty() || verdict.linkIndex == 0) return verdict.linkName;
  const Link* link = snapshot.findLink(verdict.linkIndex);
  return link ? link->name : std::string();
}

void appendReachability(FamilyList& out, const Snapshot& snapshot) {
  out.gauge("netmon_reachability",
            "Reachability per address family (any = the better of ipv4 and ipv6): 1 for the current state, "
            "0 for the others. Online means the kernel routes the public Internet, not that a server answers.");
  for (Family family : kReachabilityFamilies) {
    const Reachability current = reachabilityOf(snapshot, family);
    for (Reachability state : allReachabilities()) {
      out.sample(state == current ? 1 : 0,
                 {{"family", std::string(toString(family))}, {"state", std::string(toString(state))}});
    }
  }
  out.gauge("netmon_reachability_info",
            "Evidence for the reachability per address family, always 1: the reason, and the interface and "
            "gateway the verdict rests on (empty when there is none).");
  for (Family family : kReachabilityFamilies) {
    const Verdict& verdict = verdictOf(snapshot, family);
    out.sample(1, {{"family", std::string(toString(family))},
                   {"reason", std::string(toString(verdict.reason))},
                   {"interface", interfaceOf(verdict, snapshot)},
                   {"gateway", verdict.gateway.toString()}});
  }
  out.gauge("netmon_transport_medium_info",
            "Medium of the link that carries the Internet route (none when no link does), always 1.")
      .sample(1, {{"medium", std::string(toString(snapshot.transportMedium))}});
}

// The active probe (netmon serve --probe). The runs counter and netmon_captive_portal always exist
// (0 without a probe); the outcome state set and the latency only once a probe has run.
void appendProbe(FamilyList& out, const Snapshot& snapshot) {
  out.gauge("netmon_captive_portal",
            "1 while the active probe finds a captive portal on the Internet route (advice, not proof: a plain-HTTP "
            "probe can be forged on the path).")
      .sample(snapshot.captivePortal ? 1 : 0);
  out.counter("netmon_probe_runs_total", "Active probe runs, by outcome.");
  const std::pair<ProbeOutcome, uint64_t> runs[] = {
      {ProbeOutcome::Online, snapshot.counters.probesOnline},
      {ProbeOutcome::CaptivePortal, snapshot.counters.probesCaptivePortal},
      {ProbeOutcome::NoAnswer, snapshot.counters.probesNoAnswer},
  };
  for (const auto& [outcome, count] : runs) out.sample(double(count), {{"outcome", std::string(toString(outcome))}});
  if (!snapshot.probe) return;
  out.gauge("netmon_probe_outcome", "Outcome of the last active probe: 1 for the current outcome, 0 for the others.");
  for (const auto& [outcome, count] : runs) {
    out.sample(outcome == snapshot.probe->outcome ? 1 : 0, {{"outcome", std::string(toString(outcome))}});
  }
  out.gauge("netmon_probe_latency_seconds", "Duration of the last active probe, to its answer or its failure.")
      .sample(snapshot.probe->latency.count());
  out.gauge("netmon_probe_timestamp_seconds", "Unix time the last active probe finished.")
      .sample(seconds(snapshot.probe->time));
}

void appendLinks(FamilyList& out, const Snapshot& snapshot) {
  const auto device = [](const Link& link) { return Labels{{"device", link.name}}; };
  out.gauge("netmon_link_up", "Whether the link is administratively up (IFF_UP).");
  for (const Link& link : snapshot.links) out.sample(link.isUp() ? 1 : 0, device(link));
  out.gauge("netmon_link_carrier", "Whether the link has carrier (IFF_LOWER_UP).");
  for (const Link& link : snapshot.links) out.sample(link.hasCarrier() ? 1 : 0, device(link));
  out.gauge("netmon_link_operational_state",
            "Operational state of the link in systemd-networkd's words: 1 for the current state, 0 for the others.");
  for (const Link& link : snapshot.links) {
    for (OperationalState state : allOperationalStates()) {
      out.sample(state == link.operationalState ? 1 : 0,
                 {{"device", link.name}, {"state", std::string(toString(state))}});
    }
  }
  out.gauge("netmon_link_info",
            "Attributes of the link, always 1: kind (empty for hardware), MAC (empty when none), medium, ifindex.");
  for (const Link& link : snapshot.links) {
    out.sample(1, {{"device", link.name},
                   {"kind", link.kind},
                   {"mac", link.hardwareAddress.length == 0 ? std::string() : link.hardwareAddress.toString()},
                   {"medium", std::string(toString(link.medium))},
                   {"ifindex", std::to_string(link.index)}});
  }
  out.gauge("netmon_link_mtu_bytes", "MTU of the link in bytes.");
  for (const Link& link : snapshot.links) out.sample(link.mtu, device(link));
}

void appendCounts(FamilyList& out, const Snapshot& snapshot) {
  out.gauge("netmon_links", "Links in the kernel's table, loopback and ignored links included.")
      .sample(double(snapshot.links.size()));
  size_t ipv4 = 0;
  size_t ipv6 = 0;
  for (const Address& address : snapshot.addresses) {
    if (address.family() == Family::Ipv4) ++ipv4;
    if (address.family() == Family::Ipv6) ++ipv6;
  }
  out.gauge("netmon_addresses", "Addresses on all links by family, loopback and tentative ones included.")
      .sample(double(ipv4), {{"family", std::string(toString(Family::Ipv4))}})
      .sample(double(ipv6), {{"family", std::string(toString(Family::Ipv6))}});
  out.gauge("netmon_routes", "Routes of all tables and both families.").sample(double(snapshot.routeCount()));
  out.gauge("netmon_rules", "Policy routing rules of both families.").sample(double(snapshot.rules.size()));
}

void appendMonitorCounters(FamilyList& out, const Counters& counters) {
  const auto counter = [&out](const char* name, const char* help, uint64_t value) {
    out.counter(name, help).sample(double(value));
  };
  counter("netmon_netlink_messages_total", "Netlink messages handled, events and dumps.", counters.messages);
  counter("netmon_netlink_foreign_sender_dropped_total", "Netlink datagrams not sent by the kernel, dropped.",
          counters.foreignSenderDropped);
  counter("netmon_netlink_malformed_total", "Truncated or overlong netlink messages or attributes, skipped.",
          counters.malformed);
  counter("netmon_netlink_unknown_skipped_total", "Netlink messages of unknown types, skipped.",
          counters.unknownSkipped);
  counter("netmon_netlink_overruns_total", "Socket overruns (ENOBUFS): the kernel dropped notifications for netmon.",
          counters.overruns);
  counter("netmon_resyncs_total", "Completed re-dumps that diffed the mirror to the kernel's state.",
          counters.resyncs);
  counter("netmon_netlink_dumps_interrupted_total", "Netlink dumps interrupted (NLM_F_DUMP_INTR) and redone.",
          counters.dumpsInterrupted);
  counter("netmon_link_route_flushes_total", "Routes flushed by a link going down, reconciled without RTM_DELROUTE.",
          counters.linkRouteFlushes);
  counter("netmon_subscriber_overflows_total", "Subscriber queues that overflowed and were coalesced.",
          counters.subscriberOverflows);
  counter("netmon_netlink_read_errors_total", "Netlink socket read errors other than ENOBUFS, survived.",
          counters.readErrors);
  counter("netmon_netlink_send_errors_total", "Netlink requests (dumps) that could not be sent, retried.",
          counters.sendErrors);
  counter("netmon_netlink_socket_reopens_total",
          "Notification sockets replaced after a receive error, each followed by a resync.", counters.socketReopens);
  counter("netmon_callback_exceptions_total", "Exceptions thrown by subscriber callbacks, caught.",
          counters.callbackExceptions);
  counter("netmon_routes_refused_total", "Routes beyond the mirror's capacity, not kept.", counters.routesRefused);
  out.gauge("netmon_degraded", "1 when a kernel dump could not complete after bounded retries (state may be stale).")
      .sample(counters.degraded ? 1 : 0);
}

void appendLookupCounters(FamilyList& out, const ConnectionCounters& counters) {
  out.counter("netmon_route_lookups_total", "Route lookups sent to the kernel (/v1/reach).")
      .sample(double(counters.kernelLookups));
  out.counter("netmon_route_lookup_overruns_total", "Overruns (ENOBUFS) of the route lookup socket, requests resent.")
      .sample(double(counters.lookupOverruns));
  out.counter("netmon_route_lookup_socket_errors_total",
              "Other failed send/receive calls of the route lookup socket; the lookup failed (503).")
      .sample(double(counters.lookupSocketErrors));
}

// ─── process_* ──────────────────────────────────────────────────────────────────────────────────
// The names and meanings of Prometheus' client libraries (client_golang's process collector reads
// the same files). A file that cannot be read leaves its metrics out of the scrape.

struct ProcessStat {
  double cpuSeconds = 0;
  double startTimeSeconds = 0;
  double virtualBytes = 0;
  double residentBytes = 0;
};

std::optional<std::string> readFile(const char* path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return std::nullopt;
  return text.str();
}

// The boot time in seconds since the epoch, from /proc/stat's "btime" line.
std::optional<double> bootTime() {
  const std::optional<std::string> stat = readFile("/proc/stat");
  if (!stat) return std::nullopt;
  std::istringstream lines(*stat);
  std::string key;
  double value = 0;
  while (lines >> key) {
    if (key == "btime" && lines >> value) return value;
    lines.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

// proc(5), /proc/pid/stat: fields 14 utime, 15 stime, 22 starttime (clock ticks since boot),
// 23 vsize (bytes), 24 rss (pages). The command name (field 2) may hold spaces and parentheses, so
// the fields are counted from the last ')'.
std::optional<ProcessStat> readProcessStat() {
  const std::optional<std::string> stat = readFile("/proc/self/stat");
  const std::optional<double> boot = bootTime();
  const long ticks = sysconf(_SC_CLK_TCK);
  const long page = sysconf(_SC_PAGESIZE);
  if (!stat || !boot || ticks <= 0 || page <= 0) return std::nullopt;
  const size_t close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat->substr(close + 1));
  std::vector<std::string> field;  // field[0] is field 3 (state)
  for (std::string word; fields >> word;) field.push_back(word);
  if (field.size() < 22) return std::nullopt;
  const auto number = [&field](size_t proc_field) -> std::optional<double> {
    uint64_t value = 0;
    const std::string& text = field[proc_field - 3];
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return double(value);
  };
  const auto utime = number(14), stime = number(15), start = number(22), vsize = number(23), rss = number(24);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  ProcessStat out;
  out.cpuSeconds = (*utime + *stime) / double(ticks);
  out.startTimeSeconds = *boot + *start / double(ticks);
  out.virtualBytes = *vsize;
  out.residentBytes = *rss * double(page);
  return out;
}

std::optional<double> openFileDescriptors() {
  std::error_code error;
  std::filesystem::directory_iterator entries("/proc/self/fd", error);
  if (error) return std::nullopt;
  double count = 0;
  for (; entries != std::filesystem::directory_iterator(); entries.increment(error)) {
    if (error) return std::nullopt;
    ++count;
  }
  if (error) return std::nullopt;
  return count - 1;  // the descriptor that reads the directory is listed too
}

void appendProcessMetrics(FamilyList& out) {
  if (const std::optional<double> open = openFileDescriptors()) {
    out.gauge("process_open_fds", "Number of open file descriptors.").sample(*open);
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    const double max = limit.rlim_cur == RLIM_INFINITY ? HUGE_VAL : double(limit.rlim_cur);
    out.gauge("process_max_fds", "Maximum number of open file descriptors.").sample(max);
  }
  if (const std::optional<ProcessStat> stat = readProcessStat()) {
    out.gauge("process_resident_memory_bytes", "Resident memory size in bytes.").sample(stat->residentBytes);
    out.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").sample(stat->virtualBytes);
    out.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
        .sample(stat->startTimeSeconds);
    out.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
        .sample(stat->cpuSeconds);
  }
}

// ─── OpenMetrics 1.0.0 text ─────────────────────────────────────────────────────────────────────
// https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md
// prometheus-cpp writes only Prometheus' format, so this writes the same families the way
// OpenMetrics differs from it: a counter family is named without `_total` and its samples with it;
// label values and HELP escape `\`, `"` and newline; +Inf, -Inf and NaN are spelt so; the
// exposition ends with "# EOF". Only counters and gauges are made above, so nothing else is handled.

void appendEscaped(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void appendNumber(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    std::array<char, 32> text{};  // the shortest round-trip form of a double takes at most 24
    const auto result = std::to_chars(text.data(), text.data() + text.size(), value);
    out.append(text.data(), result.ptr);
  }
}

std::string serializeOpenMetrics(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const MetricFamily& family : families) {
    assert(family.type == MetricType::Counter || family.type == MetricType::Gauge);
    const bool counter = family.type == MetricType::Counter;
    std::string name = family.name;
    if (counter && name.ends_with("_total")) name.resize(name.size() - std::string_view("_total").size());
    out += "# TYPE " + name + (counter ? " counter\n" : " gauge\n");
    out += "# HELP " + name + ' ';
    appendEscaped(out, family.help);
    out += '\n';
    for (const ClientMetric& metric : family.metric) {
      out += name;
      if (counter) out += "_total";
      if (!metric.label.empty()) {
        out += '{';
        for (size_t i = 0; i < metric.label.size(); ++i) {
          if (i > 0) out += ',';
          out += metric.label[i].name + "=\"";
          appendEscaped(out, metric.label[i].value);
          out += '"';
        }
        out += '}';
      }
      out += ' ';
      appendNumber(out, counter ? metric.counter.value : metric.gauge.value);
      out += '\n';
    }
  }
  out += "# EOF\n";
  return out;
}

// ─── Label values of the daemon's own enums ────────────────────────────────────────────────────

std::string_view rejectionWord(ConnectionRejection why) {
  switch (why) {
    case ConnectionRejection::Limit:
      return "limit";
    case ConnectionRejection::Evicted:
      return "evicted";
    case ConnectionRejection::Descriptors:
      return "descriptors";
  }
  return "unknown";
}

constexpr std::array kConnectionRejections = {ConnectionRejection::Limit, ConnectionRejection::Evicted,
                                              ConnectionRejection::Descriptors};

std::string_view operationWord(SocketOperation operation) {
  switch (operation) {
    case SocketOperation::Accept:
      return "accept";
    case SocketOperation::Receive:
      return "receive";
    case SocketOperation::Send:
      return "send";
  }
  return "unknown";
}

constexpr std::array kSocketOperations = {SocketOperation::Accept, SocketOperation::Receive, SocketOperation::Send};

// The status monitor's event kinds; ConnectionEvent comes from the connection monitor only, and
// would get its series when first counted.
constexpr std::array kStatusEventKinds = {EventKind::Link,         EventKind::Address, EventKind::Route,
                                          EventKind::Rule,         EventKind::Reachability,
                                          EventKind::Resync,       EventKind::Probe};

constexpr std::string_view kQueueOverflow = "queue-overflow";

}  // namespace

MetricsFormat negotiateMetricsFormat(std::string_view accept) {
  while (!accept.empty()) {
    const size_t comma = accept.find(',');
    const std::string_view range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    const size_t semicolon = range.find(';');
    const std::string_view type = trim(range.substr(0, semicolon));
    if (!equalsIgnoringCase(type, "application/openmetrics-text")) continue;
    const std::string_view parameters =
        semicolon == std::string_view::npos ? std::string_view() : range.substr(semicolon + 1);
    if (qualityOf(parameters) > 0) return MetricsFormat::OpenMetrics;
  }
  return MetricsFormat::PrometheusText;
}

std::string_view contentTypeOf(MetricsFormat format) {
  return format == MetricsFormat::OpenMetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                              : "text/plain; version=0.0.4; charset=utf-8";
}

// References into registry_, which owns the families and their series.
struct DaemonMetrics::Families {
  prometheus::Family<prometheus::Counter>& events;
  prometheus::Family<prometheus::Counter>& reachabilityChanges;
  prometheus::Family<prometheus::Counter>& httpRequests;
  prometheus::Family<prometheus::Counter>& rejectedConnections;
  prometheus::Family<prometheus::Counter>& socketErrors;
  prometheus::Counter& streamOverflows;
  prometheus::Gauge& openConnections;
  prometheus::Gauge& streamClients;
};

DaemonMetrics::DaemonMetrics()
    : registry_(std::make_unique<prometheus::Registry>()),
      started_(std::chrono::system_clock::now()),
      lastChange_(started_) {
  prometheus::Registry& registry = *registry_;
  auto& events = prometheus::BuildCounter()
                     .Name("netmon_events_total")
                     .Help("Events of the status monitor, by type.")
                     .Register(registry);
  auto& changes = prometheus::BuildCounter()
                      .Name("netmon_reachability_changes_total")
                      .Help("Changes of reachability per address family (any = the better of ipv4 and ipv6).")
                      .Register(registry);
  auto& requests = prometheus::BuildCounter()
                       .Name("netmon_http_requests_total")
                       .Help("HTTP requests answered, by handler (other for unknown paths) and status code.")
                       .Register(registry);
  auto& rejected = prometheus::BuildCounter()
                       .Name("netmon_http_connections_rejected_total")
                       .Help("HTTP connections turned away: limit (every slot busy, 503), evicted (idle or "
                             "slow to send its request, closed to make room) or descriptors (the process was out "
                             "of file descriptors, 503).")
                       .Register(registry);
  auto& socketErrors = prometheus::BuildCounter()
                           .Name("netmon_http_socket_errors_total")
                           .Help("Failed socket calls of the HTTP server, by operation (accept, receive, send); "
                                 "a failed receive or send closes its connection.")
                           .Register(registry);
  auto& dropped = prometheus::BuildCounter()
                      .Name("netmon_sse_clients_dropped_total")
                      .Help("Event-stream clients disconnected, by reason (queue-overflow: fell too far behind).")
                      .Register(registry);
  auto& connections = prometheus::BuildGauge()
                          .Name("netmon_http_connections")
                          .Help("Open HTTP connections, event streams included.")
                          .Register(registry);
  auto& streams =
      prometheus::BuildGauge().Name("netmon_sse_clients").Help("Connected event-stream clients.").Register(registry);

  // Series that exist from the start at 0, so rate() and absent() work before the first event.
  for (EventKind kind : kStatusEventKinds) events.Add({{"type", std::string(toString(kind))}});
  for (Family family : kReachabilityFamilies) changes.Add({{"family", std::string(toString(family))}});
  for (ConnectionRejection why : kConnectionRejections) rejected.Add({{"reason", std::string(rejectionWord(why))}});
  for (SocketOperation operation : kSocketOperations) socketErrors.Add({{"operation", std::string(operationWord(operation))}});

  families_ = std::make_unique<Families>(Families{events, changes, requests, rejected, socketErrors,
                                                 dropped.Add({{"reason", std::string(kQueueOverflow)}}),
                                                 connections.Add({}), streams.Add({})});
}

DaemonMetrics::~DaemonMetrics() = default;

void DaemonMetrics::countEvent(const Event& event) {
  families_->events.Add({{"type", std::string(toString(event.kind()))}}).Increment();
  if (const auto* reachability = std::get_if<ReachabilityEvent>(&event.payload)) {
    families_->reachabilityChanges.Add({{"family", std::string(toString(reachability->family))}}).Increment();
    // An event made by hand without a time counts as now.
    lastChange_ = event.time.time_since_epoch().count() != 0 ? event.time : std::chrono::system_clock::now();
  }
}

void DaemonMetrics::countHttpRequest(std::string_view handler, unsigned status) {
  families_->httpRequests.Add({{"handler", validUtf8(std::string(handler))}, {"code", std::to_string(status)}})
      .Increment();
}

void DaemonMetrics::countRejectedConnection(ConnectionRejection why) {
  families_->rejectedConnections.Add({{"reason", std::string(rejectionWord(why))}}).Increment();
}

void DaemonMetrics::countSocketError(SocketOperation operation) {
  families_->socketErrors.Add({{"operation", std::string(operationWord(operation))}}).Increment();
}

void DaemonMetrics::countStreamOverflow() { families_->streamOverflows.Increment(); }

void DaemonMetrics::setOpenConnections(size_t open) { families_->openConnections.Set(double(open)); }

void DaemonMetrics::setStreamClients(size_t open) { families_->streamClients.Set(double(open)); }

std::string DaemonMetrics::render(const Snapshot& snapshot, MetricsFormat format,
                                  std::chrono::system_clock::time_point now, const ConnectionCounters& lookups) const {
  FamilyList out;
  out.gauge("netmon_build_info", "The netmon version that runs, always 1.")
      .sample(1, {{"version", NETMON_VERSION_STRING}});
  appendReachability(out, snapshot);
  appendProbe(out, snapshot);
  appendLinks(out, snapshot);
  appendCounts(out, snapshot);
  appendMonitorCounters(out, snapshot.counters);
  appendLookupCounters(out, lookups);
  out.gauge("netmon_last_change_timestamp_seconds",
            "Unix time of the last reachability change of any family, or of the daemon's start when none.")
      .sample(seconds(lastChange_));
  // A clock stepped back past the last change reads as 0, not as a negative age.
  out.gauge("netmon_seconds_since_last_change", "Seconds since the last reachability change of any family.")
      .sample(std::max(0.0, seconds(now) - seconds(lastChange_)));
  appendProcessMetrics(out);

  std::vector<MetricFamily> families = out.take();
  for (MetricFamily& family : registry_->Collect()) families.push_back(std::move(family));
  if (format == MetricsFormat::OpenMetrics) return serializeOpenMetrics(families);
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace netmon::serve
