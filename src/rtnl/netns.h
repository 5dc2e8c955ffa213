#pragma once
// Network namespaces for the rtnetlink sockets. A socket belongs, for its whole life, to the
// namespace of the thread that created it. So a socket for another namespace is opened by a
// short-lived thread that enters that namespace (setns), opens it and ends: no thread of the
// caller ever changes namespace, and nothing but the opening runs inside it.
//
// Thread safety: free functions, callable from any thread.
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "netmon/result.h"
#include "netmon/status_monitor.h"

namespace netmon::rtnl {

// The namespace `options` name, opened close-on-exec: networkNamespaceFd (duplicated; the caller
// keeps its own), else networkNamespace — a name under /run/netns (as `ip netns add` makes them)
// or an absolute path such as /proc/PID/ns/net. -1 when neither is set: the caller's namespace.
// The caller closes a descriptor >= 0 (closeNamespaceFd).
// Errors: a name with a '/' that is not absolute (EINVAL); open()/fcntl() failing (their errno).
Result<int> openNamespaceFd(const MonitorOptions& options);
// close() for a descriptor >= 0; nothing for -1.
void closeNamespaceFd(int namespace_fd);

// Runs `work` on a new thread that has entered `namespace_fd` (CLONE_NEWNET), and waits for it.
// Errors: setns() failing (its errno); `work` has not run then.
Result<void> runOnThreadInNamespace(int namespace_fd, const std::function<void()>& work);

// Runs `work` (which returns a Result<T>) inside namespace `namespace_fd` on a short-lived thread
// and returns its result; with -1, directly on the calling thread. `work` must not rely on running
// on the caller's thread (thread-locals, locks the caller holds).
template <class F>
std::invoke_result_t<F&> runInNamespace(int namespace_fd, F&& work) {
  using R = std::invoke_result_t<F&>;
  if (namespace_fd < 0) return work();
  std::optional<R> result;
  auto ran = runOnThreadInNamespace(namespace_fd, [&] { result.emplace(work()); });
  if (!ran) return tl::unexpected(ran.error());
  return std::move(*result);
}

// openNamespaceFd(options), then runInNamespace(), then close: `work` runs in the namespace that
// `options` name (the caller's when they name none).
template <class F>
std::invoke_result_t<F&> runInNamespaceOf(const MonitorOptions& options, F&& work) {
  auto namespace_fd = openNamespaceFd(options);
  if (!namespace_fd) return tl::unexpected(namespace_fd.error());
  auto result = runInNamespace(*namespace_fd, work);
  closeNamespaceFd(*namespace_fd);
  return result;
}

}  // namespace netmon::rtnl
