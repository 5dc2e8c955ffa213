#pragma once
// The Linux backend: rtnetlink via libmnl.
//
// Two sockets: an event socket joined to the link/address/route/rule groups (joined before the
// first dump, so no change between dump and listening is lost), and a request socket for dumps with
// strict checking. Both are opened inside the monitored network namespace.
#include <memory>

#include "core/backend.h"
#include "netmon/status_monitor.h"

namespace netmon::rtnl {

Result<std::unique_ptr<detail::Backend>> createRtnlBackend(const MonitorOptions& options);
// Replays an rtmon-format recording (MonitorOptions::replayPath) through the same parser.
Result<std::unique_ptr<detail::Backend>> createReplayBackend(const MonitorOptions& options);
// sysfs facts about a link's medium (DEVTYPE, wireless), for links in the caller's namespace.
detail::LinkMediumHints readSysfsMediumHints(const std::string& link_name);

}  // namespace netmon::rtnl
