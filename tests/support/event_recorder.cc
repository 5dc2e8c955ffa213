#include "support/event_recorder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/netns.h"

namespace netmon::test {
namespace {

std::string flagWords(uint32_t flags) {
  static const std::pair<uint32_t, const char*> kFlags[] = {
      {0x1, "UP"}, {0x8, "LOOPBACK"}, {0x40, "RUNNING"}, {0x10000, "LOWER_UP"}, {0x20000, "DORMANT"}};
  std::string words;
  for (const auto& [bit, word] : kFlags) {
    if (flags & bit) words += (words.empty() ? "" : ",") + std::string(word);
  }
  return words.empty() ? "-" : words;
}

std::string prefixText(const IpPrefix& p) { return addressText(p.address) + "/" + std::to_string(p.length); }

}  // namespace

std::string describe(const Route& r) {
  std::string text = fmt::format("{} table {} {} type {}", toString(r.family), r.table, prefixText(r.destination),
                                 toString(r.type));
  if (r.gateway.isSpecified()) text += " via " + addressText(r.gateway);
  if (r.linkIndex != 0) text += fmt::format(" dev #{}", r.linkIndex);
  text += fmt::format(" metric {} proto {} scope {}", r.metric, r.protocol, static_cast<int>(r.scope));
  if (r.preferredSource.isSpecified()) text += " src " + addressText(r.preferredSource);
  for (const auto& hop : r.nextHops) text += fmt::format(" nexthop({}@#{})", addressText(hop.gateway), hop.linkIndex);
  return text;
}

std::string describe(const Link& l) {
  return fmt::format("#{} {} kind={} flags={} mtu={} master={} oper={} ignored={}", l.index, l.name,
                     l.kind.empty() ? "-" : l.kind, flagWords(l.flags), l.mtu, l.master,
                     toString(l.operationalState), l.ignored);
}

std::string describe(const Address& a) {
  return fmt::format("#{} {}/{} scope {} flags 0x{:x}{}", a.linkIndex, addressText(a.address), a.prefixLength,
                     static_cast<int>(a.scope), a.flags, a.isTentative() ? " tentative" : "");
}

std::string describe(const Verdict& v) {
  std::string text = fmt::format("{} ({})", toString(v.reachability), toString(v.reason));
  if (v.route) text += " route[" + describe(*v.route) + "]";
  if (!v.linkName.empty()) text += " link " + v.linkName;
  if (v.gateway.isSpecified()) text += " gw " + addressText(v.gateway);
  if (v.uncovered) text += " uncovered " + prefixText(*v.uncovered);
  if (v.ruleTable != 0) text += fmt::format(" table {}", v.ruleTable);
  return text;
}

std::string describe(const Counters& c) {
  return fmt::format(
      "messages={} foreignSenderDropped={} malformed={} unknownSkipped={} overruns={} resyncs={} "
      "dumpsInterrupted={} linkRouteFlushes={} subscriberOverflows={} readErrors={} sendErrors={} socketReopens={} "
      "degraded={}",
      c.messages, c.foreignSenderDropped, c.malformed, c.unknownSkipped, c.overruns, c.resyncs, c.dumpsInterrupted,
      c.linkRouteFlushes, c.subscriberOverflows, c.readErrors, c.sendErrors, c.socketReopens, c.degraded);
}

std::string describe(const Event& event) {
  std::string body = std::visit(
      [](const auto& p) -> std::string {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, LinkEvent>) {
          return fmt::format("link {} {}", toString(p.change), describe(p.link));
        } else if constexpr (std::is_same_v<T, AddressEvent>) {
          return fmt::format("address {} {}", toString(p.change), describe(p.address));
        } else if constexpr (std::is_same_v<T, RouteEvent>) {
          return fmt::format("route {} {}", toString(p.change), describe(p.route));
        } else if constexpr (std::is_same_v<T, RuleEvent>) {
          return fmt::format("rule {} {} pref {} table {} action {}", toString(p.change), toString(p.rule.family),
                             p.rule.priority, p.rule.table, static_cast<int>(p.rule.action));
        } else if constexpr (std::is_same_v<T, ReachabilityEvent>) {
          return fmt::format("reachability {} {} -> {} verdict {}", toString(p.family), toString(p.previous),
                             toString(p.current), describe(p.verdict));
        } else if constexpr (std::is_same_v<T, ConnectionEvent>) {
          return fmt::format("connection #{} {} {} (was {})", p.id, p.target.toString(), p.current.explanation(),
                             p.previous.explanation());
        } else if constexpr (std::is_same_v<T, ProbeEvent>) {
          return fmt::format("probe {} {} status={} redirect={} error={} dev={} bytes={}", toString(p.result.outcome),
                             p.result.url, p.result.httpStatus, p.result.redirect, p.result.error, p.result.interface,
                             p.result.bodyBytes);
        } else {
          return fmt::format("resync {} resyncs={} differences={}", toString(p.reason), p.resyncs, p.differences);
        }
      },
      event.payload);
  return fmt::format("#{} {}", event.sequence, body);
}

