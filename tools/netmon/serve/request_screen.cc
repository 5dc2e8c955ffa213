#include "serve/request_screen.h"

#include <iterator>

#include "serve/listen_address.h"

namespace netmon::serve {

namespace http = boost::beast::http;

namespace {

Screening refuse(unsigned status, std::string_view body) {
  Screening screening;
  screening.action = Screening::Action::Refuse;
  screening.response = textResponse(status, body);
  return screening;
}

}  // namespace

Screening screenRequest(const http::request_parser<http::empty_body>& parser, boost::system::error_code error,
                        std::string_view received, const ServerLimits& limits,
                        const std::vector<std::string>& allowed_hosts) {
  if (error == http::error::end_of_stream) return {};  // the peer closed between requests
  if (error == http::error::header_limit || error == http::error::buffer_overflow) {
    // The request line is too long when no line ended within the header limit.
    const bool line_too_long = received.find('\n') == std::string_view::npos;
    return line_too_long ? refuse(414, "request line too long\n") : refuse(431, "request header fields too large\n");
  }
  if (error.category() == http::make_error_code(http::error::bad_target).category()) {
    return refuse(400, "malformed request\n");
  }
  if (error || !parser.is_header_done()) return {};  // reset, or an I/O error: nobody to answer

  const auto& request = parser.get();
  const auto fields = static_cast<size_t>(std::distance(request.begin(), request.end()));
  if (fields > limits.maxHeaderFields) return refuse(431, "too many header fields\n");
  // After the header, the parser is done exactly when the request has no body (no Content-Length
  // above 0, not chunked). Asking content_length() instead trips gcc 12's -Wmaybe-uninitialized
  // inside Beast's boost::optional when inlined here under ASan.
  const bool has_body = !parser.is_done();
  Screening screening;
  screening.version = request.version();
  screening.head = request.method() == http::verb::head;
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    screening.action = Screening::Action::Respond;
    screening.response = textResponse(405, "method not allowed\n");
    screening.response.headers.emplace_back("Allow", "GET, HEAD");
    screening.keepAlive = !has_body;
    return screening;
  }
  // The body is left unread, so the connection cannot carry another request after it.
  if (has_body) return refuse(413, "a request body is not accepted\n");
  // RFC 9112 §3.2: more than one Host is a bad request (a proxy reading the other one would
  // disagree with this guard).
  if (request.count(http::field::host) > 1) return refuse(400, "more than one Host header\n");
  const auto host = request.find(http::field::host);
  if (host == request.end()) {
    if (request.version() >= 11) return refuse(400, "missing Host header\n");
  } else if (!isAllowedHost(host->value(), allowed_hosts)) {
    screening.action = Screening::Action::Respond;
    screening.response = textResponse(421, "misdirected request: Host is not this daemon (see --allowed-host)\n");
    screening.keepAlive = parser.keep_alive();
    return screening;
  }
  const std::string_view target = request.target();
  if (!target.starts_with('/')) return refuse(400, "the request target must be a path\n");

  screening.action = Screening::Action::Handle;
  screening.keepAlive = parser.keep_alive();
  screening.request.method = request.method_string();
  const size_t question = target.find('?');
  screening.request.path = target.substr(0, question);
  screening.request.query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  if (const auto accept = request.find(http::field::accept); accept != request.end()) {
    screening.request.accept = accept->value();
  }
  if (const auto last = request.find("Last-Event-ID"); last != request.end()) screening.request.lastEventId = last->value();
  return screening;
}

}  // namespace netmon::serve
