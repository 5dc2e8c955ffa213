#pragma once
// The rtmon file format of iproute2 (`rtmon file F` writes it, `ip monitor file F` prints it):
// netlink messages back to back, each padded to NLMSG_ALIGN, with NLMSG_TSTAMP (15) records
// (two u32: seconds, microseconds) between batches. netmon writes one timestamp before each batch
// it read in one go (a datagram, or a whole dump), so a replay sees the same batches.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netmon/result.h"

namespace netmon::detail {

inline constexpr uint16_t kNlmsgTimestamp = 15;  // NLMSG_TSTAMP in iproute2

class RtmonWriter {
 public:
  static Result<std::unique_ptr<RtmonWriter>> open(const std::string& path);
  ~RtmonWriter();
  void beginBatch();                                  // writes a timestamp record
  void write(std::span<const uint8_t> messages);      // one or more whole netlink messages
  void flush();

 private:
  explicit RtmonWriter(FILE* file) : file_(file) {}
  FILE* file_;
};

class RtmonReader {
 public:
  static Result<std::unique_ptr<RtmonReader>> open(const std::string& path);
  // The next batch's messages (timestamps removed), or nullopt at the end. A truncated trailing
  // record ends the file (counted in truncated()).
  std::optional<std::vector<uint8_t>> nextBatch();
  bool atEnd() const { return position_ >= data_.size(); }
  size_t truncated() const { return truncated_; }

 private:
  std::vector<uint8_t> data_;
  size_t position_ = 0;
  size_t truncated_ = 0;
};

}  // namespace netmon::detail
