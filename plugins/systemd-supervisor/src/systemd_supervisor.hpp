// Watches and restarts cloudflared's systemd units — one, or one per replica: `systemctl show` for
// a status, `systemctl restart` to restart (cloudflared has no reload), each run by argv with the
// configured prefix.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "command_runner.hpp"
#include "supervisor_config.hpp"
#include "supervisor_error.hpp"
#include "systemctl_protocol.hpp"

namespace tunnelmgr::plugins::systemd_supervisor {

struct supervisor_status {
    bool running = false;
    std::optional<std::int64_t> pid;
    std::string state;  // "ActiveState/SubState", e.g. "active/running"
    std::optional<std::int64_t> since_ms;
    std::string detail;
    std::string unit;
    std::optional<std::int64_t> restarts;  // NRestarts: restarts systemd made on its own
};

// {"running","pid","state","since_ms","detail","unit","restarts"} (pid, since_ms, restarts null when unknown).
std::string to_json(const supervisor_status& status);

struct supervisor_clocks {
    std::function<std::int64_t()> unix_ms;       // CLOCK_REALTIME in ms
    std::function<std::int64_t()> monotonic_us;  // CLOCK_MONOTONIC in µs, as systemd counts
    static supervisor_clocks system();
};

class systemd_supervisor {
public:
    explicit systemd_supervisor(supervisor_config config, command_runner runner = run_command,
                                supervisor_clocks clocks = supervisor_clocks::system());

    int replica_count() const { return static_cast<int>(config_.units.size()); }
    // The unit of replica `index` and its metrics address; index must be in range.
    const replicas::replica_ref& replica(int index) const { return config_.units.at(static_cast<std::size_t>(index)); }

    // TM-style kinds: not_found when the unit (or the prefix's container) does not exist,
    // denied, timeout, error; invalid for an index out of range.
    sup_result<supervisor_status> replica_status(int index);
    // Restarts that replica's unit only (reset-failed, then restart --no-block).
    sup_result<void> replica_restart(int index);
    // replica_status() as replica_status()'s JSON: to_json plus "name" and "metrics".
    std::string replica_json(int index, const supervisor_status& status) const;

    // Each replica's status, in order (one systemctl show each).
    std::vector<sup_result<supervisor_status>> every_status();
    // status() of the whole from every_status(): with one unit, its status as it always was; with
    // several, the replicas' rule (running when any runs; pid and since_ms of the first that runs).
    // An error only when no unit answered (the first one's).
    sup_result<std::string> whole_status(const std::vector<sup_result<supervisor_status>>& each) const;
    // Restarts every replica, one systemctl call after the other (each returns at once, --no-block);
    // all are tried, and the first failure is returned.
    sup_result<void> restart();

    const supervisor_config& config() const { return config_; }

private:
    sup_result<void> check_index(int index) const;

    supervisor_config config_;
    command_runner runner_;
    supervisor_clocks clocks_;
};

}  // namespace tunnelmgr::plugins::systemd_supervisor
