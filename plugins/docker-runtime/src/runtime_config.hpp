// The docker-runtime config section, parsed strictly: an unknown key is refused so a typo does not
// silently fall back to a default.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "docker_error.hpp"
#include "snapshot_builder.hpp"

namespace tunnelmgr::plugins::docker_runtime {

extern const char* const runtime_config_schema;

struct runtime_config {
    std::string socket = "/var/run/docker.sock";
    std::chrono::milliseconds timeout{5000};
    snapshot_options snapshot;  // project_label, cloudflared_names, projects
};

docker_engine::docker_result<runtime_config> parse_runtime_config(std::string_view json);

}  // namespace tunnelmgr::plugins::docker_runtime
