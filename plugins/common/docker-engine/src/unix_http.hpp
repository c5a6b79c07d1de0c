// HTTP/1.1 to the Docker daemon over its unix socket through libcurl: one-shot requests on a reused
// connection, and a followed (streamed) GET that another thread can interrupt at once.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "docker_error.hpp"

namespace tunnelmgr::plugins::docker_engine {

struct http_answer {
    long status = 0;
    std::string body;
};

// One connection's worth of state; not thread-safe (use one per thread).
class unix_http {
public:
    explicit unix_http(std::string socket_path);
    ~unix_http();
    unix_http(const unix_http&) = delete;
    unix_http& operator=(const unix_http&) = delete;

    // method: GET, POST, DELETE; target: "/v1.41/containers/json?all=1". Fails only when no HTTP answer
    // came (unreachable, timeout); any HTTP status is an answer.
    docker_result<http_answer> send(std::string_view method, const std::string& target,
                                    std::chrono::milliseconds timeout);

    const std::string& socket_path() const { return socket_path_; }

private:
    struct state;
    std::string socket_path_;
    std::unique_ptr<state> state_;
};

// A streamed GET (GET /events) that runs until the daemon ends it, it fails, or interrupt() is called.
class http_stream {
public:
    explicit http_stream(std::string socket_path);
    ~http_stream();
    http_stream(const http_stream&) = delete;
    http_stream& operator=(const http_stream&) = delete;

    // Blocks. on_open runs once the daemon has answered 200 (headers in); on_data gets each body chunk.
    // Returns ok when interrupted or when the daemon closed the stream cleanly; an error otherwise
    // (a non-200 status carries the daemon's message). connect_timeout bounds connect + headers only.
    docker_result<void> follow(const std::string& target, std::chrono::milliseconds connect_timeout,
                               const std::function<void()>& on_open,
                               const std::function<void(std::string_view)>& on_data);

    // Thread-safe: makes a running follow() return promptly, and any later follow() return at once,
    // until rearm().
    void interrupt();
    void rearm();
    bool interrupted() const { return interrupted_.load(); }

private:
    struct state;
    std::string socket_path_;
    std::atomic<bool> interrupted_{false};
    std::unique_ptr<state> state_;
};

// "cannot reach the Docker daemon at SOCKET (DETAIL): is dockerd running, and may this user use the socket?"
std::string unreachable_sentence(const std::string& socket_path, const std::string& detail);

}  // namespace tunnelmgr::plugins::docker_engine
