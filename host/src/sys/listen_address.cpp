// See listen_address.hpp.
#include "sys/listen_address.hpp"

#include <arpa/inet.h>

namespace tunnelmgr::sys {

tl::expected<listen_address, std::string> parse_listen_address(const std::string& text) {
    auto bad = [&](const std::string& why) {
        return tl::unexpected("'" + text + "' " + why + ": write a loopback HOST:PORT, e.g. 127.0.0.1:9464");
    };
    listen_address a;
    std::string host, port;
    if (!text.empty() && text[0] == '[') {
        auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return bad("is not [HOST]:PORT");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos) return bad("has no port");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) > 65535) {
        return bad("has no valid port (0-65535)");
    }
    a.port = static_cast<uint16_t>(std::stoul(port));
    if (host == "localhost") host = "127.0.0.1";
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        if ((ntohl(v4.s_addr) >> 24) != 127) {
            return tl::unexpected("'" + text + "' is not a loopback address: tunnelmgr serves metrics on loopback only "
                                  "(127.0.0.1, ::1); put a reverse proxy or the Prometheus agent on this machine to reach it");
        }
        a.host = host;
        return a;
    }
    if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&v6)) {
            return tl::unexpected("'" + text + "' is not a loopback address: tunnelmgr serves metrics on loopback only "
                                  "(127.0.0.1, ::1); put a reverse proxy or the Prometheus agent on this machine to reach it");
        }
        a.host = "::1";
        a.ipv6 = true;
        return a;
    }
    return bad("does not name a numeric loopback host");
}

}  // namespace tunnelmgr::sys
