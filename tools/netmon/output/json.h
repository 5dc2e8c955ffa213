#pragma once
// JSON renderings of netmon's model, shared by `status --json`, `watch --json` and (later)
// `serve`. Field names are snake_case; every enum value is the library's own spelling
// (netmon::toString); an absent address, gateway or interface is null, never "".
#include <string>

#include <nlohmann/json.hpp>

#include "netmon/event.h"
#include "netmon/snapshot.h"
#include "output/link_directory.h"

namespace netmon::cli {

// {address, prefix_length, family, scope, flags[], peer, label, preferred_lifetime,
//  valid_lifetime}; lifetimes are seconds, null for "forever".
nlohmann::json addressToJson(const Address& address);
// {index, name, kind, operational_state, carrier, up, mtu, mac, master, master_index, ignored,
//  medium, addresses[]}
nlohmann::json linkToJson(const Link& link, const LinkDirectory& links);
// {family, destination, gateway, interface, interface_index, table, metric, type, protocol, scope,
//  source, next_hops[]}. A default route's destination is "0.0.0.0/0" or "::/0".
nlohmann::json routeToJson(const Route& route, const LinkDirectory& links);
nlohmann::json ruleToJson(const Rule& rule);
// {reachability, reason, explanation, route, interface, interface_index, gateway, source, uncovered}
nlohmann::json verdictToJson(const Verdict& verdict, const LinkDirectory& links);
nlohmann::json countersToJson(const Counters& counters);
// {outcome, url, latency_seconds, redirect, http_status, interface, error, body_bytes, time};
// redirect, interface and error are null when absent, http_status null without an HTTP answer.
nlohmann::json probeToJson(const ProbeResult& probe);
// ... captive_portal (bool) and probe (probeToJson, or null when no probe ran), among the rest.
nlohmann::json snapshotToJson(const Snapshot& snapshot);
// {remote, local, interface, reachable, reason, gateway, source, interface_index, link_state,
//  medium, route_type, table, kernel_error, explanation}; reason is null when reachable, local /
//  interface / gateway / source null when absent.
nlohmann::json connectionToJson(const ConnectionTarget& target, const ConnectionState& state);
// {type, time, sequence, ...}: see `netmon watch --help`.
nlohmann::json eventToJson(const Event& event, const LinkDirectory& links);

// One line of JSON with a trailing newline. Bytes that are not UTF-8 (interface names are
// arbitrary bytes) are replaced rather than failing the whole line.
std::string toJsonLine(const nlohmann::json& value);

}  // namespace netmon::cli
