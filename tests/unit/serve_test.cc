// The daemon's pure parts: --listen parsing, the Host guard, query strings, and the event hub's
// join/resume/resync rules driven by a scripted monitor (no kernel, no sockets).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netmon/status_monitor.h"
#include "serve/api.h"
#include "serve/event_hub.h"
#include "serve/listen_address.h"
#include "serve/metrics.h"
#include "support/fake_backend.h"

namespace netmon::test {
namespace {

using serve::isAllowedHost;
using serve::parseListenAddress;

TEST(ServeListenAddress, ParsesTheForms) {
  auto v4 = parseListenAddress("127.0.0.1:10933");
  ASSERT_TRUE(v4) << v4.error();
  EXPECT_EQ(v4->toString(), "127.0.0.1:10933");
  EXPECT_TRUE(v4->isLocalOnly());

  auto v6 = parseListenAddress("[::1]:0");
  ASSERT_TRUE(v6) << v6.error();
  EXPECT_EQ(v6->toString(), "[::1]:0");
  EXPECT_TRUE(v6->isLocalOnly());

  auto any = parseListenAddress("0.0.0.0:8080");
  ASSERT_TRUE(any) << any.error();
  EXPECT_FALSE(any->isLocalOnly());
  auto any6 = parseListenAddress("[::]:8080");
  ASSERT_TRUE(any6) << any6.error();
  EXPECT_FALSE(any6->isLocalOnly());

  auto unix_socket = parseListenAddress("unix:/run/netmon.sock");
  ASSERT_TRUE(unix_socket) << unix_socket.error();
  EXPECT_EQ(unix_socket->kind, serve::ListenAddress::Kind::Unix);
  EXPECT_EQ(unix_socket->path, "/run/netmon.sock");
  EXPECT_TRUE(unix_socket->isLocalOnly());
  EXPECT_EQ(serve::defaultListenAddress().toString(), "127.0.0.1:10933");
}

TEST(ServeListenAddress, RefusesWhatIsNotALiteralAddressAndPort) {
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x",
                          "localhost:80", "::1:80", "[::1]", "[::1]80", "[nonsense]:80", "unix:", "unix:relative",
                          "999.1.1.1:80"}) {
    auto parsed = parseListenAddress(bad);
    EXPECT_FALSE(parsed) << "'" << bad << "' was accepted as " << parsed->toString();
    if (!parsed) {
      EXPECT_FALSE(parsed.error().empty());
    }
  }
  EXPECT_FALSE(parseListenAddress("unix:/" + std::string(200, 'x')));
}

TEST(ServeHostGuard, LoopbackNamesLiteralsAndAllowedNamesOnly) {
  const std::vector<std::string> none;
  for (const char* good : {"localhost", "LOCALHOST:10933", "localhost.", "ip6-localhost", "grafana.localhost:3000",
                           "127.0.0.1", "127.0.0.1:80", "192.0.2.7:10933", "[::1]", "[::1]:10933",
                           "[2001:db8::1]:80"}) {
    EXPECT_TRUE(isAllowedHost(good, none)) << good;
  }
  for (const char* bad : {"", "evil.example", "evil.example:10933", "localhost.evil.example", "127.0.0.1.nip.io",
                          "[::1", "[not-an-address]:80", "2001:db8::1"}) {
    EXPECT_FALSE(isAllowedHost(bad, none)) << bad;
  }
  const std::vector<std::string> allowed = {"Monitor.Example.org"};
  EXPECT_TRUE(isAllowedHost("monitor.example.org:10933", allowed));
  EXPECT_FALSE(isAllowedHost("other.example.org", allowed));
}

TEST(ServeQuery, DecodesPairs) {
  auto pairs = serve::parseQuery("remote=fe80%3A%3A1%25eth0&from=192.0.2.1&&flag");
  ASSERT_TRUE(pairs) << pairs.error();
  ASSERT_EQ(pairs->size(), 3u);
  EXPECT_EQ((*pairs)[0], std::make_pair(std::string("remote"), std::string("fe80::1%eth0")));
  EXPECT_EQ((*pairs)[1], std::make_pair(std::string("from"), std::string("192.0.2.1")));
  EXPECT_EQ((*pairs)[2], std::make_pair(std::string("flag"), std::string()));
  EXPECT_FALSE(serve::parseQuery("remote=%zz"));
  EXPECT_FALSE(serve::parseQuery("remote=%4"));
  EXPECT_FALSE(serve::parseQuery("=1"));
}

// A stream client that records what it is sent.
class RecordingClient : public serve::StreamClient {
 public:
  void send(std::shared_ptr<const std::string> frame) override { frames.push_back(*frame); }
  std::vector<std::string> frames;
};

struct Frame {
  std::string id;
  nlohmann::json data;
};

// "id: ID\ndata: JSON\n\n", or "data: JSON\n\n" (no id).
Frame parseFrame(const std::string& text) {
  Frame frame;
  EXPECT_TRUE(text.ends_with("\n\n")) << text;
  size_t data = 0;
  if (text.starts_with("id: ")) {
    data = text.find("\ndata: ");
    EXPECT_NE(data, std::string::npos) << text;
    if (data == std::string::npos) return frame;
    frame.id = text.substr(4, data - 4);
    data += 1;
  }
  EXPECT_EQ(text.compare(data, 6, "data: "), 0) << text;
  frame.data = nlohmann::json::parse(text.substr(data + 6), nullptr, /*allow_exceptions=*/false);
  return frame;
}

