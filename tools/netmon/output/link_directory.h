#pragma once
// LinkDirectory: what the renderers need to know about links beyond the event in hand — the name
// behind a link index (routes and addresses carry only the index) and the addresses a link holds
// (so a link event renders like a `status` link). Seeded from a snapshot, then kept current from
// link and address events in delivery order.
//
// Names of removed links are remembered: the kernel may report a route's removal after its link's.
//
// Thread safety: none; use from the thread that delivers the events.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "netmon/event.h"
#include "netmon/snapshot.h"

namespace netmon::cli {

class LinkDirectory {
 public:
  LinkDirectory() = default;
  explicit LinkDirectory(const Snapshot& snapshot) { reset(snapshot); }

  // Forgets the addresses and takes names and addresses from `snapshot` (names of links absent
  // from it are kept).
  void reset(const Snapshot& snapshot);
  // Folds a link or address event in; other events are ignored.
  void apply(const Event& event);

  // The link's name, "" when the index was never seen.
  std::string_view name(int index) const;
  const std::vector<Address>& addresses(int index) const;

 private:
  std::map<int, std::string> names_;
  std::map<int, std::vector<Address>> addresses_;
};

}  // namespace netmon::cli
