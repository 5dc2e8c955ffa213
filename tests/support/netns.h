#pragma once
// Test network namespaces and the kernel's own view of them (through `ip -j`), for the
// integration tests.
//
// Every integration test makes its own namespace (and, for veth pairs, a peer namespace that holds
// the other end, so that carrier really comes up and the peer can own the gateway address). The
// host's interfaces and routes are never touched. Only documentation prefixes are used
// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32), plus 169.254.0.0/16 where a test
// needs an IPv4 link-local address.
//
// Privileges: creating namespaces needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and a working
// `ip netns`. requireNetAdmin() skips the calling test with the reason when they are missing, so
// CTest reports it as Skipped, never as Passed. Call it from a fixture's SetUp() (gtest does not run
// the body of a test skipped in SetUp) or through NETMON_REQUIRE_NET_ADMIN() in a test body.
//
// Thread safety: a TestNamespace is used from the test's main thread.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netmon/snapshot.h"

namespace netmon::test {

struct CommandResult {
  int exitCode = -1;   // the shell's exit status; -1 if it could not be run or was killed
  std::string output;  // stdout and stderr, interleaved
  bool ok() const { return exitCode == 0; }
};

enum class MayFail { No, Yes };

// Runs `command` through /bin/sh in the caller's (host) namespace. On a non-zero exit, unless
// `may_fail` is Yes, records a non-fatal test failure naming the command and its output.
CommandResult runHostCommand(const std::string& command, MayFail may_fail = MayFail::No);

// Quotes `text` for /bin/sh.
std::string shellQuote(const std::string& text);

// Empty when this process can create network namespaces; otherwise why not. Probed once.
const std::string& netAdminUnavailableReason();

// GTEST_SKIP()s the current test ("needs CAP_NET_ADMIN and ip netns: <reason>") when namespaces
// cannot be created. In SetUp() this skips the test body; in a test body use
// NETMON_REQUIRE_NET_ADMIN(), which also returns from the body.
void requireNetAdmin();
#define NETMON_REQUIRE_NET_ADMIN()                                                   \
  do {                                                                               \
    if (!::netmon::test::netAdminUnavailableReason().empty()) {                      \
      GTEST_SKIP() << "needs CAP_NET_ADMIN and ip netns: "                           \
                   << ::netmon::test::netAdminUnavailableReason();                   \
    }                                                                                \
  } while (false)

// A uniquely named network namespace ("nmt-<pid>-<n>") that exists for the lifetime of the object.
// On creation IPv6 duplicate address detection is switched off in it (before any link exists, so
// new links' fe80:: addresses are not `tentative`) and `lo` is brought up. The destructor deletes it
// and every peer namespace it created, even when the test failed.
class TestNamespace {
 public:
  TestNamespace();
  ~TestNamespace();
  TestNamespace(const TestNamespace&) = delete;
  TestNamespace& operator=(const TestNamespace&) = delete;

  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }
  // False when creation failed (a test failure has then been recorded).
  bool valid() const { return valid_; }

  // Runs a shell command inside the namespace (`ip netns exec NAME sh -c COMMAND`).
  CommandResult run(const std::string& command, MayFail may_fail = MayFail::No) const;
  // Runs `ip -n NAME ARGS` (ARGS is passed through the shell unquoted).
  CommandResult ip(const std::string& args, MayFail may_fail = MayFail::No) const;
  // `ip -j -n NAME ARGS`, parsed. A JSON null (and a test failure) when ip fails or prints no JSON.
  nlohmann::json ipJson(const std::string& args) const;
  // Runs `ip -n NAME -batch FILE` over `lines` (written to a temporary file); `force` adds -force
  // (continue after errors).
  CommandResult ipBatch(const std::vector<std::string>& lines, bool force = false,
                        MayFail may_fail = MayFail::No) const;

  // The peer namespace, created on first use and deleted with this one.
  TestNamespace& peer();

  // Creates veth `name` here whose other end (named `peer_name`, default: the same name) lives in
  // `peer_namespace` (default: peer()), and brings the peer end up. This end stays down.
  void addVethWithPeer(const std::string& name, TestNamespace& peer_namespace,
                       const std::string& peer_name = "");
  void addVethWithPeer(const std::string& name) { addVethWithPeer(name, peer()); }

  // The link's ifindex here (0, and a test failure, when it does not exist).
  int linkIndex(const std::string& link_name) const;

  // Waits until `ip link show NAME` reports LOWER_UP (carrier) and operstate UP, polling with a deadline. Used to
  // set up state *before* a monitor exists, where no event can be awaited.
  bool waitForCarrier(const std::string& link_name,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  std::string name_;
  bool valid_ = false;
  std::unique_ptr<TestNamespace> peer_;
};

// --- Kernel truth versus the monitor's mirror -----------------------------------------------------
// Both sides are normalised to one text line per object, sorted (a multiset: duplicates count), so
// that a mismatch prints as a readable diff.

// Routes: "ipv4 table=254 dst=192.0.2.0/24 gw=192.0.2.1 dev=veth0 metric=0 type=unicast".
std::vector<std::string> kernelRoutes(const TestNamespace& ns);
std::vector<std::string> mirrorRoutes(const Snapshot& snapshot);
// Addresses: "dev=veth0 ipv4 192.0.2.2/24 scope=0 tentative=0 dadfailed=0".
std::vector<std::string> kernelAddresses(const TestNamespace& ns);
std::vector<std::string> mirrorAddresses(const Snapshot& snapshot);
// Links: "index=2 name=veth0 up=1 lower_up=1 mtu=1500 master=0".
std::vector<std::string> kernelLinks(const TestNamespace& ns);
std::vector<std::string> mirrorLinks(const Snapshot& snapshot);
// Rules: "ipv4 pref=100 table=100 action=1".
std::vector<std::string> kernelRules(const TestNamespace& ns);
std::vector<std::string> mirrorRules(const Snapshot& snapshot);

// An address as inet_ntop prints it (independent of the library's own toString()); "-" for none.
std::string addressText(const IpAddress& address);

// One route line as mirrorRoutes() prints it (for targeted lookups in either list).
std::string routeLine(const Route& route, const Snapshot& snapshot);

// "" when equal, else a readable diff ("- only in kernel: ...", "+ only in netmon: ...").
std::string diffLines(const std::vector<std::string>& kernel, const std::vector<std::string>& mirror,
                      size_t max_lines = 40);

}  // namespace netmon::test
