#pragma once
#include <chrono>
#include <string>

namespace netmon::cli {

// RFC 3339 in UTC with microseconds: "2026-11-25T14:03:07.123456Z".
std::string rfc3339(std::chrono::system_clock::time_point time);

}  // namespace netmon::cli
