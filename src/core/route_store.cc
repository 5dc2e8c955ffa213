#include "core/route_store.h"

#include <algorithm>
#include <cstring>

namespace netmon::detail {

namespace {
constexpr size_t kMinSlots = 16;
// A slot packs a record index (+1, 0 = empty) in its low 24 bits and 8 bits of the key's hash in
// its high bits: a probe skips 255 of 256 foreign slots without touching their records (a cache
// miss each). Measured on 1M routes: probing was 31% of the initial sync before the tag.
constexpr uint32_t kIndexBits = 24;
constexpr uint32_t kIndexMask = (1u << kIndexBits) - 1;
uint32_t tagOf(size_t hash) { return uint32_t(hash >> 56) << kIndexBits; }
uint32_t slotValue(size_t hash, size_t record_index) { return tagOf(hash) | uint32_t(record_index + 1); }
size_t recordOf(uint32_t slot) { return (slot & kIndexMask) - 1; }
// The index grows at 80% load: linear probing stays short and an IPv4 route costs 5–10 index bytes.
constexpr size_t kMaxLoadPercent = 80;
size_t slotCountFor(size_t count) {
  size_t slots = kMinSlots;
  while (count * 100 > slots * kMaxLoadPercent) slots *= 2;
  return slots;
}

template <size_t N>
std::array<uint8_t, N> bytesOf(const IpAddress& address) {
  std::array<uint8_t, N> bytes{};
  if (address.size() == N) std::memcpy(bytes.data(), address.data(), N);
  return bytes;
}

template <size_t N>
IpAddress addressOf(const std::array<uint8_t, N>& bytes) {
  if constexpr (N == 4) return IpAddress::v4(bytes.data());
  else return IpAddress::v6(bytes.data());
}

uint64_t mix(uint64_t h) {  // splitmix64 finaliser
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}
}  // namespace

template <size_t N>
size_t RouteTable<N>::KeyHash::operator()(const Key& key) const {
  uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i < N; i += 4) {
    uint32_t word = 0;
    std::memcpy(&word, key.destination.data() + i, 4);
    h = mix(h ^ word);
  }
  h = mix(h ^ (uint64_t(key.table) << 32 | key.metric));
  h = mix(h ^ (uint64_t(key.destination_length) | uint64_t(key.source_length) << 8 | uint64_t(key.tos) << 16 |
               uint64_t(uint32_t(key.link_index)) << 24));
  return size_t(h);
}

template <size_t N>
typename RouteTable<N>::Record RouteTable<N>::pack(const Route& route) {
  Record r{};
  r.destination = bytesOf<N>(route.destination.address);
  r.gateway = bytesOf<N>(route.gateway);
  r.preferred_source = bytesOf<N>(route.preferredSource);
  r.table = route.table;
  r.metric = route.metric;
  r.link_index = route.nextHops.empty() ? route.linkIndex : route.nextHops.front().linkIndex;
  r.destination_length = route.destination.length;
  r.source_length = route.sourceLength;
  r.tos = route.tos;
  r.type = uint8_t(route.type);
  r.protocol = route.protocol;
  r.scope = uint8_t(route.scope);
  r.flags = uint8_t(route.flags & 0xFF);
  r.internal = (route.nextHops.empty() ? 0 : Record::kMultipath) |
               (route.gateway.family() == kFamily ? Record::kHasGateway : 0) |
               (route.preferredSource.family() == kFamily ? Record::kHasSource : 0);
  return r;
}

template <size_t N>
Route RouteTable<N>::expand(const Record& r, const std::vector<NextHop>* next_hops) {
  Route route;
  route.family = kFamily;
  route.table = r.table;
  route.destination = IpPrefix{addressOf<N>(r.destination), r.destination_length};
  route.sourceLength = r.source_length;
  route.tos = r.tos;
  route.metric = r.metric;
  route.type = RouteType(r.type);
  route.protocol = r.protocol;
  route.scope = Scope(r.scope);
  route.flags = r.flags;
  route.linkIndex = (r.internal & Record::kMultipath) ? 0 : r.link_index;
  if (r.internal & Record::kHasGateway) route.gateway = addressOf<N>(r.gateway);
  if (r.internal & Record::kHasSource) route.preferredSource = addressOf<N>(r.preferred_source);
  if (next_hops) route.nextHops = *next_hops;
  return route;
}

template <size_t N>
Route RouteTable<N>::expandAt(size_t index) const {
  const Record& r = records_[index];
  const std::vector<NextHop>* hops = nullptr;
  if (r.internal & Record::kMultipath) {
    auto it = next_hops_.find(keyOf(r));
    if (it != next_hops_.end()) hops = &it->second;
  }
  return expand(r, hops);
}

