#pragma once
// Clang -Wthread-safety annotations (no-ops elsewhere), as Chromium, Envoy and abseil use them.
#if defined(__clang__)
#define NETMON_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define NETMON_THREAD_ANNOTATION(x)
#endif
#define NETMON_GUARDED_BY(x) NETMON_THREAD_ANNOTATION(guarded_by(x))
#define NETMON_PT_GUARDED_BY(x) NETMON_THREAD_ANNOTATION(pt_guarded_by(x))
#define NETMON_REQUIRES(...) NETMON_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define NETMON_EXCLUDES(...) NETMON_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define NETMON_CAPABILITY(x) NETMON_THREAD_ANNOTATION(capability(x))
#define NETMON_ACQUIRE(...) NETMON_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define NETMON_RELEASE(...) NETMON_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define NETMON_SCOPED_CAPABILITY NETMON_THREAD_ANNOTATION(scoped_lockable)
#define NETMON_NO_THREAD_SAFETY_ANALYSIS NETMON_THREAD_ANNOTATION(no_thread_safety_analysis)

#include <condition_variable>
#include <mutex>

namespace netmon::detail {

// std::mutex with capability annotations, so clang can check NETMON_GUARDED_BY.
class NETMON_CAPABILITY("mutex") Mutex {
 public:
  void lock() NETMON_ACQUIRE() { mutex_.lock(); }
  void unlock() NETMON_RELEASE() { mutex_.unlock(); }
  std::mutex& native() { return mutex_; }

 private:
  std::mutex mutex_;
};

class NETMON_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) NETMON_ACQUIRE(mutex) : lock_(mutex.native()) {}
  ~MutexLock() NETMON_RELEASE() = default;
  // Waits on `cv`, releasing and re-acquiring the mutex.
  template <class Predicate>
  void wait(std::condition_variable& cv, Predicate predicate) { cv.wait(lock_, predicate); }
  // Waits on `cv` until `predicate` holds or `deadline` passes; returns the predicate's value.
  template <class TimePoint, class Predicate>
  bool waitUntil(std::condition_variable& cv, const TimePoint& deadline, Predicate predicate) {
    return cv.wait_until(lock_, deadline, predicate);
  }
  void unlock() NETMON_RELEASE() { lock_.unlock(); }
  void lock() NETMON_ACQUIRE() { lock_.lock(); }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace netmon::detail
