// What container-supervisor reports about the cloudflared container, computed from the Engine API's
// inspect answer and its events. Pure: recorded JSON tests it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <vector>

#include "docker_error.hpp"
#include "event_stream.hpp"
#include "replica_list.hpp"

namespace tunnelmgr::plugins::container_supervisor {

// GET /containers/{name}/json → {"running":bool,"pid":int|null,"state":"running"|"exited"|...,
// "since_ms":int|null (StartedAt while running, else FinishedAt),"detail":"sentence",
// "container":"name","id":"...","exit_code":int|null,"restart_count":int}.
docker_engine::docker_result<std::string> status_from_inspect(std::string_view inspect_json,
                                                              const std::string& container);

// The supervisor event for a Docker event about one of `containers` (the replicas, in config order),
// or nullopt:
//   die   → "tunnel.died"    {"container","name","replica","id","exit_code":int|null,"time_ms"}
//   start → "tunnel.started" {"container","name","replica","id","time_ms"}
// "container" and "name" are the configured name, "replica" its index.
std::optional<std::pair<std::string, std::string>> supervisor_event_for(const docker_engine::docker_event& event,
                                                                        const std::vector<replicas::replica_ref>& containers);

// The URL-encoded `filters` value: start/die events of those containers.
std::string supervisor_event_filters(const std::vector<replicas::replica_ref>& containers);

// The TM_NOT_FOUND sentence when the container does not exist; `setting` is the config key that
// names it ("supervisor.container" or "supervisor.containers").
std::string missing_container_sentence(const std::string& container, const std::string& socket,
                                       const std::string& setting = "supervisor.container");

}  // namespace tunnelmgr::plugins::container_supervisor
