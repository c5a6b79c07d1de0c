// See http_server.hpp.
#include "metrics/http_server.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <vector>

namespace tunnelmgr::metrics {
namespace {

constexpr size_t max_request_bytes = 8192;

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
    : http_server(reg, std::move(before_scrape), limits{}) {}

http_server::http_server(registry& reg, std::function<void()> before_scrape, limits l)
    : reg_(reg), before_scrape_(std::move(before_scrape)), limits_(l) {}

http_server::~http_server() { stop(); }

tl::expected<void, std::string> http_server::start(const sys::listen_address& where) {
    in_use_ = false;
    if (listen_fd_ >= 0) return tl::unexpected(std::string("the metrics server is already running"));
    int family = where.ipv6 ? AF_INET6 : AF_INET;
    int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
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
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 64) != 0) {
        int err = errno;
        ::close(fd);
        in_use_ = err == EADDRINUSE;
        return tl::unexpected("cannot listen on " + where.text() + " for metrics (" + std::strerror(err) +
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

namespace {

// One client: what it sent, what it gets, and until when it may take.
struct connection {
    int fd = -1;
    std::string in;
    std::string out;
    size_t sent = 0;
    bool answered = false;
    std::chrono::steady_clock::time_point deadline;
};

bool request_complete(const std::string& in) {
    return in.find("\r\n\r\n") != std::string::npos || in.size() >= max_request_bytes;
}

// Reads what is there without blocking. False when the client closed its side or failed.
bool read_available(connection& c) {
    char buf[1024];
    while (!request_complete(c.in)) {
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
            c.in.append(buf, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        return false;  // EOF or an error: answer what came, if anything
    }
    return true;
}

// Writes what the socket takes now. False when the client went away.
bool write_available(connection& c) {
    while (c.sent < c.out.size()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0) {
            c.sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        return false;
    }
    return true;
}

void finish(connection& c) {
    ::shutdown(c.fd, SHUT_WR);  // the answer is complete: a close with unread input would reset it
    ::close(c.fd);
    c.fd = -1;
}

}  // namespace

void http_server::serve() {
    std::vector<connection> conns;
    std::vector<pollfd> fds;
    while (!stopping_.load()) {
        auto now = std::chrono::steady_clock::now();
        // Past its deadline a connection is dropped, whatever state it is in.
        for (auto& c : conns) {
            if (now >= c.deadline) {
                ::close(c.fd);
                c.fd = -1;
            }
        }
        conns.erase(std::remove_if(conns.begin(), conns.end(), [](const connection& c) { return c.fd < 0; }), conns.end());
        fds.clear();
        fds.push_back({wake_pipe_[0], POLLIN, 0});
        bool accepting = conns.size() < limits_.max_connections;
        fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
        int timeout = -1;  // nothing open: sleep until a client or stop() arrives
        for (const auto& c : conns) {
            fds.push_back({c.fd, static_cast<short>(c.answered ? POLLOUT : POLLIN), 0});
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - now).count() + 1;
            if (timeout < 0 || left < timeout) timeout = static_cast<int>(left);
        }
        int n = ::poll(fds.data(), fds.size(), timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if ((fds[0].revents & POLLIN) != 0) break;
        for (size_t i = 0; i < conns.size(); ++i) {
            auto& c = conns[i];
            short ev = fds[i + 2].revents;
            if (ev == 0) continue;
            if (!c.answered) {
                bool open = read_available(c);
                if (!request_complete(c.in) && open) continue;
                if (c.in.empty() && !open) {  // connected and left without a word
                    ::close(c.fd);
                    c.fd = -1;
                    continue;
                }
                c.out = answer(c.in);
                c.answered = true;
            }
            if (!write_available(c)) {
                ::close(c.fd);
                c.fd = -1;
            } else if (c.sent == c.out.size()) {
                finish(c);
            }
        }
        if ((fds[1].revents & POLLIN) != 0) {
            while (conns.size() < limits_.max_connections) {
                int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (client < 0) break;  // EAGAIN: no one else is waiting
                connection c;
                c.fd = client;
                c.deadline = std::chrono::steady_clock::now() + limits_.connection_deadline;
                conns.push_back(std::move(c));
            }
        }
    }
    for (auto& c : conns) {
        if (c.fd >= 0) ::close(c.fd);
    }
}

std::string http_server::answer(const std::string& req) {
    auto eol = req.find("\r\n");
    if (eol == std::string::npos) {
        return response(400, "Bad Request", "text/plain; charset=utf-8", "bad request\n", false);
    }
    std::string line = req.substr(0, eol);
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) {
        return response(400, "Bad Request", "text/plain; charset=utf-8", "bad request\n", false);
    }
    std::string method = line.substr(0, sp1);
    std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto q = target.find('?');
    std::string path = target.substr(0, q);
    bool head = method == "HEAD";
    if (method != "GET" && !head) {
        return response(405, "Method Not Allowed", "text/plain; charset=utf-8", "only GET and HEAD\n", false,
                        "Allow: GET, HEAD\r\n");
    }
    if (path != "/metrics") {
        return response(404, "Not Found", "text/plain; charset=utf-8", "not found: try /metrics\n", head);
    }
    if (before_scrape_) before_scrape_();
    return response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", reg_.exposition(), head);
}

}  // namespace tunnelmgr::metrics
