// The active probe against servers of the test's own, in the peer namespace the test created and
// reached over veth: each case of a connectivity check (the expected answer, portals, silence,
// refusal, a flood, HTTPS with and without the test's CA), asserting the outcome and the refined
// reachability. No packet leaves the namespaces; the default URL is never contacted.
#include <poll.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "netmon/status_monitor.h"
#include "support/event_recorder.h"
#include "support/http_test_server.h"
#include "support/monitored_namespace_test.h"
#include "support/netns.h"

namespace netmon::test {
namespace {

constexpr const char* kServer = "198.51.100.1";

class ProbeTest : public MonitoredNamespaceTest {
 protected:
  void SetUp() override {
    MonitoredNamespaceTest::SetUp();
    if (IsSkipped() || !ns_) return;
    // veth0 (192.0.2.2) ↔ peer veth0 (192.0.2.1, default gateway); the server at 198.51.100.1 on
    // the peer's lo. Routed reachability: Online through veth0.
    ns_->addVethWithPeer("veth0");
    ns_->peer().ip("addr add 192.0.2.1/24 dev veth0");
    ns_->peer().ip(fmt::format("addr add {}/32 dev lo", kServer));
    ns_->ip("addr add 192.0.2.2/24 dev veth0");
    ns_->ip("link set veth0 up");
    ASSERT_TRUE(ns_->waitForCarrier("veth0"));
    ns_->ip("route add default via 192.0.2.1 dev veth0");
  }

  static ProbeOptions fastProbe(const std::string& url) {
    ProbeOptions probe;
    probe.url = url;
    probe.expectBody.reset();
    probe.connectTimeout = std::chrono::milliseconds(1500);
    probe.totalTimeout = std::chrono::milliseconds(2500);
    probe.debounce = std::chrono::milliseconds(100);
    return probe;
  }

  void startProbing(ProbeOptions probe) {
    MonitorOptions options = optionsFor(*ns_);
    options.probe = std::move(probe);
    auto created = StatusMonitor::create(std::move(options));
    ASSERT_TRUE(created) << created.error().message();
    monitor_.emplace(std::move(*created));
    recorder_ = std::make_unique<EventRecorder>(*monitor_);
  }

  // Waits for the first probe result (bounded by the probe's own timeout plus slack).
  std::optional<ProbeResult> firstResult() {
    std::optional<ProbeResult> result;
    recorder_->waitUntil(
        "a probe result", [&] {
          result = monitor_->snapshot()->probe;
          return result.has_value();
        },
        std::chrono::seconds(10));
    return result;
  }

