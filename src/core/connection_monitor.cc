// ConnectionMonitor: watched connections answered by the kernel's route lookup, re-asked only when
// a change can affect them.
#include "netmon/connection_monitor.h"

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <unordered_map>

#include "core/connection_logic.h"
#include "core/route_lookup.h"
#include "core/status_monitor_access.h"
#include "core/subscription_registry.h"
#include "core/thread_annotations.h"
#include "rtnl/route_lookup.h"

namespace netmon {

namespace {
constexpr EventMask kObservedKinds =
    EventMask(EventKind::Link) | EventKind::Address | EventKind::Route | EventKind::Rule | EventKind::Resync;
}  // namespace

class ConnectionMonitor::Impl {
 public:
  Impl(const MonitorOptions& options, std::unique_ptr<detail::RouteLookup> lookup)
      : lookup_(std::move(lookup)),
        registry_(std::make_shared<detail::SubscriptionRegistry>(options.subscriberQueueLimit)) {}

  ~Impl() {
    // The status monitor's thread calls onBatch(): stop it before anything it uses goes.
    status_.reset();
    registry_->close();
  }

  Result<void> start(MonitorOptions options, std::unique_ptr<detail::Backend> backend) {
    auto status = detail::StatusMonitorAccess::create(std::move(options), std::move(backend), kObservedKinds,
                                                      [this](const std::vector<Event>& events) { onBatch(events); });
    if (!status) return tl::unexpected(status.error());
    detail::MutexLock lock(mutex_);
    status_.emplace(std::move(*status));
    // Batches handled before this point re-apply idempotently: a batch's observer runs before the
    // monitor handles the next one, so this snapshot is never newer than the next observed batch.
    const auto snapshot = status_->snapshot();
    fillView(*snapshot, mirror_);
    return {};
  }

  Result<Connection> add(const ConnectionTarget& requested) {
    if (auto valid = detail::validateTarget(requested); !valid) return tl::unexpected(valid.error());
    detail::MutexLock lock(mutex_);
    auto added = addWith(requested);
    const int error = added ? 0 : added.error().code.value();
    if (error == ENODEV || error == EADDRNOTAVAIL) {
      // The status monitor may have handled a batch whose observer (onBatch) has not run yet: a
      // caller who saw the new link or address in a snapshot or a status event must not be told it
      // does not exist. Check against a snapshot, and re-evaluate at the next batch, which brings
      // mirror_ up to the same state.
      View fresh;
      fillView(*status_->snapshot(), fresh);
      view_ = &fresh;
      added = addWith(requested);
      view_ = &mirror_;
      if (added) retry_.push_back(added->id);
    }
    return added;
  }

  Result<Connection> addWith(const ConnectionTarget& requested) NETMON_REQUIRES(mutex_) {
    ConnectionTarget target = requested;
    const Link* bound = nullptr;
    if (target.interfaceIndex > 0) {
      auto it = view_->links.find(target.interfaceIndex);
      if (it == view_->links.end()) {
        return makeError(ENODEV, "watch connection", "no interface with index " + std::to_string(target.interfaceIndex));
      }
      bound = &it->second;
      if (!target.interfaceName.empty() && target.interfaceName != bound->name) {
        return makeError(EINVAL, "watch connection",
                         "interface " + std::to_string(bound->index) + " is '" + bound->name + "', not '" +
                             target.interfaceName + "'");
      }
    } else if (!target.interfaceName.empty()) {
      bound = findLinkByName(target.interfaceName);
      if (!bound) return makeError(ENODEV, "watch connection", "no interface named '" + target.interfaceName + "'");
    }
    // A target names its interface by name or by index, and stays bound to it that way (a link
    // renamed away is gone for a name-bound target; a new link with the name takes its place).
    if (bound && !target.interfaceName.empty()) target.interfaceIndex = bound->index;
    if (target.local.isSpecified()) {
      const auto holders = localAddressLinks(target.local);
      if (holders.empty()) {
        return makeError(EADDRNOTAVAIL, "watch connection", "local address " + target.local.toString() + " is not on this host");
      }
      if (target.local.isLinkLocal() && bound && !holders.count(bound->index)) {
        return makeError(EADDRNOTAVAIL, "watch connection",
                         "local address " + target.local.toString() + " is not on " + bound->name);
      }
    }
    const ConnectionId id = next_id_;
    Watched watched{target, {}};
    auto states = evaluate({&watched});
    if (!states) return tl::unexpected(states.error());
    ++next_id_;
    watched.state = std::move(states->front());
    index_.add(id, target.remote);
    if (!target.interfaceName.empty()) by_interface_name_.emplace(target.interfaceName, id);
    updateDependencies(id, watched);
    auto& stored = watched_.emplace(id, std::move(watched)).first->second;
    return Connection{id, stored.target, stored.state};
  }

