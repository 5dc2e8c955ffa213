#pragma once
// Umbrella header for libnetmon.
#include "netmon/address.h"
#include "netmon/event.h"
#include "netmon/executor.h"
#include "netmon/model.h"
#include "netmon/result.h"
#include "netmon/snapshot.h"
#include "netmon/connection.h"
#include "netmon/connection_monitor.h"
#include "netmon/status_monitor.h"
#include "netmon/subscription.h"
#include "netmon/version.h"
