#pragma once
// EventStream: what `watch` and the daemon's event stream share — how a subscriber joins a monitor
// (events already folded into the joining snapshot are skipped), how the link directory the
// renderers need is kept current, and the "where things stand" events a reader gets first.
//
// Thread safety: none; use from the thread that delivers the events.
#include <cstdint>
#include <vector>

#include "netmon/event.h"
#include "netmon/snapshot.h"
#include "output/link_directory.h"

namespace netmon::cli {

class EventStream {
 public:
  // Takes the state to start from; events up to `snapshot.sequence` are already in it.
  void start(const Snapshot& snapshot);

  // Folds `event` into the link directory. False when the event is already in the starting
  // snapshot and must not be shown. After a SubscriberOverflow resync the directory is stale
  // (queued link/address events were dropped): the caller passes a fresh snapshot in `reread`.
  bool accept(const Event& event);
  bool needsReread(const Event& event) const;
  void reread(const Snapshot& snapshot) { links_.reset(snapshot); }

  const LinkDirectory& links() const { return links_; }
  uint64_t joinedAt() const { return joinedAt_; }

 private:
  LinkDirectory links_;
  uint64_t joinedAt_ = 0;
};

// Where things stand, as reachability events from "unknown": IPv4, IPv6, then overall (family
// Unspecified, spelt "any"), all with the snapshot's sequence and time `now`.
std::vector<Event> currentStateEvents(const Snapshot& snapshot);

}  // namespace netmon::cli
