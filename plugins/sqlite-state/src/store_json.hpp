// sqlite-state's name for the shared store_json (plugins/common/state-rows): one definition for every
// stock store, seen here in sqlite_state's namespace so its code and tests read as before.
#pragma once

#include "state_rows/store_json.hpp"

namespace tunnelmgr::plugins::sqlite_state {
using namespace state_rows;
}  // namespace tunnelmgr::plugins::sqlite_state
