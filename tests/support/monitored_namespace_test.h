#pragma once
// Test-only: the fixture shared by integration tests that watch their own namespace — a fresh
// TestNamespace per test (skipped without CAP_NET_ADMIN), and a StatusMonitor with an
// EventRecorder once startMonitor() is called. Torn down recorder first, namespace last.
#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "netmon/status_monitor.h"
#include "support/event_recorder.h"
#include "support/namespace_test.h"
#include "support/netns.h"

namespace netmon::test {

class MonitoredNamespaceTest : public NamespaceTest {
 protected:
  void TearDown() override {
    recorder_.reset();
    monitor_.reset();
    NamespaceTest::TearDown();
  }

  // Creates the monitor on the test's namespace and starts recording its events.
  void startMonitor() {
    auto created = StatusMonitor::create(optionsFor(*ns_));
    ASSERT_TRUE(created) << created.error().message();
    monitor_.emplace(std::move(*created));
    recorder_ = std::make_unique<EventRecorder>(*monitor_);
  }

  std::optional<StatusMonitor> monitor_;
  std::unique_ptr<EventRecorder> recorder_;
};

}  // namespace netmon::test
