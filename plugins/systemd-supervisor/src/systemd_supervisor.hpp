// Watches and restarts cloudflared's systemd unit: `systemctl show` for the status, `systemctl
// restart` to restart it (cloudflared has no reload), each run by argv with the configured prefix.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

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

    // TM-style kinds: not_found when the unit (or the prefix's container) does not exist,
    // denied, timeout, error.
    sup_result<supervisor_status> status();
    sup_result<void> restart();

    const supervisor_config& config() const { return config_; }

private:
    supervisor_config config_;
    command_runner runner_;
    supervisor_clocks clocks_;
};

}  // namespace tunnelmgr::plugins::systemd_supervisor
