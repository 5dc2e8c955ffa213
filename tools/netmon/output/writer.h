#pragma once
// LineWriter: writes whole lines to a stdio stream, each flushed at once, so that a reader (a pipe,
// `jq`, `head`) sees complete lines as they happen and lines from different threads never mix.
//
// Thread safety: write() may be called from any thread. Errors: the first failed write is
// remembered; later writes are dropped. A reader that went away (EPIPE) is not a failure of this
// program: callers check readerGone() and end with exit code 0. SIGPIPE must be ignored.
#include <cstdio>
#include <mutex>
#include <string_view>

namespace netmon::cli {

class LineWriter {
 public:
  explicit LineWriter(std::FILE* stream) : stream_(stream) {}

  // Writes `text` (which should end in '\n') and flushes. Returns false once writing has failed.
  bool write(std::string_view text);

  bool failed() const;
  // The failure was EPIPE: whoever read our output stopped reading.
  bool readerGone() const;
  // errno of the failure, 0 when none.
  int error() const;

 private:
  mutable std::mutex mutex_;
  std::FILE* stream_;
  int error_ = 0;  // guarded by mutex_
};

// The process's stdout writer.
LineWriter& standardOutput();

// For a subcommand that stops because writing failed: 0 when the reader went away, otherwise
// prints the error and returns 1.
int exitCodeAfterWriteFailure(const LineWriter& writer);

}  // namespace netmon::cli
