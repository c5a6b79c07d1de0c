// The daemon's background work as one unit: the lease that makes one process of the machine the
// one that acts, recovery of unfinished operations, the health check, the plugins' event watches
// and the periodic refreshes (zones, Docker snapshot, pruning). Nothing here sleeps or polls: the
// daemon waits on wake_fd() for at most what run_due() returns, so an idle daemon wakes only for
// the health interval (which is also the lease renewal). Time is injected, so the schedule is
// tested without waiting.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/health_loop.hpp"
#include "plugin_host/host_services.hpp"
#include "service/core_services.hpp"

namespace tunnelmgr::service {

struct refresh_schedule {
    std::chrono::milliseconds zones{std::chrono::hours(1)};
    std::chrono::milliseconds docker{std::chrono::minutes(1)};
    // While the runtime's event watch runs, the snapshot follows events; this full refresh only
    // catches what a lost event would have missed.
    std::chrono::milliseconds docker_watched{std::chrono::minutes(30)};
    std::chrono::milliseconds prune{std::chrono::hours(1)};
    // A Docker change arrives as a burst (a start brings connects too): refresh once, this long after the first.
    std::chrono::milliseconds docker_settle{std::chrono::milliseconds(150)};
    // After "tunnel.died", look once more this much later, in case the supervisor still said running.
    std::chrono::milliseconds recheck_after_death{std::chrono::seconds(1)};
    // After "tunnel.started", look this much later, so "up" is known (and pushed) without waiting for the interval.
    std::chrono::milliseconds check_after_start{std::chrono::seconds(2)};
};

class background_loops {
public:
    using clock_fn = std::function<int64_t()>;  // Unix ms
    using status_fn = std::function<void(const std::string& tunnel_status_json)>;

    // `holder` names this process in the lease (PID:starttime); `tunnel_id` empty: the health
    // check idles (nothing to watch), said once.
    background_loops(core_services& core, core::state_store& state, std::string tunnel_id, core::health_policy policy,
                     std::string holder, clock_fn now, refresh_schedule schedule = {});
    ~background_loops();
    background_loops(const background_loops&) = delete;
    background_loops& operator=(const background_loops&) = delete;

    // A full pass, whatever is due: take or renew the "background" lease; while holding it, settle
    // unfinished operations, check the tunnel, and refresh what is due. Returns how long to wait.
    std::chrono::milliseconds run_once();
    // Only what is due now (lease renewal, a check, an event's reaction, a refresh). Returns how
    // long until something is due; the daemon waits that long on wake_fd(), or less when woken.
    std::chrono::milliseconds run_due();

    // Readable when an event or a standby's takeover cue asks for a run_due() before its time.
    // The daemon polls it and calls drain_wake() before run_due().
    int wake_fd() const { return wake_fd_; }
    void drain_wake();

    // Plugin events (through host_services): "tunnel.died" checks and, when it is down, restarts at
    // once (within the backoff); Docker container/network events refresh the snapshot. Thread-safe.
    void on_event(const std::string& source, const std::string& type, const std::string& json);
    // Registers on_event with the host's event handlers until this object goes away.
    void follow_events(host::host_services& services);

    // Called (on the thread that runs the loops) whenever the tunnel's up/degraded/down status
    // changes, with {"status","ready_connections","last_error","metrics","restart_count",
    // "uptime_s","checked_ms"} — the "tunnel" object of the tunnel.status host call.
    void on_status_change(status_fn cb);

    // Reconcile every `every` while leading (0: never by itself), the first one `every` after the
    // lease is taken. `run` returns false when it could not start (a change holds the writer): then it
    // is tried again `busy_retry` later, so a reconcile never waits behind a change on this thread.
    void set_reconcile(std::chrono::milliseconds every, std::function<bool()> run) {
        set_job("reconcile", every, std::move(run));
    }
    // The same for any job the lease holder runs on a period (reconcile, the expiry pass): set or
    // replaced by name.
    void set_job(const std::string& name, std::chrono::milliseconds every, std::function<bool()> run);
    static constexpr std::chrono::seconds busy_retry{5};

    // A reloaded config's health policy, from the next pass on. Thread-safe.
    void set_health_policy(core::health_policy policy);

    bool leading() const { return leading_; }
    // Gives the lease back (at stop) and stops the plugins' watches, so a standby takes over at
    // once instead of after the lease time.
    void release();

    const core::health_loop& health() const { return health_; }
    std::chrono::milliseconds lease_ttl() const { return lease_ttl_; }
    // The tunnel's status as on_status_change() reports it.
    std::string status_json(int64_t now) const;

    class takeover_beacon;  // in the .cpp: how a standby hears the leader go

private:
    std::chrono::milliseconds pass(bool full);
    void renew_lease(int64_t now);
    void became_leader();
    void stopped_leading();
    void check_tunnel(int64_t now, core::check_trigger why);
    void refresh_due(int64_t now, bool with_periodic);
    void refresh_docker();
    void publish_status();
    void wake();

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
    bool supervisor_watching_ = false, runtime_watching_ = false;
    int64_t next_lease_ = 0, next_check_ = 0, recheck_at_ = 0;
    int64_t next_zones_ = 0, next_docker_ = 0, next_prune_ = 0, docker_event_at_ = 0;
    struct periodic_job {
        std::string name;
        std::chrono::milliseconds every{0};
        std::function<bool()> run;
        int64_t next = 0;  // 0: not scheduled (not leading, or off)
        void schedule(bool leading, int64_t now) { next = leading && run && every.count() > 0 ? now + every.count() : 0; }
    };
    std::vector<periodic_job> jobs_;

    int wake_fd_ = -1;
    std::atomic<bool> died_{false}, started_{false}, docker_changed_{false}, takeover_{false};
    std::unique_ptr<takeover_beacon> beacon_;

    mutable std::mutex shared_mutex_;  // what other threads hand in
    std::optional<core::health_policy> pending_policy_;
    std::vector<status_fn> status_listeners_;
    host::host_services* services_ = nullptr;
    size_t event_handler_id_ = 0;
};

}  // namespace tunnelmgr::service
