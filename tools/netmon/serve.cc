// netmon serve: the daemon. One io_context thread runs everything: the monitor in External
// threading mode (its fd watched by Asio, process() called when readable, so event callbacks run
// inline on that thread), the HTTP server, the event streams and the metrics. No locks, no second
// thread.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>

#include "common.h"
#include "netmon/connection_monitor.h"
#include "serve/api.h"
#include "serve/event_hub.h"
#include "serve/http_server.h"
#include "serve/listen_address.h"
#include "serve/metrics.h"
#include "serve/systemd.h"

namespace netmon::cli {
namespace {

namespace asio = boost::asio;

struct ServeOptions {
  std::vector<std::string> listen;
  std::vector<std::string> allowedHosts;
  serve::ServerLimits limits;
  size_t eventBuffer = 4096;
  double headerTimeout = 10;
  double idleTimeout = 60;
  double keepAliveInterval = 15;
  ProbeCliOptions probe;
};

void logLine(std::string_view line) { std::fprintf(stderr, "netmon serve: %.*s\n", int(line.size()), line.data()); }

// A daemon holding hundreds of connections should not trip over the 1,024 soft limit when the hard
// limit allows more (systemd sets the hard limit high for exactly this).
void raiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::chrono::milliseconds toMilliseconds(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

// Watches the monitor's fd on the io_context and calls process() when it is readable.
class MonitorPump {
 public:
  MonitorPump(asio::io_context& io, ConnectionMonitor& monitor, std::function<void(const Error&)> on_error)
      : monitor_(monitor), descriptor_(io, ::dup(monitor.fd())), onError_(std::move(on_error)) {}

  void start() {
    descriptor_.async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code error) {
      if (error) return;  // cancelled at shutdown
      auto handled = monitor_.process();
      if (!handled) return onError_(handled.error());
      start();
    });
  }
  void stop() {
    boost::system::error_code ignored;
    descriptor_.cancel(ignored);
  }

 private:
  ConnectionMonitor& monitor_;
  asio::posix::stream_descriptor descriptor_;  // a dup of the monitor's fd, closed with it
  std::function<void(const Error&)> onError_;
};

int runServe(const GlobalOptions& global, ServeOptions options) {
  options.limits.headerTimeout = toMilliseconds(options.headerTimeout);
  options.limits.idleTimeout = toMilliseconds(options.idleTimeout);
  options.limits.keepAliveInterval = toMilliseconds(options.keepAliveInterval);

  std::vector<serve::ListenAddress> addresses;
  for (const std::string& text : options.listen) {
    auto address = serve::parseListenAddress(text);
    if (!address) {
      fail("--listen " + address.error());
      return kExitUsage;
    }
    addresses.push_back(*address);
  }
  raiseDescriptorLimit();

  asio::io_context io(1);
  MonitorOptions monitorOptions = makeMonitorOptions(global);
  monitorOptions.threading = MonitorOptions::Threading::External;
  applyProbeOptions(options.probe, monitorOptions);
  auto monitor = ConnectionMonitor::create(std::move(monitorOptions));
  if (!monitor) return fail(monitor.error().message());

  serve::DaemonMetrics metrics;
  serve::EventHub hub(monitor->statusMonitor(), metrics, options.eventBuffer);
  serve::Api api(*monitor, hub, metrics);
  serve::HttpServer server(io, options.limits, options.allowedHosts,
                           [&api](const serve::Request& request) { return api.handle(request); }, metrics);

  std::vector<std::string> listening;
  for (int fd : serve::socketsFromSystemd()) {
    auto adopted = server.adopt(fd);
    if (!adopted) return fail(adopted.error());
    listening.push_back(*adopted + " (from systemd)");
  }
  if (listening.empty() && addresses.empty()) addresses.push_back(serve::defaultListenAddress());
  for (const serve::ListenAddress& address : addresses) {
    if (!address.isLocalOnly()) {
      logLine(fmt::format("warning: {} is reachable from other hosts; the API is read-only and unauthenticated, so "
                          "put a firewall or an authenticating proxy in front of it",
                          address.toString()));
    }
    auto bound = server.listen(address);
    if (!bound) return fail(bound.error());
    listening.push_back(bound->toString());
  }

  int exitCode = kExitOk;
  MonitorPump pump(io, *monitor, [&](const Error& error) {
    exitCode = fail(error.message());
    server.stop();
    io.stop();
  });
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code error, int) {
    if (error) return;
    serve::notifySystemd("STOPPING=1");
    logLine("stopping");
    server.stop();
    pump.stop();
    io.stop();
  });

  pump.start();
  server.start();
  for (const std::string& where : listening) logLine("listening on " + where);
  // The initial dump is mirrored (create() returned) and every socket listens: ready.
  serve::notifySystemd(fmt::format("READY=1\nSTATUS=serving on {}", fmt::join(listening, ", ")));
  io.run();
  return exitCode;
}

}  // namespace

Command serveCommand(CLI::App& parent) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* app = parent.add_subcommand(
      "serve", "Run the daemon: JSON API, live event stream and Prometheus /metrics over HTTP");
  addProbeOptions(*app, options->probe);
  app->add_option("--listen", options->listen,
                  fmt::format("Listen on ADDR:PORT, [IPV6]:PORT or unix:/PATH (repeatable; default 127.0.0.1:{}; a "
                              "non-loopback address is reachable from other hosts)",
                              serve::kDefaultPort))
      ->type_name("ADDR:PORT")
      ->allow_extra_args(false);
  app->add_option("--allowed-host", options->allowedHosts,
                  "Also answer requests whose Host header names NAME (besides loopback names and literal IPs); "
                  "others get 421 (DNS-rebinding guard) (repeatable)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  app->add_option("--max-connections", options->limits.maxConnections, "Open HTTP connections at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app->add_option("--max-stream-clients", options->limits.maxStreams, "Event-stream clients at most (503 past it)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1'000'000));
  app->add_option("--stream-queue", options->limits.streamQueueLimit,
                  "Events queued for one stream client at most; a client further behind is disconnected")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  app->add_option("--event-buffer", options->eventBuffer,
                  "Recent events kept for clients that reconnect with Last-Event-ID")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  app->add_option("--header-timeout", options->headerTimeout, "Seconds a client has to send its request headers")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  app->add_option("--idle-timeout", options->idleTimeout, "Seconds an idle keep-alive connection is kept")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 86400.0));
  app->add_option("--keep-alive-interval", options->keepAliveInterval,
                  "Seconds between comment lines on an idle event stream")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  app->footer(fmt::format(
      "Routes: GET /v1/status, /v1/events (Server-Sent Events; Last-Event-ID resumes), "
      "/v1/reach?remote=ADDR[&from=ADDR][&interface=NAME], /metrics, /-/healthy, /-/ready.\n"
      "Socket activation: sockets passed by systemd are used (with any --listen given too). READY=1 is sent to "
      "systemd after the initial dump. SIGINT/SIGTERM: streams closed, exit 0.\n"
      "Default port {} (the 9100-9999 exporter range is full).",
      serve::kDefaultPort));
  return {app, [options](const GlobalOptions& global) { return runServe(global, *options); }};
}

}  // namespace netmon::cli
