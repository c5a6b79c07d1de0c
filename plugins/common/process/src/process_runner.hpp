// Runs a program by argv (posix_spawnp, never a shell) with a deadline, collecting how it ended, its
// stdout and its stderr. The one process runner of the host and the plugins that start programs.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tunnelmgr::process {

struct outcome {
    enum class how { exited, signaled, timed_out, spawn_failed };
    how ended = how::spawn_failed;
    int exit_code = -1;   // when exited
    int signal = 0;       // when signaled
    int spawn_errno = 0;  // when spawn_failed (ENOENT: the program is not on PATH, or no such working_dir)
    // When spawn_failed: the call that failed, "pipe" (no child was started) or "posix_spawn".
    const char* failed_call = "posix_spawn";
    std::string out;      // kept on every ending, timed_out included
    std::string err;
};

// Output beyond this, per stream, is dropped: a runaway child must not grow the caller's memory.
inline constexpr std::size_t max_output = 1 << 20;

// Spawns argv[0] (searched on PATH) with stdin from /dev/null, an empty signal mask and default
// SIGPIPE/SIGTERM/SIGINT, in `working_dir` when not empty. Waits at most `timeout` for the child to close
// its output and exit; past it the child is killed by its PID (SIGKILL), reaped, and the outcome says
// timed_out. An empty argv is spawn_failed with EINVAL.
outcome run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                    const std::string& working_dir = "");

// Whether a NAME=VALUE entry of this process's environment is passed to the programs it runs: never a
// variable whose name says it holds a secret (…TOKEN…, …SECRET…, …PASSWORD…, …CREDENTIAL…, …API_KEY…)
// nor systemd's notify/watchdog/socket-activation variables, which belong to this process.
bool inherited_by_children(std::string_view entry);

}  // namespace tunnelmgr::process
