// sysfs knows what netlink does not say: whether an Ethernet-framed link is really Wi-Fi
// (/sys/class/net/NAME/wireless, phy80211) and the driver's DEVTYPE (wlan, wwan, bluetooth).
// sysfs shows the namespace it was mounted in, so the backend only asks it for its own namespace.
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "rtnl/rtnl_backend.h"

namespace netmon::rtnl {

detail::LinkMediumHints readSysfsMediumHints(const std::string& link_name) {
  detail::LinkMediumHints hints;
  if (link_name.empty() || link_name.find('/') != std::string::npos || link_name == "." || link_name == "..") {
    return hints;
  }
  const std::string base = "/sys/class/net/" + link_name;
  struct stat info {};
  hints.wireless = stat((base + "/wireless").c_str(), &info) == 0 || stat((base + "/phy80211").c_str(), &info) == 0;
  std::ifstream uevent(base + "/uevent");
  for (std::string line; std::getline(uevent, line);) {
    if (line.rfind("DEVTYPE=", 0) == 0) hints.devtype = line.substr(8);
  }
  return hints;
}

}  // namespace netmon::rtnl
