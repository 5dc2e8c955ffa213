// Fuzz target: the probe's reading of an HTTP answer (src/probe/classify.h). The input is an
// expectation and an answer:
//
//   byte 0        bit 0: an answer came at all; bit 1: expectStatus is set; bit 2: a body is
//                 expected; bits 3-7: how the body is cut into chunks (libcurl hands it over in
//                 pieces)
//   bytes 1-2     expectStatus (big endian), when set
//   then          the expected body up to the first "\n--\n", then the answer as it comes off the
//                 wire: status line, header fields, an empty line, the body
//
// The status line and the Location field are read the way libcurl reports them
// (CURLINFO_RESPONSE_CODE: the three digits after "HTTP/x.y "; CURLINFO_REDIRECT_URL: the Location
// of a 3xx); the body goes through appendBody() in chunks, as the prober's write callback does.
// libcurl's own HTTP parser is not in the loop (no socket): this target checks netmon's side.
//
// Checked against the decision table in classify.cc, written out again independently:
//   - no answer is NoAnswer, and NoAnswer only when no answer came;
//   - a 3xx is CaptivePortal whatever was expected;
//   - Online exactly when the status is the expected one and, if a body is expected, the body was
//     not cut off and equals the expected one but for trailing white space;
//   - the body never exceeds kMaxBodyBytes and is cut off exactly when more was sent.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "probe/classify.h"

namespace {

using netmon::ProbeOutcome;
using netmon::probe::kMaxBodyBytes;

std::string_view trimmed(std::string_view text) {
  const size_t end = text.find_last_not_of(" \t\r\n");
  return end == std::string_view::npos ? std::string_view() : text.substr(0, end + 1);
}

// "HTTP/1.1 204 No Content" → 204; 0 when the line is not a status line.
int statusOf(std::string_view line) {
  if (!line.starts_with("HTTP/")) return 0;
  const size_t space = line.find(' ');
  if (space == std::string_view::npos || line.size() < space + 4) return 0;
  int status = 0;
  for (size_t i = space + 1; i < space + 4; ++i) {
    if (line[i] < '0' || line[i] > '9') return 0;
    status = status * 10 + (line[i] - '0');
  }
  return status;
}

bool sameWordIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t control = data[0];
  netmon::ProbeOptions options;
  if (control & 0x2) options.expectStatus = (data[1] << 8) | data[2];
  std::string_view rest(reinterpret_cast<const char*>(data + 3), size - 3);
  const size_t separator = rest.find("\n--\n");
  if (control & 0x4) {
    options.expectBody = std::string(rest.substr(0, separator));
  } else {
    options.expectBody.reset();
  }
  rest = separator == std::string_view::npos ? std::string_view() : rest.substr(separator + 4);

  netmon::probe::ProbeResponse response;
  response.answered = (control & 0x1) != 0;
  size_t body_sent = 0;
  if (response.answered) {
    const size_t line_end = rest.find("\r\n");
    response.status = statusOf(rest.substr(0, line_end));
    std::string_view headers = line_end == std::string_view::npos ? std::string_view() : rest.substr(line_end + 2);
    const size_t head_end = headers.find("\r\n\r\n");
    std::string_view body = head_end == std::string_view::npos ? std::string_view() : headers.substr(head_end + 4);
    headers = headers.substr(0, head_end);
    while (!headers.empty()) {
      const size_t end = headers.find("\r\n");
      const std::string_view field = headers.substr(0, end);
      headers = end == std::string_view::npos ? std::string_view() : headers.substr(end + 2);
      const size_t colon = field.find(':');
      if (colon == std::string_view::npos || !sameWordIgnoringCase(field.substr(0, colon), "location")) {
        continue;
      }
      if (response.status >= 300 && response.status < 400) response.redirect = std::string(trimmed(field.substr(colon + 1)));
    }
    // A body sent bigger than what the input holds: repeat it, so the 64 KiB limit is reachable
    // from short inputs.
    const size_t repeat = (control & 0x80) && !body.empty() ? kMaxBodyBytes / body.size() + 1 : 1;
    const size_t chunk = size_t(1) << ((control >> 3) & 0x0f);
    bool stopped = false;
    for (size_t r = 0; r < repeat && !stopped; ++r) {
      for (size_t offset = 0; offset < body.size() && !stopped; offset += chunk) {
        const std::string_view piece = body.substr(offset, chunk);
        body_sent += piece.size();
        const size_t taken = netmon::probe::appendBody(response, piece);
        FUZZ_CHECK(taken == piece.size() || taken == 0, "appendBody took part of a chunk");
        stopped = taken != piece.size();
      }
    }
    FUZZ_CHECK(response.body.size() <= kMaxBodyBytes, "body grew past kMaxBodyBytes");
    FUZZ_CHECK(response.bodyTruncated == (body_sent > kMaxBodyBytes), "body cut off, or not, wrongly");
  }

  const ProbeOutcome outcome = netmon::probe::classifyProbe(options, response);
  const int expected = netmon::probe::expectedStatus(options);
  FUZZ_CHECK(expected == (options.expectStatus ? *options.expectStatus : options.expectBody ? 200 : 204),
             "expected status is not the documented default");
  if (!response.answered) {
    FUZZ_CHECK(outcome == ProbeOutcome::NoAnswer, "no answer classified as an answer");
    return 0;
  }
  FUZZ_CHECK(outcome != ProbeOutcome::NoAnswer, "an answer classified as no answer");
  const bool redirect = response.status >= 300 && response.status < 400;
  if (redirect) FUZZ_CHECK(outcome == ProbeOutcome::CaptivePortal, "a 3xx not classified as captive portal");
  const bool body_matches =
      !options.expectBody || (!response.bodyTruncated && trimmed(response.body) == trimmed(*options.expectBody));
  const bool online = !redirect && response.status == expected && body_matches;
  FUZZ_CHECK((outcome == ProbeOutcome::Online) == online, "outcome disagrees with the decision table");
  FUZZ_CHECK(netmon::probeOutcomeFromString(netmon::toString(outcome)) == outcome, "outcome name does not round-trip");
  return 0;
}
