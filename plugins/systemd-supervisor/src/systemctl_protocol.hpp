// What systemd-supervisor says to systemctl and how it reads the answers: the argv of each call
// about one unit (one cloudflared replica), the parse of `systemctl show`, and the sentence (and
// kind) for each way a call can fail.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "command_runner.hpp"
#include "supervisor_config.hpp"
#include "supervisor_error.hpp"

namespace tunnelmgr::plugins::systemd_supervisor {

// The properties `status` asks for. LoadState tells a missing unit apart (show exits 0 for it).
inline constexpr const char* show_properties =
    "LoadState,ActiveState,SubState,MainPID,ActiveEnterTimestampMonotonic,ActiveEnterTimestamp,NRestarts,Result";

// prefix... systemctl show --no-pager -p PROPS -- UNIT
std::vector<std::string> show_argv(const supervisor_config& config, const std::string& unit);
// prefix... systemctl restart --no-block --no-ask-password -- UNIT
// --no-block: return once the job is queued (the ABI's promise; the host waits for /ready itself,
// and a Type=notify unit would otherwise hold us until cloudflared's first edge connection).
// --no-ask-password: fail at once instead of waiting for a polkit prompt nobody answers.
std::vector<std::string> restart_argv(const supervisor_config& config, const std::string& unit);
// prefix... systemctl reset-failed -- UNIT, run before each restart: after 5 crashes in 10 s
// (StartLimitBurst/IntervalSec defaults, kept by cloudflared's stock unit) systemd refuses to start
// the unit again ("start-limit-hit"); tunnelmgr's health loop has its own backoff, so its explicit
// restart clears systemd's counter instead of failing until the interval ends. Best effort.
std::vector<std::string> reset_failed_argv(const supervisor_config& config, const std::string& unit);

struct unit_properties {
    std::string load_state;    // loaded, not-found, masked, bad-setting, error
    std::string active_state;  // active, reloading, inactive, failed, activating, deactivating
    std::string sub_state;     // running, exited, dead, auto-restart, start, stop-sigterm, ...
    std::int64_t main_pid = 0;
    std::optional<std::int64_t> active_enter_monotonic_us;  // 0 or absent: never entered
    std::string active_enter_timestamp;                       // as systemctl prints it
    std::optional<std::int64_t> n_restarts;                   // systemd >= 235
    std::string result;                                       // success, exit-code, signal, ...
};

// Parses `KEY=VALUE` lines; unknown keys are ignored. Fails (kind error) when ActiveState is absent,
// which means the output was not from `systemctl show`.
sup_result<unit_properties> parse_show_output(std::string_view out);

// The process is there: a main PID and a state in which systemd keeps it.
bool is_running(const unit_properties& p);

// Unix milliseconds of ActiveEnterTimestamp. Prefers the monotonic stamp, converted with the clocks
// of this machine (systemctl runs on the same kernel: locally, through sudo or docker exec); falls
// back to the printed timestamp when it is UTC or "@seconds". nullopt when never active.
std::optional<std::int64_t> active_since_unix_ms(const unit_properties& p, std::int64_t now_unix_ms,
                                                 std::int64_t now_monotonic_us);

// One sentence on the unit's state, e.g. "cloudflared.service is active (running), main PID 812, ...".
std::string describe(const std::string& unit, const unit_properties& p);

// A failed call about `unit` (spawn error, timeout, non-zero exit) as the error the host sees;
// `what` is "read the status of" or "restart". Returns nullopt when the call succeeded.
std::optional<sup_error> classify_failure(const supervisor_config& config, const std::string& unit,
                                          const std::vector<std::string>& argv, const command_outcome& outcome,
                                          std::string_view what);

}  // namespace tunnelmgr::plugins::systemd_supervisor