  Result<void> remove(ConnectionId id) {
    detail::MutexLock lock(mutex_);
    auto it = watched_.find(id);
    if (it == watched_.end()) return makeError(ENOENT, "stop watching connection", "no connection " + std::to_string(id));
    auto [begin, end] = by_interface_name_.equal_range(it->second.target.interfaceName);
    for (auto named = begin; named != end; ++named) {
      if (named->second == id) {
        by_interface_name_.erase(named);
        break;
      }
    }
    watched_.erase(it);
    index_.remove(id);
    return {};
  }

  Result<Connection> connection(ConnectionId id) {
    detail::MutexLock lock(mutex_);
    auto it = watched_.find(id);
    if (it == watched_.end()) return makeError(ENOENT, "read connection", "no connection " + std::to_string(id));
    return Connection{id, it->second.target, it->second.state};
  }

  std::vector<Connection> connections() {
    detail::MutexLock lock(mutex_);
    std::vector<Connection> all;
    all.reserve(watched_.size());
    for (const auto& [id, watched] : watched_) all.push_back(Connection{id, watched.target, watched.state});
    std::sort(all.begin(), all.end(), [](const Connection& a, const Connection& b) { return a.id < b.id; });
    return all;
  }

  ConnectionCounters counters() {
    detail::MutexLock lock(mutex_);
    ConnectionCounters counters = counters_;
    counters.kernelLookups = lookup_->lookups();
    counters.lookupOverruns = lookup_->overruns();
    counters.lookupSocketErrors = lookup_->socketErrors();
    counters.callbackExceptions = registry_->callbackExceptions();
    return counters;
  }

  Subscription subscribe(Executor executor, Callback callback) {
    return Subscription(registry_->add(std::move(executor), std::move(callback),
                                       EventMask(EventKind::Connection) | EventKind::Resync));
  }

  StatusMonitor& status() { return *status_; }

 private:
  // The links and addresses the connection monitor knows (see mirror_ and view_).
  struct View {
    std::map<int, Link> links;
    std::set<std::pair<IpAddress, int>> addresses;  // (address, link index), usable ones
  };
  struct Watched {
    ConnectionTarget target;
    ConnectionState state;
  };

  // On the status monitor's thread (or in process()), after each batch.
  void onBatch(const std::vector<Event>& events) {
    published_.clear();
    {
      detail::MutexLock lock(mutex_);
      affected_.clear();
      affected_.swap(retry_);
      for (const Event& event : events) collectAffected(event, affected_);
      detail::makeUnique(affected_);
      batch_.clear();
      batch_ids_.clear();
      for (ConnectionId id : affected_) {
        auto it = watched_.find(id);
        if (it == watched_.end()) continue;
        batch_.push_back(&it->second);
        batch_ids_.push_back(id);
      }
      if (batch_.empty()) return;
      counters_.evaluations += batch_.size();
      auto states = evaluate(batch_);
      if (!states) {
        // Asked again at the next batch; until then their states are the last answers.
        ++counters_.lookupFailures;
        retry_.insert(retry_.end(), batch_ids_.begin(), batch_ids_.end());
        return;
      }
      const auto now = std::chrono::system_clock::now();
      for (size_t i = 0; i < batch_.size(); ++i) {
        ConnectionState& current = (*states)[i];
        Watched& watched = *batch_[i];
        if (current == watched.state) continue;
        // What the index keys on besides the target: the output link, the chosen source, and the
        // links holding the local address (which only change along with the reason).
        const bool moved = current.linkIndex != watched.state.linkIndex || current.source != watched.state.source ||
                           current.reason != watched.state.reason;
        published_.push_back(Event{++sequence_, now, ConnectionEvent{batch_ids_[i], watched.target, current, {}}});
        std::get<ConnectionEvent>(published_.back().payload).previous = std::exchange(watched.state, std::move(current));
        if (moved) updateDependencies(batch_ids_[i], watched);
      }
    }
    registry_->publish(published_);
    published_.clear();
  }

