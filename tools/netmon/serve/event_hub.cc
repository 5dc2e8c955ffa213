#include "serve/event_hub.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <random>

#include <fmt/format.h>

#include "output/json.h"
#include "output/time.h"

namespace netmon::serve {
namespace {

std::string randomEpoch() {
  std::random_device device;
  const uint64_t value = (uint64_t{device()} << 32) ^ device();
  return fmt::format("{:016x}", value);
}

std::string withoutNewline(std::string line) {
  while (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

}  // namespace

EventHub::EventHub(StatusMonitor& monitor, DaemonMetrics& metrics, size_t ring_capacity)
    : monitor_(monitor), metrics_(metrics), ringCapacity_(std::max<size_t>(ring_capacity, 1)),
      epoch_(randomEpoch()) {
  // Subscribe first, then read the snapshot: events it already contains are skipped by sequence.
  subscription_ = monitor_.subscribe(Executor::inlineOnMonitorThread(), [this](const Event& event) { onEvent(event); },
                                     EventMask::all());
  const auto snapshot = monitor_.snapshot();
  stream_.start(*snapshot);
  latest_ = evicted_ = snapshot->sequence;
}

std::shared_ptr<const std::string> EventHub::frame(uint64_t sequence, const std::string& json) const {
  return std::make_shared<const std::string>(fmt::format("id: {}-{}\ndata: {}\n\n", epoch_, sequence, json));
}

std::optional<uint64_t> EventHub::parseId(std::string_view id) const {
  const size_t dash = id.find('-');
  if (dash == std::string_view::npos || id.substr(0, dash) != epoch_) return std::nullopt;
  const std::string_view number = id.substr(dash + 1);
  uint64_t sequence = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), sequence);
  if (number.empty() || error != std::errc() || end != number.data() + number.size()) return std::nullopt;
  return sequence;
}

void EventHub::onEvent(const Event& event) {
  if (!stream_.accept(event)) return;
  if (stream_.needsReread(event)) stream_.reread(*monitor_.snapshot());
  metrics_.countEvent(event);
  latest_ = event.sequence;
  const auto rendered = frame(event.sequence, withoutNewline(cli::toJsonLine(cli::eventToJson(event, stream_.links()))));
  ring_.push_back({event.sequence, rendered});
  if (ring_.size() > ringCapacity_) {
    evicted_ = ring_.front().sequence;
    ring_.pop_front();
  }
  // Sending may disconnect a client (queue overflow); expired ones are swept as we go.
  std::erase_if(clients_, [&](const std::weak_ptr<StreamClient>& weak) {
    const auto client = weak.lock();
    if (!client) return true;
    client->send(rendered);
    return false;
  });
}

StreamResponse EventHub::open(std::optional<std::string_view> last_event_id) {
  StreamResponse response;
  response.handler = "/v1/events";
  response.attach = [this](const std::shared_ptr<StreamClient>& client) { clients_.push_back(client); };

  if (!last_event_id) {
    // Rendered once per state, not per client: a thousand clients reconnecting at once must not
    // hold the events back.
    const auto snapshot = monitor_.snapshot();
    const auto now = std::chrono::steady_clock::now();
    // Their `time` is when they were rendered: re-rendered each second at most.
    if (joiningFrames_.empty() || joiningSequence_ != snapshot->sequence || now - joiningRendered_ > std::chrono::seconds(1)) {
      joiningFrames_.clear();
      joiningSequence_ = snapshot->sequence;
      joiningRendered_ = now;
      const std::vector<Event> joining = cli::currentStateEvents(*snapshot);
      for (size_t i = 0; i < joining.size(); ++i) {
        const std::string json = withoutNewline(cli::toJsonLine(cli::eventToJson(joining[i], stream_.links())));
        // Only the last joining frame carries the id: a client cut off before it has seen where
        // things stand only in part, and must join afresh rather than resume.
        joiningFrames_.push_back(i + 1 == joining.size()
                                     ? frame(snapshot->sequence, json)
                                     : std::make_shared<const std::string>("data: " + json + "\n\n"));
      }
    }
    response.initial = joiningFrames_;
    return response;
  }
  const std::optional<uint64_t> resume = parseId(*last_event_id);
  if (resume && *resume >= evicted_ && *resume <= latest_) {
    const auto first = std::upper_bound(ring_.begin(), ring_.end(), *resume,
                                        [](uint64_t sequence, const Stored& stored) { return sequence < stored.sequence; });
    for (auto it = first; it != ring_.end(); ++it) response.initial.push_back(it->frame);
    return response;
  }
  const auto snapshot = monitor_.snapshot();
  nlohmann::json resync = {{"type", "resync"},
                           {"time", cli::rfc3339(std::chrono::system_clock::now())},
                           {"sequence", snapshot->sequence},
                           {"reason", "missed-events"},
                           {"status", cli::snapshotToJson(*snapshot)}};
  response.initial.push_back(frame(snapshot->sequence, withoutNewline(cli::toJsonLine(resync))));
  return response;
}

}  // namespace netmon::serve
