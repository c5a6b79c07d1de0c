// Runs a program by argv (never through a shell) and collects its exit code and output, as the host's
// errors-as-values; used for the ingress file's `git` backups. A thin wrapper over the runner the host
// shares with the plugins (plugins/common/process). Output is capped so a chatty child cannot exhaust memory.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace tunnelmgr::sys {

struct process_output {
    int exit_code = -1;  // -1: killed by a signal or timed out
    std::string out;
    std::string err;
};

// Looks `argv[0]` up in PATH; stdin is /dev/null. Kills the child (SIGKILL, by its PID) after `timeout`.
// Fails with invalid (empty argv), not_found (cannot start it), timeout, or error (no pipe).
result<process_output> run(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30),
                           const std::string& working_dir = "");

}  // namespace tunnelmgr::sys