  // Keeps mirror_ equal to the status monitor's mirror and lists the connections `event` can affect.
  void collectAffected(const Event& event, std::vector<ConnectionId>& affected) NETMON_REQUIRES(mutex_) {
    if (const auto* link = std::get_if<LinkEvent>(&event.payload)) {
      auto known = mirror_.links.find(link->link.index);
      // A link that came up or gained carrier can take back routes from other links without any
      // route message (multipath, ignore_routes_with_linkdown): re-ask every connection then.
      const bool came_up = link->change != Change::Removed &&
                           (known == mirror_.links.end() || (link->link.isUp() && !known->second.isUp()) ||
                            (link->link.hasCarrier() && !known->second.hasCarrier()));
      if (came_up) index_.ofFamily(Family::Unspecified, affected);
      if (link->change == Change::Removed) {
        mirror_.links.erase(link->link.index);
      } else {
        mirror_.links[link->link.index] = link->link;
      }
      index_.usingLink(link->link.index, affected);
      // A connection bound by name to an interface that is (re)appearing, perhaps with a new index.
      auto [begin, end] = by_interface_name_.equal_range(link->link.name);
      for (auto it = begin; it != end; ++it) affected.push_back(it->second);
    } else if (const auto* address = std::get_if<AddressEvent>(&event.payload)) {
      applyAddress(address->change == Change::Removed, address->address, mirror_);
      index_.usingAddress(address->address.address, affected);
      // A new address may become the source the kernel picks for routes through its link.
      index_.usingLink(address->address.linkIndex, affected);
    } else if (const auto* route = std::get_if<RouteEvent>(&event.payload)) {
      index_.coveredBy(route->route.destination, affected);
    } else if (const auto* rule = std::get_if<RuleEvent>(&event.payload)) {
      index_.ofFamily(rule->rule.family, affected);
    } else if (std::holds_alternative<ResyncEvent>(event.payload)) {
      // Differences found by a resync arrive as ordinary events first; re-asking everything after
      // an overrun or a degraded dump is cheap insurance against anything they cannot express.
      index_.ofFamily(Family::Unspecified, affected);
    }
  }

  static void fillView(const Snapshot& snapshot, View& view) {
    for (const Link& link : snapshot.links) view.links[link.index] = link;
    for (const Address& address : snapshot.addresses) applyAddress(false, address, view);
  }

  static void applyAddress(bool removed, const Address& address, View& view) {
    const auto key = std::pair{address.address, address.linkIndex};
    if (removed || address.isDadFailed()) {
      view.addresses.erase(key);
    } else {
      view.addresses.insert(key);
    }
  }

  std::set<int> localAddressLinks(const IpAddress& address) const NETMON_REQUIRES(mutex_) {
    std::set<int> holders;
    for (auto it = view_->addresses.lower_bound({address, 0}); it != view_->addresses.end() && it->first == address;
         ++it) {
      holders.insert(it->second);
    }
    return holders;
  }

  const Link* findLinkByName(const std::string& name) const NETMON_REQUIRES(mutex_) {
    for (const auto& [index, link] : view_->links) {
      if (link.name == name) return &link;
    }
    return nullptr;
  }

  int boundLink(const ConnectionTarget& target) const NETMON_REQUIRES(mutex_) {
    if (!target.interfaceName.empty()) {
      const Link* link = findLinkByName(target.interfaceName);
      return link ? link->index : 0;
    }
    return view_->links.count(target.interfaceIndex) ? target.interfaceIndex : 0;
  }

