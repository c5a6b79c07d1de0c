// The core, assembled from whichever plugins fill the slots: capability clients, the ingress
// strategy, target selection and the CNAME pipeline. Built once per process after the plugins start.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "core/cname_pipeline.hpp"
#include "core/metrics_probe.hpp"
#include "plugin_host/capability_clients.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"

namespace tunnelmgr::service {

struct core_services {
    std::unique_ptr<host::dns_provider_client> dns;
    std::unique_ptr<host::supervisor_client> supervisor;
    std::unique_ptr<host::runtime_client> runtime;
    std::unique_ptr<core::metrics_probe> probe;
    std::unique_ptr<core::ingress_strategy> ingress;
    std::unique_ptr<core::target_selector> targets;
    std::unique_ptr<core::cname_pipeline> pipeline;
    // projects.P.rate, enforced by the table of host calls (a project not named: the defaults).
    std::map<std::string, config::project_rate> project_rates;
};

core::result<std::unique_ptr<core_services>> build_core(const config::config& cfg, host::registry& plugins,
                                                        core::state_store& state);

}  // namespace tunnelmgr::service
