// Keeps cloudflared up: each check asks the supervisor whether the process runs and the metrics
// server whether the tunnel is ready; a dead process restarts at once, an unready one after
// `strikes` failed checks in a row; restarts back off (5 s, 15 s, 30 s, 1 m, 5 m, then 5 m forever)
// and never overlap. Time is injected, so hours of outage are tested in milliseconds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/ingress_strategy.hpp"
#include "core/observer.hpp"
#include "core/state_store.hpp"
#include "core/tunnel_supervisor.hpp"

namespace tunnelmgr::core {

struct health_policy {
    std::chrono::milliseconds interval{30000};
    int strikes = 3;
    std::vector<std::chrono::milliseconds> backoff{std::chrono::seconds(5), std::chrono::seconds(15),
                                                   std::chrono::seconds(30), std::chrono::minutes(1),
                                                   std::chrono::minutes(5)};
    // A row is written on every status change and, while nothing changes, at most this often.
    std::chrono::milliseconds heartbeat_every{std::chrono::minutes(10)};
};

// What the loop knows; `status` is up | degraded (running, not ready) | down (not running) | unknown.
struct health_snapshot {
    std::string status = "unknown";
    int ready_connections = 0;
    int failed_checks = 0;        // unready checks in a row
    int restart_count = 0;        // restarts issued by this loop
    int restarts_since_up = 0;    // position in the backoff sequence
    int64_t up_since_ms = 0;      // 0 when not up
    int64_t last_restart_ms = 0;
    int64_t next_restart_ms = 0;  // no restart before this
    std::string last_error;
    std::string json(int64_t now_ms) const;
};

// Why a check runs: its interval came (or a restart's backoff ended), or an event (the supervisor
// saw cloudflared die or start) asked for one at once. Only scheduled checks count strikes, so
// events never shorten the time an unready tunnel is given before a restart.
enum class check_trigger { scheduled, event };

class health_loop {
public:
    using clock_fn = std::function<int64_t()>;                                   // Unix ms
    using event_fn = std::function<void(const std::string& type, const std::string& json)>;

    // supervisor may be null: the loop then reports and never restarts.
    health_loop(tunnel_supervisor* supervisor, ready_probe& probe, state_store& state, health_policy policy,
                clock_fn now, event_fn on_event);

    // One check (and at most one restart). Returns how long to wait before the next check.
    std::chrono::milliseconds check_once(check_trigger why = check_trigger::scheduled);
    // A new interval, strikes or backoff (a reloaded config), used from the next check on.
    void set_policy(health_policy policy);
    const health_policy& policy() const { return policy_; }

    const health_snapshot& snapshot() const { return snap_; }
    // While *restarting > 0 an apply is restarting cloudflared (apply_timing::restarting): a process
    // found down or unready then is mid-restart, so it is neither restarted nor counted as a strike.
    void leave_restarts_to(const std::atomic<int>* restarting) { restarting_ = restarting; }
    // How a replica's metrics address (HOST:PORT) is probed; unset: a metrics_probe. Tests bring doubles.
    using probe_factory = std::function<std::unique_ptr<ready_probe>(const std::string& address)>;
    void use_replica_probes(probe_factory f) { make_probe_ = std::move(f); }
    // Who hears of checks and restarts (the metrics); nobody by default.
    void observe_with(core_observer& o) { observer_ = &o; }

private:
    // With replicas (supervisor->replica_count() > 1): each is checked on its own metrics address,
    // restarted on its own backoff, and at most one is restarted per check; the tunnel is up while
    // every replica is ready, degraded while some are, down when none runs.
    struct replica_state {
        std::string name;
        int failed_checks = 0;
        int restarts_since_up = 0;
        int64_t next_restart_ms = 0;
        std::string status = "unknown";
    };
    std::chrono::milliseconds check_replicas(int count, check_trigger why, int64_t now);
    bool restart_replica(int index, int64_t now, const std::string& why);
    ready_probe& probe_for(const std::string& metrics);

    void record(int64_t now, bool changed);
    void transition(const std::string& to, int64_t now);
    bool restart(int64_t now, const std::string& why);

    tunnel_supervisor* supervisor_;
    ready_probe& probe_;
    state_store& state_;
    health_policy policy_;
    clock_fn now_;
    event_fn on_event_;
    health_snapshot snap_;
    int64_t last_row_ms_ = 0;
    bool manual_restart_said_ = false;
    core_observer* observer_ = &no_observer();
    std::vector<replica_state> replicas_;
    const std::atomic<int>* restarting_ = nullptr;
    probe_factory make_probe_;
    bool applying() const { return restarting_ != nullptr && restarting_->load() > 0; }
    std::map<std::string, std::unique_ptr<ready_probe>> replica_probes_;
};

}  // namespace tunnelmgr::core
