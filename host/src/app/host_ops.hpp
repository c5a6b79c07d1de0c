// The host calls a transport may make (plugin-api/README.md, "Host calls"): each op checked
// against the caller's session, then handed to the core. Arguments never widen the session.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "app/core_services.hpp"
#include "core/result.hpp"
#include "core/session.hpp"

namespace tunnelmgr::app {

class host_ops {
public:
    // progress_sink(token, step, done, total): how call.progress reaches the transport.
    using progress_sink = std::function<void(const std::string&, const std::string&, int, int)>;

    host_ops(core_services& core, core::state_store& state, progress_sink progress)
        : core_(core), state_(state), progress_(std::move(progress)) {}

    core::result<std::string> call(const std::string& op, const std::string& args_json, const core::session& who);

    // The status object of `status.get` (also what tunnel.status events carry).
    core::result<std::string> tunnel_status();

private:
    core_services& core_;
    core::state_store& state_;
    progress_sink progress_;
    // tunnel_status() is asked often (every status call, the status watch): a live probe of
    // cloudflared at most once a second is plenty, and keeps status calls sub-millisecond.
    std::mutex status_mutex_;
    std::chrono::steady_clock::time_point status_at_{};
    std::string status_cached_;
};

}  // namespace tunnelmgr::app
