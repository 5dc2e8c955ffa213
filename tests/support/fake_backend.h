#pragma once
// Test-only: a scripted netmon::detail::Backend, and builders for the neutral records (links,
// addresses, routes, rules) that unit tests feed to the Mirror by hand.
//
// FakeBackend (Qt's MockBackend idea): the test keeps a FakeScript and queues steps, each a
// function applied to the monitor's Mirror. One process() call applies exactly one step, so every
// step is one batch (the monitor re-derives and publishes after each). The script's eventfd is
// readable while steps are queued: in Threading::OwnThread mode the monitor thread wakes up by
// itself; in External mode the test calls StatusMonitor::process().
//
// Thread safety: FakeScript::push() may be called from any thread; the backend side is driven by
// the monitor (one thread at a time). Lifetime: the script is shared between the test and the
// backend, so either may go first.
#include <sys/eventfd.h>
#include <unistd.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/mirror.h"
#include "netmon/address.h"
#include "netmon/model.h"

namespace netmon::test {

// IFF_* / IF_OPER_* values, spelt here so tests need no <linux/if.h>.
inline constexpr uint32_t kIffUp = 0x1;
inline constexpr uint32_t kIffLoopback = 0x8;
inline constexpr uint32_t kIffRunning = 0x40;
inline constexpr uint32_t kIffLowerUp = 0x10000;
inline constexpr uint8_t kOperUp = 6;
inline constexpr uint8_t kOperDown = 2;

inline IpAddress ip(const std::string& text) {
  auto parsed = IpAddress::parse(text);
  return parsed ? *parsed : IpAddress();
}
inline IpPrefix net(const std::string& text) {
  auto parsed = IpPrefix::parse(text);
  return parsed ? *parsed : IpPrefix();
}

inline Link makeLink(int index, std::string name, uint32_t flags, std::string kind = "") {
  Link link;
  link.index = index;
  link.name = std::move(name);
  link.kind = std::move(kind);
  link.flags = flags;
  link.kernelOperState = (flags & kIffLowerUp) ? kOperUp : kOperDown;
  link.mtu = 1500;
  link.hardwareType = (flags & kIffLoopback) ? 772 : 1;  // ARPHRD_LOOPBACK / ARPHRD_ETHER
  if (!(flags & kIffLoopback)) {
    link.hardwareAddress.length = 6;
    link.hardwareAddress.bytes = {0x02, 0, 0, 0, 0, uint8_t(index)};
  }
  return link;
}
inline Link loopback() { return makeLink(1, "lo", kIffUp | kIffLoopback | kIffRunning | kIffLowerUp); }
// A veth with carrier: IFF_UP|IFF_LOWER_UP (0x10001).
inline Link upVeth(int index = 2, std::string name = "veth0") {
  return makeLink(index, std::move(name), kIffUp | kIffLowerUp, "veth");
}

// "192.0.2.2/24" on link `index`; scope from the address (link-local → Link, loopback → Host).
inline Address makeAddress(int index, const std::string& cidr) {
  Address a;
  const IpPrefix prefix = net(cidr);
  a.linkIndex = index;
  a.address = prefix.address;
  a.prefixLength = prefix.length;
  a.scope = prefix.address.isLoopback() ? Scope::Host : prefix.address.isLinkLocal() ? Scope::Link : Scope::Global;
  a.flags = prefix.address.family() == Family::Ipv6 ? 0x80 : 0;  // IFA_F_PERMANENT
  return a;
}

// A unicast route of the main table: `destination` ("default" or a prefix) via `gateway` ("" for
// none) out of `index`.
inline Route makeRoute(const std::string& destination, const std::string& gateway, int index,
                       Family family = Family::Unspecified) {
  Route r;
  if (destination == "default") {
    const bool v6 = family == Family::Ipv6 || (family == Family::Unspecified && gateway.find(':') != std::string::npos);
    r.family = v6 ? Family::Ipv6 : Family::Ipv4;
    r.destination = net(v6 ? "::/0" : "0.0.0.0/0");
  } else {
    r.destination = net(destination);
    r.family = r.destination.address.family();
  }
  r.protocol = 4;  // RTPROT_STATIC
  r.scope = gateway.empty() ? Scope::Link : Scope::Global;
  r.linkIndex = index;
  if (!gateway.empty()) r.gateway = ip(gateway);
  return r;
}

inline Route makeMultipath(const std::string& destination, std::vector<NextHop> hops) {
  Route r = makeRoute(destination, "", 0);
  r.scope = Scope::Global;
  r.nextHops = std::move(hops);
  return r;
}

inline NextHop hop(int index, const std::string& gateway, uint8_t weight = 1) {
  NextHop h;
  h.linkIndex = index;
  h.gateway = ip(gateway);
  h.weight = weight;
  return h;
}

inline Rule makeRule(Family family, uint32_t priority, uint32_t table) {
  Rule r;
  r.family = family;
  r.priority = priority;
  r.table = table;
  r.action = RuleAction::ToTable;
  return r;
}

// The queue of steps shared by the test and its FakeBackend.
class FakeScript {
 public:
  using Step = std::function<void(detail::Mirror&)>;

  FakeScript() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~FakeScript() {
    if (fd_ >= 0) close(fd_);
  }
  FakeScript(const FakeScript&) = delete;
  FakeScript& operator=(const FakeScript&) = delete;

  int fd() const { return fd_; }

  // Queues one batch and makes fd() readable.
  void push(Step step) {
    {
      std::lock_guard lock(mutex_);
      steps_.push_back(std::move(step));
    }
    signal();
  }

  // Backend side: the next step, or nullopt. Leaves fd() readable while more are queued.
  std::optional<Step> pop() {
    uint64_t value = 0;
    while (read(fd_, &value, sizeof value) > 0) {
    }
    std::optional<Step> step;
    bool more = false;
    {
      std::lock_guard lock(mutex_);
      if (!steps_.empty()) {
        step = std::move(steps_.front());
        steps_.pop_front();
      }
      more = !steps_.empty();
    }
    if (more) signal();
    return step;
  }

  size_t pending() const {
    std::lock_guard lock(mutex_);
    return steps_.size();
  }

 private:
  void signal() {
    const uint64_t one = 1;
    (void)!write(fd_, &one, sizeof one);
  }

  const int fd_;
  mutable std::mutex mutex_;
  std::deque<Step> steps_;
};

class FakeBackend final : public detail::Backend {
 public:
  // `initial` builds the state of the initial dump (may be empty).
  FakeBackend(std::shared_ptr<FakeScript> script, FakeScript::Step initial)
      : script_(std::move(script)), initial_(std::move(initial)) {}

  Result<void> initialSync(detail::Mirror& mirror) override {
    if (initial_) initial_(mirror);
    mirror.markHasData();
    return {};
  }
  int fd() const override { return script_->fd(); }
  Result<size_t> process(detail::Mirror& mirror) override {
    auto step = script_->pop();
    if (!step) return size_t(0);
    // Counters stay put: a step that changes nothing must leave the monitor's snapshot cache alone.
    (*step)(mirror);
    return size_t(1);
  }
  const Counters& counters() const override { return counters_; }

 private:
  std::shared_ptr<FakeScript> script_;
  FakeScript::Step initial_;
  Counters counters_;
};

}  // namespace netmon::test
