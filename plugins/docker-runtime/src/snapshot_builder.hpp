// Builds the topology snapshot (networks, containers with their networks and ports, where cloudflared
// runs, the host gateway) from the Engine API's own JSON. Pure: no I/O, so recorded answers test it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <tunnelmgr/sdk/model.hpp>

#include "docker_error.hpp"

namespace tunnelmgr::plugins::docker_runtime {

struct snapshot_options {
    std::string project_label = "com.supervisor.project";
    std::vector<std::string> cloudflared_names = {"cloudflared"};
    // Known project names; a container without the label belongs to project P when its name starts
    // with "P-". Empty: only the label counts (no guessing from names).
    std::vector<std::string> projects;
};

// networks_json: GET /networks. inspects: GET /containers/{id}/json of each container. The snapshot's
// shape and its one codec are sdk::model::docker_snapshot (tunnelmgr/sdk/model_docker.hpp); networks
// and containers come sorted by name, each container's networks by name and its ports by number.
docker_engine::docker_result<sdk::model::docker_snapshot> build_topology(std::string_view networks_json,
                                                                         const std::vector<std::string>& inspects,
                                                                         std::string_view api_version,
                                                                         const snapshot_options& options);

// build_topology, encoded (what container_runtime_v1.snapshot returns).
docker_engine::docker_result<std::string> build_snapshot(std::string_view networks_json,
                                                         const std::vector<std::string>& inspects,
                                                         std::string_view api_version, const snapshot_options& options);

// The project of a container: the label's value, else the longest known project P with name "P-...".
std::string project_of(std::string_view name, const std::string& label_value, const std::vector<std::string>& projects);

// "cloudflare/cloudflared:2024.6.1@sha256:..." → "cloudflared".
std::string image_base_name(std::string_view image);

// bridge, host and none come with every daemon and are not user-defined (only user-defined
// networks resolve container names).
bool is_user_defined_network(std::string_view name);

}  // namespace tunnelmgr::plugins::docker_runtime
