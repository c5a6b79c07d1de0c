// See background_loops.hpp.
#include "service/background_loops.hpp"

#include <algorithm>

#include <tunnelmgr/sdk/model.hpp>

#include "log/logger.hpp"
#include "metrics/tunnelmgr_metrics.hpp"

namespace tunnelmgr::service {

background_loops::background_loops(core_services& core, core::state_store& state, std::string tunnel_id,
                                   core::health_policy policy, std::string holder, clock_fn now,
                                   refresh_schedule schedule)
    : core_(core),
      state_(state),
      tunnel_id_(std::move(tunnel_id)),
      holder_(std::move(holder)),
      now_(std::move(now)),
      schedule_(schedule),
      health_(core.supervisor.get(), *core.probe, state, policy, now_,
              [](const std::string& type, const std::string&) { log::debug("daemon", "event " + type); }),
      interval_(policy.interval),
      // Three missed renewals before a standby takes over; never under 3 s, so a busy machine's
      // scheduling hiccup does not hand the loops back and forth.
      lease_ttl_(std::max<std::chrono::milliseconds>(policy.interval * 3, std::chrono::seconds(3))) {
    health_.observe_with(metrics::core_metrics());
}

std::chrono::milliseconds background_loops::run_once() {
    auto got = state_.lease_acquire("background", holder_, lease_ttl_.count());
    bool now_leading = got && *got;
    if (now_leading != leading_ || !announced_) {
        announced_ = true;
        log::info("daemon", now_leading ? "holding the background lease: running the loops"
                                        : "another tunnelmgr holds the background lease: standing by");
        leading_ = now_leading;
    }
    if (!got) log::warn("daemon", "cannot take the lease: " + got.error().message);
    metrics::lease_holder(leading_);
    std::chrono::milliseconds wait = interval_;
    if (!leading_) return wait;
    if (auto r = core_.pipeline->recover(); !r) log::warn("daemon", "reconcile: " + r.error().message);
    if (tunnel_id_.empty()) {
        // Nothing to watch yet: say so once rather than report a tunnel nobody configured as down.
        if (!said_no_tunnel_) log::warn("daemon", "tunnel.id is not set: the health loop is idle until a tunnel is configured");
        said_no_tunnel_ = true;
    } else {
        wait = health_.check_once();
    }
    refresh_due(now_());
    return wait;  // at most the interval: the lease (three intervals) is renewed well before it runs out
}

void background_loops::refresh_due(int64_t t) {
    if (core_.dns && t >= next_zones_) {
        if (auto z = core_.pipeline->list_domains(true); !z) log::warn("daemon", "zone refresh: " + z.error().message);
        next_zones_ = t + schedule_.zones.count();
    }
    if (core_.runtime && t >= next_docker_) {
        auto snap = core_.runtime->snapshot();
        if (snap) {
            auto decoded = sdk::model::decode_docker_snapshot(*snap);
            if (!decoded) {
                log::warn("daemon", "docker snapshot: the container runtime returned a malformed snapshot, not stored: " + decoded.error());
            } else if (auto w = state_.docker_snapshot_replace(*decoded); !w) {
                log::warn("daemon", "docker snapshot: " + w.error().message);
            }
        } else {
            log::warn("daemon", "docker snapshot: " + snap.error().message);
        }
        next_docker_ = t + schedule_.docker.count();
    }
    if (t >= next_prune_) {
        if (auto p = state_.prune(); p && *p > 0) log::info("daemon", "pruned " + std::to_string(*p) + " old rows");
        next_prune_ = t + schedule_.prune.count();
    }
}

void background_loops::release() {
    if (leading_) (void)state_.lease_release("background", holder_);
    leading_ = false;
}

}  // namespace tunnelmgr::service
