// netmon/asio.h: callbacks run on the user's Boost.Asio io_context, not on the monitor thread.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <thread>
#include <vector>

#include "netmon/asio.h"
#include "netmon/status_monitor.h"
#include "support/fake_backend.h"

namespace netmon::test {
namespace {

TEST(AsioExecutor, CallbacksRunInsideIoContextRunInOrder) {
  auto script = std::make_shared<FakeScript>();
  MonitorOptions options;
  options.threading = MonitorOptions::Threading::External;
  options.ignore = LinkFilter::none();
  auto monitor = detail::createStatusMonitorForTest(
      options, std::make_unique<FakeBackend>(script, [](detail::Mirror& m) { m.applyLink(false, loopback()); }));
  ASSERT_TRUE(monitor) << monitor.error().message();

  boost::asio::io_context io;
  std::vector<uint64_t> sequences;
  std::vector<std::thread::id> threads;
  auto subscription = monitor->subscribe(asioExecutor(boost::asio::make_strand(io)), [&](const Event& event) {
    sequences.push_back(event.sequence);
    threads.push_back(std::this_thread::get_id());
  });

  script->push([](detail::Mirror& m) { m.applyLink(false, upVeth()); });
  script->push([](detail::Mirror& m) { m.applyAddress(false, makeAddress(2, "192.0.2.2/24")); });
  while (script->pending() > 0) ASSERT_TRUE(monitor->process());
  EXPECT_TRUE(sequences.empty()) << "nothing may run before the io_context does";

  std::thread::id io_thread_id;
  std::thread io_thread([&] {
    io_thread_id = std::this_thread::get_id();
    io.run();
  });
  io_thread.join();
  ASSERT_GE(sequences.size(), 2u);
  for (size_t i = 1; i < sequences.size(); ++i) EXPECT_GT(sequences[i], sequences[i - 1]);
  for (const auto& id : threads) EXPECT_EQ(id, io_thread_id);
}

}  // namespace
}  // namespace netmon::test
