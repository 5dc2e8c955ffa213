#include "output/json.h"

#include <cstring>
#include <system_error>
#include <string_view>
#include <type_traits>
#include <variant>

#include "output/time.h"

namespace netmon::cli {
namespace {

using nlohmann::json;

json str(std::string_view text) { return json(std::string(text)); }

json addressOrNull(const IpAddress& address) {
  return address.isSpecified() ? json(address.toString()) : json(nullptr);
}

json nameOrNull(const LinkDirectory& links, int index) {
  if (index == 0) return nullptr;
  std::string_view name = links.name(index);
  return name.empty() ? json(nullptr) : str(name);
}

json lifetime(uint32_t seconds) { return seconds == Address::kForever ? json(nullptr) : json(seconds); }

// Reachability fields shared by a snapshot's per-family state and a reachability event.
void addVerdictSummary(json& out, const Verdict& verdict) {
  out["reason"] = str(toString(verdict.reason));
  out["explanation"] = verdict.explanation();
}

}  // namespace

json addressToJson(const Address& address) {
  json flags = json::array();
  for (std::string_view flag : addressFlagNames(address)) flags.push_back(str(flag));
  return json{
      {"address", address.address.toString()},
      {"prefix_length", address.prefixLength},
      {"family", str(toString(address.family()))},
      {"scope", str(toString(address.scope))},
      {"flags", std::move(flags)},
      {"peer", addressOrNull(address.peer)},
      {"label", address.label.empty() ? json(nullptr) : json(address.label)},
      {"preferred_lifetime", lifetime(address.preferredLifetime)},
      {"valid_lifetime", lifetime(address.validLifetime)},
  };
}

json linkToJson(const Link& link, const LinkDirectory& links) {
  json addresses = json::array();
  for (const Address& address : links.addresses(link.index)) addresses.push_back(addressToJson(address));
  return json{
      {"index", link.index},
      {"name", link.name},
      {"kind", link.kind},
      {"operational_state", str(toString(link.operationalState))},
      {"carrier", link.hasCarrier()},
      {"up", link.isUp()},
      {"mtu", link.mtu},
      {"mac", link.hardwareAddress.length == 0 ? json(nullptr) : json(link.hardwareAddress.toString())},
      {"master", nameOrNull(links, link.master)},
      {"master_index", link.master},
      {"ignored", link.ignored},
      {"medium", str(toString(link.medium))},
      {"addresses", std::move(addresses)},
  };
}

json routeToJson(const Route& route, const LinkDirectory& links) {
  json out{
      {"family", str(toString(route.family))},
      {"destination", route.destination.toString()},
      {"gateway", addressOrNull(route.gateway)},
      {"interface", nameOrNull(links, route.linkIndex)},
      {"interface_index", route.linkIndex},
      {"table", route.table},
      {"metric", route.metric},
      {"type", str(toString(route.type))},
      {"protocol", routeProtocolName(route.protocol)},
      {"scope", str(toString(route.scope))},
      {"source", addressOrNull(route.preferredSource)},
  };
  if (!route.nextHops.empty()) {
    json hops = json::array();
    for (const NextHop& hop : route.nextHops) {
      hops.push_back(json{{"gateway", addressOrNull(hop.gateway)},
                          {"interface", nameOrNull(links, hop.linkIndex)},
                          {"interface_index", hop.linkIndex},
                          {"weight", hop.weight}});
    }
    out["next_hops"] = std::move(hops);
  }
  return out;
}

json ruleToJson(const Rule& rule) {
  // A zero-length selector matches everything (`ip rule` prints "from all").
  auto prefixOrNull = [](const IpPrefix& prefix) {
    return prefix.length == 0 ? json(nullptr) : json(prefix.toString());
  };
  return json{
      {"family", str(toString(rule.family))},
      {"priority", rule.priority},
      {"action", str(toString(rule.action))},
      {"table", rule.table},
      {"source", prefixOrNull(rule.source)},
      {"destination", prefixOrNull(rule.destination)},
      {"invert", rule.invert},
      {"fwmark", rule.fwmark},
      {"fwmask", rule.fwmask},
      {"input_interface", rule.inputInterface.empty() ? json(nullptr) : json(rule.inputInterface)},
      {"output_interface", rule.outputInterface.empty() ? json(nullptr) : json(rule.outputInterface)},
      {"suppress_prefix_length",
       rule.suppressPrefixLength == Rule::kNoSuppress ? json(nullptr) : json(rule.suppressPrefixLength)},
      {"goto", rule.gotoPriority},
      {"protocol", routeProtocolName(rule.protocol)},
  };
}

json verdictToJson(const Verdict& verdict, const LinkDirectory& links) {
  json out{{"reachability", str(toString(verdict.reachability))}};
  addVerdictSummary(out, verdict);
  out["route"] = verdict.route ? routeToJson(*verdict.route, links) : json(nullptr);
  json interface = verdict.linkName.empty() ? nameOrNull(links, verdict.linkIndex) : json(verdict.linkName);
  out["interface"] = std::move(interface);
  out["interface_index"] = verdict.linkIndex;
  out["gateway"] = addressOrNull(verdict.gateway);
  out["source"] = addressOrNull(verdict.source);
  out["uncovered"] = verdict.uncovered ? json(verdict.uncovered->toString()) : json(nullptr);
  return out;
}

json countersToJson(const Counters& counters) {
  return json{
      {"messages", counters.messages},
      {"foreign_sender_dropped", counters.foreignSenderDropped},
      {"malformed", counters.malformed},
      {"unknown_skipped", counters.unknownSkipped},
      {"overruns", counters.overruns},
      {"resyncs", counters.resyncs},
      {"dumps_interrupted", counters.dumpsInterrupted},
      {"link_route_flushes", counters.linkRouteFlushes},
      {"subscriber_overflows", counters.subscriberOverflows},
      {"read_errors", counters.readErrors},
      {"send_errors", counters.sendErrors},
      {"socket_reopens", counters.socketReopens},
      {"callback_exceptions", counters.callbackExceptions},
      {"routes_refused", counters.routesRefused},
      {"probes_online", counters.probesOnline},
      {"probes_captive_portal", counters.probesCaptivePortal},
      {"probes_no_answer", counters.probesNoAnswer},
      {"degraded", counters.degraded},
  };
}

json probeToJson(const ProbeResult& probe) {
  auto textOrNull = [](const std::string& text) { return text.empty() ? json(nullptr) : json(text); };
  return json{
      {"outcome", str(toString(probe.outcome))},
      {"url", probe.url},
      {"latency_seconds", probe.latency.count()},
      {"redirect", textOrNull(probe.redirect)},
      {"http_status", probe.httpStatus != 0 ? json(probe.httpStatus) : json(nullptr)},
      {"interface", textOrNull(probe.interface)},
      {"error", textOrNull(probe.error)},
      {"body_bytes", probe.bodyBytes},
      {"time", rfc3339(probe.time)},
  };
}

json snapshotToJson(const Snapshot& snapshot) {
  const LinkDirectory links(snapshot);
  json out{
      {"sequence", snapshot.sequence},
      {"reachability", str(toString(snapshot.reachability))},
      {"ipv4", str(toString(snapshot.ipv4.reachability))},
      {"ipv6", str(toString(snapshot.ipv6.reachability))},
  };
  addVerdictSummary(out, snapshot.verdict);
  out["verdict"] = verdictToJson(snapshot.verdict, links);
  out["ipv4_verdict"] = verdictToJson(snapshot.ipv4.verdict, links);
  out["ipv6_verdict"] = verdictToJson(snapshot.ipv6.verdict, links);
  out["transport_medium"] = str(toString(snapshot.transportMedium));
  out["captive_portal"] = snapshot.captivePortal;
  out["probe"] = snapshot.probe ? probeToJson(*snapshot.probe) : json(nullptr);
  json linkArray = json::array();
  for (const Link& link : snapshot.links) linkArray.push_back(linkToJson(link, links));
  out["links"] = std::move(linkArray);
  out["route_count"] = snapshot.routeCount();
  json rules = json::array();
  for (const Rule& rule : snapshot.rules) rules.push_back(ruleToJson(rule));
  out["rules"] = std::move(rules);
  out["counters"] = countersToJson(snapshot.counters);
  return out;
}

json connectionToJson(const ConnectionTarget& target, const ConnectionState& state) {
  json interface = nullptr;
  if (!state.linkName.empty()) {
    interface = state.linkName;
  } else if (!target.interfaceName.empty()) {
    interface = target.interfaceName;
  }
  return json{
      {"remote", target.remote.toString()},
      {"local", addressOrNull(target.local)},
      {"reachable", state.reachable},
      {"reason", state.reachable ? json(nullptr) : str(toString(state.reason))},
      {"interface", std::move(interface)},
      {"interface_index", state.linkIndex != 0 ? json(state.linkIndex) : json(nullptr)},
      {"gateway", addressOrNull(state.gateway)},
      {"source", addressOrNull(state.source)},
      {"link_state", state.linkIndex != 0 ? str(toString(state.linkState)) : json(nullptr)},
      {"medium", state.linkIndex != 0 ? str(toString(state.medium)) : json(nullptr)},
      {"route_type", state.kernelError == 0 ? str(toString(state.routeType)) : json(nullptr)},
      {"table", state.table != 0 ? json(routeTableName(state.table)) : json(nullptr)},
      {"kernel_error", state.kernelError != 0 ? json(std::generic_category().message(state.kernelError)) : json(nullptr)},
      {"explanation", state.explanation()},
  };
}

json eventToJson(const Event& event, const LinkDirectory& links) {
  json out{
      {"type", str(toString(event.kind()))},
      {"time", rfc3339(event.time)},
      {"sequence", event.sequence},
  };
  std::visit(
      [&](const auto& payload) {
        using T = std::decay_t<decltype(payload)>;
        if constexpr (std::is_same_v<T, LinkEvent>) {
          out["change"] = str(toString(payload.change));
          out["link"] = linkToJson(payload.link, links);
        } else if constexpr (std::is_same_v<T, AddressEvent>) {
          out["change"] = str(toString(payload.change));
          json address = addressToJson(payload.address);
          address["interface"] = nameOrNull(links, payload.address.linkIndex);
          address["interface_index"] = payload.address.linkIndex;
          out["address"] = std::move(address);
        } else if constexpr (std::is_same_v<T, RouteEvent>) {
          out["change"] = str(toString(payload.change));
          out["route"] = routeToJson(payload.route, links);
        } else if constexpr (std::is_same_v<T, RuleEvent>) {
          out["change"] = str(toString(payload.change));
          out["rule"] = ruleToJson(payload.rule);
        } else if constexpr (std::is_same_v<T, ReachabilityEvent>) {
          out["family"] = str(toString(payload.family));
          out["reachability"] = str(toString(payload.current));
          out["previous"] = str(toString(payload.previous));
          addVerdictSummary(out, payload.verdict);
          out["verdict"] = verdictToJson(payload.verdict, links);
        } else if constexpr (std::is_same_v<T, ConnectionEvent>) {
          out["id"] = payload.id;
          out.update(connectionToJson(payload.target, payload.current));
          out["previous"] = connectionToJson(payload.target, payload.previous);
        } else if constexpr (std::is_same_v<T, ProbeEvent>) {
          out.update(probeToJson(payload.result));
          out["time"] = rfc3339(event.time);  // the event's, as for every type
          out["previous"] = payload.previous ? str(toString(*payload.previous)) : json(nullptr);
        } else if constexpr (std::is_same_v<T, ResyncEvent>) {
          out["reason"] = str(toString(payload.reason));
          out["resyncs"] = payload.resyncs;
          out["differences"] = payload.differences;
          // socket-error: the errno's symbolic name ("ENOMEM"), as errno(3) spells it.
          const char* name = payload.error != 0 ? strerrorname_np(payload.error) : nullptr;
          out["error"] = name ? json(name) : payload.error != 0 ? json(payload.error) : json(nullptr);
        }
      },
      event.payload);
  return out;
}

std::string toJsonLine(const nlohmann::json& value) {
  std::string line = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  return line;
}

}  // namespace netmon::cli
