// tunnelmgr's own metric families in one process-wide registry, and the one-line hooks the core,
// the plugin clients and the daemon call. Cheap when nobody scrapes: a map update under a mutex.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "core/observer.hpp"
#include "metrics/registry.hpp"

namespace tunnelmgr::metrics {

// The process-wide registry, every tunnelmgr_* family declared (so each HELP/TYPE shows from the start).
registry& global();

// How the core's reports become metric samples: set on the pipeline and the health loop by whoever
// assembles them. tunnelmgr_pipeline_step_duration_seconds{kind,step}, tunnelmgr_pipeline_failures_total,
// tunnelmgr_health_check_duration_seconds, tunnelmgr_tunnel_up, _ready_connections, _restarts_total.
core::core_observer& core_metrics();
// A call through the dns slot as the host sees it: result is "ok" or an error kind (not_found,
// conflict, retry, timeout, denied, invalid, error). The plugin retries inside; a call that comes
// back `retry` or `timeout` (the plugin gave up on a soft error) is counted as a retry the host sees.
void cloudflare_call(const std::string& op, const std::string& result);
void cnames_per_project(const std::map<std::string, int>& counts);
void lease_holder(bool holding);
// The daemon's lease check reached the state store (true) or the store answered with an error (false):
// tunnelmgr_state_up, what an alert on a broken state (disk full, file gone, locked) looks at.
void state_answered(bool answered);
// tunnelmgr_build_info{version="<this build>"} 1
void build_info();

}  // namespace tunnelmgr::metrics
