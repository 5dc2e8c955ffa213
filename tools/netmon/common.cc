#include "common.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

namespace netmon::cli {

void addGlobalOptions(CLI::App& app, GlobalOptions& options) {
  app.add_option("--netns", options.networkNamespace,
                 "Monitor another network namespace: a name under /run/netns or a path such as "
                 "/proc/PID/ns/net")
      ->type_name("NAME|PATH");
  app.add_option("--ignore", options.ignorePatterns,
                 "Ignore links whose name matches GLOB when deriving reachability (repeatable)")
      ->type_name("GLOB")
      ->allow_extra_args(false);
  app.add_option("--ignore-kind", options.ignoreKinds,
                 "Ignore links of this kind (veth, bridge, wireguard, ...) (repeatable)")
      ->type_name("KIND")
      ->allow_extra_args(false);
  app.add_flag("--no-default-ignore", options.noDefaultIgnore,
               "Do not ignore container and VM plumbing (docker*, br-*, veth*, virbr*, vnet*, cni*, "
               "podman*) by default");
}

MonitorOptions makeMonitorOptions(const GlobalOptions& options) {
  MonitorOptions monitor;
  monitor.networkNamespace = options.networkNamespace;
  monitor.ignore = options.noDefaultIgnore ? LinkFilter::none() : LinkFilter::defaults();
  for (const std::string& pattern : options.ignorePatterns) monitor.ignore.namePatterns.push_back(pattern);
  for (const std::string& kind : options.ignoreKinds) monitor.ignore.kinds.push_back(kind);
  return monitor;
}

void addProbeOptions(CLI::App& app, ProbeCliOptions& options) {
  options.probe =
      app.add_option("--probe", options.url,
                     "Also check the Internet route with an HTTP request (default URL " +
                         std::string(kDefaultProbeUrl) +
                         "): a captive portal or no answer turns online into site. Advice, not proof: a plain-HTTP "
                         "answer can be forged by anyone on the path")
          ->type_name("[=URL]")
          ->expected(0, 1)
          ->check(CLI::Validator(
              [](std::string& url) -> std::string {
                if (url.empty() || url.starts_with("http://") || url.starts_with("https://")) return {};
                return "the probe URL must start with http:// or https://";
              },
              "", "URL"));
  app.add_option("--probe-expect-status", options.expectStatus,
                 "The probe's expected HTTP status (default 204 for a URL of yours, 200 with a body)")
      ->type_name("CODE")
      ->check(CLI::Range(100, 599))
      ->needs(options.probe);
  app.add_option("--probe-expect-body", options.expectBody,
                 "The probe's expected body, exactly (trailing white space aside)")
      ->type_name("TEXT")
      ->needs(options.probe);
  app.add_option("--probe-ca", options.caFile,
                 "Verify an HTTPS probe URL with the certificate authorities in FILE (PEM) instead of the system's")
      ->type_name("FILE")
      ->check(CLI::ExistingFile)
      ->needs(options.probe);
  app.add_option("--probe-timeout", options.timeoutSeconds, "Seconds a probe may take in all (default 10)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.1, 600.0))
      ->needs(options.probe);
  app.add_option("--probe-interval", options.intervalSeconds, "Seconds between probes while online (default 300)")
      ->type_name("SECONDS")
      ->check(CLI::Range(1.0, 86400.0))
      ->needs(options.probe);
}

void applyProbeOptions(const ProbeCliOptions& options, MonitorOptions& monitor) {
  if (!options.enabled()) return;
  ProbeOptions probe;
  const bool custom_url = !options.url.empty() && options.url != kDefaultProbeUrl;
  if (custom_url) {
    probe.url = options.url;
    probe.expectBody.reset();
  }
  if (options.expectStatus) probe.expectStatus = options.expectStatus;
  if (options.expectBody) probe.expectBody = options.expectBody;
  probe.caFile = options.caFile;
  probe.totalTimeout = std::chrono::milliseconds(std::llround(options.timeoutSeconds * 1000));
  probe.connectTimeout = std::min(probe.connectTimeout, probe.totalTimeout);
  probe.interval = std::chrono::milliseconds(std::llround(options.intervalSeconds * 1000));
  probe.retryInitial = std::min(probe.retryInitial, probe.interval);
  monitor.probe = std::move(probe);
}

int fail(std::string_view message) {
  // One line, whatever the message holds: scripts read stderr line by line.
  std::string line = "netmon: ";
  for (char c : message) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
  return kExitFailure;
}

}  // namespace netmon::cli
