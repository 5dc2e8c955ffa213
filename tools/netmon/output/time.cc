#include "output/time.h"

#include <ctime>

#include <fmt/format.h>

namespace netmon::cli {

std::string rfc3339(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  // floor, not duration_cast: before 1970 the microseconds must still count forward from the second.
  const auto micros = floor<microseconds>(time.time_since_epoch());
  const auto secs = floor<seconds>(micros);
  const std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, (micros - secs).count());
}

}  // namespace netmon::cli