  void expectRefined(Reachability reachability, Reason reason, bool captive) {
    recorder_->waitUntil(fmt::format("reachability {} ({})", toString(reachability), toString(reason)), [&] {
      auto snapshot = monitor_->snapshot();
      return snapshot->reachability == reachability && snapshot->verdict.reason == reason;
    });
    auto snapshot = monitor_->snapshot();
    EXPECT_EQ(toString(snapshot->reachability), toString(reachability)) << snapshot->verdict.explanation();
    EXPECT_EQ(toString(snapshot->verdict.reason), toString(reason));
    EXPECT_EQ(snapshot->captivePortal, captive);
    EXPECT_EQ(toString(snapshot->ipv4.reachability), toString(reachability));
  }
};

TEST_F(ProbeTest, NoContentIsOnline) {
  HttpTestServer server(ns_->peer().path(), kServer, HttpTestServer::Mode::NoContent);
  ASSERT_TRUE(server.valid());
  ProbeOptions probe = fastProbe(server.url("/generate_204"));
  probe.expectStatus = 204;
  startProbing(probe);
  auto result = firstResult();
  ASSERT_TRUE(result);
  EXPECT_EQ(toString(result->outcome), "online") << result->error;
  EXPECT_EQ(result->httpStatus, 204);
  EXPECT_EQ(result->interface, "veth0");
  EXPECT_GT(result->latency.count(), 0.0);
  EXPECT_EQ(server.requests(), 1u);
  expectRefined(Reachability::Online, Reason::InternetRoute, false);
}

TEST_F(ProbeTest, ExpectedBodyIsOnline) {
  HttpTestServer server(ns_->peer().path(), kServer, HttpTestServer::Mode::Body);
  ASSERT_TRUE(server.valid());
  ProbeOptions probe = fastProbe(server.url());
  probe.expectBody = std::string(kDefaultProbeBody);
  startProbing(probe);
  auto result = firstResult();
  ASSERT_TRUE(result);
  EXPECT_EQ(toString(result->outcome), "online") << result->error;
  EXPECT_EQ(result->httpStatus, 200);
  expectRefined(Reachability::Online, Reason::InternetRoute, false);
}

TEST_F(ProbeTest, RedirectIsCaptivePortal) {
  HttpTestServer server(ns_->peer().path(), kServer, HttpTestServer::Mode::Redirect);
  ASSERT_TRUE(server.valid());
  server.location = "http://198.51.100.1/login?from=probe";
  ProbeOptions probe = fastProbe(server.url());
  probe.expectStatus = 204;
  startProbing(probe);
  auto result = firstResult();
  ASSERT_TRUE(result);
  EXPECT_EQ(toString(result->outcome), "captive-portal");
  EXPECT_EQ(result->httpStatus, 302);
  EXPECT_EQ(result->redirect, "http://198.51.100.1/login?from=probe");
  EXPECT_EQ(server.requests(), 1u) << "the redirect must not be followed";
  expectRefined(Reachability::Site, Reason::CaptivePortal, true);
  EXPECT_NE(monitor_->snapshot()->verdict.explanation().find("redirected to http://198.51.100.1/login"),
            std::string::npos)
      << monitor_->snapshot()->verdict.explanation();
  // The probe event and the reachability event (online -> site) were delivered.
  EXPECT_TRUE(recorder_->waitFor("probe event", [](const Event& e) { return e.kind() == EventKind::Probe; }));
  EXPECT_TRUE(recorder_->waitFor("overall site", reachabilityBecomes(Family::Unspecified, Reachability::Site)));
}

TEST_F(ProbeTest, LoginPageIsCaptivePortal) {
  HttpTestServer server(ns_->peer().path(), kServer, HttpTestServer::Mode::LoginPage);
  ASSERT_TRUE(server.valid());
  ProbeOptions probe = fastProbe(server.url());
  probe.expectBody = std::string(kDefaultProbeBody);
  startProbing(probe);
  auto result = firstResult();
  ASSERT_TRUE(result);
  EXPECT_EQ(toString(result->outcome), "captive-portal");
  EXPECT_EQ(result->httpStatus, 200);
  EXPECT_EQ(result->redirect, "");
  expectRefined(Reachability::Site, Reason::CaptivePortal, true);
}

TEST_F(ProbeTest, SilentServerIsNoAnswerAfterTheTimeout) {
  HttpTestServer server(ns_->peer().path(), kServer, HttpTestServer::Mode::Hang);
  ASSERT_TRUE(server.valid());
  startProbing(fastProbe(server.url()));
  auto result = firstResult();
  ASSERT_TRUE(result);
  EXPECT_EQ(toString(result->outcome), "no-answer");
  EXPECT_EQ(result->httpStatus, 0);
  EXPECT_NE(result->error, "");
  // Bounded by the total timeout (2.5 s), with slack for a loaded machine.
  EXPECT_GE(result->latency.count(), 2.0);
  EXPECT_LT(result->latency.count(), 6.0);
  expectRefined(Reachability::Site, Reason::ProbeNoAnswer, false);
}

TEST_F(ProbeTest, ConnectionRefusedIsNoAnswer) {
  // A port nobody listens on: the server is made to learn a free port, then destroyed.
  uint16_t port = 0;
  {
    HttpTestServer closed(ns_->peer().path(), kServer, HttpTestServer::Mode::NoContent);
    ASSERT_TRUE(closed.valid());
    port = closed.port();
  }
  startProbing(fastProbe(fmt::format("http://{}:{}/nm", kServer, port)));
  auto result = firstResult();
  ASSERT_TRUE(result);
  EXPECT_EQ(toString(result->outcome), "no-answer");
  EXPECT_NE(result->error, "");
  EXPECT_LT(result->latency.count(), 2.0) << "a refusal is immediate";
  expectRefined(Reachability::Site, Reason::ProbeNoAnswer, false);
}

TEST_F(ProbeTest, HugeBodyIsReadOnlyUpToTheLimit) {
  HttpTestServer server(ns_->peer().path(), kServer, HttpTestServer::Mode::HugeBody);
  ASSERT_TRUE(server.valid());
  ProbeOptions probe = fastProbe(server.url());
  probe.expectBody = std::string(kDefaultProbeBody);
  startProbing(probe);
  auto result = firstResult();
  ASSERT_TRUE(result);
  EXPECT_EQ(toString(result->outcome), "captive-portal");
  EXPECT_EQ(result->bodyBytes, 64u * 1024u);
  // The client stopped reading: far less than 100 MiB left the server (socket buffers aside).
  recorder_->waitUntil("the server to stop sending", [&] { return server.requests() == 1; });
  EXPECT_LT(server.bytesSent(), uint64_t{16} << 20);
  expectRefined(Reachability::Site, Reason::CaptivePortal, true);
}

// HTTPS with a self-signed certificate for 198.51.100.1, served by `openssl s_server -WWW` in the
// peer namespace: rejected with the system's authorities, accepted with the test's CA file.
class HttpsProbeTest : public ProbeTest {
 protected:
  void SetUp() override {
    ProbeTest::SetUp();
    if (IsSkipped() || !ns_ || HasFatalFailure()) return;
    if (!runHostCommand("command -v openssl", MayFail::Yes).ok()) GTEST_SKIP() << "needs the openssl CLI";
    char pattern[] = "/tmp/netmon-probe-tls-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    runHostCommand(fmt::format(
        "cd {} && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 "
        "-subj /CN={} -addext subjectAltName=IP:{} 2>&1 && printf 'NetworkManager is online\\n' > nm",
        shellQuote(dir_), kServer, kServer));
    // A port of its own choosing is not printed by s_server; 8443 in the peer namespace is ours.
    // s_server prints "ACCEPT" on stdout once it listens: read it from a pipe, with a deadline.
    int output[2];
    ASSERT_EQ(pipe2(output, O_CLOEXEC), 0);
    server_pid_ = fork();
    ASSERT_GE(server_pid_, 0);
    if (server_pid_ == 0) {
      setpgid(0, 0);
      if (chdir(dir_.c_str()) != 0 || dup2(output[1], STDOUT_FILENO) < 0) _exit(127);
      execlp("ip", "ip", "netns", "exec", ns_->peer().name().c_str(), "openssl", "s_server", "-accept",
             "198.51.100.1:8443", "-cert", "cert.pem", "-key", "key.pem", "-WWW", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(output[1]);
    serverOutput_ = output[0];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::string printed;
    bool listening = false;
    while (!listening) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd ready{serverOutput_, POLLIN, 0};
      if (left.count() <= 0 || poll(&ready, 1, int(left.count())) <= 0) break;
      char chunk[256];
      const ssize_t got = read(serverOutput_, chunk, sizeof chunk);
      if (got <= 0) break;  // s_server exited
      printed.append(chunk, size_t(got));
      listening = printed.find("ACCEPT") != std::string::npos;
    }
    ASSERT_TRUE(listening) << "openssl s_server did not start: " << printed;
  }

