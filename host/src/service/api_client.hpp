// The other end of the API socket (api_server.hpp): what `tunnelmgr mcp` and the CLI use when a
// daemon answers. Calls may be made from several threads at once; answers are matched by id, and
// notifications (call.progress, tunnel.status) go to the event handler on the reader's thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/result.hpp"
#include "service/api_server.hpp"

namespace tunnelmgr::service {

class api_client {
public:
    using event_fn = std::function<void(const std::string& method, const std::string& params_json)>;

    // not_found: no daemon answers on `path` (run in-process instead); denied: this user may not connect.
    static core::result<std::unique_ptr<api_client>> connect(const std::string& path);
    ~api_client();
    api_client(const api_client&) = delete;
    api_client& operator=(const api_client&) = delete;

    // Opens the connection's session; the token is wiped from `want` once sent. The result is the
    // session as the daemon sees it ({"project","role","uid","pid"}).
    core::result<std::string> open_session(session_request& want);
    // A host call; the daemon's refusal comes back with its errc and sentence.
    core::result<std::string> call(const std::string& op, const std::string& params_json);
    void on_event(event_fn fn);
    // Called once, on the reader's thread, when the daemon closes the connection (it stopped or
    // restarted): the session is over, since the token that opened it is gone from this process.
    void on_closed(std::function<void()> fn);
    const std::string& path() const { return path_; }

private:
    api_client(int fd, std::string path);
    core::result<std::string> request(const std::string& method, const std::string& params_json);
    void read_loop();

    struct pending {
        bool done = false;
        core::result<std::string> answer = core::fail(core::errc::error, "no answer");
    };
    int fd_;
    std::string path_;
    std::mutex m_;
    std::condition_variable cv_;
    std::map<int64_t, pending> pending_;
    int64_t next_id_ = 1;
    bool closed_ = false;
    event_fn on_event_;
    std::function<void()> on_closed_;
    std::mutex write_m_;
    std::thread reader_;
};

}  // namespace tunnelmgr::service