EventRecorder::EventRecorder(StatusMonitor& monitor, EventMask mask) {
  last_event_time_ = std::chrono::steady_clock::now();
  subscription_ = monitor.subscribe(
      Executor::inlineOnMonitorThread(), [this](const Event& event) { record(event); }, mask);
  initial_ = monitor.snapshot();
}

EventRecorder::~EventRecorder() { stop(); }

void EventRecorder::stop() { subscription_.reset(); }

void EventRecorder::record(const Event& event) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
    last_event_time_ = std::chrono::steady_clock::now();
  }
  changed_.notify_all();
}

size_t EventRecorder::size() const {
  std::lock_guard lock(mutex_);
  return events_.size();
}

std::vector<Event> EventRecorder::events(size_t from) const {
  std::lock_guard lock(mutex_);
  if (from >= events_.size()) return {};
  return {events_.begin() + static_cast<std::ptrdiff_t>(from), events_.end()};
}

std::optional<Event> EventRecorder::waitFor(const std::string& what, const Predicate& predicate, Deadline deadline,
                                            size_t from) {
  std::unique_lock lock(mutex_);
  size_t next = from;
  while (true) {
    for (; next < events_.size(); ++next) {
      if (predicate(events_[next])) return events_[next];
    }
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout && next == events_.size()) break;
  }
  lock.unlock();
  ADD_FAILURE() << "timed out waiting for: " << what << "\nevents seen since the wait began (" << (size() - from)
                << "):\n"
                << dump(from);
  return std::nullopt;
}

bool EventRecorder::waitUntil(const std::string& what, const std::function<bool()>& condition,
                              std::chrono::milliseconds timeout, const std::function<std::string()>& explain) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const size_t from = size();
  while (true) {
    const size_t seen = size();
    if (condition()) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    std::unique_lock lock(mutex_);
    changed_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(50)),
                        [&] { return events_.size() != seen; });
  }
  ADD_FAILURE() << "timed out after " << timeout.count() << " ms waiting until: " << what << "\n"
                << (explain ? explain() + "\n" : std::string()) << "events during the wait:\n"
                << dump(from);
  return false;
}

bool EventRecorder::waitForQuiet(std::chrono::milliseconds quiet, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  std::unique_lock lock(mutex_);
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    const auto quiet_at = last_event_time_ + quiet;
    if (now >= quiet_at) return true;
    if (now >= deadline) return false;
    changed_.wait_until(lock, std::min(quiet_at, deadline));
  }
}

std::string EventRecorder::dump(size_t from, size_t max) const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  size_t begin = std::min(from, events_.size());
  if (events_.size() - begin > max) {
    out << "  ... " << (events_.size() - begin - max) << " earlier events not shown\n";
    begin = events_.size() - max;
  }
  for (size_t i = begin; i < events_.size(); ++i) out << "  " << describe(events_[i]) << "\n";
  if (begin == events_.size()) out << "  (none)\n";
  return out.str();
}

std::string EventRecorder::reachabilityChainProblems() const {
  std::map<Family, Reachability> last = {{Family::Ipv4, initial_->ipv4.reachability},
                                         {Family::Ipv6, initial_->ipv6.reachability},
                                         {Family::Unspecified, initial_->reachability}};
  std::lock_guard lock(mutex_);
  bool overflowed = false;
  for (const auto& event : events_) {
    if (event.sequence <= initial_->sequence) continue;
    if (const auto* resync = payloadAs<ResyncEvent>(event); resync && resync->reason == ResyncReason::SubscriberOverflow) {
      overflowed = true;  // coalesced: `previous` may then skip values this subscriber never saw
    }
    const auto* r = payloadAs<ReachabilityEvent>(event);
    if (r == nullptr) continue;
    if (r->current == r->previous) return "event with current == previous: " + describe(event);
    if (!overflowed && r->previous != last[r->family]) {
      return fmt::format("{}: previous is {}, but the last value delivered (or the initial snapshot's) was {}",
                         describe(event), toString(r->previous), toString(last[r->family]));
    }
    if (r->verdict.reachability != r->current) return "verdict disagrees with current: " + describe(event);
    last[r->family] = r->current;
  }
  return {};
}

