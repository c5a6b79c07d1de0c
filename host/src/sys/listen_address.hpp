// Where the metrics server may listen: loopback only (127.0.0.0/8, ::1, localhost), since the
// metrics tell anyone who can read them what this machine publishes.
#pragma once

#include <cstdint>
#include <string>

#include <tl/expected.hpp>

namespace tunnelmgr::sys {

struct listen_address {
    std::string host;  // numeric: 127.x.y.z or ::1
    uint16_t port = 0;  // 0: any free port (tests)
    bool ipv6 = false;
    std::string text() const { return ipv6 ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port); }
};

// "127.0.0.1:9464", "localhost:9464", "[::1]:9464". A non-loopback host is refused with a sentence.
tl::expected<listen_address, std::string> parse_listen_address(const std::string& text);

}  // namespace tunnelmgr::sys
