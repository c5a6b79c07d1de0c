// The Engine API events docker-runtime follows, and what it reports to the host for each: the
// container_runtime_v1 event types and their JSON payloads.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "event_stream.hpp"

namespace tunnelmgr::plugins::docker_runtime {

// What docker-runtime reports to the host for an event, or nullopt when it does not report it:
// container start/die → "container.start"/"container.die", network connect/disconnect →
// "network.connect"/"network.disconnect". Payloads:
//   container.*: {"id","name","image","project"(string|null),"time_ms"} (+ "exit_code":int for die)
//   network.*:   {"network_id","network","container_id","time_ms"}
std::optional<std::pair<std::string, std::string>> runtime_event_for(const docker_engine::docker_event& event,
                                                                     const std::string& project_label);

// The `filters` query value (URL-encoded JSON) docker-runtime follows.
std::string runtime_event_filters();

}  // namespace tunnelmgr::plugins::docker_runtime
