// The one rule for "is the tunnel up": used by the health loop, `status`, MCP and the metrics, so
// they can never disagree about the same observation.
#pragma once

#include <optional>

#include "core/result.hpp"

namespace tunnelmgr::core {

// running: what the supervisor says about cloudflared's process (nullopt: no supervisor, or it
// could not tell); ready: /ready's connection count, or why it could not be read.
//   down      the process is not running, or nobody can tell and /ready does not answer
//   up        /ready reports one connection or more
//   degraded  the process runs (or /ready answers) but no connection is ready
inline const char* tunnel_status_of(std::optional<bool> running, const result<int>& ready) {
    if (running.has_value() && !*running) return "down";
    if (ready && *ready > 0) return "up";
    if (ready || running.value_or(false)) return "degraded";
    return "down";
}

}  // namespace tunnelmgr::core
