// The container-supervisor config section, parsed strictly (unknown keys refused): which container
// runs cloudflared, on which Docker socket, and how long it gets to stop on a restart.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "docker_error.hpp"

namespace tunnelmgr::plugins::container_supervisor {

extern const char* const supervisor_config_schema;

struct supervisor_config {
    std::string socket = "/var/run/docker.sock";
    std::string container = "cloudflared";
    int grace_s = 10;  // restart?t=: SIGTERM, then SIGKILL after this many seconds
    std::chrono::milliseconds timeout{5000};
};

docker_engine::docker_result<supervisor_config> parse_supervisor_config(std::string_view json);

}  // namespace tunnelmgr::plugins::container_supervisor
