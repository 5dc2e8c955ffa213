#include <fnmatch.h>

#include <algorithm>

#include "core/route_store.h"
#include "netmon/snapshot.h"
#include "netmon/status_monitor.h"

namespace netmon {

const Link* Snapshot::findLink(int index) const {
  auto it = std::lower_bound(links.begin(), links.end(), index, [](const Link& l, int i) { return l.index < i; });
  return it != links.end() && it->index == index ? &*it : nullptr;
}

const Link* Snapshot::findLink(std::string_view name) const {
  auto it = std::find_if(links.begin(), links.end(), [&](const Link& l) { return l.name == name; });
  return it != links.end() ? &*it : nullptr;
}

std::vector<Address> Snapshot::addressesOf(int link_index) const {
  std::vector<Address> result;
  for (const auto& a : addresses) {
    if (a.linkIndex == link_index) result.push_back(a);
  }
  return result;
}

size_t Snapshot::routeCount() const { return routes_ ? routes_->size() : 0; }

void Snapshot::forEachRoute(const std::function<void(const Route&)>& visit) const {
  if (routes_) routes_->forEach(visit);
}

std::vector<Route> Snapshot::routes() const {
  std::vector<Route> result;
  result.reserve(routeCount());
  forEachRoute([&](const Route& r) { result.push_back(r); });
  return result;
}

void Snapshot::setRouteStoreForInternalUse(std::shared_ptr<const detail::RouteStore> routes) {
  routes_ = std::move(routes);
}

LinkFilter LinkFilter::defaults() {
  return LinkFilter{{"docker*", "br-*", "veth*", "virbr*", "vnet*", "cni*", "podman*"}, {}};
}

bool LinkFilter::matches(std::string_view name, std::string_view kind) const {
  const std::string name_text(name);
  for (const auto& pattern : namePatterns) {
    if (fnmatch(pattern.c_str(), name_text.c_str(), 0) == 0) return true;
  }
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

}  // namespace netmon
