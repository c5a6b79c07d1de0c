// A tiny HTTP/1.1 server on a loopback socket (plain POSIX sockets) that answers GET /metrics
// with the registry's text. One thread multiplexes every connection with poll(), each connection
// non-blocking and bounded by a deadline, so a slow or silent client never delays another.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <tl/expected.hpp>

#include "sys/listen_address.hpp"
#include "metrics/registry.hpp"

namespace tunnelmgr::metrics {

class http_server {
public:
    struct limits {
        std::chrono::milliseconds connection_deadline{5000};  // from accept to the last byte sent
        size_t max_connections = 64;  // beyond it, new clients wait in the listen backlog
    };

    // `before_scrape` runs on the server's thread before each /metrics answer (to refresh gauges
    // that are cheaper to read than to track); may be empty.
    http_server(registry& reg, std::function<void()> before_scrape = {});
    http_server(registry& reg, std::function<void()> before_scrape, limits l);
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // Binds and starts serving; the error is a sentence (address in use, not loopback...).
    tl::expected<void, std::string> start(const sys::listen_address& where);
    // Whether the last start() failed only because another process holds the address (worth
    // retrying later, e.g. while another daemon holds the lease), rather than for good.
    bool address_in_use() const { return in_use_; }
    void stop();
    bool running() const { return listen_fd_ >= 0; }
    // The address actually bound (the port filled in when 0 was asked for).
    const sys::listen_address& address() const { return bound_; }

private:
    void serve();
    std::string answer(const std::string& request);

    registry& reg_;
    std::function<void()> before_scrape_;
    limits limits_;
    sys::listen_address bound_;
    int listen_fd_ = -1;
    int wake_pipe_[2] = {-1, -1};
    bool in_use_ = false;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace tunnelmgr::metrics
