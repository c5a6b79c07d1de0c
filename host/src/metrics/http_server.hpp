// A tiny HTTP/1.1 server on a loopback socket (plain POSIX sockets) that answers GET /metrics
// with the registry's text; one connection at a time, each closed after its answer.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include <tl/expected.hpp>

#include "sys/listen_address.hpp"
#include "metrics/registry.hpp"

namespace tunnelmgr::metrics {

class http_server {
public:
    // `before_scrape` runs on the server's thread before each /metrics answer (to refresh gauges
    // that are cheaper to read than to track); may be empty.
    http_server(registry& reg, std::function<void()> before_scrape = {});
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // Binds and starts serving; the error is a sentence (address in use, not loopback...).
    tl::expected<void, std::string> start(const sys::listen_address& where);
    void stop();
    // The address actually bound (the port filled in when 0 was asked for).
    const sys::listen_address& address() const { return bound_; }

private:
    void serve();
    void answer(int fd);

    registry& reg_;
    std::function<void()> before_scrape_;
    sys::listen_address bound_;
    int listen_fd_ = -1;
    int wake_pipe_[2] = {-1, -1};
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace tunnelmgr::metrics
