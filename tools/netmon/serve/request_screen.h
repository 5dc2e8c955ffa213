#pragma once
// What the daemon decides about a request once its header has been read, before any handler runs:
// the limits, method, body, Host and target rules listed in http_server.h. Pure (no sockets, no
// clock), so it is unit-testable and fuzzed (tests/fuzz/http_request_fuzzer.cc); the server's
// Session applies the verdict.
//
// Thread safety: plain functions.
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include "serve/http_server.h"

namespace netmon::serve {

struct Screening {
  enum class Action {
    Close,    // nobody to answer (the peer closed, or an I/O error): close the connection
    Refuse,   // answer `response`, then close (the connection cannot carry another request)
    Respond,  // answer `response`, keeping the connection when `keepAlive`
    Handle,   // hand `request` to the handler; keep the connection when `keepAlive`
  };
  Action action = Action::Close;
  Response response;  // Refuse, Respond
  Request request;    // Handle: views into the parser's message, valid while it lives
  bool keepAlive = false;
  bool head = false;      // a HEAD request: the answer has no body
  unsigned version = 11;  // the request's HTTP version (10 or 11)
};

// `error` is what reading the header ended with; `received` the bytes read so far (to tell a request
// line that alone overflows the header limit, 414, from too many or too long fields, 431).
Screening screenRequest(const boost::beast::http::request_parser<boost::beast::http::empty_body>& parser,
                        boost::system::error_code error, std::string_view received, const ServerLimits& limits,
                        const std::vector<std::string>& allowed_hosts);

}  // namespace netmon::serve
