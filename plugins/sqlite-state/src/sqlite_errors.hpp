// Turns SQLite failures (SQLiteCpp exceptions) into store_error: a kind the caller can act on
// and a sentence that says what to do. Used where SQLite calls enter the store.
#pragma once

#include <string_view>

#include <SQLiteCpp/Exception.h>

#include "store_error.hpp"

namespace tunnelmgr::plugins::sqlite_state {

// `doing` completes "... while <doing>", e.g. "inserting a CNAME row".
store_error from_sqlite(const SQLite::Exception& e, std::string_view doing, std::string_view path);

}  // namespace tunnelmgr::plugins::sqlite_state
