#pragma once
// The seam between the platform-neutral core and a backend (rtnetlink, replay, stub): a backend
// turns OS input into Mirror calls. The core owns state; the backend owns sockets and files.
//
// Thread safety: a backend is driven by one thread at a time (the monitor serialises calls).
#include <cstddef>

#include "core/mirror.h"
#include "netmon/result.h"
#include "netmon/snapshot.h"

namespace netmon::detail {

class Backend {
 public:
  virtual ~Backend() = default;
  // Mirrors the initial state into `mirror` (empty). Fails only if no complete dump could be made.
  virtual Result<void> initialSync(Mirror& mirror) = 0;
  // Readable when process() has work (an epoll or event fd); -1 if there is never any.
  virtual int fd() const = 0;
  // Handles all pending input without blocking. Returns the number of messages handled.
  virtual Result<size_t> process(Mirror& mirror) = 0;
  virtual const Counters& counters() const = 0;
  virtual void flushRecording() {}
};

}  // namespace netmon::detail
