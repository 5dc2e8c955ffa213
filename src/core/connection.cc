// The connection monitor's value types: parsing targets, and wording answers for people.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>

#include "core/connection_logic.h"
#include "netmon/connection.h"

namespace netmon {

namespace {

Error invalidTarget(std::string detail) { return Error::fromErrno(EINVAL, "parse connection", std::move(detail)); }

// "'text'" (built by appending: gcc 12 -O2 warns -Wrestrict on "'" + std::string(...)).
std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('\'');
  out.append(text);
  out.push_back('\'');
  return out;
}

// An interface as the user wrote it: a name, or an index as a decimal number.
struct InterfaceWord {
  std::string name;
  int index = 0;
};

Result<InterfaceWord> parseInterface(std::string_view text) {
  InterfaceWord word;
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), word.index);
    if (error != std::errc() || end != text.data() + text.size() || word.index <= 0) {
      return tl::unexpected(invalidTarget("interface index " + quoted(text) + " out of range"));
    }
    return word;
  }
  if (!isValidInterfaceName(text)) {
    return tl::unexpected(invalidTarget(quoted(text) + " is not a valid interface name"));
  }
  word.name = std::string(text);
  return word;
}

// Merges `word` into the target's interface, which must agree with what is already there.
Result<void> mergeInterface(ConnectionTarget& target, const InterfaceWord& word, std::string_view origin) {
  if (!word.name.empty()) {
    if (!target.interfaceName.empty() && target.interfaceName != word.name) {
      return tl::unexpected(invalidTarget(std::string(origin) + " names interface '" + word.name + "' but '" +
                                          target.interfaceName + "' was given"));
    }
    target.interfaceName = word.name;
  }
  if (word.index > 0) {
    if (target.interfaceIndex > 0 && target.interfaceIndex != word.index) {
      return tl::unexpected(invalidTarget(std::string(origin) + " names interface " + std::to_string(word.index) +
                                          " but " + std::to_string(target.interfaceIndex) + " was given"));
    }
    target.interfaceIndex = word.index;
  }
  return {};
}

// "2001:db8::1" or "fe80::1%eth0" (the scope merged into the target's interface).
Result<IpAddress> parseAddress(std::string_view text, std::string_view role, ConnectionTarget& target) {
  const size_t percent = text.find('%');
  const std::string_view literal = text.substr(0, percent);
  auto address = IpAddress::parse(literal);
  if (!address) {
    return tl::unexpected(invalidTarget(std::string(role) + " '" + std::string(text) + "' is not an IP address"));
  }
  if (percent != std::string_view::npos) {
    if (address->family() != Family::Ipv6) {
      return tl::unexpected(invalidTarget(std::string(role) + " '" + std::string(text) +
                                          "': only IPv6 addresses take a %scope"));
    }
    auto scope = parseInterface(text.substr(percent + 1));
    if (!scope) return tl::unexpected(scope.error());
    if (auto merged = mergeInterface(target, *scope, std::string(role) + " scope"); !merged) {
      return tl::unexpected(merged.error());
    }
  }
  return *address;
}

}  // namespace

bool isValidInterfaceName(std::string_view name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == '\0' || std::isspace(static_cast<unsigned char>(c));
  });
}

Result<ConnectionTarget> ConnectionTarget::parse(std::string_view remote, std::string_view local,
                                                 std::string_view interface_name) {
  ConnectionTarget target;
  if (!interface_name.empty()) {
    auto word = parseInterface(interface_name);
    if (!word) return tl::unexpected(word.error());
    if (auto merged = mergeInterface(target, *word, "--interface"); !merged) return tl::unexpected(merged.error());
  }
  auto remote_address = parseAddress(remote, "remote", target);
  if (!remote_address) return tl::unexpected(remote_address.error());
  target.remote = *remote_address;
  if (!local.empty()) {
    auto local_address = parseAddress(local, "local", target);
    if (!local_address) return tl::unexpected(local_address.error());
    target.local = *local_address;
  }
  if (auto valid = detail::validateTarget(target); !valid) {
    return tl::unexpected(invalidTarget(valid.error().detail));
  }
  return target;
}

std::string ConnectionTarget::toString() const {
  std::string text = remote.toString();
  if (local.isSpecified()) text += " from " + local.toString();
  if (!interfaceName.empty()) {
    text += " dev " + interfaceName;
  } else if (interfaceIndex > 0) {
    text += " dev #" + std::to_string(interfaceIndex);
  }
  return text;
}

std::string ConnectionState::explanation() const {
  std::string text = reachable ? "reachable" : "unreachable (" + std::string(netmon::toString(reason)) + ")";
  text += ":";
  if (reachable && routeType == RouteType::Local) return text + " the remote is this host";
  if (kernelError != 0 && !reachable) {
    switch (reason) {
      case ConnectionReason::NoRoute: text += " no route to the remote"; break;
      case ConnectionReason::Blackhole: text += " a blackhole route or rule discards it"; break;
      case ConnectionReason::Unreachable: text += " an unreachable route or rule rejects it"; break;
      case ConnectionReason::Prohibit: text += " a prohibit route or rule rejects it"; break;
      case ConnectionReason::SourceMismatch: text += " routable, but not from that local address"; break;
      case ConnectionReason::LocalAddressGone: text += " the local address is not on this host"; break;
      case ConnectionReason::InterfaceGone: text += " the interface does not exist"; break;
      default: break;
    }
    return text + " (kernel: " + std::generic_category().message(kernelError) + ")";
  }
  if (reason == ConnectionReason::LocalAddressGone) return text + " the local address is not on this host";
  if (reason == ConnectionReason::InterfaceGone && linkIndex == 0) return text + " the interface does not exist";
  if (gateway.isSpecified()) text += " via " + gateway.toString();
  if (!linkName.empty()) {
    text += " dev " + linkName;
  } else if (linkIndex > 0) {
    text += " dev #" + std::to_string(linkIndex);
  }
  if (table != 0) text += " (table " + routeTableName(table) + ")";
  if (source.isSpecified()) text += ", source " + source.toString();
  if (linkIndex > 0 && !linkName.empty()) text += ", link " + std::string(netmon::toString(linkState));
  if (reason == ConnectionReason::SourceMismatch) text += "; the local address belongs to another link";
  return text;
}

}  // namespace netmon