template <size_t N>
size_t RouteTable<N>::probe(const Key& key, size_t hash) const {
  const size_t mask = slots_.size() - 1;
  const uint32_t tag = tagOf(hash);
  size_t slot = hash & mask;
  while (slots_[slot] != 0 &&
         ((slots_[slot] & ~kIndexMask) != tag || !(keyOf(records_[recordOf(slots_[slot])]) == key))) {
    slot = (slot + 1) & mask;
  }
  return slot;
}

template <size_t N>
void RouteTable<N>::rebuildIndex(size_t slot_count) {
  slots_.assign(slot_count, 0);
  const size_t mask = slot_count - 1;
  for (size_t i = 0; i < records_.size(); ++i) {
    const size_t hash = KeyHash{}(keyOf(records_[i]));
    size_t slot = hash & mask;
    while (slots_[slot] != 0) slot = (slot + 1) & mask;
    slots_[slot] = slotValue(hash, i);
  }
}

template <size_t N>
void RouteTable<N>::growIndexIfNeeded() {
  if (slots_.empty()) return rebuildIndex(kMinSlots);
  if ((records_.size() + 1) * 100 > slots_.size() * kMaxLoadPercent) rebuildIndex(slots_.size() * 2);
}

template <size_t N>
void RouteTable<N>::reserve(size_t count) {
  endBulkLoad();
  size_t slots = slotCountFor(count);
  if (slots > slots_.size()) rebuildIndex(slots);
}

template <size_t N>
void RouteTable<N>::beginBulkLoad() {
  if (records_.empty()) bulk_loading_ = true;
}

template <size_t N>
void RouteTable<N>::endBulkLoad() {
  if (!bulk_loading_) return;
  bulk_loading_ = false;
  const size_t slot_count = std::max(slotCountFor(records_.size()), slots_.size());
  slots_.assign(slot_count, 0);
  std::vector<size_t> later_duplicates, folded;
  // Each record's home slot is a cache miss in a large index: hashes are computed kLookahead
  // records ahead and their slots prefetched, so the misses overlap.
  constexpr size_t kLookahead = 16;
  std::array<size_t, kLookahead> hashes{};
  const size_t count = records_.size();
  const size_t mask = slot_count - 1;
  for (size_t i = 0; i < std::min(count, kLookahead); ++i) {
    hashes[i] = KeyHash{}(keyOf(records_[i]));
    __builtin_prefetch(&slots_[hashes[i] & mask], 1);
  }
  for (size_t i = 0; i < count; ++i) {
    const Key key = keyOf(records_[i]);
    const size_t hash = hashes[i % kLookahead];
    if (i + kLookahead < count) {
      const size_t ahead = KeyHash{}(keyOf(records_[i + kLookahead]));
      hashes[i % kLookahead] = ahead;
      __builtin_prefetch(&slots_[ahead & mask], 1);
    }
    const size_t slot = probe(key, hash);
    if (slots_[slot] == 0) {
      slots_[slot] = slotValue(hash, i);
      continue;
    }
    // The same key again: the later record replaces the earlier in place, as upsert() does.
    const size_t earlier = recordOf(slots_[slot]);
    records_[earlier] = records_[i];
    folded.push_back(earlier);
    later_duplicates.push_back(i);
  }
  // The side map holds the next hops of a key's last multipath record (stored when appended);
  // they are stale where the key's last record is single-path.
  for (size_t index : folded) {
    if (!(records_[index].internal & Record::kMultipath)) next_hops_.erase(keyOf(records_[index]));
  }
  // From the back: the last record is never one still to be dropped.
  for (auto it = later_duplicates.rbegin(); it != later_duplicates.rend(); ++it) fillFromLast(*it);
}

template <size_t N>
UpsertResult RouteTable<N>::upsert(const Route& route, bool mark_seen) {
  Record record = pack(route);
  if (mark_seen) record.internal |= Record::kSeen;
  if (bulk_loading_) {
    if (records_.size() >= kMaxRoutes) return UpsertResult::Refused;
    records_.push_back(record);
    if (!route.nextHops.empty()) next_hops_[keyOf(record)] = route.nextHops;
    return UpsertResult::Added;
  }
  const Key key = keyOf(record);
  growIndexIfNeeded();
  const size_t hash = KeyHash{}(key);
  const size_t slot = probe(key, hash);
  if (slots_[slot] == 0) {
    if (records_.size() >= kMaxRoutes) return UpsertResult::Refused;
    records_.push_back(record);
    slots_[slot] = slotValue(hash, records_.size() - 1);
    if (!route.nextHops.empty()) next_hops_[key] = route.nextHops;
    return UpsertResult::Added;
  }
  Record& existing = records_[recordOf(slots_[slot])];
  const bool hops_changed = [&] {
    auto it = next_hops_.find(key);
    if (it == next_hops_.end()) return !route.nextHops.empty();
    return it->second != route.nextHops;
  }();
  Record previous = existing;
  previous.internal = uint8_t(previous.internal & ~Record::kSeen);
  Record incoming = record;
  incoming.internal = uint8_t(incoming.internal & ~Record::kSeen);
  const bool same = std::memcmp(&previous, &incoming, sizeof(Record)) == 0 && !hops_changed;
  if (!mark_seen) record.internal |= uint8_t(existing.internal & Record::kSeen);  // keep a resync's mark
  existing = record;
  if (hops_changed) {
    if (route.nextHops.empty()) next_hops_.erase(key);
    else next_hops_[key] = route.nextHops;
  }
  return same ? UpsertResult::Unchanged : UpsertResult::Changed;
}

