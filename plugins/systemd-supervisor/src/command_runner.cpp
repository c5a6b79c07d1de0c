#include "command_runner.hpp"

namespace tunnelmgr::plugins::systemd_supervisor {

command_outcome run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    return process::run_program(argv, timeout);
}

}  // namespace tunnelmgr::plugins::systemd_supervisor