std::vector<Frame> parseFrames(const std::vector<std::shared_ptr<const std::string>>& frames) {
  std::vector<Frame> out;
  for (const auto& frame : frames) out.push_back(parseFrame(*frame));
  return out;
}

class ServeEventHub : public ::testing::Test {
 protected:
  void SetUp() override {
    MonitorOptions options;
    options.threading = MonitorOptions::Threading::External;
    options.ignore = LinkFilter::none();
    auto created = detail::createStatusMonitorForTest(
        options, std::make_unique<FakeBackend>(script_, [](detail::Mirror& m) { m.applyLink(false, loopback()); }));
    ASSERT_TRUE(created) << created.error().message();
    monitor_ = std::make_unique<StatusMonitor>(std::move(*created));
  }

  void makeHub(size_t ring) { hub_ = std::make_unique<serve::EventHub>(*monitor_, metrics_, ring); }

  // One link added per step: one event each.
  void addLinks(int first, int count) {
    for (int index = first; index < first + count; ++index) {
      script_->push([index](detail::Mirror& m) { m.applyLink(false, upVeth(index, "veth" + std::to_string(index))); });
    }
    while (script_->pending() > 0) ASSERT_TRUE(monitor_->process());
  }

  std::shared_ptr<FakeScript> script_ = std::make_shared<FakeScript>();
  std::unique_ptr<StatusMonitor> monitor_;
  serve::DaemonMetrics metrics_;
  std::unique_ptr<serve::EventHub> hub_;
};

TEST_F(ServeEventHub, NewClientGetsWhereThingsStandThenEveryChange) {
  makeHub(16);
  serve::StreamResponse stream = hub_->open(std::nullopt);
  const auto initial = parseFrames(stream.initial);
  ASSERT_EQ(initial.size(), 3u);
  const char* families[] = {"ipv4", "ipv6", "any"};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(initial[i].data["type"], "reachability");
    EXPECT_EQ(initial[i].data["previous"], "unknown");
    EXPECT_EQ(initial[i].data["family"], families[i]);
    // Only the last joining frame names a resume point.
    EXPECT_EQ(initial[i].id.empty(), i < 2) << i;
  }
  auto client = std::make_shared<RecordingClient>();
  stream.attach(client);
  addLinks(2, 2);
  ASSERT_GE(client->frames.size(), 2u);
  std::vector<std::string> names;
  for (const std::string& text : client->frames) {
    const Frame frame = parseFrame(text);
    if (frame.data["type"] == "link") names.push_back(frame.data["link"]["name"]);
    // The id names the event: "<epoch>-<sequence>".
    EXPECT_TRUE(frame.id.ends_with("-" + std::to_string(frame.data["sequence"].get<uint64_t>()))) << frame.id;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"veth2", "veth3"}));
}

TEST_F(ServeEventHub, ResumesExactlyAfterTheLastEventId) {
  makeHub(64);
  auto client = std::make_shared<RecordingClient>();
  serve::StreamResponse first = hub_->open(std::nullopt);
  first.attach(client);
  addLinks(2, 5);
  ASSERT_GE(client->frames.size(), 5u);
  const Frame resume_point = parseFrame(client->frames[1]);
  std::vector<std::string> expected(client->frames.begin() + 2, client->frames.end());

  serve::StreamResponse resumed = hub_->open(resume_point.id);
  std::vector<std::string> replayed;
  for (const auto& frame : resumed.initial) replayed.push_back(*frame);
  EXPECT_EQ(replayed, expected);

  // The id of the newest event: nothing missed, nothing replayed.
  const Frame newest = parseFrame(client->frames.back());
  EXPECT_TRUE(hub_->open(newest.id).initial.empty());
}

TEST_F(ServeEventHub, ResyncsWhenTheRingNoLongerHoldsTheIdOrTheIdIsNotOurs) {
  makeHub(3);
  auto client = std::make_shared<RecordingClient>();
  serve::StreamResponse first = hub_->open(std::nullopt);
  first.attach(client);
  addLinks(2, 1);
  ASSERT_FALSE(client->frames.empty());
  const Frame old = parseFrame(client->frames.front());
  addLinks(3, 6);  // more events than the ring holds
  EXPECT_EQ(hub_->ringSize(), 3u);

  const std::string epoch = old.id.substr(0, old.id.find('-'));
  for (const std::string& id : {old.id, std::string("garbage"), std::string("0123456789abcdef-1"),
                                epoch + "-999999", epoch + "-", epoch + "-12x"}) {
    const auto frames = parseFrames(hub_->open(id).initial);
    ASSERT_EQ(frames.size(), 1u) << id;
    EXPECT_EQ(frames[0].data["type"], "resync") << id;
    EXPECT_EQ(frames[0].data["reason"], "missed-events") << id;
    ASSERT_TRUE(frames[0].data["status"].is_object()) << id;
    EXPECT_EQ(frames[0].data["status"]["links"].size(), 8u) << id;  // lo + veth2..veth8
  }
}

}  // namespace
}  // namespace netmon::test
