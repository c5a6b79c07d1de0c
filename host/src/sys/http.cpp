// See http.hpp. HTTP/1.1 over a plain socket: one request, `Connection: close`, the answer read to
// its end within one deadline. No proxy (metrics are on loopback) and no TLS. libcurl did this before,
// and with it the host loaded some thirty shared libraries at every start for one loopback GET.
#include "sys/http.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace tunnelmgr::sys {
namespace {

using clock = std::chrono::steady_clock;
constexpr size_t max_answer = (1u << 20) + 16 * 1024;  // a 1 MiB body and its headers

struct target {
    std::string host, port, path, host_header;
};

result<target> parse_url(const std::string& url) {
    const std::string scheme = "http://";
    if (url.rfind(scheme, 0) != 0) return fail(errc::invalid, "GET " + url + ": only http:// URLs are supported");
    std::string rest = url.substr(scheme.size());
    target t;
    auto slash = rest.find('/');
    t.path = slash == std::string::npos ? "/" : rest.substr(slash);
    std::string authority = rest.substr(0, slash);
    t.host_header = authority;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string::npos) return fail(errc::invalid, "GET " + url + ": an unclosed [ in the address");
        t.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size() && authority[close + 1] == ':') t.port = authority.substr(close + 2);
    } else {
        auto colon = authority.rfind(':');
        t.host = authority.substr(0, colon);
        if (colon != std::string::npos) t.port = authority.substr(colon + 1);
    }
    if (t.port.empty()) t.port = "80";
    if (t.host.empty()) return fail(errc::invalid, "GET " + url + ": no host");
    if (t.host == "localhost") t.host = "127.0.0.1";  // no resolver (and no NSS modules) for loopback
    return t;
}

int remaining_ms(clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

struct fd_guard {
    int fd = -1;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

// A connected socket, or why not (timeout when the deadline passed).
result<int> connect_to(const target& t, clock::time_point deadline, const std::string& url) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(t.host.c_str(), t.port.c_str(), &hints, &found); rc != 0) {
        return fail(errc::retry, "GET " + url + " failed: cannot resolve " + t.host + " (" + ::gai_strerror(rc) + ")");
    }
    std::string why = "no address";
    errc code = errc::retry;
    int out = -1;
    for (addrinfo* a = found; a != nullptr && out < 0; a = a->ai_next) {
        int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            why = std::strerror(errno);
            continue;
        }
        if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            out = fd;
            break;
        }
        if (errno == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            int n = ::poll(&p, 1, remaining_ms(deadline));
            int err = 0;
            socklen_t len = sizeof err;
            if (n > 0 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
                out = fd;
                break;
            }
            why = n == 0 ? "timed out connecting" : std::strerror(err != 0 ? err : errno);
            if (n == 0) code = errc::timeout;
        } else {
            why = std::strerror(errno);
        }
        ::close(fd);
    }
    ::freeaddrinfo(found);
    if (out < 0) return fail(code, "GET " + url + " failed: " + why);
    return out;
}

// Chunked transfer coding (RFC 9112 7.1) undone; nullopt when it is malformed.
std::optional<std::string> dechunk(const std::string& body) {
    std::string out;
    size_t at = 0;
    while (true) {
        auto eol = body.find("\r\n", at);
        if (eol == std::string::npos) return std::nullopt;
        size_t size = 0;
        try {
            size = std::stoul(body.substr(at, eol - at), nullptr, 16);
        } catch (...) {
            return std::nullopt;
        }
        at = eol + 2;
        if (size == 0) return out;
        if (at + size > body.size()) return std::nullopt;
        out.append(body, at, size);
        at += size + 2;
    }
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return s;
}

// Whether `answer` holds its headers and the whole body they announce by Content-Length.
bool complete(const std::string& answer) {
    auto head_end = answer.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    const std::string head = lower(answer.substr(0, head_end));
    auto cl = head.find("\r\ncontent-length:");
    if (cl == std::string::npos || head.find("\r\ntransfer-encoding:") != std::string::npos) return false;
    try {
        return answer.size() - head_end - 4 >= std::stoul(head.substr(cl + 17));
    } catch (...) {
        return false;
    }
}

}  // namespace

result<http_response> http_get(const std::string& url, std::chrono::milliseconds timeout) {
    auto t = parse_url(url);
    if (!t) return tl::unexpected(t.error());
    const auto deadline = clock::now() + timeout;
    auto connected = connect_to(*t, deadline, url);
    if (!connected) return tl::unexpected(connected.error());
    fd_guard sock{*connected};

    const std::string request = "GET " + t->path + " HTTP/1.1\r\nHost: " + t->host_header +
                                "\r\nUser-Agent: tunnelmgr\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    for (size_t sent = 0; sent < request.size();) {
        ssize_t n = ::send(sock.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) return fail(errc::retry, "GET " + url + " failed: " + std::strerror(errno));
        pollfd p{sock.fd, POLLOUT, 0};
        if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return fail(errc::timeout, "GET " + url + " failed: timed out sending");
    }

    std::string answer;
    char buf[16 * 1024];
    while (answer.size() < max_answer) {
        ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
        if (n > 0) {
            answer.append(buf, static_cast<size_t>(n));
            if (complete(answer)) break;  // a server that keeps the connection open despite `close`
            continue;
        }
        if (n == 0) break;  // the server closed: the answer is complete
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return fail(errc::retry, "GET " + url + " failed: " + std::strerror(errno));
        pollfd p{sock.fd, POLLIN, 0};
        int ready = ::poll(&p, 1, remaining_ms(deadline));
        if (ready == 0) {
            return fail(errc::timeout, "GET " + url + " failed: no complete answer within " +
                                           std::to_string(timeout.count()) + " ms");
        }
    }

    auto head_end = answer.find("\r\n\r\n");
    if (answer.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos || answer.size() < 12) {
        return fail(errc::retry, "GET " + url + " failed: the answer is not HTTP");
    }
    http_response r;
    try {
        r.status = std::stol(answer.substr(9, 3));
    } catch (...) {
        return fail(errc::retry, "GET " + url + " failed: the answer has no status code");
    }
    const std::string head = lower(answer.substr(0, head_end));
    std::string body = answer.substr(head_end + 4);
    if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
        auto plain = dechunk(body);
        if (!plain) return fail(errc::retry, "GET " + url + " failed: a malformed chunked answer");
        body = std::move(*plain);
    } else if (auto cl = head.find("\r\ncontent-length:"); cl != std::string::npos) {
        try {
            size_t length = std::stoul(head.substr(cl + 17));
            if (body.size() > length) body.resize(length);
        } catch (...) {
        }
    }
    if (body.size() > (1u << 20)) body.resize(1u << 20);
    r.body = std::move(body);
    return r;
}

}  // namespace tunnelmgr::sys
