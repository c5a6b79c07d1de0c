// The metrics server under clients that misbehave: one that connects and says nothing, one that
// sends half a request, one that never reads its answer. None of them may delay another client's
// scrape, and each is dropped at its deadline. Also: a taken address is told apart (to retry).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "loopback_http.hpp"
#include "metrics/http_server.hpp"
#include "metrics/registry.hpp"
#include "sys/listen_address.hpp"

using namespace tunnelmgr::metrics;
using namespace std::chrono_literals;
using tunnelmgr::sys::parse_listen_address;
using tunnelmgr::testing::loopback_request;

namespace {

int connect_to(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

// Blocks until the server closes the connection; returns how long that took.
std::chrono::milliseconds until_closed(int fd) {
    auto t0 = std::chrono::steady_clock::now();
    char buf[4096];
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
}

class metrics_server_clients : public ::testing::Test {
protected:
    void SetUp() override {
        reg_.add_gauge("up", "Up.");
        // Big enough that a client which never reads cannot take it all into socket buffers.
        std::vector<std::pair<std::vector<std::string>, double>> many;
        for (int i = 0; i < 40000; ++i) many.push_back({{"series-" + std::to_string(i)}, i});
        reg_.add_gauge("filler", "Lots of text.", {"name"});
        reg_.replace("filler", many);
        http_server::limits l;
        l.connection_deadline = 1500ms;
        server_ = std::make_unique<http_server>(reg_, std::function<void()>{}, l);
        auto started = server_->start(*parse_listen_address("127.0.0.1:0"));
        ASSERT_TRUE(started) << started.error();
        port_ = server_->address().port;
    }

    // A normal scrape's latency while the others misbehave.
    std::chrono::milliseconds timed_scrape() {
        auto t0 = std::chrono::steady_clock::now();
        auto a = loopback_request(port_, "GET", "/metrics");
        auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
        EXPECT_EQ(a.status, 200);
        EXPECT_NE(a.body.find("up 0"), std::string::npos);
        return took;
    }

    registry reg_;
    std::unique_ptr<http_server> server_;
    int port_ = 0;
};

}  // namespace

TEST_F(metrics_server_clients, a_silent_client_does_not_block_another_and_is_dropped_at_its_deadline) {
    int silent = connect_to(port_);
    ASSERT_GE(silent, 0);
    EXPECT_LT(timed_scrape(), 1000ms) << "the silent client held the server";
    auto held = until_closed(silent);
    ::close(silent);
    EXPECT_GE(held, 1000ms);
    EXPECT_LT(held, 4000ms) << "the silent client was not dropped at its deadline";
}

TEST_F(metrics_server_clients, half_a_request_does_not_block_another) {
    int slow = connect_to(port_);
    ASSERT_GE(slow, 0);
    std::string part = "GET /metr";
    ASSERT_EQ(::send(slow, part.data(), part.size(), MSG_NOSIGNAL), static_cast<ssize_t>(part.size()));
    EXPECT_LT(timed_scrape(), 1000ms);
    EXPECT_LT(timed_scrape(), 1000ms);
    ::close(slow);
}

TEST_F(metrics_server_clients, a_client_that_never_reads_its_answer_does_not_block_another) {
    std::vector<int> stuck;
    for (int i = 0; i < 3; ++i) {
        int fd = connect_to(port_);
        ASSERT_GE(fd, 0);
        int small = 4096;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
        stuck.push_back(fd);
    }
    std::this_thread::sleep_for(100ms);  // the server has answered them and is stuck on their buffers
    for (int i = 0; i < 3; ++i) EXPECT_LT(timed_scrape(), 1000ms);
    for (int fd : stuck) ::close(fd);
}

TEST_F(metrics_server_clients, many_clients_at_once_all_get_their_answer) {
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    for (int i = 0; i < 16; ++i) {
        clients.emplace_back([&] {
            if (loopback_request(port_, "GET", "/metrics").status == 200) ++ok;
        });
    }
    for (auto& t : clients) t.join();
    EXPECT_EQ(ok.load(), 16);
}

TEST_F(metrics_server_clients, an_address_in_use_is_told_apart_from_other_failures) {
    registry other_reg;
    http_server other(other_reg);
    auto clash = other.start(server_->address());
    ASSERT_FALSE(clash);
    EXPECT_TRUE(other.address_in_use());
    server_->stop();
    auto again = other.start(server_->address());
    EXPECT_TRUE(again) << (again ? "" : again.error());
    EXPECT_FALSE(other.address_in_use());
}
