// A minimal HTTP/1.1 client over a POSIX socket on loopback, for the metrics tests: one request,
// Connection: close, the whole answer read.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

namespace tunnelmgr::testing {

struct http_answer {
    int status = 0;  // 0: no connection
    std::string headers;
    std::string body;
};

inline http_answer loopback_request(int port, const std::string& method, const std::string& path) {
    http_answer a;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return a;
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return a;
    }
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        ::close(fd);
        return a;
    }
    std::string all;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) all.append(buf, static_cast<size_t>(n));
    ::close(fd);
    auto head_end = all.find("\r\n\r\n");
    if (all.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return a;
    a.status = std::stoi(all.substr(9, 3));
    a.headers = all.substr(0, head_end);
    a.body = all.substr(head_end + 4);
    return a;
}

}  // namespace tunnelmgr::testing
