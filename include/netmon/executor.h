#pragma once
// Executor: where a subscription's callback runs. There is no hidden default context: the caller
// always says where.
//
// - Executor::inlineOnMonitorThread(): on the monitor's own thread (or, in External threading mode,
//   on the thread calling StatusMonitor::process()). Cheapest; the callback must not block, or it
//   delays every other subscriber and the kernel socket (which may then overrun and resync).
// - Executor::fromPost(f): any event loop that can run a task later; f(task) must queue `task`
//   and return. Boost.Asio: see netmon/asio.h. Qt: post with QMetaObject::invokeMethod(obj, task,
//   Qt::QueuedConnection). A thread pool with several threads is fine: netmon still serialises
//   each subscription's callbacks (see subscription.h). A callback that blocks its executor delays
//   only the work on that executor; subscriptions on other executors are not held up.
//
// Thread safety: copies may be used from any thread. Lifetime: the posting function must stay
// callable for as long as a subscription using it exists; tasks posted to an event loop that is
// destroyed without running them are simply dropped (netmon's tasks hold no locks).
#include <functional>
#include <memory>

#include "netmon/export.h"

namespace netmon {

class NETMON_EXPORT Executor {
 public:
  using Task = std::function<void()>;
  using PostFunction = std::function<void(Task)>;

  static Executor inlineOnMonitorThread();
  static Executor fromPost(PostFunction post);

  bool isInline() const { return !post_; }
  // Runs `task` inline, or hands it to the posting function.
  void execute(Task task) const;

 private:
  explicit Executor(PostFunction post) : post_(std::move(post)) {}
  PostFunction post_;
};

}  // namespace netmon
