#pragma once
// netmon::Result<T>: the return type of every fallible call. The library never throws.
#include <string>
#include <system_error>

#include <tl/expected.hpp>

#include "netmon/export.h"

namespace netmon {

// An error: what failed (the operation, e.g. "open rtnetlink socket") and why (an error code,
// usually an errno value in std::generic_category()).
struct NETMON_EXPORT Error {
  std::error_code code;
  std::string operation;
  std::string detail;  // optional extra context (e.g. a path), may be empty

  // "open rtnetlink socket: Permission denied" (and ": detail" when detail is set).
  std::string message() const;

  static Error fromErrno(int errno_value, std::string operation, std::string detail = {});
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> makeError(int errno_value, std::string operation,
                                       std::string detail = {}) {
  return tl::unexpected<Error>(Error::fromErrno(errno_value, std::move(operation), std::move(detail)));
}

}  // namespace netmon
