#pragma once
// What the daemon asks of systemd (libsystemd), each a no-op when not run by systemd.
#include <string_view>
#include <vector>

namespace netmon::serve {

// Listening stream sockets passed by socket activation (LISTEN_FDS), in order; the environment
// variables are unset so children do not inherit them. Sockets of another type are skipped.
std::vector<int> socketsFromSystemd();

// sd_notify(3): "READY=1", "STOPPING=1", "STATUS=...". Failures are ignored (the daemon works
// the same without a supervisor).
void notifySystemd(std::string_view state);

}  // namespace netmon::serve
