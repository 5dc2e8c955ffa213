#include "output/address_flags.h"

#include <cstdint>

namespace netmon::cli {
namespace {

// netmon's public API carries Address::flags as the kernel's IFA_F_* bits and names only three of
// them (isTentative(), isDeprecated(), isDadFailed()); this is the kernel ABI's full list
// (include/uapi/linux/if_addr.h), spelt as `ip address` prints them.
struct FlagName {
  uint32_t bit;
  std::string_view name;
};
constexpr FlagName kFlagNames[] = {
    {0x002, "nodad"},      {0x004, "optimistic"},    {0x008, "dadfailed"}, {0x010, "homeaddress"},
    {0x020, "deprecated"}, {0x040, "tentative"},     {0x080, "permanent"}, {0x100, "mngtmpaddr"},
    {0x200, "noprefixroute"}, {0x400, "autojoin"}, {0x800, "stable-privacy"},
};
constexpr uint32_t kSecondaryOrTemporary = 0x01;  // IFA_F_SECONDARY (IPv4) == IFA_F_TEMPORARY (IPv6)

}  // namespace

std::vector<std::string_view> addressFlagNames(const Address& address) {
  std::vector<std::string_view> names;
  if (address.flags & kSecondaryOrTemporary)
    names.push_back(address.family() == Family::Ipv6 ? "temporary" : "secondary");
  for (const FlagName& flag : kFlagNames) {
    if (address.flags & flag.bit) names.push_back(flag.name);
  }
  return names;
}

}  // namespace netmon::cli
