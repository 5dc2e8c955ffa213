#pragma once
// An rtnetlink socket read with recvmsg(), so the sender of every datagram is known: anything not
// from the kernel (nl_pid != 0) is reported as foreign and must be dropped (GLib and sd-netlink do
// the same; libmnl's mnl_socket_recvfrom() discards the sender, which is how CVE-2009-1185
// happened in udev).
#include <cstdint>
#include <span>
#include <vector>

#include "netmon/result.h"

struct mnl_socket;

namespace netmon::rtnl {

class NetlinkSocket {
 public:
  // Opens a NETLINK_ROUTE socket in the calling thread's network namespace, non-blocking,
  // close-on-exec, bound to a kernel-assigned port id.
  static Result<NetlinkSocket> open();
  NetlinkSocket(NetlinkSocket&&) noexcept;
  NetlinkSocket& operator=(NetlinkSocket&&) noexcept;
  ~NetlinkSocket();

  int fd() const;
  uint32_t portId() const;
  Result<void> joinGroup(unsigned group);
  // SO_RCVBUFFORCE (root) or SO_RCVBUF. Returns the size the kernel granted.
  Result<size_t> setReceiveBuffer(size_t bytes);
  // NETLINK_GET_STRICT_CHK / NETLINK_EXT_ACK where the kernel has them; failures are ignored.
  void enableStrictChecking();

  Result<void> send(std::span<const uint8_t> message);

  struct Datagram {
    std::span<const uint8_t> bytes;
    bool fromKernel = true;   // sender nl_pid == 0
    bool truncated = false;   // larger than the buffer (the buffer grows for next time)
  };
  // One datagram, without blocking unless `wait` is set (then up to the socket's receive timeout).
  // Errors: EAGAIN (nothing pending), ENOBUFS (the kernel dropped messages), others.
  Result<Datagram> receive(bool wait = false);
  void setReceiveTimeout(int milliseconds);

  // Up to `max` queued datagrams in one system call (recvmmsg), without blocking; each at most
  // kManyDatagramBytes long (a longer one is reported truncated and its bytes dropped). For many
  // small replies (route lookups), where one recvmsg per datagram would cost more than the
  // kernel's work. The spans stay valid until the next receive call. Errors as receive().
  static constexpr size_t kManyDatagramBytes = 4096;
  Result<std::span<const Datagram>> receiveMany(size_t max);

 private:
  explicit NetlinkSocket(mnl_socket* socket);
  mnl_socket* socket_ = nullptr;
  std::vector<uint8_t> buffer_;
  std::vector<uint8_t> many_buffer_;
  std::vector<Datagram> many_;
};

}  // namespace netmon::rtnl
