#include "support/daemon_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <regex>

#include <gtest/gtest.h>

#include "support/netns.h"

namespace netmon::test {
namespace {

using Clock = std::chrono::steady_clock;

int millisecondsUntil(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60'000));
}

// `ip` resolved before fork(): the child may only make async-signal-safe calls, which execvp's
// PATH search is not.
std::string findIp() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

}  // namespace

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::vector<UniqueFd> socketsInNamespace(const std::string& namespace_path, size_t count) {
  std::vector<UniqueFd> sockets;
  std::string failure;
  // setns(2) changes only the calling thread's namespace: a short-lived thread enters it, so the
  // test's own threads (and the commands they run) stay in the host namespace.
  std::thread opener([&] {
    UniqueFd ns(::open(namespace_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid()) {
      failure = "open " + namespace_path + ": " + std::strerror(errno);
      return;
    }
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
      failure = "setns " + namespace_path + ": " + std::strerror(errno);
      return;
    }
    sockets.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        failure = "socket #" + std::to_string(i) + ": " + std::strerror(errno);
        sockets.clear();
        return;
      }
      sockets.emplace_back(fd);
    }
  });
  opener.join();
  if (!failure.empty()) ADD_FAILURE() << failure;
  return sockets;
}

std::unique_ptr<DaemonProcess> DaemonProcess::start(const TestNamespace& ns, const std::string& netmon_path,
                                                    const std::vector<std::string>& args,
                                                    std::chrono::milliseconds timeout) {
  return start(ns, netmon_path, args, Launch{}, timeout);
}

std::unique_ptr<DaemonProcess> DaemonProcess::start(const TestNamespace& ns, const std::string& netmon_path,
                                                    const std::vector<std::string>& args, const Launch& launch,
                                                    std::chrono::milliseconds timeout) {
  const std::string ip = findIp();
  if (ip.empty()) {
    ADD_FAILURE() << "no `ip` executable found";
    return nullptr;
  }
  std::vector<std::string> argv = {ip, "netns", "exec", ns.name()};
  if (!launch.environment.empty()) {
    // env(1) execs netmon in place: pid() stays the daemon's.
    argv.push_back("/usr/bin/env");
    argv.insert(argv.end(), launch.environment.begin(), launch.environment.end());
  }
  argv.insert(argv.end(), {netmon_path, "serve", "--listen", launch.listen});
  argv.insert(argv.end(), args.begin(), args.end());
  std::optional<rlimit> open_files;
  if (launch.openFiles) open_files = rlimit{*launch.openFiles, *launch.openFiles};
  std::vector<char*> pointers;
  for (std::string& arg : argv) pointers.push_back(arg.data());
  pointers.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return nullptr;
  }
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  UniqueFd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd.valid()) {
    ADD_FAILURE() << "open /dev/null: " << std::strerror(errno);
    return nullptr;
  }

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return nullptr;
  }
  if (pid == 0) {
    // Async-signal-safe calls only until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(null_fd.get(), STDIN_FILENO);
    ::dup2(null_fd.get(), STDOUT_FILENO);
    ::dup2(write_end.get(), STDERR_FILENO);
    ::close_range(3, ~0U, 0);  // the test's sockets and pipes are not the daemon's business
    if (open_files && ::setrlimit(RLIMIT_NOFILE, &*open_files) != 0) ::_exit(126);
    ::execv(pointers[0], pointers.data());
    ::_exit(127);
  }
  write_end.reset();

  std::unique_ptr<DaemonProcess> daemon(new DaemonProcess());
  daemon->pid_ = pid;
  daemon->namespacePath_ = ns.path();
  daemon->pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!daemon->pidfd_.valid()) {
    ADD_FAILURE() << "pidfd_open: " << std::strerror(errno);
    return nullptr;  // the destructor kills and reaps by pid
  }
  daemon->reader_ = std::thread([raw = daemon.get(), fd = read_end.release()] { raw->readStderr(fd); });

  const std::regex listening(R"(listening on 127\.0\.0\.1:([0-9]+)\n)");
  std::smatch match;
  std::unique_lock lock(daemon->mutex_);
  const bool said = daemon->changed_.wait_until(lock, Clock::now() + timeout, [&] {
    return std::regex_search(daemon->stderr_, match, listening) || daemon->stderrEnd_;
  });
  if (!said || match.empty()) {
    ADD_FAILURE() << "netmon serve did not say where it listens within " << timeout.count() << " ms; stderr:\n"
                  << daemon->stderr_;
    return nullptr;
  }
  daemon->port_ = static_cast<uint16_t>(std::stoi(match[1].str()));
  lock.unlock();
  return daemon;
}

void DaemonProcess::readStderr(int fd) {
  UniqueFd owned(fd);
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard lock(mutex_);
    if (n <= 0) {
      stderrEnd_ = true;
      changed_.notify_all();
      return;
    }
    stderr_.append(buffer, static_cast<size_t>(n));
    changed_.notify_all();
  }
}

std::string DaemonProcess::stderrText() const {
  std::lock_guard lock(mutex_);
  return stderr_;
}

bool DaemonProcess::waitForExit(Clock::time_point deadline) {
  if (waitStatus_) return true;
  if (pidfd_.valid()) {
    while (true) {
      pollfd exited{pidfd_.get(), POLLIN, 0};
      const int ready = ::poll(&exited, 1, millisecondsUntil(deadline));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      break;
    }
  }
  int status = 0;
  if (::waitpid(pid_, &status, 0) != pid_) return false;
  waitStatus_ = status;
  return true;
}

std::optional<int> DaemonProcess::signalAndWait(int signal, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  if (!waitStatus_) ::kill(pid_, signal);
  if (!waitForExit(deadline)) return std::nullopt;
  // The daemon's last words (a sanitizer's report, say) may still be in the pipe.
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return stderrEnd_; });
  return waitStatus_;
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0 && !waitStatus_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  // The pipe's write end closed with the daemon: the reader sees EOF and ends.
  if (reader_.joinable()) reader_.join();
}

}  // namespace netmon::test
