#include "output/event_stream.h"

#include <chrono>
#include <variant>

namespace netmon::cli {

void EventStream::start(const Snapshot& snapshot) {
  links_.reset(snapshot);
  joinedAt_ = snapshot.sequence;
}

bool EventStream::accept(const Event& event) {
  if (event.sequence <= joinedAt_) return false;
  links_.apply(event);
  return true;
}

bool EventStream::needsReread(const Event& event) const {
  const auto* resync = std::get_if<ResyncEvent>(&event.payload);
  return resync && resync->reason == ResyncReason::SubscriberOverflow;
}

std::vector<Event> currentStateEvents(const Snapshot& snapshot) {
  const auto now = std::chrono::system_clock::now();
  const struct {
    Family family;
    FamilyState state;
  } rows[] = {
      {Family::Ipv4, snapshot.ipv4},
      {Family::Ipv6, snapshot.ipv6},
      {Family::Unspecified, FamilyState{snapshot.reachability, snapshot.verdict}},
  };
  std::vector<Event> events;
  for (const auto& row : rows) {
    events.push_back(Event{snapshot.sequence, now,
                           ReachabilityEvent{row.family, row.state.reachability, Reachability::Unknown,
                                             row.state.verdict}});
  }
  return events;
}

}  // namespace netmon::cli
