// Does anything accept TCP connections at HOST:PORT (an IPv4 address or localhost)? For the dry
// run: a target that is chosen but answers nothing is worth saying before the hostname goes live.
#pragma once

#include <chrono>
#include <string>

namespace tunnelmgr::sys {

// "" when a connection was accepted within `timeout`; else why not, in a few words.
std::string tcp_probe(const std::string& host_port, std::chrono::milliseconds timeout);

}  // namespace tunnelmgr::sys
