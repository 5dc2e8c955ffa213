// The active probe's pure parts, row by row: outcome classification (probe/classify.cc), the
// refinement of a routed verdict (core/derive.cc) and the schedule with an injected clock.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "core/derive.h"
#include "probe/classify.h"

namespace netmon {
namespace {

using probe::classifyProbe;
using probe::ProbeResponse;
using probe::ProbeSchedule;
using std::chrono::milliseconds;

ProbeResponse answer(int status, std::string body = "", std::string redirect = "") {
  ProbeResponse response;
  response.answered = true;
  response.status = status;
  response.body = std::move(body);
  response.redirect = std::move(redirect);
  return response;
}

ProbeOptions expectStatus(int status) {
  ProbeOptions options;
  options.expectBody.reset();
  options.expectStatus = status;
  return options;
}

// ─── classifyProbe ─────────────────────────────────────────────────────────────────────────

TEST(ClassifyProbeTest, NoHttpAnswerIsNoAnswer) {
  ProbeResponse failed;
  failed.error = "Connection refused";
  EXPECT_EQ(classifyProbe(ProbeOptions{}, failed), ProbeOutcome::NoAnswer);
}

TEST(ClassifyProbeTest, RedirectIsCaptivePortalEvenWhenExpected) {
  EXPECT_EQ(classifyProbe(expectStatus(204), answer(302, "", "http://login")), ProbeOutcome::CaptivePortal);
  EXPECT_EQ(classifyProbe(expectStatus(302), answer(302, "", "http://login")), ProbeOutcome::CaptivePortal);
  EXPECT_EQ(classifyProbe(expectStatus(204), answer(307)), ProbeOutcome::CaptivePortal);
}

TEST(ClassifyProbeTest, UnexpectedStatusIsCaptivePortal) {
  EXPECT_EQ(classifyProbe(expectStatus(204), answer(200, "<html>login</html>")), ProbeOutcome::CaptivePortal);
  EXPECT_EQ(classifyProbe(expectStatus(204), answer(511)), ProbeOutcome::CaptivePortal);
  EXPECT_EQ(classifyProbe(ProbeOptions{}, answer(204)), ProbeOutcome::CaptivePortal);  // body expected: 200
}

TEST(ClassifyProbeTest, BodyThatDiffersOrWasCutOffIsCaptivePortal) {
  EXPECT_EQ(classifyProbe(ProbeOptions{}, answer(200, "<html>login</html>")), ProbeOutcome::CaptivePortal);
  ProbeResponse cut = answer(200, "NetworkManager is online");
  cut.bodyTruncated = true;
  EXPECT_EQ(classifyProbe(ProbeOptions{}, cut), ProbeOutcome::CaptivePortal);
}

TEST(ClassifyProbeTest, ExpectedAnswerIsOnline) {
  EXPECT_EQ(classifyProbe(ProbeOptions{}, answer(200, "NetworkManager is online\n")), ProbeOutcome::Online);
  EXPECT_EQ(classifyProbe(expectStatus(204), answer(204)), ProbeOutcome::Online);
  ProbeOptions neither;
  neither.expectBody.reset();
  EXPECT_EQ(probe::expectedStatus(neither), 204);
  EXPECT_EQ(classifyProbe(neither, answer(204)), ProbeOutcome::Online);
}

// ─── refineWithProbe ──────────────────────────────────────────────────────────────────────

Verdict routed(Reachability reachability, std::string link = "eth0") {
  Verdict verdict;
  verdict.reachability = reachability;
  verdict.reason = reachability == Reachability::Online ? Reason::InternetRoute : Reason::NoInternetRoute;
  verdict.linkName = std::move(link);
  verdict.linkIndex = 2;
  return verdict;
}

ProbeResult probed(ProbeOutcome outcome, std::string interface = "eth0") {
  ProbeResult result;
  result.outcome = outcome;
  result.url = "http://192.0.2.1/nm";
  result.redirect = outcome == ProbeOutcome::CaptivePortal ? "http://192.0.2.1/login" : "";
  result.interface = std::move(interface);
  return result;
}

TEST(RefineWithProbeTest, NotOnlineIsUnchanged) {
  const Verdict site = routed(Reachability::Site);
  EXPECT_EQ(detail::refineWithProbe(site, probed(ProbeOutcome::CaptivePortal)), site);
}

TEST(RefineWithProbeTest, NoProbeYetIsUnchanged) {
  EXPECT_EQ(detail::refineWithProbe(routed(Reachability::Online), std::nullopt), routed(Reachability::Online));
}

TEST(RefineWithProbeTest, ProbeOfAnotherInterfaceIsStale) {
  EXPECT_EQ(detail::refineWithProbe(routed(Reachability::Online, "wlan0"), probed(ProbeOutcome::NoAnswer, "eth0")),
            routed(Reachability::Online, "wlan0"));
}

TEST(RefineWithProbeTest, OnlineProbeIsUnchanged) {
  EXPECT_EQ(detail::refineWithProbe(routed(Reachability::Online), probed(ProbeOutcome::Online)),
            routed(Reachability::Online));
}

TEST(RefineWithProbeTest, CaptivePortalMakesSite) {
  const Verdict refined = detail::refineWithProbe(routed(Reachability::Online), probed(ProbeOutcome::CaptivePortal));
  EXPECT_EQ(refined.reachability, Reachability::Site);
  EXPECT_EQ(refined.reason, Reason::CaptivePortal);
  EXPECT_EQ(refined.linkName, "eth0");
  EXPECT_EQ(refined.probeRedirect, "http://192.0.2.1/login");
  EXPECT_EQ(refined.explanation().rfind("site: captive portal: http://192.0.2.1/nm redirected to", 0), 0u)
      << refined.explanation();
}

TEST(RefineWithProbeTest, NoAnswerMakesSite) {
  const Verdict refined = detail::refineWithProbe(routed(Reachability::Online), probed(ProbeOutcome::NoAnswer));
  EXPECT_EQ(refined.reachability, Reachability::Site);
  EXPECT_EQ(refined.reason, Reason::ProbeNoAnswer);
  EXPECT_EQ(refined.explanation().rfind("site: no answer from http://192.0.2.1/nm", 0), 0u) << refined.explanation();
}

// ─── ProbeSchedule (injected time points, no sleeps) ────────────────────────────────────────

class ProbeScheduleTest : public ::testing::Test {
 protected:
  ProbeScheduleTest() {
    options_.interval = milliseconds(300000);
    options_.retryInitial = milliseconds(10000);
    options_.debounce = milliseconds(1000);
  }
  ProbeOptions options_;
  const ProbeSchedule::TimePoint t0_{std::chrono::seconds(1000)};
};

TEST_F(ProbeScheduleTest, FirstRouteIsProbedAtOnce) {
  ProbeSchedule schedule(options_);
  EXPECT_FALSE(schedule.due());
  schedule.routeChanged(t0_, true);
  EXPECT_EQ(schedule.due(), t0_);
}

TEST_F(ProbeScheduleTest, NoRouteNothingDue) {
  ProbeSchedule schedule(options_);
  schedule.routeChanged(t0_, false);
  EXPECT_FALSE(schedule.due());
  schedule.routeChanged(t0_ + milliseconds(5), true);
  EXPECT_EQ(schedule.due(), t0_ + milliseconds(5) + options_.debounce);
}

TEST_F(ProbeScheduleTest, ChangesAreDebounced) {
  ProbeSchedule schedule(options_);
  schedule.routeChanged(t0_, true);
  schedule.routeChanged(t0_ + milliseconds(200), true);
  schedule.routeChanged(t0_ + milliseconds(400), true);
  EXPECT_EQ(schedule.due(), t0_ + milliseconds(1400));
}

TEST_F(ProbeScheduleTest, OnlineWaitsTheInterval) {
  ProbeSchedule schedule(options_);
  schedule.routeChanged(t0_, true);
  schedule.probeStarted();
  EXPECT_FALSE(schedule.due()) << "one probe in flight";
  schedule.probeFinished(t0_ + milliseconds(50), ProbeOutcome::Online);
  EXPECT_EQ(schedule.due(), t0_ + milliseconds(50) + options_.interval);
}

TEST_F(ProbeScheduleTest, FailuresBackOffUpToTheInterval) {
  ProbeSchedule schedule(options_);
  schedule.routeChanged(t0_, true);
  const milliseconds expected[] = {milliseconds(10000), milliseconds(20000),  milliseconds(40000),
                                   milliseconds(80000), milliseconds(160000), milliseconds(300000),
                                   milliseconds(300000)};
  ProbeSchedule::TimePoint now = t0_;
  for (milliseconds delay : expected) {
    schedule.probeStarted();
    schedule.probeFinished(now, ProbeOutcome::CaptivePortal);
    EXPECT_EQ(schedule.due(), now + delay);
    now += delay;
  }
  schedule.probeStarted();
  schedule.probeFinished(now, ProbeOutcome::Online);
  EXPECT_EQ(schedule.due(), now + options_.interval) << "an online answer resets the backoff";
  EXPECT_EQ(schedule.delayAfter(1000), options_.interval);
}

TEST_F(ProbeScheduleTest, RouteChangeDuringProbeRunsAgainSoon) {
  ProbeSchedule schedule(options_);
  schedule.routeChanged(t0_, true);
  schedule.probeStarted();
  schedule.routeChanged(t0_ + milliseconds(100), true);
  EXPECT_FALSE(schedule.due());
  schedule.probeFinished(t0_ + milliseconds(500), ProbeOutcome::Online);
  EXPECT_EQ(schedule.due(), t0_ + milliseconds(1100));
}

TEST_F(ProbeScheduleTest, RouteGoneDuringProbeSchedulesNothing) {
  ProbeSchedule schedule(options_);
  schedule.routeChanged(t0_, true);
  schedule.probeStarted();
  schedule.routeChanged(t0_ + milliseconds(100), false);
  schedule.probeFinished(t0_ + milliseconds(500), ProbeOutcome::NoAnswer);
  EXPECT_FALSE(schedule.due());
}

}  // namespace
}  // namespace netmon