template <size_t N>
void RouteTable<N>::eraseAt(size_t record_index) {
  const Key key = keyOf(records_[record_index]);
  if (records_[record_index].internal & Record::kMultipath) next_hops_.erase(key);
  // Backward-shift deletion keeps probe sequences intact without tombstones.
  const size_t mask = slots_.size() - 1;
  size_t hole = probe(key);
  size_t next = (hole + 1) & mask;
  while (slots_[next] != 0) {
    const size_t home = KeyHash{}(keyOf(records_[recordOf(slots_[next])])) & mask;
    // Move `next` into the hole if its home is not in (hole, next] (cyclically).
    const bool home_between = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
    if (!home_between) {
      slots_[hole] = slots_[next];
      hole = next;
    }
    next = (next + 1) & mask;
  }
  slots_[hole] = 0;
  fillFromLast(record_index);
}

template <size_t N>
void RouteTable<N>::fillFromLast(size_t record_index) {
  const size_t last = records_.size() - 1;
  if (record_index != last) {
    const size_t moved_slot = probe(keyOf(records_[last]));
    records_[record_index] = records_[last];
    slots_[moved_slot] = (slots_[moved_slot] & ~kIndexMask) | uint32_t(record_index + 1);
  }
  records_.pop_back();
}

template <size_t N>
std::optional<Route> RouteTable<N>::remove(const Route& key_route) {
  endBulkLoad();
  if (slots_.empty()) return std::nullopt;
  const size_t slot = probe(keyOf(key_route));
  if (slots_[slot] == 0) return std::nullopt;
  const size_t index = recordOf(slots_[slot]);
  Route removed = expandAt(index);
  eraseAt(index);
  return removed;
}

template <size_t N>
std::optional<Route> RouteTable<N>::find(const Route& key_route) const {
  if (bulk_loading_) {  // the index is not built yet; the latest record of a key is the one kept
    const Key key = keyOf(key_route);
    for (size_t i = records_.size(); i-- > 0;) {
      if (keyOf(records_[i]) == key) return expandAt(i);
    }
    return std::nullopt;
  }
  if (slots_.empty()) return std::nullopt;
  const size_t slot = probe(keyOf(key_route));
  if (slots_[slot] == 0) return std::nullopt;
  return expandAt(recordOf(slots_[slot]));
}

template <size_t N>
void RouteTable<N>::clearSeen() {
  records_.forEachMutable([](Record& r) { r.internal = uint8_t(r.internal & ~Record::kSeen); });
}

template <size_t N>
void RouteTable<N>::sweepUnseen(const std::function<void(const Route&)>& on_removed) {
  removeIf([](const Route&) { return true; }, on_removed, /*only_unseen=*/true);
}

template <size_t N>
void RouteTable<N>::removeIf(const std::function<bool(const Route&)>& predicate,
                             const std::function<void(const Route&)>& on_removed) {
  removeIf(predicate, on_removed, false);
}

template <size_t N>
void RouteTable<N>::removeIf(const std::function<bool(const Route&)>& predicate,
                             const std::function<void(const Route&)>& on_removed, bool only_unseen) {
  endBulkLoad();
  // Walk backwards: eraseAt() moves the last record into the hole, which is then already visited.
  for (size_t i = records_.size(); i-- > 0;) {
    if (only_unseen && (records_[i].internal & Record::kSeen)) continue;
    Route route = expandAt(i);
    if (!predicate(route)) continue;
    eraseAt(i);
    on_removed(route);
  }
}

template <size_t N>
void RouteTable<N>::forEach(const std::function<void(const Route&)>& visit) const {
  for (size_t i = 0; i < records_.size(); ++i) visit(expandAt(i));
}

template <size_t N>
size_t RouteTable<N>::memoryBytes() const {
  return records_.capacityBytes() + slots_.capacity() * sizeof(uint32_t);
}

template class RouteTable<4>;
template class RouteTable<16>;

}  // namespace netmon::detail
