// `watch` output of resync events (text and JSON): the reason word, and for socket-error the errno
// by its symbolic name, so a log reader can tell an overrun from a broken socket.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "output/json.h"
#include "output/link_directory.h"
#include "output/text.h"

namespace netmon::cli {
namespace {

Event resync(ResyncReason reason, int error) {
  return Event{7, std::chrono::system_clock::time_point{}, ResyncEvent{reason, 3, 2, error}};
}

TEST(EventOutputTest, SocketErrorResyncNamesTheErrno) {
  const LinkDirectory links;
  const nlohmann::json json = eventToJson(resync(ResyncReason::SocketError, ENOMEM), links);
  EXPECT_EQ(json["type"], "resync");
  EXPECT_EQ(json["reason"], "socket-error");
  EXPECT_EQ(json["error"], "ENOMEM");
  EXPECT_EQ(json["resyncs"], 3);
  EXPECT_EQ(json["differences"], 2);
  const std::string text = eventToText(resync(ResyncReason::SocketError, EIO), links);
  EXPECT_NE(text.find(" resync socket-error: EIO ("), std::string::npos) << text;
  EXPECT_NE(text.find("socket reopened; 2 differences applied (resync 3)"), std::string::npos) << text;
}

TEST(EventOutputTest, OtherResyncsHaveNoError) {
  const LinkDirectory links;
  const nlohmann::json json = eventToJson(resync(ResyncReason::Overrun, 0), links);
  EXPECT_EQ(json["reason"], "overrun");
  EXPECT_TRUE(json["error"].is_null()) << json.dump();
  const std::string text = eventToText(resync(ResyncReason::Overrun, 0), links);
  EXPECT_NE(text.find(" resync overrun: 2 differences applied (resync 3)\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace netmon::cli
