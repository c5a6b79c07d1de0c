// What container-supervisor reports about the cloudflared container, computed from the Engine API's
// inspect answer and its events. Pure: recorded JSON tests it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "docker_error.hpp"
#include "event_stream.hpp"

namespace tunnelmgr::plugins::container_supervisor {

// GET /containers/{name}/json → {"running":bool,"pid":int|null,"state":"running"|"exited"|...,
// "since_ms":int|null (StartedAt while running, else FinishedAt),"detail":"sentence",
// "container":"name","id":"...","exit_code":int|null,"restart_count":int}.
docker_engine::docker_result<std::string> status_from_inspect(std::string_view inspect_json,
                                                              const std::string& container);

// The supervisor event for a Docker event about `container`, or nullopt:
//   die   → "tunnel.died"    {"container","id","exit_code":int|null,"time_ms"}
//   start → "tunnel.started" {"container","id","time_ms"}
std::optional<std::pair<std::string, std::string>> supervisor_event_for(const docker_engine::docker_event& event,
                                                                        const std::string& container);

// The URL-encoded `filters` value: start/die events of that one container.
std::string supervisor_event_filters(const std::string& container);

// The TM_NOT_FOUND sentence when the container does not exist.
std::string missing_container_sentence(const std::string& container, const std::string& socket);

}  // namespace tunnelmgr::plugins::container_supervisor
