#include "probe/classify.h"

#include <algorithm>
#include <string_view>

namespace netmon::probe {

namespace {

std::string_view trimTrailingSpace(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace

size_t appendBody(ProbeResponse& response, std::string_view chunk) {
  const size_t room = kMaxBodyBytes - response.body.size();
  if (chunk.size() > room) {
    response.body.append(chunk.substr(0, room));
    response.bodyTruncated = true;
    return 0;
  }
  response.body.append(chunk);
  return chunk.size();
}

int expectedStatus(const ProbeOptions& options) {
  if (options.expectStatus) return *options.expectStatus;
  return options.expectBody ? 200 : 204;
}

// First matching row wins; "·" matches anything.
//
//   answered  status                     body                                   │ outcome
//   ────────  ─────────────────────────  ─────────────────────────────────────  ┼────────────────
//   no        ·                          ·                                      │ no-answer
//   yes       3xx                        ·                                      │ captive-portal
//   yes       not the expected status    ·                                      │ captive-portal
//   yes       the expected status        expected, and differs or was cut off  │ captive-portal
//   yes       the expected status        as expected, or none expected          │ online
//
// A 3xx is a portal's answer even when 3xx is "expected": a connectivity check that redirects
// cannot be told from a portal. Any other unexpected answer (a 200 login page, a 403, a 511
// Network Authentication Required, a 500 from a transparent proxy) means something on the path
// answers in the Internet's place, which is what a captive portal is; no-answer is kept for the
// absence of any HTTP answer. A body cut off at kMaxBodyBytes cannot be the expected one. Trailing
// white space is ignored (NetworkManager's endpoints end the body with a newline).
ProbeOutcome classifyProbe(const ProbeOptions& options, const ProbeResponse& response) {
  if (!response.answered) return ProbeOutcome::NoAnswer;
  if (response.status >= 300 && response.status < 400) return ProbeOutcome::CaptivePortal;
  if (response.status != expectedStatus(options)) return ProbeOutcome::CaptivePortal;
  if (options.expectBody) {
    if (response.bodyTruncated) return ProbeOutcome::CaptivePortal;
    if (trimTrailingSpace(response.body) != trimTrailingSpace(*options.expectBody)) return ProbeOutcome::CaptivePortal;
  }
  return ProbeOutcome::Online;
}

// ─── Schedule ───────────────────────────────────────────────────────────────────────────────
//
//   event                            │ next probe due
//   ───────────────────────────────  ┼─────────────────────────────────────────────────────────
//   first route seen, online         │ now (the monitor just started)
//   route changed, online            │ now + debounce (a later change in the burst pushes it)
//   route gone (not online)          │ never, until a route comes back
//   probe finished: online           │ now + interval
//   probe finished: k-th failure     │ now + min(interval, retryInitial · 2^(k−1))
//   route changed during the probe   │ the earlier of the above and change + debounce
//
// A route change restarts the backoff: the new route has not failed yet.
std::chrono::milliseconds ProbeSchedule::delayAfter(int failures) const {
  if (failures <= 0) return options_.interval;
  const int doublings = std::min(failures - 1, 30);
  const auto delay = options_.retryInitial * (int64_t{1} << doublings);
  return std::min(delay, options_.interval);
}

void ProbeSchedule::routeChanged(TimePoint now, bool online) {
  online_ = online;
  failures_ = 0;
  if (!online) {
    due_.reset();
    first_ = false;
    return;
  }
  due_ = first_ ? now : now + options_.debounce;
  first_ = false;
}

void ProbeSchedule::probeStarted() {
  in_flight_ = true;
  due_.reset();
}

void ProbeSchedule::probeFinished(TimePoint now, ProbeOutcome outcome) {
  in_flight_ = false;
  if (!online_) {
    due_.reset();
    return;
  }
  failures_ = outcome == ProbeOutcome::Online ? 0 : failures_ + 1;
  const TimePoint next = now + delayAfter(failures_);
  due_ = due_ ? std::min(*due_, next) : next;
}

}  // namespace netmon::probe
