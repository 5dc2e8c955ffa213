#include "rtnl/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <thread>

namespace netmon::rtnl {

Result<int> openNamespaceFd(const MonitorOptions& options) {
  if (options.networkNamespaceFd >= 0) {
    int fd = fcntl(options.networkNamespaceFd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return makeError(errno, "duplicate network namespace fd");
    return fd;
  }
  const std::string& name = options.networkNamespace;
  if (name.empty()) return -1;
  if (name.find('/') != std::string::npos && name.front() != '/') {
    return makeError(EINVAL, "open network namespace", "'" + name + "' is neither a name nor an absolute path");
  }
  const std::string path = name.front() == '/' ? name : "/run/netns/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return makeError(errno, "open network namespace", path);
  return fd;
}

void closeNamespaceFd(int namespace_fd) {
  if (namespace_fd >= 0) ::close(namespace_fd);
}

Result<void> runOnThreadInNamespace(int namespace_fd, const std::function<void()>& work) {
  int setns_error = 0;
  // The thread ends right after `work`: a thread that has changed namespace is never reused.
  try {
    std::thread runner([&] {
      if (setns(namespace_fd, CLONE_NEWNET) < 0) {
        setns_error = errno;
        return;
      }
      work();
    });
    runner.join();
  } catch (const std::system_error& e) {  // the library does not throw: no thread, no work
    return makeError(e.code().value(), "start network namespace thread");
  }
  if (setns_error != 0) return makeError(setns_error, "enter network namespace");
  return {};
}

}  // namespace netmon::rtnl
