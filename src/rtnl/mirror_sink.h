#pragma once
// ParseSink that applies parsed records to the Mirror, and tracks the end of a request.
#include <linux/netlink.h>

#include <optional>

#include "core/mirror.h"
#include "netmon/snapshot.h"
#include "rtnl/parse.h"

namespace netmon::rtnl {

// Folds a datagram's parse statistics into a backend's counters; returns the messages handled.
inline size_t addToCounters(Counters& counters, const ParseStats& stats) {
  counters.messages += stats.messages;
  counters.malformed += stats.malformed;
  counters.unknownSkipped += stats.unknown;
  return stats.messages;
}

class MirrorSink : public ParseSink {
 public:
  explicit MirrorSink(detail::Mirror& mirror, uint32_t awaited_sequence = 0)
      : mirror_(mirror), awaited_(awaited_sequence) {}
  void onLink(bool removed, Link&& link, uint16_t) override { mirror_.applyLink(removed, std::move(link)); }
  void onAddress(bool removed, Address&& address, uint16_t) override {
    mirror_.applyAddress(removed, std::move(address));
  }
  void onRoute(bool removed, Route&& route, uint16_t flags) override {
    mirror_.applyRoute(removed, route, flags & NLM_F_REPLACE);
  }
  void onRule(bool removed, Rule&& rule, uint16_t) override { mirror_.applyRule(removed, std::move(rule)); }
  void onDone(uint32_t seq) override {
    if (awaited_ && seq == awaited_) done_ = true;
  }
  void onError(uint32_t seq, int error) override {
    if (awaited_ && seq == awaited_) {
      done_ = true;
      error_ = error;
    }
  }
  bool done() const { return done_; }
  int error() const { return error_; }

 private:
  detail::Mirror& mirror_;
  uint32_t awaited_;
  bool done_ = false;
  int error_ = 0;
};

// Collects routes instead of applying them (targeted link checks).
class RouteCollector : public ParseSink {
 public:
  explicit RouteCollector(uint32_t awaited_sequence) : awaited_(awaited_sequence) {}
  void onLink(bool, Link&&, uint16_t) override {}
  void onAddress(bool, Address&&, uint16_t) override {}
  void onRoute(bool removed, Route&& route, uint16_t) override {
    if (!removed) routes.push_back(std::move(route));
  }
  void onRule(bool, Rule&&, uint16_t) override {}
  void onDone(uint32_t seq) override { done_ |= seq == awaited_; }
  void onError(uint32_t seq, int error) override {
    if (seq == awaited_) {
      done_ = true;
      error_ = error;
    }
  }
  bool done() const { return done_; }
  int error() const { return error_; }
  std::vector<Route> routes;

 private:
  uint32_t awaited_;
  bool done_ = false;
  int error_ = 0;
};

}  // namespace netmon::rtnl
