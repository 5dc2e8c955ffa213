#pragma once
#include <string_view>
#include <vector>

#include "netmon/model.h"

namespace netmon::cli {

// The address's IFA_F_* flags in iproute2's words ("tentative", "deprecated", "dadfailed",
// "permanent", ...), lowest bit first.
std::vector<std::string_view> addressFlagNames(const Address& address);

}  // namespace netmon::cli
