#pragma once
// The main-thread event loop shared by the long-running subcommands (watch, reach --watch,
// wait-online): the monitor runs in External threading mode, poll() sleeps on its fd, on a
// signalfd for SIGINT/SIGTERM and on stdout (to notice a reader that went away), with an optional
// deadline. No second thread, no busy loop, no periodic timer.
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "netmon/result.h"
#include "output/writer.h"

namespace netmon::cli {

// SIGINT and SIGTERM, blocked and readable on a signalfd instead of killing the process. Create it
// before any monitor, so threads a monitor makes inherit the blocked mask.
class TerminationSignals {
 public:
  static Result<TerminationSignals> block();
  TerminationSignals(TerminationSignals&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  TerminationSignals& operator=(TerminationSignals&&) = delete;
  ~TerminationSignals();
  int fd() const { return fd_; }

 private:
  explicit TerminationSignals(int fd) : fd_(fd) {}
  int fd_ = -1;
};

enum class LoopEnd {
  Signal,      // SIGINT or SIGTERM arrived
  ReaderGone,  // stdout's reader went away, or a write to it failed (see LineWriter)
  Deadline,    // the deadline passed
  Done,        // `done()` returned true after a process() call
};

struct EventLoop {
  int monitorFd = -1;
  std::function<Result<size_t>()> process;  // the monitor's process()
  int signalFd = -1;                        // TerminationSignals::fd(), or -1
  LineWriter* out = nullptr;                // watched for a reader that went away; may be null
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::function<bool()> done;               // checked after each process(); may be empty

  // Runs until one of LoopEnd happens. Errors: poll() failing, or process() failing.
  Result<LoopEnd> run() const;
};

// Follows a monitor until SIGINT/SIGTERM, or until stdout's reader goes away (watch, reach --watch),
// and returns the program's exit code: `on_signal()` after a signal, 0 when the reader went away
// (exitCodeAfterWriteFailure), 1 with the error printed when following failed.
int followUntilSignal(int monitor_fd, std::function<Result<size_t>()> process, int signal_fd, LineWriter& out,
                      const std::function<int()>& on_signal);

}  // namespace netmon::cli
