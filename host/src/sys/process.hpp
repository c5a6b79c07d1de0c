// Runs a program by argv (never through a shell) and collects its exit code and output; used for
// `git` backups and `systemctl`. Output is capped so a chatty child cannot exhaust memory.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace tunnelmgr::sys {

struct process_output {
    int exit_code = -1;  // -1: killed by a signal or timed out
    std::string out;
    std::string err;
};

// Looks `argv[0]` up in PATH. Kills the child (SIGKILL, by its PID) after `timeout`.
core::result<process_output> run(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                 const std::string& working_dir = "");

}  // namespace tunnelmgr::sys
