// See http_server.hpp.
#include "metrics/http_server.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace tunnelmgr::metrics {
namespace {

constexpr size_t max_request_bytes = 8192;

void send_all(int fd, const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // the scraper went away: nothing to do about it
        done += static_cast<size_t>(n);
    }
}

std::string response(int status, const char* reason, const std::string& content_type, const std::string& body,
                     bool head, const std::string& extra_headers = "") {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    r += "Content-Type: " + content_type + "\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    r += extra_headers;
    r += "Connection: close\r\n\r\n";
    if (!head) r += body;
    return r;
}

}  // namespace

http_server::http_server(registry& reg, std::function<void()> before_scrape)
    : reg_(reg), before_scrape_(std::move(before_scrape)) {}

http_server::~http_server() { stop(); }

tl::expected<void, std::string> http_server::start(const sys::listen_address& where) {
    if (listen_fd_ >= 0) return tl::unexpected(std::string("the metrics server is already running"));
    int family = where.ipv6 ? AF_INET6 : AF_INET;
    int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return tl::unexpected("cannot open a socket for the metrics server: " + std::string(std::strerror(errno)));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (where.ipv6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(where.port);
        ::inet_pton(AF_INET6, where.host.c_str(), &a->sin6_addr);
        len = sizeof(sockaddr_in6);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(where.port);
        ::inet_pton(AF_INET, where.host.c_str(), &a->sin_addr);
        len = sizeof(sockaddr_in);
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 16) != 0) {
        std::string why = std::strerror(errno);
        ::close(fd);
        return tl::unexpected("cannot listen on " + where.text() + " for metrics (" + why +
                              "): pick a free loopback port for metrics.listen");
    }
    sockaddr_storage got{};
    socklen_t got_len = sizeof got;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&got), &got_len);
    bound_ = where;
    bound_.port = ntohs(where.ipv6 ? reinterpret_cast<sockaddr_in6*>(&got)->sin6_port
                                   : reinterpret_cast<sockaddr_in*>(&got)->sin_port);
    if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
        ::close(fd);
        return tl::unexpected("cannot create the metrics server's wake-up pipe: " + std::string(std::strerror(errno)));
    }
    listen_fd_ = fd;
    stopping_.store(false);
    thread_ = std::thread([this] { serve(); });
    return {};
}

void http_server::stop() {
    if (listen_fd_ < 0) return;
    stopping_.store(true);
    char b = 1;
    ssize_t ignored = ::write(wake_pipe_[1], &b, 1);
    (void)ignored;
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
    ::close(wake_pipe_[0]);
    ::close(wake_pipe_[1]);
    listen_fd_ = -1;
    wake_pipe_[0] = wake_pipe_[1] = -1;
}

void http_server::serve() {
    while (!stopping_.load()) {
        pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
        int n = ::poll(fds, 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if ((fds[1].revents & POLLIN) != 0) return;
        if ((fds[0].revents & POLLIN) == 0) continue;
        int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        // A scraper that stalls must not hold the server: bounded reads and writes.
        timeval tv{2, 0};
        ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        answer(client);
        ::close(client);
    }
}

void http_server::answer(int fd) {
    std::string req;
    char buf[1024];
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < max_request_bytes) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
    }
    auto eol = req.find("\r\n");
    if (eol == std::string::npos) {
        send_all(fd, response(400, "Bad Request", "text/plain; charset=utf-8", "bad request\n", false));
        return;
    }
    std::string line = req.substr(0, eol);
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) {
        send_all(fd, response(400, "Bad Request", "text/plain; charset=utf-8", "bad request\n", false));
        return;
    }
    std::string method = line.substr(0, sp1);
    std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto q = target.find('?');
    std::string path = target.substr(0, q);
    bool head = method == "HEAD";
    if (method != "GET" && !head) {
        send_all(fd, response(405, "Method Not Allowed", "text/plain; charset=utf-8", "only GET and HEAD\n", false,
                              "Allow: GET, HEAD\r\n"));
        return;
    }
    if (path != "/metrics") {
        send_all(fd, response(404, "Not Found", "text/plain; charset=utf-8", "not found: try /metrics\n", head));
        return;
    }
    if (before_scrape_) before_scrape_();
    send_all(fd, response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", reg_.exposition(), head));
}

}  // namespace tunnelmgr::metrics
