// tunnelmgr's own metric families in one process-wide registry, and the one-line hooks the core,
// the plugin clients and the daemon call. Cheap when nobody scrapes: a map update under a mutex.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "metrics/registry.hpp"

namespace tunnelmgr::metrics {

// The process-wide registry, every tunnelmgr_* family declared (so each HELP/TYPE shows from the start).
registry& global();

// Times one pipeline operation's steps: done(step) records the time since the previous mark under
// tunnelmgr_pipeline_step_duration_seconds{kind,step}; failed(step) counts tunnelmgr_pipeline_failures_total.
class step_clock {
public:
    explicit step_clock(std::string kind) : kind_(std::move(kind)), mark_(std::chrono::steady_clock::now()) {}
    void done(const std::string& step);
    void failed(const std::string& step);

private:
    std::string kind_;
    std::chrono::steady_clock::time_point mark_;
};

// One health check: its latency and what it found.
void health_checked(std::chrono::steady_clock::duration took, const std::string& status, int ready_connections);
void tunnel_restarted();
// A call through the dns slot as the host sees it: result is "ok" or an error kind (not_found,
// conflict, retry, timeout, denied, invalid, error). The plugin retries inside; a call that comes
// back `retry` or `timeout` (the plugin gave up on a soft error) is counted as a retry the host sees.
void cloudflare_call(const std::string& op, const std::string& result);
void cnames_per_project(const std::map<std::string, int>& counts);
void lease_holder(bool holding);
// tunnelmgr_build_info{version="<this build>"} 1
void build_info();

}  // namespace tunnelmgr::metrics
