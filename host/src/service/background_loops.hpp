// The daemon's background work as one unit: the lease that makes one process of the machine the
// one that acts, recovery of unfinished operations, the health check, and the periodic refreshes
// (zones, Docker snapshot, pruning). The daemon command only adds signals, systemd and metrics
// serving around run_once(); time is injected, so the schedule is tested without waiting.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "core/health_loop.hpp"
#include "service/core_services.hpp"

namespace tunnelmgr::service {

struct refresh_schedule {
    std::chrono::milliseconds zones{std::chrono::hours(1)};
    std::chrono::milliseconds docker{std::chrono::minutes(1)};
    std::chrono::milliseconds prune{std::chrono::hours(1)};
};

class background_loops {
public:
    using clock_fn = std::function<int64_t()>;  // Unix ms

    // `holder` names this process in the lease (PID:starttime); `tunnel_id` empty: the health
    // check idles (nothing to watch), said once.
    background_loops(core_services& core, core::state_store& state, std::string tunnel_id, core::health_policy policy,
                     std::string holder, clock_fn now, refresh_schedule schedule = {});

    // One pass: take or renew the "background" lease; while holding it, settle unfinished
    // operations, check the tunnel, and refresh what is due. Returns how long to wait.
    std::chrono::milliseconds run_once();
    bool leading() const { return leading_; }
    // Gives the lease back (at stop), so a standby takes over at once instead of after the lease time.
    void release();

    const core::health_loop& health() const { return health_; }
    std::chrono::milliseconds lease_ttl() const { return lease_ttl_; }

private:
    void refresh_due(int64_t now);

    core_services& core_;
    core::state_store& state_;
    std::string tunnel_id_;
    std::string holder_;
    clock_fn now_;
    refresh_schedule schedule_;
    core::health_loop health_;
    std::chrono::milliseconds interval_;
    std::chrono::milliseconds lease_ttl_;
    bool leading_ = false, announced_ = false, said_no_tunnel_ = false;
    int64_t next_zones_ = 0, next_docker_ = 0, next_prune_ = 0;
};

}  // namespace tunnelmgr::service
