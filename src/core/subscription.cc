// Subscriptions: per-subscriber queues drained on the subscriber's executor.
//
// Why a queue per subscription rather than posting each event: a multi-threaded executor would
// run two posted tasks concurrently and out of order. One drain task at a time per subscription
// keeps events serialised and ordered whatever the executor.
#include <algorithm>
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
      registry_(std::move(registry)) {}

void SubscriptionState::push(const Event& event) {
  {
    MutexLock lock(mutex_);
    if (cancelled_) return;
    if (queue_.size() >= queue_limit_) coalesceOnOverflow();
    queue_.push_back(event);
    if (drain_scheduled_) return;
    drain_scheduled_ = true;
    postDrain(lock);
  }
}

void SubscriptionState::postDrain(MutexLock& lock) {
  ++posting_;
  lock.unlock();
  executor_.execute([self = shared_from_this()] { self->drain(); });
  lock.lock();
  --posting_;
  idle_.notify_all();
}

// Overflow policy (documented in subscription.h): object events are dropped, reachability events
// are folded into one per family spanning the dropped interval, and a ResyncEvent tells the
// subscriber to re-read the snapshot.
void SubscriptionState::coalesceOnOverflow() {
  std::vector<Event> kept;
  std::optional<uint64_t> last_sequence;
  for (auto& event : queue_) {
    last_sequence = event.sequence;
    auto* reach = std::get_if<ReachabilityEvent>(&event.payload);
    if (!reach) continue;
    auto same_family = std::find_if(kept.begin(), kept.end(), [&](const Event& k) {
      return std::get<ReachabilityEvent>(k.payload).family == reach->family;
    });
    if (same_family == kept.end()) {
      kept.push_back(event);
      continue;
    }
    auto& folded = std::get<ReachabilityEvent>(same_family->payload);
    const Reachability oldest_previous = folded.previous;
    *same_family = event;
    std::get<ReachabilityEvent>(same_family->payload).previous = oldest_previous;
  }
  std::erase_if(kept, [](const Event& e) {
    const auto& r = std::get<ReachabilityEvent>(e.payload);
    return r.current == r.previous;
  });
  std::sort(kept.begin(), kept.end(), [](const Event& x, const Event& y) { return x.sequence < y.sequence; });
  queue_.assign(kept.begin(), kept.end());
  if (mask_.contains(EventKind::Resync)) {
    Event resync;
    resync.sequence = last_sequence.value_or(0);
    resync.time = std::chrono::system_clock::now();
    uint64_t overflows = 0;
    if (auto registry = registry_.lock()) overflows = registry->overflows() + 1;
    resync.payload = ResyncEvent{ResyncReason::SubscriberOverflow, overflows, 0};
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
    callback_(event);
    lock.lock();
    running_ = false;
    running_thread_ = {};
    ++delivered;
    idle_.notify_all();
  }
  drain_scheduled_ = false;
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
  for (const auto& target : targets) {
    for (const auto& event : events) {
      if (target->mask().contains(event.kind())) target->push(event);
    }
  }
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
