// Fuzz target: the daemon's request handling without sockets. The input is what a peer sends on a
// connection; it is read with Beast's http::read_header from an in-memory stream (the same parser,
// header limit and buffer bound as the server's Session), then screened by screenRequest() (limits,
// method, body, Host guard, target: serve/request_screen.h), and a request that reaches the
// handler goes through the pure parts of its route: the query string (parseQuery), the /v1/reach
// question (reachTarget) and the Accept negotiation of /metrics.
//
// Checked beyond "no crash, no sanitizer report, no exception":
//   - only GET and HEAD with a target starting with '/' reach the handler, the query split off;
//   - refusals use the statuses http_server.h documents, and a refusal never keeps the connection;
//   - parseQuery's pairs survive a round trip: percent-encoded again and re-parsed, they are equal;
//   - a /v1/reach question that validates names a remote that parses again from its own text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>

#include "fuzz_check.h"
#include "serve/api.h"
#include "serve/metrics.h"
#include "serve/request_screen.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using netmon::serve::Screening;

std::string percentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z')) {
      out.push_back(c);
    } else {
      out += {'%', kHex[byte >> 4], kHex[byte & 15]};
    }
  }
  return out;
}

bool documentedRefusal(unsigned status) {
  for (unsigned documented : {400u, 405u, 413u, 414u, 421u, 431u}) {
    if (status == documented) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static boost::asio::io_context io;
  static const netmon::serve::ServerLimits limits;
  static const std::vector<std::string> allowed_hosts{"netmon.example"};
  constexpr size_t kReadBufferSlack = 4 * 1024;  // as http_server.cc sizes the Session's buffer

  beast::test::stream peer(io);
  peer.append(std::string_view(reinterpret_cast<const char*>(data), size));
  peer.close_remote();  // the input is all the peer sends
  beast::flat_buffer buffer(limits.maxHeaderBytes + kReadBufferSlack);
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<uint32_t>(limits.maxHeaderBytes));
  boost::system::error_code error;
  http::read_header(peer, buffer, parser, error);

  const auto bytes = buffer.data();
  const std::string_view received(static_cast<const char*>(bytes.data()), bytes.size());
  const Screening screening = netmon::serve::screenRequest(parser, error, received, limits, allowed_hosts);
  switch (screening.action) {
    case Screening::Action::Close:
      return 0;
    case Screening::Action::Refuse:
      FUZZ_CHECK(documentedRefusal(screening.response.status), "refused with an undocumented status");
      FUZZ_CHECK(!screening.keepAlive, "a refusal keeps the connection");
      return 0;
    case Screening::Action::Respond:
      FUZZ_CHECK(screening.response.status == 405 || screening.response.status == 421, "unexpected early answer");
      return 0;
    case Screening::Action::Handle:
      break;
  }
  const netmon::serve::Request& request = screening.request;
  FUZZ_CHECK(request.method == "GET" || request.method == "HEAD", "a method other than GET/HEAD reached the handler");
  FUZZ_CHECK(request.path.starts_with('/'), "a target that is not a path reached the handler");
  FUZZ_CHECK(request.path.find('?') == std::string_view::npos, "the query was not split off the path");

  const auto pairs = netmon::serve::parseQuery(request.query);
  if (pairs) {
    std::string again;
    for (const auto& [name, value] : *pairs) {
      FUZZ_CHECK(!name.empty(), "a query parameter without a name was accepted");
      again += (again.empty() ? "" : "&") + percentEncode(name) + "=" + percentEncode(value);
    }
    const auto reparsed = netmon::serve::parseQuery(again);
    FUZZ_CHECK(reparsed && *reparsed == *pairs, "query pairs do not survive a round trip");
  }
  if (const auto target = netmon::serve::reachTarget(request.query)) {
    const std::string interface =
        !target->interfaceName.empty() ? target->interfaceName
                                       : target->interfaceIndex ? std::to_string(target->interfaceIndex) : std::string();
    const auto again = netmon::ConnectionTarget::parse(
        target->remote.toString(), target->local.isSpecified() ? target->local.toString() : std::string(), interface);
    FUZZ_CHECK(again && again->remote == target->remote && again->local == target->local,
               "a validated /v1/reach question does not parse again from its own text");
  }
  const netmon::serve::MetricsFormat format = netmon::serve::negotiateMetricsFormat(request.accept);
  FUZZ_CHECK(!netmon::serve::contentTypeOf(format).empty(), "a metrics format without a content type");
  return 0;
}
