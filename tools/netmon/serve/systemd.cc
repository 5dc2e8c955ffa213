#include "serve/systemd.h"

#include <sys/socket.h>

#include <string>

#include <systemd/sd-daemon.h>

namespace netmon::serve {

std::vector<int> socketsFromSystemd() {
  std::vector<int> sockets;
  const int count = sd_listen_fds(/*unset_environment=*/1);
  for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + count; ++fd) {
    if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, /*listening=*/1) > 0) sockets.push_back(fd);
  }
  return sockets;
}

void notifySystemd(std::string_view state) { (void)sd_notify(/*unset_environment=*/0, std::string(state).c_str()); }

}  // namespace netmon::serve