  // Asks the kernel about every connection in `batch` (one batched lookup, identical questions
  // asked once) and classifies the answers against the mirror. Works in scratch_, whose buffers
  // keep their capacity between batches: 10,000 connections re-evaluated after one change would
  // otherwise allocate and free megabytes each time (measured: freeing them made glibc return the
  // memory to the kernel and fault it back in, +30 ms per change at 10,000 pairs).
  Result<std::vector<ConnectionState>> evaluate(const std::vector<Watched*>& batch) NETMON_REQUIRES(mutex_) {
    Scratch& scratch = scratch_;
    scratch.facts.assign(batch.size(), detail::ConnectionFacts{});
    scratch.queries.clear();
    scratch.retry.clear();
    scratch.retry_of.clear();
    scratch.asked.clear();
    scratch.answer_slot.assign(batch.size(), kNotAsked);
    for (size_t i = 0; i < batch.size(); ++i) {
      const ConnectionTarget& target = batch[i]->target;
      detail::ConnectionFacts& facts = scratch.facts[i];
      const bool wants_interface = !target.interfaceName.empty() || target.interfaceIndex > 0;
      const int bound = boundLink(target);
      // A name-bound target follows its name to a re-created link's new index.
      if (!target.interfaceName.empty() && bound != 0 && view_ == &mirror_) batch[i]->target.interfaceIndex = bound;
      facts.interfaceExists = !wants_interface || bound != 0;
      facts.boundToInterface = wants_interface;
      facts.hasLocal = target.local.isSpecified();
      if (facts.hasLocal) {
        const auto holders = localAddressLinks(target.local);
        facts.localPresent = target.local.isLinkLocal() && bound ? holders.count(bound) != 0 : !holders.empty();
        facts.localIsLinkLocal = target.local.isLinkLocal();
        facts.localLinkIndex = facts.localPresent ? (bound && holders.count(bound) ? bound : *holders.begin()) : 0;
      }
      if (!facts.interfaceExists || !facts.localPresent) continue;  // decided without the kernel
      const detail::RouteQuery query{target.remote, target.local, bound};
      auto [it, inserted] = scratch.asked.try_emplace(query, scratch.queries.size());
      if (inserted) scratch.queries.push_back(query);
      scratch.answer_slot[i] = it->second;
    }
    auto answers = lookup_->lookup(scratch.queries);
    if (!answers) return tl::unexpected(answers.error());
    // A failure that a bad source also produces: ask again without the source (classification row 3).
    for (size_t i = 0; i < batch.size(); ++i) {
      if (scratch.answer_slot[i] == kNotAsked) continue;
      detail::ConnectionFacts& facts = scratch.facts[i];
      facts.answer = (*answers)[scratch.answer_slot[i]];
      if (facts.hasLocal && detail::errorMayBeTheSource(facts.answer.error, batch[i]->target.local)) {
        const detail::RouteQuery& asked = scratch.queries[scratch.answer_slot[i]];
        scratch.retry_of.emplace_back(i, scratch.retry.size());
        scratch.retry.push_back(detail::RouteQuery{asked.destination, IpAddress(), asked.outputLink});
      }
    }
    if (!scratch.retry.empty()) {
      auto without_source = lookup_->lookup(scratch.retry);
      if (!without_source) return tl::unexpected(without_source.error());
      for (const auto& [i, slot] : scratch.retry_of) scratch.facts[i].answerWithoutSource = (*without_source)[slot];
    }
    std::vector<ConnectionState> states;
    states.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      detail::ConnectionFacts& facts = scratch.facts[i];
      if (scratch.answer_slot[i] != kNotAsked && facts.answer.error == 0) {
        auto it = view_->links.find(facts.answer.outputLink);
        facts.outputLink = it == view_->links.end() ? nullptr : &it->second;
      }
      ConnectionState state = detail::classifyConnection(facts);
      // The local address is the source when one is given (the kernel echoes it).
      if (batch[i]->target.local.isSpecified()) state.source = batch[i]->target.local;
      states.push_back(std::move(state));
    }
    return states;
  }

  void updateDependencies(ConnectionId id, const Watched& watched) NETMON_REQUIRES(mutex_) {
    std::vector<int> links{watched.state.linkIndex, watched.target.interfaceIndex};
    for (int holder : watched.target.local.isSpecified() ? localAddressLinks(watched.target.local) : std::set<int>{}) {
      links.push_back(holder);
    }
    index_.setDependencies(id, std::move(links), {watched.target.local, watched.state.source});
  }

  struct QueryHash {
    size_t operator()(const detail::RouteQuery& q) const noexcept {
      size_t hash = std::hash<int>()(q.outputLink);
      for (const IpAddress* a : {&q.destination, &q.source}) {
        hash = hash * 31 + size_t(a->family());
        for (size_t b = 0; b < a->size(); ++b) hash = hash * 131 + a->data()[b];
      }
      return hash;
    }
  };
  static constexpr size_t kNotAsked = SIZE_MAX;
  // evaluate()'s working memory, kept between calls (guarded by mutex_ with it).
  struct Scratch {
    std::vector<detail::ConnectionFacts> facts;
    std::vector<detail::RouteQuery> queries;
    std::unordered_map<detail::RouteQuery, size_t, QueryHash> asked;
    std::vector<size_t> answer_slot;
    std::vector<detail::RouteQuery> retry;
    std::vector<std::pair<size_t, size_t>> retry_of;
  };

