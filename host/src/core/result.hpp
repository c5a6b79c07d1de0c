// The core's names for the host's error values (common/result.hpp).
#pragma once

#include "common/result.hpp"

namespace tunnelmgr::core {

using tunnelmgr::errc;
using tunnelmgr::errc_name;
using tunnelmgr::error;
using tunnelmgr::fail;
using tunnelmgr::result;

}  // namespace tunnelmgr::core
