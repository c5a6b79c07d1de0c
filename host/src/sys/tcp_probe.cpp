// See tcp_probe.hpp. A non-blocking connect with poll, so a silent address costs only `timeout`.
#include "sys/tcp_probe.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tunnelmgr::sys {

std::string tcp_probe(const std::string& host_port, std::chrono::milliseconds timeout) {
    auto colon = host_port.rfind(':');
    if (colon == std::string::npos) return "not HOST:PORT";
    std::string host = host_port.substr(0, colon);
    if (host == "localhost") host = "127.0.0.1";
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    int port = 0;
    try {
        port = std::stoi(host_port.substr(colon + 1));
    } catch (...) {
        return "bad port";
    }
    if (port < 1 || port > 65535 || ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return "not an IPv4 address";
    addr.sin_port = htons(static_cast<uint16_t>(port));
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::strerror(errno);
    std::string result;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (errno != EINPROGRESS) {
            result = std::strerror(errno);
        } else {
            pollfd p{fd, POLLOUT, 0};
            int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
            if (n <= 0) {
                result = "no answer within " + std::to_string(timeout.count()) + " ms";
            } else {
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0) result = std::strerror(err);
            }
        }
    }
    ::close(fd);
    return result;
}

}  // namespace tunnelmgr::sys