bool EventRecorder::sawSubscriberOverflow() const {
  std::lock_guard lock(mutex_);
  return std::any_of(events_.begin(), events_.end(), [](const Event& e) {
    const auto* resync = payloadAs<ResyncEvent>(e);
    return resync && resync->reason == ResyncReason::SubscriberOverflow;
  });
}

EventRecorder::Predicate reachabilityBecomes(Family family, Reachability current) {
  return [=](const Event& e) {
    const auto* r = payloadAs<ReachabilityEvent>(e);
    return r && r->family == family && r->current == current;
  };
}

EventRecorder::Predicate linkEventWhere(const std::string& name, std::function<bool(const LinkEvent&)> condition) {
  return [=](const Event& e) {
    const auto* l = payloadAs<LinkEvent>(e);
    return l && l->link.name == name && condition(*l);
  };
}

EventRecorder::Predicate routeEventWhere(Change change, std::function<bool(const Route&)> condition) {
  return [=](const Event& e) {
    const auto* r = payloadAs<RouteEvent>(e);
    return r && r->change == change && condition(r->route);
  };
}

EventRecorder::Predicate addressEvent(Change change, const std::string& text) {
  return [=](const Event& e) {
    const auto* a = payloadAs<AddressEvent>(e);
    return a && a->change == change && addressText(a->address.address) == text;
  };
}

EventRecorder::Predicate ruleEvent(Change change, Family family, uint32_t priority) {
  return [=](const Event& e) {
    const auto* r = payloadAs<RuleEvent>(e);
    return r && r->change == change && r->rule.family == family && r->rule.priority == priority;
  };
}

MonitorOptions optionsFor(const TestNamespace& ns) {
  MonitorOptions options;  // (designated initialisers would trip -Wmissing-field-initializers)
  options.networkNamespace = ns.name();
  options.ignore = LinkFilter::none();
  return options;
}

std::string mirrorKernelDifferences(const TestNamespace& ns, const Snapshot& snapshot, unsigned aspects) {
  std::string out;
  auto check = [&](unsigned aspect, const char* what, std::vector<std::string> kernel,
                   std::vector<std::string> mirror) {
    if (!(aspects & aspect)) return;
    const std::string diff = diffLines(kernel, mirror);
    if (!diff.empty()) out += std::string(what) + ": " + diff;
  };
  if (aspects & kRoutes) check(kRoutes, "routes", kernelRoutes(ns), mirrorRoutes(snapshot));
  if (aspects & kAddresses) check(kAddresses, "addresses", kernelAddresses(ns), mirrorAddresses(snapshot));
  if (aspects & kLinks) check(kLinks, "links", kernelLinks(ns), mirrorLinks(snapshot));
  if (aspects & kRules) check(kRules, "rules", kernelRules(ns), mirrorRules(snapshot));
  return out;
}

bool waitForMirrorToMatchKernel(const TestNamespace& ns, const StatusMonitor& monitor, EventRecorder& recorder,
                                unsigned aspects, std::chrono::milliseconds timeout) {
  std::string last;
  return recorder.waitUntil(
      "the monitor's mirror equals the kernel's state (ip -j)",
      [&] {
        last = mirrorKernelDifferences(ns, *monitor.snapshot(), aspects);
        return last.empty();
      },
      timeout, [&] { return "last differences:\n" + last + "counters: " + describe(monitor.counters()); });
}

IpAddress address(const std::string& text) {
  // inet_pton rather than IpAddress::parse(), so that expectations do not rest on the code under test.
  uint8_t bytes[16];
  if (::inet_pton(AF_INET, text.c_str(), bytes) == 1) return IpAddress::v4(bytes);
  if (::inet_pton(AF_INET6, text.c_str(), bytes) == 1) return IpAddress::v6(bytes);
  ADD_FAILURE() << "not an IP address: " << text;
  return {};
}

IpPrefix prefix(const std::string& text) {
  const auto slash = text.find('/');
  IpPrefix result;
  result.address = address(text.substr(0, slash));
  result.length = slash == std::string::npos
                      ? static_cast<uint8_t>(result.address.size() * 8)
                      : static_cast<uint8_t>(std::stoi(text.substr(slash + 1)));
  return result;
}

}  // namespace netmon::test
