#include "serve/api.h"

#include <cerrno>

#include <fmt/format.h>

#include "output/json.h"

namespace netmon::serve {
namespace {

Response jsonResponse(unsigned status, const nlohmann::json& body, std::string_view handler) {
  Response response = textResponse(status, cli::toJsonLine(body), handler);
  response.contentType = "application/json";
  return response;
}

Response jsonError(unsigned status, std::string_view message, std::string_view handler) {
  return jsonResponse(status, {{"error", message}}, handler);
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

tl::expected<std::string, std::string> percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] != '%') {
      out.push_back(text[i]);
    } else {
      const int high = i + 2 < text.size() ? hexValue(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? hexValue(text[i + 2]) : -1;
      if (high < 0 || low < 0) return tl::unexpected(fmt::format("bad %-escape in '{}'", text));
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    }
  }
  return out;
}

}  // namespace

tl::expected<std::vector<std::pair<std::string, std::string>>, std::string> parseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const size_t equals = part.find('=');
    auto name = percentDecode(part.substr(0, equals));
    auto value = percentDecode(equals == std::string_view::npos ? std::string_view() : part.substr(equals + 1));
    if (!name) return tl::unexpected(name.error());
    if (!value) return tl::unexpected(value.error());
    if (name->empty()) return tl::unexpected(std::string("a query parameter without a name"));
    pairs.emplace_back(std::move(*name), std::move(*value));
  }
  return pairs;
}

tl::expected<ConnectionTarget, std::string> reachTarget(std::string_view query) {
  auto pairs = parseQuery(query);
  if (!pairs) return tl::unexpected(pairs.error());
  std::optional<std::string> remote, from, interface;
  for (auto& [name, value] : *pairs) {
    std::optional<std::string>* slot = name == "remote" ? &remote : name == "from" ? &from : name == "interface" ? &interface : nullptr;
    if (!slot) return tl::unexpected(fmt::format("unknown parameter '{}' (expected remote, from, interface)", name));
    if (*slot) return tl::unexpected(fmt::format("parameter '{}' given twice", name));
    *slot = std::move(value);
  }
  if (!remote) return tl::unexpected(std::string("missing parameter 'remote' (/v1/reach?remote=ADDR[&from=ADDR][&interface=NAME])"));
  auto target = ConnectionTarget::parse(*remote, from.value_or(""), interface.value_or(""));
  if (!target) return tl::unexpected(target.error().detail.empty() ? target.error().message() : target.error().detail);
  return *target;
}

Response Api::reach(std::string_view query) {
  constexpr std::string_view kHandler = "/v1/reach";
  auto target = reachTarget(query);
  if (!target) return jsonError(400, target.error(), kHandler);
  auto added = monitor_.add(*target);
  if (!added) {
    const int code = added.error().code.value();
    const std::string message = added.error().detail.empty() ? added.error().message() : added.error().detail;
    // What the client named does not exist here: its mistake, not the daemon's.
    if (code == EINVAL || code == ENODEV || code == EADDRNOTAVAIL) return jsonError(400, message, kHandler);
    return jsonError(503, message, kHandler);
  }
  // One answer, not a watch: the connection is not kept.
  (void)monitor_.remove(added->id);
  return jsonResponse(200, cli::connectionToJson(added->target, added->state), kHandler);
}

Reply Api::handle(const Request& request) {
  if (request.path == "/v1/status") {
    return jsonResponse(200, cli::snapshotToJson(*monitor_.statusMonitor().snapshot()), "/v1/status");
  }
  if (request.path == "/v1/events") return events_.open(request.lastEventId);
  if (request.path == "/v1/reach") return reach(request.query);
  if (request.path == "/metrics") {
    const MetricsFormat format = negotiateMetricsFormat(request.accept);
    Response response;
    response.contentType = std::string(contentTypeOf(format));
    response.body = metrics_.render(*monitor_.statusMonitor().snapshot(), format, std::chrono::system_clock::now(),
                                    monitor_.counters());
    response.handler = "/metrics";
    return response;
  }
  if (request.path == "/-/healthy") return textResponse(200, "netmon is healthy.\n", "/-/healthy");
  if (request.path == "/-/ready") return textResponse(200, "netmon is ready.\n", "/-/ready");
  return textResponse(404, "not found\n");
}

}  // namespace netmon::serve
