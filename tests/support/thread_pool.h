#pragma once
// Test-only: a plain thread pool (no Boost) used as a posting Executor. post() queues; N workers
// run tasks in FIFO order, in parallel. Destruction drops tasks that have not started, as
// executor.h allows, and later posts are ignored.
//
// Thread safety: every method may be called from any thread.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "netmon/executor.h"

namespace netmon::test {

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { run(); });
    for (const auto& worker : workers_) ids_.insert(worker.get_id());
  }
  ~ThreadPool() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void post(Executor::Task task) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      tasks_.push_back(std::move(task));
    }
    wake_.notify_one();
  }
  Executor executor() {
    return Executor::fromPost([this](Executor::Task task) { post(std::move(task)); });
  }
  bool isPoolThread(std::thread::id id) const {
    std::lock_guard lock(mutex_);
    return ids_.count(id) != 0;
  }
  // Waits (bounded) until no task is queued or running; false on timeout.
  bool waitIdle(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, timeout, [&] { return tasks_.empty() && running_ == 0; });
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (stopping_) return;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      ++running_;
      lock.unlock();
      task();
      lock.lock();
      --running_;
      if (tasks_.empty() && running_ == 0) idle_.notify_all();
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::deque<Executor::Task> tasks_;
  int running_ = 0;
  bool stopping_ = false;
  std::set<std::thread::id> ids_;
  std::vector<std::thread> workers_;
};

}  // namespace netmon::test
