// Runs a program by argv (posix_spawnp, never a shell) with a deadline, collecting its exit status,
// stdout and stderr. The one place this plugin starts processes; tests swap it for canned answers.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace tunnelmgr::plugins::systemd_supervisor {

struct command_outcome {
    enum class how { exited, signaled, timed_out, spawn_failed };
    how ended = how::spawn_failed;
    int exit_code = -1;   // when exited
    int signal = 0;       // when signaled
    int spawn_errno = 0;  // when spawn_failed (ENOENT: the program is not on PATH)
    std::string out;
    std::string err;
};

// What the supervisor calls to run a command; the production one is run_command.
using command_runner = std::function<command_outcome(const std::vector<std::string>& argv,
                                                     std::chrono::milliseconds timeout)>;

// Spawns argv[0] (searched on PATH), stdin from /dev/null, and waits at most `timeout`; past it the
// child is killed by its PID (SIGKILL) and reaped, and the outcome says timed_out.
command_outcome run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

}  // namespace tunnelmgr::plugins::systemd_supervisor