  void TearDown() override {
    ProbeTest::TearDown();
    if (server_pid_ > 0) {
      kill(-server_pid_, SIGTERM);
      kill(server_pid_, SIGTERM);
      waitpid(server_pid_, nullptr, 0);
    }
    if (serverOutput_ >= 0) close(serverOutput_);
    if (!dir_.empty()) runHostCommand("rm -rf " + shellQuote(dir_), MayFail::Yes);
  }

  ProbeOptions httpsProbe() {
    ProbeOptions probe = fastProbe(fmt::format("https://{}:8443/nm", kServer));
    probe.expectBody = std::string(kDefaultProbeBody);
    return probe;
  }

  std::string dir_;
  pid_t server_pid_ = -1;
  int serverOutput_ = -1;  // s_server's stdout, kept open (and unread) until it is stopped
};

TEST_F(HttpsProbeTest, SelfSignedCertificateIsRejected) {
  startProbing(httpsProbe());
  auto result = firstResult();
  ASSERT_TRUE(result);
  EXPECT_EQ(toString(result->outcome), "no-answer");
  EXPECT_NE(result->error.find("certificate"), std::string::npos) << result->error;
  expectRefined(Reachability::Site, Reason::ProbeNoAnswer, false);
}

TEST_F(HttpsProbeTest, TestCaMakesItOnline) {
  ProbeOptions probe = httpsProbe();
  probe.caFile = dir_ + "/cert.pem";
  startProbing(probe);
  auto result = firstResult();
  ASSERT_TRUE(result);
  EXPECT_EQ(toString(result->outcome), "online") << result->error;
  expectRefined(Reachability::Online, Reason::InternetRoute, false);
}

// A route change re-probes (debounced): after the default route moves to another gateway the
// probe runs again.
TEST_F(ProbeTest, RouteChangeProbesAgain) {
  HttpTestServer server(ns_->peer().path(), kServer, HttpTestServer::Mode::NoContent);
  ASSERT_TRUE(server.valid());
  ProbeOptions probe = fastProbe(server.url());
  probe.expectStatus = 204;
  startProbing(probe);
  ASSERT_TRUE(firstResult());
  ns_->peer().ip("addr add 192.0.2.3/24 dev veth0");
  ns_->ip("route replace default via 192.0.2.3 dev veth0");
  EXPECT_TRUE(recorder_->waitUntil("a second probe", [&] { return server.requests() >= 2; }));
}

}  // namespace
}  // namespace netmon::test
