// Fuzz target: the rtnetlink datagram parser (src/rtnl/parse.h) fed raw bytes, as a datagram from
// the kernel would arrive. Beyond "no crash, no sanitizer report", it checks what parse.h promises:
//   - every message handed to the sink is counted in ParseStats::messages, and nothing else is;
//   - only AF_INET/AF_INET6 addresses, routes and rules come out, with prefixes that fit their
//     family and addresses of that family;
//   - the same bytes at an odd address (the copy-to-aligned path) give the same records and stats.
// Seeds: tests/fuzz/corpus/parse/ (datagrams from tests/fixtures/netlink/*.rtmon, see README).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <variant>
#include <vector>

#include "fuzz_check.h"
#include "rtnl/parse.h"

namespace {

using netmon::Family;

uint8_t maxPrefix(Family family) { return family == Family::Ipv4 ? 32 : 128; }
bool isIpFamily(Family family) { return family == Family::Ipv4 || family == Family::Ipv6; }
bool noneOrOf(const netmon::IpAddress& address, Family family) {
  return !address.isSpecified() || address.family() == family;
}

struct Done {
  uint32_t seq;
  bool operator==(const Done&) const = default;
};
struct Error {
  uint32_t seq;
  int error;
  bool operator==(const Error&) const = default;
};
template <class T>
struct Record {
  bool removed;
  T value;
  uint16_t flags;
  bool operator==(const Record&) const = default;
};
using Item = std::variant<Record<netmon::Link>, Record<netmon::Address>, Record<netmon::Route>, Record<netmon::Rule>,
                          Done, Error>;

class CheckingSink final : public netmon::rtnl::ParseSink {
 public:
  void onLink(bool removed, netmon::Link&& link, uint16_t flags) override {
    items.push_back(Record<netmon::Link>{removed, std::move(link), flags});
  }
  void onAddress(bool removed, netmon::Address&& address, uint16_t flags) override {
    FUZZ_CHECK(isIpFamily(address.family()), "an address of a family netmon does not mirror");
    FUZZ_CHECK(address.prefixLength <= maxPrefix(address.family()), "address prefix longer than its family");
    FUZZ_CHECK(noneOrOf(address.peer, address.family()), "address peer of another family");
    items.push_back(Record<netmon::Address>{removed, std::move(address), flags});
  }
  void onRoute(bool removed, netmon::Route&& route, uint16_t flags) override {
    FUZZ_CHECK(isIpFamily(route.family), "a route of a family netmon does not mirror");
    FUZZ_CHECK(route.destination.address.family() == route.family, "route destination of another family");
    FUZZ_CHECK(route.destination.length <= maxPrefix(route.family), "route prefix longer than its family");
    FUZZ_CHECK(route.sourceLength <= maxPrefix(route.family), "route source prefix longer than its family");
    FUZZ_CHECK(noneOrOf(route.preferredSource, route.family), "preferred source of another family");
    items.push_back(Record<netmon::Route>{removed, std::move(route), flags});
  }
  void onRule(bool removed, netmon::Rule&& rule, uint16_t flags) override {
    FUZZ_CHECK(isIpFamily(rule.family), "a rule of a family netmon does not mirror");
    FUZZ_CHECK(rule.source.length <= maxPrefix(rule.family) && rule.destination.length <= maxPrefix(rule.family),
               "rule prefix longer than its family");
    items.push_back(Record<netmon::Rule>{removed, std::move(rule), flags});
  }
  void onDone(uint32_t seq) override { items.push_back(Done{seq}); }
  void onError(uint32_t seq, int error) override {
    FUZZ_CHECK(error >= 0, "NLMSG_ERROR reported as a negative errno");
    items.push_back(Error{seq, error});
  }

  std::vector<Item> items;
};

bool sameStats(const netmon::rtnl::ParseStats& a, const netmon::rtnl::ParseStats& b) {
  return a.messages == b.messages && a.malformed == b.malformed && a.unknown == b.unknown &&
         a.skippedFamily == b.skippedFamily && a.dumpInterrupted == b.dumpInterrupted;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // libFuzzer's buffer is malloc'ed (aligned); the odd-address copy takes the other path.
  CheckingSink aligned;
  const netmon::rtnl::ParseStats stats = netmon::rtnl::parseDatagram({data, size}, aligned);
  FUZZ_CHECK(stats.messages == aligned.items.size(), "ParseStats::messages differs from what the sink got");

  std::vector<uint8_t> shifted(size + 1);
  if (size > 0) std::memcpy(shifted.data() + 1, data, size);
  CheckingSink unaligned;
  const netmon::rtnl::ParseStats shifted_stats =
      netmon::rtnl::parseDatagram({shifted.data() + 1, size}, unaligned);
  FUZZ_CHECK(sameStats(stats, shifted_stats), "an unaligned copy parses to other statistics");
  FUZZ_CHECK(aligned.items == unaligned.items, "an unaligned copy parses to other records");
  return 0;
}
