// Reads the whole Docker topology from the daemon (networks, every container inspected) and turns it
// into a snapshot; the one place docker-runtime does I/O for snapshot().
#pragma once

#include <string>

#include "docker_error.hpp"
#include "engine_client.hpp"
#include "snapshot_builder.hpp"

namespace tunnelmgr::plugins::docker_runtime {

class topology_reader {
public:
    topology_reader(docker_engine::engine_client& client, snapshot_options options)
        : client_(client), options_(std::move(options)) {}

    // The snapshot JSON (see build_snapshot). A container removed between the list and its inspect
    // is left out, not an error.
    docker_engine::docker_result<std::string> snapshot();

private:
    docker_engine::engine_client& client_;
    snapshot_options options_;
};

}  // namespace tunnelmgr::plugins::docker_runtime