  std::optional<StatusMonitor> status_;
  const std::unique_ptr<detail::RouteLookup> lookup_ NETMON_PT_GUARDED_BY(mutex_);
  const std::shared_ptr<detail::SubscriptionRegistry> registry_;
  detail::Mutex mutex_;
  std::unordered_map<ConnectionId, Watched> watched_ NETMON_GUARDED_BY(mutex_);
  detail::ConnectionIndex index_ NETMON_GUARDED_BY(mutex_);
  std::multimap<std::string, ConnectionId> by_interface_name_ NETMON_GUARDED_BY(mutex_);
  // The links and addresses as the observed batches left them, and what lookups read: that view,
  // or, inside add(), a fresher one from a snapshot (see add()).
  View mirror_ NETMON_GUARDED_BY(mutex_);
  const View* view_ NETMON_GUARDED_BY(mutex_) = &mirror_;
  // Connections to re-evaluate at the next batch: their last lookup failed, or add() answered them
  // from a view newer than mirror_.
  std::vector<ConnectionId> retry_ NETMON_GUARDED_BY(mutex_);
  ConnectionId next_id_ NETMON_GUARDED_BY(mutex_) = 1;
  uint64_t sequence_ NETMON_GUARDED_BY(mutex_) = 0;
  ConnectionCounters counters_ NETMON_GUARDED_BY(mutex_);
  Scratch scratch_ NETMON_GUARDED_BY(mutex_);
  // onBatch()'s events and batch, reused between batches; only the thread handling batches (the
  // monitor thread, or one process() caller at a time) touches them.
  std::vector<Event> published_;
  std::vector<Watched*> batch_ NETMON_GUARDED_BY(mutex_);
  std::vector<ConnectionId> affected_ NETMON_GUARDED_BY(mutex_);
  std::vector<ConnectionId> batch_ids_ NETMON_GUARDED_BY(mutex_);
};

Result<ConnectionMonitor> ConnectionMonitor::create(MonitorOptions options) {
  if (!options.replayPath.empty()) {
    return makeError(EINVAL, "create connection monitor", "a recording cannot answer route lookups (replay refused)");
  }
  auto lookup = rtnl::createRtnlRouteLookup(options);
  if (!lookup) return tl::unexpected(lookup.error());
  auto impl = std::make_unique<Impl>(options, std::move(*lookup));
  if (auto started = impl->start(std::move(options), nullptr); !started) return tl::unexpected(started.error());
  return ConnectionMonitor(std::move(impl));
}

Result<ConnectionMonitor> detail::createConnectionMonitorForTest(MonitorOptions options, std::unique_ptr<Backend> backend,
                                                                 std::unique_ptr<RouteLookup> lookup) {
  auto impl = std::make_unique<ConnectionMonitor::Impl>(options, std::move(lookup));
  if (auto started = impl->start(std::move(options), std::move(backend)); !started) return tl::unexpected(started.error());
  return ConnectionMonitor(std::move(impl));
}

ConnectionMonitor::ConnectionMonitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConnectionMonitor::ConnectionMonitor(ConnectionMonitor&&) noexcept = default;
ConnectionMonitor& ConnectionMonitor::operator=(ConnectionMonitor&&) noexcept = default;
ConnectionMonitor::~ConnectionMonitor() = default;

Result<Connection> ConnectionMonitor::add(const ConnectionTarget& target) { return impl_->add(target); }
Result<void> ConnectionMonitor::remove(ConnectionId id) { return impl_->remove(id); }
Result<Connection> ConnectionMonitor::connection(ConnectionId id) const { return impl_->connection(id); }
std::vector<Connection> ConnectionMonitor::connections() const { return impl_->connections(); }
ConnectionCounters ConnectionMonitor::counters() const { return impl_->counters(); }
Subscription ConnectionMonitor::subscribe(Executor executor, Callback callback) {
  return impl_->subscribe(std::move(executor), std::move(callback));
}
StatusMonitor& ConnectionMonitor::statusMonitor() { return impl_->status(); }
int ConnectionMonitor::fd() const { return impl_->status().fd(); }
Result<size_t> ConnectionMonitor::process() { return impl_->status().process(); }

}  // namespace netmon
