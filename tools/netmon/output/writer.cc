#include "output/writer.h"

#include <cerrno>
#include <cstring>
#include <system_error>
#include <string>

#include "common.h"

namespace netmon::cli {

bool LineWriter::write(std::string_view text) {
  std::lock_guard lock(mutex_);
  if (error_ != 0) return false;
  errno = 0;
  // One fwrite per line under the lock: a line is never split by another writer of ours.
  if (std::fwrite(text.data(), 1, text.size(), stream_) != text.size() || std::fflush(stream_) != 0) {
    error_ = errno != 0 ? errno : EIO;
    return false;
  }
  return true;
}

bool LineWriter::failed() const {
  std::lock_guard lock(mutex_);
  return error_ != 0;
}

bool LineWriter::readerGone() const {
  std::lock_guard lock(mutex_);
  return error_ == EPIPE;
}

int LineWriter::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

LineWriter& standardOutput() {
  static LineWriter writer(stdout);
  return writer;
}

int exitCodeAfterWriteFailure(const LineWriter& writer) {
  if (writer.readerGone()) return kExitOk;
  return fail("write standard output: " + std::generic_category().message(writer.error()));
}

}  // namespace netmon::cli
