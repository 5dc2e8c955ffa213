#include "event_loop.h"

#include "common.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netmon::cli {

Result<TerminationSignals> TerminationSignals::block() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  if (int error = pthread_sigmask(SIG_BLOCK, &mask, nullptr); error != 0) return makeError(error, "block signals");
  const int fd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return makeError(errno, "signalfd");
  return TerminationSignals(fd);
}

TerminationSignals::~TerminationSignals() {
  if (fd_ >= 0) ::close(fd_);
}

Result<LoopEnd> EventLoop::run() const {
  using Clock = std::chrono::steady_clock;
  // The write end of a pipe reports POLLERR once its reader closed (pipe(7)), so `netmon watch |
  // head -1` ends at once rather than at the next event.
  pollfd fds[3] = {{monitorFd, POLLIN, 0}, {signalFd, POLLIN, 0}, {out ? STDOUT_FILENO : -1, 0, 0}};
  for (;;) {
    if (out && out->failed()) return LoopEnd::ReaderGone;
    int timeout_ms = -1;
    if (deadline) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now()).count();
      if (left <= 0) return LoopEnd::Deadline;
      timeout_ms = int(std::min<long long>(left, 24LL * 3600 * 1000));
    }
    const int ready = ::poll(fds, 3, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return makeError(errno, "poll");
    }
    if (ready == 0) continue;  // the deadline check above decides
    if (fds[1].revents != 0) return LoopEnd::Signal;
    if (fds[2].revents & (POLLERR | POLLHUP)) return LoopEnd::ReaderGone;
    // stdout closed or not pollable: stop asking, a failed write still ends the loop.
    if (fds[2].revents & POLLNVAL) fds[2].fd = -1;
    if (fds[0].revents & POLLNVAL) return makeError(EBADF, "poll", "monitor descriptor is not open");
    if (fds[0].revents != 0) {
      auto handled = process();
      if (!handled) return tl::unexpected(handled.error());
      if (done && done()) return LoopEnd::Done;
    }
  }
}

int followUntilSignal(int monitor_fd, std::function<Result<size_t>()> process, int signal_fd, LineWriter& out,
                      const std::function<int()>& on_signal) {
  const EventLoop loop{.monitorFd = monitor_fd,
                       .process = std::move(process),
                       .signalFd = signal_fd,
                       .out = &out,
                       .deadline = std::nullopt,
                       .done = {}};
  auto end = loop.run();
  if (!end) return fail(end.error().message());
  if (out.failed()) return exitCodeAfterWriteFailure(out);
  if (*end == LoopEnd::ReaderGone) return kExitOk;  // stdout's pipe reported its reader gone
  return on_signal();
}

}  // namespace netmon::cli
