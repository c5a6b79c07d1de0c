// The Docker topology as cloudflared sees it, and the path each published hostname takes through it:
// what `tunnelmgr topology` and the admin resource tunnel://topology show. Pure: built from one
// snapshot and the state's rows (select_target says what each would get now), rendered as text,
// Graphviz DOT or JSON.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <tunnelmgr/sdk/model_cname.hpp>
#include <tunnelmgr/sdk/model_docker.hpp>

#include "core/target.hpp"

namespace tunnelmgr::core {

enum class route_health {
    ok,         // the published path works in this snapshot, and it is what a new request would get
    moved,      // the path still works, but a new request would now get another target (or none)
    broken,     // the path does not work now: the container is gone or stopped, or shares no network
    unchecked,  // no Docker information: nothing to check the path against
};
const char* route_health_name(route_health h);

// One published hostname and the path cloudflared takes to it.
struct hostname_route {
    sdk::model::cname_row row;  // as published (target, target_type, container_name, docker_network)
    route_health health = route_health::unchecked;
    std::string path;     // how cloudflared reaches it as published, e.g. "container web on network apps"
    std::string problem;  // broken: why, and the fix; moved: what a new request would get instead
    std::optional<target> now;  // what select_target gives now
    std::string now_error;      // or why it gives nothing (its sentence names the fix)
};

struct topology {
    sdk::model::docker_snapshot snapshot;
    std::string source;  // "runtime" (fresh), "stored" (the state's last snapshot) or "none"
    std::vector<std::string> notes;  // what the reader should know about the data, one sentence each
    std::vector<hostname_route> routes;  // ordered by hostname
};

// Checks each row's published path against the snapshot and asks select_target what it would be now.
// A snapshot without cloudflared's placement (a stored one) checks only the containers' side.
topology build_topology(sdk::model::docker_snapshot snapshot, std::string source, std::vector<std::string> notes,
                        std::vector<sdk::model::cname_row> rows);

// An indented tree of at most `width` columns (long sentences wrap); every name escaped with printable().
std::string topology_text(const topology& t, size_t width = 100);
// Graphviz DOT: one cluster per Docker network, one for the host; hostname → cloudflared → target
// edges, broken ones red and dashed.
std::string topology_dot(const topology& t);
// {"source","notes":[...],"cloudflared":{...}|null,"host_gateway","networks":[...],"containers":[...],
//  "hostnames":[{"hostname","project","port","target","target_type","container_name","docker_network",
//  "path","health","problem","now":{"service","type","container_name","docker_network","reason"}|null,
//  "now_error"}],"broken":N}; with `text`, also "text": that text.
std::string topology_json(const topology& t, const std::string* text = nullptr);

}  // namespace tunnelmgr::core
