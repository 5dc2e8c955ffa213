#include "output/link_directory.h"

#include <algorithm>
#include <variant>

namespace netmon::cli {
namespace {

// The kernel keys an address by link, local address, prefix length and peer.
bool sameAddress(const Address& a, const Address& b) {
  return a.linkIndex == b.linkIndex && a.address == b.address && a.prefixLength == b.prefixLength &&
         a.peer == b.peer;
}

}  // namespace

void LinkDirectory::reset(const Snapshot& snapshot) {
  addresses_.clear();
  for (const Link& link : snapshot.links) names_[link.index] = link.name;
  for (const Address& address : snapshot.addresses) addresses_[address.linkIndex].push_back(address);
}

void LinkDirectory::apply(const Event& event) {
  if (const auto* link = std::get_if<LinkEvent>(&event.payload)) {
    names_[link->link.index] = link->link.name;
    if (link->change == Change::Removed) addresses_.erase(link->link.index);
    return;
  }
  if (const auto* change = std::get_if<AddressEvent>(&event.payload)) {
    std::vector<Address>& list = addresses_[change->address.linkIndex];
    auto it = std::find_if(list.begin(), list.end(),
                           [&](const Address& a) { return sameAddress(a, change->address); });
    if (change->change == Change::Removed) {
      if (it != list.end()) list.erase(it);
    } else if (it != list.end()) {
      *it = change->address;
    } else {
      list.push_back(change->address);
    }
  }
}

std::string_view LinkDirectory::name(int index) const {
  auto it = names_.find(index);
  return it == names_.end() ? std::string_view() : std::string_view(it->second);
}

const std::vector<Address>& LinkDirectory::addresses(int index) const {
  static const std::vector<Address> kNone;
  auto it = addresses_.find(index);
  return it == addresses_.end() ? kNone : it->second;
}

}  // namespace netmon::cli
