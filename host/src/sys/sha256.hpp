// SHA-256 in lower-case hex, and a comparison that takes the same time whatever the input, for
// checking session tokens against the hashes in the config.
#pragma once

#include <string>

namespace tunnelmgr::sys {

std::string sha256_hex(const std::string& data);
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace tunnelmgr::sys
