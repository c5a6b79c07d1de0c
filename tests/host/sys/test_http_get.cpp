// sys::http_get, the host's one HTTP client (cloudflared's /ready on loopback), against listeners on
// loopback that answer as cloudflared's Go server does, and as servers that misbehave would.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "sys/http.hpp"

using namespace tunnelmgr;
using namespace std::chrono_literals;

namespace {

// A listener on a free loopback port: each connection's request is kept, answered with `reply`
// (nothing when empty), then closed (`close_after`) or held open until the server goes.
struct raw_server {
    int fd = -1, port = 0;
    std::string reply, request;
    bool close_after = false;
    std::atomic<bool> stop{false};
    std::thread t;
    explicit raw_server(std::string answer, bool close = false) : reply(std::move(answer)), close_after(close) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        ::listen(fd, 4);
        t = std::thread([this] {
            while (!stop) {
                int c = ::accept(fd, nullptr, nullptr);
                if (c < 0) return;
                char buf[4096];
                ssize_t n = ::recv(c, buf, sizeof buf, 0);
                if (n > 0) request.assign(buf, static_cast<size_t>(n));
                if (!reply.empty()) (void)::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
                while (!close_after && !stop) std::this_thread::sleep_for(10ms);
                ::close(c);
            }
        });
    }
    ~raw_server() {
        stop = true;
        ::shutdown(fd, SHUT_RDWR);
        ::close(fd);
        t.join();
    }
};

}  // namespace

std::string url(const raw_server& srv, const std::string& path, const std::string& host = "127.0.0.1") {
    return "http://" + host + ":" + std::to_string(srv.port) + path;
}

TEST(http_get, reads_status_and_body_and_sends_a_plain_get) {
    const std::string ready = R"({"status":200,"readyConnections":4,"connectorId":"c1"})";
    raw_server srv("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(ready.size()) +
                   "\r\nConnection: close\r\n\r\n" + ready, true);
    auto r = sys::http_get(url(srv, "/ready"), 2s);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, ready);
    EXPECT_EQ(srv.request.rfind("GET /ready HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port) + "\r\n", 0), 0u)
        << srv.request;
    EXPECT_NE(srv.request.find("Connection: close\r\n"), std::string::npos);
    auto local = sys::http_get(url(srv, "/ready", "localhost"), 2s);
    ASSERT_TRUE(local) << local.error().message;
    EXPECT_EQ(local->body, ready);

    raw_server down("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 36\r\n\r\n{\"status\":503,\"readyConnections\":0}", true);
    auto d = sys::http_get(url(down, "/ready"), 2s);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->status, 503);
    EXPECT_EQ(d->body, R"({"status":503,"readyConnections":0})");
}

TEST(http_get, undoes_chunked_coding_and_caps_the_body) {
    raw_server chunked("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n", true);
    auto r = sys::http_get(url(chunked, "/"), 2s);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, "abcdefgh");
    raw_server big("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(3u << 20, 'x'), true);
    auto b = sys::http_get(url(big, "/"), 5s);
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(b->body.size(), 1u << 20);
    raw_server garbage("SSH-2.0-OpenSSH_9.2\r\n", true);
    auto g = sys::http_get(url(garbage, "/"), 2s);
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().message.find("not HTTP"), std::string::npos) << g.error().message;
}

TEST(http_get, a_closed_port_a_silent_server_and_a_bad_url_each_fail_with_a_sentence) {
    int port = 0;
    {
        raw_server gone("", true);
        port = gone.port;
    }
    auto refused = sys::http_get("http://127.0.0.1:" + std::to_string(port) + "/ready", 2s);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, errc::retry);
    EXPECT_NE(refused.error().message.find("Connection refused"), std::string::npos) << refused.error().message;

    raw_server silent("");
    auto t0 = std::chrono::steady_clock::now();
    auto quiet = sys::http_get("http://127.0.0.1:" + std::to_string(silent.port) + "/ready", 300ms);
    auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(quiet);
    EXPECT_EQ(quiet.error().code, errc::timeout);
    EXPECT_NE(quiet.error().message.find("no complete answer within 300 ms"), std::string::npos) << quiet.error().message;
    EXPECT_LT(took, 3s) << "the deadline holds";

    auto https = sys::http_get("https://127.0.0.1:1/ready", 1s);
    ASSERT_FALSE(https);
    EXPECT_EQ(https.error().code, errc::invalid);
}

TEST(http_get, an_answer_complete_by_its_length_ends_the_call_though_the_server_keeps_the_connection) {
    raw_server keeps("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nready");
    auto r = sys::http_get("http://127.0.0.1:" + std::to_string(keeps.port) + "/ready", 5s);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ready");
}
