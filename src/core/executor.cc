#include "netmon/executor.h"

namespace netmon {

Executor Executor::inlineOnMonitorThread() { return Executor(PostFunction{}); }

Executor Executor::fromPost(PostFunction post) { return Executor(std::move(post)); }

void Executor::execute(Task task) const {
  if (post_) post_(std::move(task));
  else task();
}

}  // namespace netmon
