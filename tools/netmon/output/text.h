#pragma once
// Renderings for a person: `status` as a summary and a link table (like `networkctl` and
// `ip -br addr`), `watch` as one line per event (like `ip monitor`, with a timestamp).
#include <string>

#include "netmon/event.h"
#include "netmon/snapshot.h"
#include "output/link_directory.h"

namespace netmon::cli {

// "captive-portal http://... -> http://login... (HTTP 302) dev eth0 in 0.012 s", no newline.
std::string probeText(const ProbeResult& probe);
// Several lines, each ending in '\n'.
std::string snapshotToText(const Snapshot& snapshot);
// "192.0.2.1 from 192.0.2.10 reachable: via ... dev eth0 ...", without a newline.
std::string connectionToText(const ConnectionTarget& target, const ConnectionState& state);
// One line ending in '\n': "<RFC 3339 time> <type> ...".
std::string eventToText(const Event& event, const LinkDirectory& links);

}  // namespace netmon::cli
