// The daemon's local API: the table of host calls served on a unix socket as newline-delimited
// JSON-RPC 2.0 (README: "The API socket"). Each connection first opens a session — a project or the
// admin, by token, or the admin by being root or the daemon's own user — and every call it makes is
// dispatched through host_calls with that session and the peer's uid/pid (SO_PEERCRED), so the audit
// names who connected. Calls on one connection run concurrently (answers carry their ids); mutating
// calls from all connections go through one writer.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/result.hpp"
#include "core/session.hpp"
#include "service/host_calls.hpp"
#include "sys/unix_socket.hpp"

namespace tunnelmgr::service {

// What a connection asks for when it opens its session.
struct session_request {
    std::string token;    // empty: "I am the operator" (accepted for root and the daemon's own user)
    std::string project;  // the project a token is for; empty with admin
    bool admin = false;
};

class api_server {
public:
    // Decides who a connection is. Called with the peer as the kernel saw it.
    using authenticate_fn =
        std::function<core::result<core::session>(const session_request&, const sys::peer_credentials&)>;

    static constexpr size_t max_connections = 256;
    static constexpr size_t max_in_flight = 16;        // per connection
    static constexpr size_t max_message = 1 << 20;     // bytes per request line

    api_server(host_calls& ops, authenticate_fn authenticate);
    ~api_server();
    api_server(const api_server&) = delete;
    api_server& operator=(const api_server&) = delete;

    // Binds `path` (mode 0660, `group` when set) and starts accepting. conflict: another daemon serves
    // it (this one stands by; call again later).
    core::result<void> start(const std::string& path, const std::string& group);
    bool serving() const { return listener_ != nullptr; }
    const std::string& path() const;
    // Stops accepting, closes every connection and waits for their calls to finish.
    void stop();

    // A notification to every connection that subscribed (events.subscribe): e.g. tunnel.status.
    void publish(const std::string& method, const std::string& params_json);

    // host_calls' progress sink for calls that came through this server: the progress token a
    // connection gave is prefixed with the connection's id on the way in and routed back here.
    void progress(const std::string& routed_token, const std::string& step, int done, int total);

    size_t connections() const;

private:
    struct connection;
    void accept_loop();
    void serve(const std::shared_ptr<connection>& c);
    void handle(const std::shared_ptr<connection>& c, std::string line);
    std::string dispatch(const std::shared_ptr<connection>& c, const std::string& method, std::string params,
                         const std::string& id_json);
    void reap();

    host_calls& ops_;
    authenticate_fn authenticate_;
    std::unique_ptr<sys::unix_listener> listener_;
    int wake_[2] = {-1, -1};  // a pipe that wakes the accept loop to stop
    std::thread acceptor_;
    std::atomic<bool> stopping_{false};
    mutable std::mutex m_;
    std::list<std::shared_ptr<connection>> conns_;
    uint64_t next_id_ = 1;
};

}  // namespace tunnelmgr::service
