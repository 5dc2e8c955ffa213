#pragma once
// The route mirror: compact, because a full BGP table is a million routes.
//
// Layout: a dense, chunked array of packed records (32 bytes an IPv4 route, 68 an IPv6 route) plus an
// open-addressing index of 4-byte slots (linear probing, backward-shift deletion, no tombstones).
// That is ~40 bytes an IPv4 route all told, against ~80 for std::map<key, Route> (FACTS.md), and no
// allocation per route. Removal swaps the last record into the hole. Multipath next hops, rare and
// variable-sized, live in a side map.
//
// The key is the kernel's: family, table, destination, prefix length, tos, metric, IPv6 source
// prefix length — and for IPv6 the output link, because IPv6 keeps one route per device for the
// same prefix and metric (every link has its own fe80::/64), where IPv4 refuses the second
// (EEXIST) and `ip route replace` moves the route to the new device. A multipath route is keyed by
// its first next hop's link, so appending a next hop to an IPv6 route changes that route. Two IPv4
// routes that differ only in next hop (`ip route append`) share a key; the later one replaces the
// earlier in the mirror.
//
// Thread safety: none; the owner (Mirror) serialises access.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/chunked_vector.h"
#include "netmon/model.h"

namespace netmon::detail {

// Refused: the table holds kMaxRoutes already (the mirror counts it; see Counters::routesRefused).
enum class UpsertResult : uint8_t { Added, Changed, Unchanged, Refused };

template <size_t AddressBytes>
struct PackedRoute {
  std::array<uint8_t, AddressBytes> destination;
  std::array<uint8_t, AddressBytes> gateway;
  std::array<uint8_t, AddressBytes> preferred_source;
  uint32_t table;
  uint32_t metric;
  int32_t link_index;   // RTA_OIF; for multipath routes the first next hop's link (RTA_OIF is absent)
  uint8_t destination_length;
  uint8_t source_length;
  uint8_t tos;
  uint8_t type;
  uint8_t protocol;
  uint8_t scope;
  uint8_t flags;        // low 8 bits of rtm_flags (the RTNH_F_* bits); RTM_F_* notification bits are not kept
  uint8_t internal;     // kMultipath | kSeen | kHasGateway | kHasSource
  static constexpr uint8_t kMultipath = 1, kSeen = 2, kHasGateway = 4, kHasSource = 8;
};
static_assert(sizeof(PackedRoute<4>) == 32);
static_assert(sizeof(PackedRoute<16>) == 68);

template <size_t AddressBytes>
class RouteTable {
 public:
  using Record = PackedRoute<AddressBytes>;
  static constexpr Family kFamily = AddressBytes == 4 ? Family::Ipv4 : Family::Ipv6;
  // Per family: 16.7M routes, 16 times a full Internet table (the slot's 24-bit index).
  static constexpr size_t kMaxRoutes = (size_t(1) << 24) - 2;

  UpsertResult upsert(const Route& route, bool mark_seen);
  std::optional<Route> remove(const Route& key);
  std::optional<Route> find(const Route& key) const;
  size_t size() const { return records_.size(); }
  void reserve(size_t count);
  // Bulk load (the initial dump into an empty table): upsert() appends the record without looking
  // at the index and answers Added, even for a key it already holds; endBulkLoad() builds the index
  // once, sized for the count, and keeps the later of two records with the same key (the kernel
  // dumps IPv4 `ip route append` routes under one key), as upsert() would have. Every other
  // mutating call ends the bulk load first; find() during one searches linearly.
  // beginBulkLoad() on a non-empty table does nothing.
  void beginBulkLoad();
  void endBulkLoad();
  bool bulkLoading() const { return bulk_loading_; }
  // Resync support: clear every seen mark, then remove the unmarked (reporting each).
  void clearSeen();
  void sweepUnseen(const std::function<void(const Route&)>& on_removed);
  // Removes routes matching `predicate` (reporting each). Linear: used for link flushes only.
  void removeIf(const std::function<bool(const Route&)>& predicate, const std::function<void(const Route&)>& on_removed);
  template <class Visit>
  void forEachPacked(Visit&& visit) const { records_.forEach(visit); }
  void forEach(const std::function<void(const Route&)>& visit) const;
  size_t memoryBytes() const;

  static Route expand(const Record& record, const std::vector<NextHop>* next_hops);
  static Record pack(const Route& route);

 private:
  struct Key {
    std::array<uint8_t, AddressBytes> destination;
    uint32_t table, metric;
    int32_t link_index;  // IPv6 only; 0 for IPv4
    uint8_t destination_length, source_length, tos;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& key) const;
  };
  static Key keyOf(const Record& r) {
    return {r.destination, r.table, r.metric, kFamily == Family::Ipv6 ? r.link_index : 0, r.destination_length,
            r.source_length, r.tos};
  }
  static Key keyOf(const Route& route) { return keyOf(pack(route)); }

  // Slot holding `key`, or the empty slot where it would go.
  size_t probe(const Key& key) const { return probe(key, KeyHash{}(key)); }
  size_t probe(const Key& key, size_t hash) const;
  void eraseAt(size_t record_index);
  // Moves the last record into `record_index` (repointing its slot) and drops the last.
  void fillFromLast(size_t record_index);
  void removeIf(const std::function<bool(const Route&)>& predicate, const std::function<void(const Route&)>& on_removed,
                bool only_unseen);
  void growIndexIfNeeded();
  void rebuildIndex(size_t slot_count);
  Route expandAt(size_t record_index) const;

  ChunkedVector<Record> records_;
  std::vector<uint32_t> slots_;  // record index + 1; 0 = empty; stale while bulk_loading_
  bool bulk_loading_ = false;
  std::unordered_map<Key, std::vector<NextHop>, KeyHash> next_hops_;
};

extern template class RouteTable<4>;
extern template class RouteTable<16>;

// Both families.
class RouteStore {
 public:
  UpsertResult upsert(const Route& route, bool mark_seen) {
    return route.family == Family::Ipv4 ? v4_.upsert(route, mark_seen) : v6_.upsert(route, mark_seen);
  }
  std::optional<Route> remove(const Route& key) {
    return key.family == Family::Ipv4 ? v4_.remove(key) : v6_.remove(key);
  }
  std::optional<Route> find(const Route& key) const {
    return key.family == Family::Ipv4 ? v4_.find(key) : v6_.find(key);
  }
  size_t size() const { return v4_.size() + v6_.size(); }
  void beginBulkLoad() { v4_.beginBulkLoad(); v6_.beginBulkLoad(); }
  void endBulkLoad() { v4_.endBulkLoad(); v6_.endBulkLoad(); }
  void clearSeen() { v4_.clearSeen(); v6_.clearSeen(); }
  void sweepUnseen(const std::function<void(const Route&)>& on_removed) {
    v4_.sweepUnseen(on_removed);
    v6_.sweepUnseen(on_removed);
  }
  void forEach(const std::function<void(const Route&)>& visit) const { v4_.forEach(visit); v6_.forEach(visit); }
  RouteTable<4>& v4() { return v4_; }
  RouteTable<16>& v6() { return v6_; }
  const RouteTable<4>& v4() const { return v4_; }
  const RouteTable<16>& v6() const { return v6_; }

 private:
  RouteTable<4> v4_;
  RouteTable<16> v6_;
};


}  // namespace netmon::detail
