// The daemon's API socket: one table of host calls for every connection, sessions decided from the
// token (or, with none, from being root or the daemon's own user), and the socket taken only when no
// other daemon answers on it — a standby tries again while it stands by.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "app/app.hpp"
#include "service/api_server.hpp"
#include "service/host_calls.hpp"

namespace tunnelmgr::app {

class daemon_api {
public:
    using config_source = std::function<std::shared_ptr<const config::config>()>;
    daemon_api(app_state& s, config_source current);
    ~daemon_api();

    // Serves api.socket unless it is empty or already served (by this daemon or another). Returns
    // whether this daemon serves it now; cheap to call on every loop.
    bool try_serve();
    void stop();
    // A tunnel status change, pushed to every subscribed session.
    void publish_status(const std::string& tunnel_json);
    // Writes the counts of repeated refusals whose window has closed (host_calls coalesces them).
    void flush_refusals() { ops_.flush_refusals(); }
    service::api_server& server() { return server_; }

    // Who a connection is (exposed for tests).
    static core::result<core::session> authenticate(const config::config& cfg, const service::session_request& want,
                                                    const sys::peer_credentials& peer, int64_t daemon_uid);

private:
    app_state& s_;
    config_source current_;
    service::host_calls ops_;
    service::api_server server_;
    std::string last_refusal_;
};

}  // namespace tunnelmgr::app
