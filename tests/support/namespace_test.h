#pragma once
// A GoogleTest fixture with a fresh network namespace (ns_) for each test, skipped with the reason
// when the process lacks CAP_NET_ADMIN. Derived fixtures call NamespaceTest::SetUp() first and
// return when ns_ is null (skipped) before building their topology.
#include <memory>

#include <gtest/gtest.h>

#include "support/netns.h"

namespace netmon::test {

class NamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    requireNetAdmin();
    if (IsSkipped()) return;
    auto ns = std::make_unique<TestNamespace>();
    ASSERT_TRUE(ns->valid());
    ns_ = std::move(ns);
  }
  void TearDown() override { ns_.reset(); }

  std::unique_ptr<TestNamespace> ns_;
};

}  // namespace netmon::test
