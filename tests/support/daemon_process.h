#pragma once
// Test-only: `netmon serve` as a child process inside a test namespace, and client sockets that
// live in that namespace, for the daemon's integration tests.
//
// The daemon is started as `ip netns exec NS netmon serve --listen 127.0.0.1:0 ARGS...`; `ip`
// execs netmon, so pid() is the daemon's own (its /proc/PID is the daemon's). The port is read
// from the daemon's "listening on 127.0.0.1:PORT" line on stderr. Everything the daemon writes to
// stderr is collected by a reader thread (stderrText()) so that a failing test can show it, and so
// the daemon never blocks on a full pipe. The child gets SIGKILL should the test process die.
//
// Thread safety: a DaemonProcess is used from the thread that started it, except stderrText(),
// which any thread may call. socketsInNamespace() may be called from any thread.
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace netmon::test {

class TestNamespace;

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// `count` IPv4 TCP sockets (close-on-exec, not yet connected) created inside the network namespace
// at `namespace_path` (/run/netns/NAME): a socket belongs to the namespace it was created in, so it
// connects there whichever thread later calls connect(). Empty, with a test failure recorded, when
// the namespace cannot be entered or socket() fails.
std::vector<UniqueFd> socketsInNamespace(const std::string& namespace_path, size_t count);

class DaemonProcess {
 public:
  // How the daemon is started, beyond its arguments.
  struct Launch {
    std::string listen = "127.0.0.1:0";    // the first --listen (its port is what port() reports)
    std::vector<std::string> environment;  // extra NAME=VALUE pairs, set with env(1) before netmon
    std::optional<uint64_t> openFiles;     // RLIMIT_NOFILE, soft and hard, set before exec
  };

  // Starts the daemon in `ns` with `args` after `serve --listen 127.0.0.1:0`, and waits up to
  // `timeout` for it to say where it listens. Null, with a test failure naming the daemon's
  // output, when it exits or stays silent instead.
  static std::unique_ptr<DaemonProcess> start(const TestNamespace& ns, const std::string& netmon_path,
                                              const std::vector<std::string>& args,
                                              std::chrono::milliseconds timeout = std::chrono::seconds(10));
  static std::unique_ptr<DaemonProcess> start(const TestNamespace& ns, const std::string& netmon_path,
                                              const std::vector<std::string>& args, const Launch& launch,
                                              std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Kills (SIGKILL) and reaps the daemon if it still runs.
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& namespacePath() const { return namespacePath_; }

  // Sends `signal` (unless the daemon has already exited) and waits up to `timeout` for it to
  // exit and for its stderr to reach EOF. The wait status (see waitpid(2)), or nullopt when it did
  // not exit in time (it is then still running).
  std::optional<int> signalAndWait(int signal, std::chrono::milliseconds timeout);

  // What the daemon has written to stderr so far (all of it once signalAndWait() returned a status).
  std::string stderrText() const;

 private:
  DaemonProcess() = default;
  // Waits until the daemon has exited (its pidfd is readable) or `deadline`; reaps it on exit.
  bool waitForExit(std::chrono::steady_clock::time_point deadline);
  void readStderr(int fd);

  pid_t pid_ = -1;
  UniqueFd pidfd_;
  std::optional<int> waitStatus_;
  uint16_t port_ = 0;
  std::string namespacePath_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string stderr_;      // guarded by mutex_
  bool stderrEnd_ = false;  // guarded by mutex_
  std::thread reader_;
};

}  // namespace netmon::test
