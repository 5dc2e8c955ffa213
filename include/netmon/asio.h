#pragma once
// Boost.Asio adapter (header-only; include it only if you use Boost.Asio): callbacks run on an
// io_context, strand or any executor of yours.
//
//   boost::asio::io_context io;
//   auto sub = monitor.subscribe(netmon::asioExecutor(io.get_executor()), onEvent);
#include <boost/asio/post.hpp>

#include "netmon/executor.h"

namespace netmon {

template <class AsioExecutor>
Executor asioExecutor(AsioExecutor executor) {
  return Executor::fromPost([executor](Executor::Task task) { boost::asio::post(executor, std::move(task)); });
}

}  // namespace netmon
