// How the supervisor runs a command: by argv (never a shell) with a deadline, through the shared
// process runner (plugins/common/process). The one place this plugin starts processes; tests swap it.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "process_runner.hpp"

namespace tunnelmgr::plugins::systemd_supervisor {

// How the command ended (exited, signaled, timed_out, spawn_failed), its exit code or signal, the
// errno of a failed spawn (ENOENT: the program is not on PATH), and its stdout and stderr.
using command_outcome = process::outcome;

// What the supervisor calls to run a command; the production one is run_command.
using command_runner = std::function<command_outcome(const std::vector<std::string>& argv,
                                                     std::chrono::milliseconds timeout)>;

// Spawns argv[0] (searched on PATH), stdin from /dev/null, and waits at most `timeout`; past it the
// child is killed by its PID (SIGKILL) and reaped, and the outcome says timed_out.
command_outcome run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

}  // namespace tunnelmgr::plugins::systemd_supervisor
