// The container-supervisor config section, parsed strictly (unknown keys refused): which container
// runs cloudflared (or which containers, one per replica), on which Docker socket, and how long each
// gets to stop on a restart.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "docker_error.hpp"
#include "replica_list.hpp"

namespace tunnelmgr::plugins::container_supervisor {

extern const char* const supervisor_config_schema;

struct supervisor_config {
    std::string socket = "/var/run/docker.sock";
    // Every cloudflared container, in config order: `container: NAME` is one replica with no metrics
    // address of its own; `containers: [{container: NAME, metrics: "HOST:PORT"}, ...]` lists them.
    std::vector<replicas::replica_ref> containers{{"cloudflared", ""}};
    bool listed = false;  // the config used `containers:`; messages then name that setting
    int grace_s = 10;     // restart?t=: SIGTERM, then SIGKILL after this many seconds
    std::chrono::milliseconds timeout{5000};
};

// "supervisor.container" or "supervisor.containers", for messages that say what to fix.
std::string container_setting(const supervisor_config& config);

docker_engine::docker_result<supervisor_config> parse_supervisor_config(std::string_view json);

}  // namespace tunnelmgr::plugins::container_supervisor
