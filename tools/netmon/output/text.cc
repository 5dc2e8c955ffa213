#include "output/text.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "output/time.h"

namespace netmon::cli {
namespace {

std::string linkName(const LinkDirectory& links, int index) {
  std::string_view name = links.name(index);
  return name.empty() ? fmt::format("#{}", index) : std::string(name);
}

// "192.0.2.2/24", with the states that make an address unusable or going away.
std::string addressText(const Address& address) {
  std::string text = address.peer.isSpecified()
                         ? fmt::format("{} peer {}/{}", address.address.toString(), address.peer.toString(),
                                       address.prefixLength)
                         : fmt::format("{}/{}", address.address.toString(), address.prefixLength);
  if (address.isTentative()) text += " tentative";
  if (address.isDadFailed()) text += " dadfailed";
  if (address.isDeprecated()) text += " deprecated";
  return text;
}

// `ip route` style, family first: "ipv4 default via 192.0.2.1 dev eth0 table main metric 100 proto dhcp".
std::string routeText(const Route& route, const LinkDirectory& links) {
  std::string text = fmt::format("{} ", toString(route.family));
  if (route.type != RouteType::Unicast) text += fmt::format("{} ", toString(route.type));
  text += route.destination.length == 0 ? std::string("default") : route.destination.toString();
  if (route.gateway.isSpecified()) text += fmt::format(" via {}", route.gateway.toString());
  if (route.linkIndex != 0) text += fmt::format(" dev {}", linkName(links, route.linkIndex));
  for (const NextHop& hop : route.nextHops) {
    text += " nexthop";
    if (hop.gateway.isSpecified()) text += fmt::format(" via {}", hop.gateway.toString());
    if (hop.linkIndex != 0) text += fmt::format(" dev {}", linkName(links, hop.linkIndex));
    text += fmt::format(" weight {}", hop.weight);
  }
  text += fmt::format(" table {} metric {} proto {} scope {}", routeTableName(route.table), route.metric,
                      routeProtocolName(route.protocol), toString(route.scope));
  if (route.preferredSource.isSpecified()) text += fmt::format(" src {}", route.preferredSource.toString());
  return text;
}

// `ip rule` style: "32766 from all lookup main".
std::string ruleText(const Rule& rule) {
  std::string text = fmt::format("{} {}", toString(rule.family), rule.priority);
  if (rule.invert) text += " not";
  text += " from " + (rule.source.length == 0 ? std::string("all") : rule.source.toString());
  if (rule.destination.length != 0) text += " to " + rule.destination.toString();
  if (rule.fwmark != 0 || rule.fwmask != 0) text += fmt::format(" fwmark {:#x}/{:#x}", rule.fwmark, rule.fwmask);
  if (!rule.inputInterface.empty()) text += " iif " + rule.inputInterface;
  if (!rule.outputInterface.empty()) text += " oif " + rule.outputInterface;
  switch (rule.action) {
    case RuleAction::ToTable: text += " lookup " + routeTableName(rule.table); break;
    case RuleAction::Goto: text += fmt::format(" goto {}", rule.gotoPriority); break;
    default: text += fmt::format(" {}", toString(rule.action)); break;
  }
  if (rule.suppressPrefixLength != Rule::kNoSuppress)
    text += fmt::format(" suppress_prefixlength {}", rule.suppressPrefixLength);
  return text;
}

std::string linkText(const Link& link, const LinkDirectory& links) {
  std::string text = fmt::format("{} (index {}{}{}): {}", link.name, link.index, link.kind.empty() ? "" : ", ",
                                 link.kind, toString(link.operationalState));
  text += link.isUp() ? ", up" : ", down";
  text += link.hasCarrier() ? ", carrier" : ", no carrier";
  text += fmt::format(", mtu {}", link.mtu);
  if (link.hardwareAddress.length != 0) text += ", mac " + link.hardwareAddress.toString();
  if (link.master != 0) text += ", master " + linkName(links, link.master);
  text += fmt::format(", medium {}", toString(link.medium));
  if (link.ignored) text += ", ignored";
  return text;
}

std::string familyLabel(Family family) {
  switch (family) {
    case Family::Ipv4: return "IPv4";
    case Family::Ipv6: return "IPv6";
    default: return "Reachability";
  }
}

}  // namespace

std::string probeText(const ProbeResult& probe) {
  std::string text = fmt::format("{} {}", toString(probe.outcome), probe.url);
  if (!probe.redirect.empty()) text += fmt::format(" -> {}", probe.redirect);
  if (probe.httpStatus != 0) text += fmt::format(" (HTTP {})", probe.httpStatus);
  if (!probe.error.empty()) text += fmt::format(" ({})", probe.error);
  if (!probe.interface.empty()) text += fmt::format(" dev {}", probe.interface);
  return text + fmt::format(" in {:.3f} s", probe.latency.count());
}

std::string snapshotToText(const Snapshot& snapshot) {
  const LinkDirectory links(snapshot);
  std::string out;
  // Verdict::explanation() starts with the reachability word (snapshot.h).
  auto summary = [&](std::string_view label, const Verdict& verdict) {
    out += fmt::format("{:>12}: {}\n", label, verdict.explanation());
  };
  summary(familyLabel(Family::Unspecified), snapshot.verdict);
  summary(familyLabel(Family::Ipv4), snapshot.ipv4.verdict);
  summary(familyLabel(Family::Ipv6), snapshot.ipv6.verdict);
  out += fmt::format("{:>12}: {}\n", "Transport", toString(snapshot.transportMedium));
  if (snapshot.probe) out += fmt::format("{:>12}: {}\n", "Probe", probeText(*snapshot.probe));
  out += fmt::format("{:>12}: {}\n", "Routes", snapshot.routeCount());
  if (snapshot.counters.degraded) out += fmt::format("{:>12}: {}\n", "Warning", "state may be stale (degraded)");
  out += "\n";

  struct Row {
    std::string index, name, kind, state, carrier;
    std::vector<std::string> addresses;
  };
  std::vector<Row> rows;
  Row header{"IDX", "LINK", "KIND", "STATE", "CARRIER", {"ADDRESSES"}};
  for (const Link& link : snapshot.links) {
    Row row{std::to_string(link.index), link.name, link.kind.empty() ? "-" : link.kind,
            std::string(toString(link.operationalState)), link.hasCarrier() ? "yes" : "no", {}};
    if (link.ignored) row.state += " (ignored)";
    for (const Address& address : links.addresses(link.index)) row.addresses.push_back(addressText(address));
    if (row.addresses.empty()) row.addresses.emplace_back("-");
    rows.push_back(std::move(row));
  }
  std::array<size_t, 5> width{};
  auto measure = [&](const Row& row) {
    width[0] = std::max(width[0], row.index.size());
    width[1] = std::max(width[1], row.name.size());
    width[2] = std::max(width[2], row.kind.size());
    width[3] = std::max(width[3], row.state.size());
    width[4] = std::max(width[4], row.carrier.size());
  };
  measure(header);
  for (const Row& row : rows) measure(row);
  auto emit = [&](const Row& row) {
    for (size_t i = 0; i < row.addresses.size(); ++i) {
      if (i == 0) {
        out += fmt::format("{:>{}} {:<{}} {:<{}} {:<{}} {:<{}} {}\n", row.index, width[0], row.name, width[1],
                           row.kind, width[2], row.state, width[3], row.carrier, width[4], row.addresses[i]);
      } else {
        out += fmt::format("{:{}}{}\n", "", width[0] + width[1] + width[2] + width[3] + width[4] + 5,
                           row.addresses[i]);
      }
    }
  };
  emit(header);
  for (const Row& row : rows) emit(row);
  return out;
}

std::string connectionToText(const ConnectionTarget& target, const ConnectionState& state) {
  return fmt::format("{} {}", target.toString(), state.explanation());
}

std::string eventToText(const Event& event, const LinkDirectory& links) {
  std::string body = std::visit(
      [&](const auto& payload) -> std::string {
        using T = std::decay_t<decltype(payload)>;
        if constexpr (std::is_same_v<T, LinkEvent>) {
          return fmt::format("{} {}", toString(payload.change), linkText(payload.link, links));
        } else if constexpr (std::is_same_v<T, AddressEvent>) {
          return fmt::format("{} {} dev {} scope {}", toString(payload.change), addressText(payload.address),
                             linkName(links, payload.address.linkIndex), toString(payload.address.scope));
        } else if constexpr (std::is_same_v<T, RouteEvent>) {
          return fmt::format("{} {}", toString(payload.change), routeText(payload.route, links));
        } else if constexpr (std::is_same_v<T, RuleEvent>) {
          return fmt::format("{} {}", toString(payload.change), ruleText(payload.rule));
        } else if constexpr (std::is_same_v<T, ReachabilityEvent>) {
          return fmt::format("{} {} -> {}", toString(payload.family), toString(payload.previous),
                             payload.verdict.explanation());
        } else if constexpr (std::is_same_v<T, ConnectionEvent>) {
          return connectionToText(payload.target, payload.current);
        } else if constexpr (std::is_same_v<T, ProbeEvent>) {
          return probeText(payload.result);
        } else {
          static_assert(std::is_same_v<T, ResyncEvent>);
          if (payload.reason == ResyncReason::SocketError) {
            const char* name = strerrorname_np(payload.error);
            return fmt::format("{}: {} ({}), socket reopened; {} differences applied (resync {})",
                               toString(payload.reason), name ? name : std::to_string(payload.error),
                               std::generic_category().message(payload.error), payload.differences, payload.resyncs);
          }
          return fmt::format("{}: {} differences applied (resync {})", toString(payload.reason), payload.differences,
                             payload.resyncs);
        }
      },
      event.payload);
  std::string line = fmt::format("{} {} {}", rfc3339(event.time), toString(event.kind()), body);
  // One event, one line, whatever bytes an interface name holds.
  std::replace(line.begin(), line.end(), '\n', ' ');
  line.push_back('\n');
  return line;
}

}  // namespace netmon::cli
