// Subscriptions: per-subscriber queues drained on the subscriber's executor.
//
// Why a queue per subscription rather than posting each event: a multi-threaded executor would
// run two posted tasks concurrently and out of order. One drain task at a time per subscription
// keeps events serialised and ordered whatever the executor.
#include <algorithm>
#include <map>
#include <optional>

#include "core/subscription_registry.h"
#include "netmon/subscription.h"

namespace netmon {
namespace detail {

namespace {
// A drain running on a posting executor hands the thread back after this many events, so one busy
// subscriber cannot monopolise a shared pool.
constexpr int kEventsPerDrainTask = 64;
}  // namespace

SubscriptionState::SubscriptionState(Executor executor, Callback callback, EventMask mask, size_t queue_limit,
                                     std::weak_ptr<SubscriptionRegistry> registry)
    : executor_(std::move(executor)),
      callback_(std::move(callback)),
      mask_(mask),
      queue_limit_(std::max<size_t>(queue_limit, 1)),
      registry_(std::move(registry)),
      coalesce_at_(queue_limit_) {}

void SubscriptionState::push(std::span<const Event> events) {
  MutexLock lock(mutex_);
  if (cancelled_) return;
  bool queued = false;
  for (const Event& event : events) {
    if (!mask_.contains(event.kind())) continue;
    if (queue_.size() >= queue_limit_ && executor_.isInline() && !drain_scheduled_) {
      // An inline subscriber never falls behind: deliver what is queued before queueing more.
      drain_scheduled_ = true;
      postDrain(lock);
      if (cancelled_) return;
    }
    if (queue_.size() >= coalesce_at_) {
      coalesceOnOverflow();
      // What survives coalescing (one event per family and per connection) may still fill the
      // queue; let it grow to twice that before folding again, so a flood costs amortised O(1) per
      // event instead of a pass over the whole queue each time.
      coalesce_at_ = std::max(queue_limit_, queue_.size() * 2);
    }
    queue_.push_back(event);
    queued = true;
  }
  // One drain for the whole batch: an inline executor runs it right here, after the batch is queued.
  if (!queued || drain_scheduled_) return;
  drain_scheduled_ = true;
  postDrain(lock);
}

void SubscriptionState::postDrain(MutexLock& lock) {
  ++posting_;
  lock.unlock();
  executor_.execute([self = shared_from_this()] { self->drain(); });
  lock.lock();
  --posting_;
  idle_.notify_all();
}

// Overflow policy (documented in subscription.h and connection_monitor.h): object events are
// dropped; reachability events are folded into one per family and connection events into one per
// connection, each spanning the dropped interval (oldest `previous`, newest `current`); a
// ResyncEvent tells the subscriber to re-read the state.
namespace {

// Which folded event an event belongs to; nullopt for events that are dropped.
std::optional<std::pair<EventKind, uint64_t>> foldKey(const Event& event) {
  if (const auto* reach = std::get_if<ReachabilityEvent>(&event.payload)) {
    return std::pair{EventKind::Reachability, uint64_t(reach->family)};
  }
  if (const auto* connection = std::get_if<ConnectionEvent>(&event.payload)) {
    return std::pair{EventKind::Connection, connection->id};
  }
  return std::nullopt;
}

// Folds `newer` into `older`: newer's state, older's `previous`.
void fold(Event& older, const Event& newer) {
  Event folded = newer;
  if (auto* reach = std::get_if<ReachabilityEvent>(&folded.payload)) {
    reach->previous = std::get<ReachabilityEvent>(older.payload).previous;
  } else if (auto* connection = std::get_if<ConnectionEvent>(&folded.payload)) {
    connection->previous = std::get<ConnectionEvent>(older.payload).previous;
  }
  older = std::move(folded);
}

bool foldedToNothing(const Event& event) {
  if (const auto* reach = std::get_if<ReachabilityEvent>(&event.payload)) return reach->current == reach->previous;
  if (const auto* connection = std::get_if<ConnectionEvent>(&event.payload)) {
    return connection->current == connection->previous;
  }
  return false;
}

}  // namespace

void SubscriptionState::coalesceOnOverflow() {
  std::vector<Event> kept;
  std::map<std::pair<EventKind, uint64_t>, size_t> kept_index;
  std::optional<uint64_t> last_sequence;
  for (auto& event : queue_) {
    last_sequence = event.sequence;
    const auto key = foldKey(event);
    if (!key) continue;
    auto [slot, inserted] = kept_index.try_emplace(*key, kept.size());
    if (inserted) {
      kept.push_back(event);
    } else {
      fold(kept[slot->second], event);
    }
  }
  std::erase_if(kept, foldedToNothing);
  std::sort(kept.begin(), kept.end(), [](const Event& x, const Event& y) { return x.sequence < y.sequence; });
  queue_.assign(kept.begin(), kept.end());
  if (mask_.contains(EventKind::Resync)) {
    Event resync;
    resync.sequence = last_sequence.value_or(0);
    resync.time = std::chrono::system_clock::now();
    uint64_t overflows = 0;
    if (auto registry = registry_.lock()) overflows = registry->overflows() + 1;
    resync.payload = ResyncEvent{ResyncReason::SubscriberOverflow, overflows, 0, 0};
    queue_.push_back(std::move(resync));
  }
  if (auto registry = registry_.lock()) registry->countOverflow();
}

void SubscriptionState::drain() {
  MutexLock lock(mutex_);
  int delivered = 0;
  while (!cancelled_ && !queue_.empty()) {
    if (!executor_.isInline() && delivered == kEventsPerDrainTask) {
      postDrain(lock);
      return;
    }
    Event event = std::move(queue_.front());
    queue_.pop_front();
    running_ = true;
    running_thread_ = std::this_thread::get_id();
    lock.unlock();
    invokeCallback(event);
    lock.lock();
    running_ = false;
    running_thread_ = {};
    ++delivered;
    idle_.notify_all();
  }
  drain_scheduled_ = false;
  if (queue_.empty()) coalesce_at_ = queue_limit_;
}

// A throwing callback must not unwind into the monitor's thread (std::terminate), its process()
// caller or the executor's event loop, none of which can know what to do with it: the exception
// is caught, counted (Counters::callbackExceptions) and delivery goes on with the next event. The
// subscription stays: its owner holds the handle and decides its fate (subscription.h).
void SubscriptionState::invokeCallback(const Event& event) {
  try {
    callback_(event);
  } catch (...) {
    if (auto registry = registry_.lock()) registry->countCallbackException();
  }
}

void SubscriptionState::cancel() {
  {
    MutexLock lock(mutex_);
    cancelled_ = true;
    queue_.clear();
    // Destroying a subscription from inside its own callback must not wait for itself (an inline
    // executor runs the callback inside the post, so that wait is skipped too).
    if (running_thread_ != std::this_thread::get_id()) {
      lock.wait(idle_, [this]() NETMON_NO_THREAD_SAFETY_ANALYSIS { return !running_ && posting_ == 0; });
    }
  }
  if (auto registry = registry_.lock()) registry->remove(this);
}

bool SubscriptionState::cancelled() const {
  MutexLock lock(mutex_);
  return cancelled_;
}

std::shared_ptr<SubscriptionState> SubscriptionRegistry::add(Executor executor, SubscriptionState::Callback callback,
                                                             EventMask mask) {
  auto state = std::make_shared<SubscriptionState>(std::move(executor), std::move(callback), mask, queue_limit_,
                                                   weak_from_this());
  MutexLock lock(mutex_);
  if (!closed_) {
    subscriptions_.push_back(state);
    recomputeInterest();
  }
  return state;
}

void SubscriptionRegistry::remove(const SubscriptionState* state) {
  MutexLock lock(mutex_);
  std::erase_if(subscriptions_, [state](const auto& s) { return s.get() == state; });
  recomputeInterest();
}

void SubscriptionRegistry::recomputeInterest() {
  EventMask interest;
  for (const auto& s : subscriptions_) interest |= s->mask();
  interest_.store(interest, std::memory_order_release);
}

void SubscriptionRegistry::publish(const std::vector<Event>& events) {
  if (events.empty()) return;
  std::vector<std::shared_ptr<SubscriptionState>> targets;
  {
    MutexLock lock(mutex_);
    if (closed_) return;
    targets = subscriptions_;
  }
  // Pushing outside the registry lock: an inline callback may subscribe or unsubscribe.
  for (const auto& target : targets) target->push(events);
}

void SubscriptionRegistry::close() {
  MutexLock lock(mutex_);
  closed_ = true;
  subscriptions_.clear();
  interest_.store(EventMask::none(), std::memory_order_release);
}

}  // namespace detail

Subscription::Subscription(std::shared_ptr<detail::SubscriptionState> state) : state_(std::move(state)) {}
Subscription::Subscription(Subscription&&) noexcept = default;
Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
  }
  return *this;
}
Subscription::~Subscription() { reset(); }

void Subscription::reset() {
  if (!state_) return;
  state_->cancel();
  state_.reset();
}

bool Subscription::active() const { return state_ && !state_->cancelled(); }

}  // namespace netmon
