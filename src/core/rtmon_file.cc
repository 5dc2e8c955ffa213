#include "core/rtmon_file.h"

#include <linux/netlink.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace netmon::detail {

Result<std::unique_ptr<RtmonWriter>> RtmonWriter::open(const std::string& path) {
  FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) return makeError(errno, "open recording", path);
  return std::unique_ptr<RtmonWriter>(new RtmonWriter(file));
}

RtmonWriter::~RtmonWriter() {
  if (file_) std::fclose(file_);
}

void RtmonWriter::beginBatch() {
  struct {
    nlmsghdr header;
    uint32_t stamp[2];
  } record{};
  timeval now{};
  gettimeofday(&now, nullptr);
  record.header.nlmsg_len = NLMSG_LENGTH(sizeof record.stamp);
  record.header.nlmsg_type = kNlmsgTimestamp;
  record.stamp[0] = uint32_t(now.tv_sec);
  record.stamp[1] = uint32_t(now.tv_usec);
  std::fwrite(&record, 1, NLMSG_ALIGN(record.header.nlmsg_len), file_);
}

void RtmonWriter::write(std::span<const uint8_t> messages) { std::fwrite(messages.data(), 1, messages.size(), file_); }

void RtmonWriter::flush() { std::fflush(file_); }

Result<std::unique_ptr<RtmonReader>> RtmonReader::open(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(errno ? errno : ENOENT, "open replay file", path);
  auto reader = std::make_unique<RtmonReader>();
  reader->data_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return reader;
}

std::optional<std::vector<uint8_t>> RtmonReader::nextBatch() {
  std::vector<uint8_t> batch;
  bool started = false;
  while (position_ + sizeof(nlmsghdr) <= data_.size()) {
    nlmsghdr header;
    std::memcpy(&header, data_.data() + position_, sizeof header);
    const size_t aligned = NLMSG_ALIGN(header.nlmsg_len);
    if (header.nlmsg_len < sizeof(nlmsghdr) || position_ + aligned > data_.size()) {
      ++truncated_;
      position_ = data_.size();
      break;
    }
    if (header.nlmsg_type == kNlmsgTimestamp) {
      if (started && !batch.empty()) return batch;  // the timestamp opens the next batch
      position_ += aligned;
      started = true;
      continue;
    }
    started = true;
    batch.insert(batch.end(), data_.begin() + long(position_), data_.begin() + long(position_ + aligned));
    position_ += aligned;
  }
  if (position_ + sizeof(nlmsghdr) > data_.size() && position_ < data_.size()) {
    ++truncated_;
    position_ = data_.size();
  }
  if (batch.empty()) return std::nullopt;
  return batch;
}

}  // namespace netmon::detail
