// The core, assembled from whichever plugins fill the slots: capability clients, the ingress
// strategy, target selection and the CNAME pipeline. Built once per process after the plugins start.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "config/config.hpp"
#include "core/cname_pipeline.hpp"
#include "core/metrics_probe.hpp"
#include "core/one_writer.hpp"
#include "core/reconcile.hpp"
#include "plugin_host/capability_clients.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"

namespace tunnelmgr::service {

struct core_services {
    std::string machine;  // this machine's name among those sharing the state (config::machine_of)
    std::unique_ptr<host::dns_provider_client> dns;
    std::unique_ptr<host::supervisor_client> supervisor;
    std::unique_ptr<host::runtime_client> runtime;
    std::unique_ptr<core::metrics_probe> probe;
    std::unique_ptr<core::ingress_strategy> ingress;
    std::unique_ptr<core::target_selector> targets;
    std::unique_ptr<core::cname_pipeline> pipeline;
    // projects.P.rate, enforced by the table of host calls (a project not named: the defaults).
    std::map<std::string, config::project_rate> project_rates;
    // What reconcile compares against (tunnel id, the config's projects, reconcile.repair, the
    // runtime's topology).
    core::reconcile_settings reconcile;
    // One change at a time: every call the table marks `writes` (from any session or thread) and
    // the daemon's own reconcile hold it while they change DNS, ingress or cloudflared.
    core::one_writer writer;
    // Applies restarting cloudflared right now (the health loop leaves them alone).
    std::atomic<int> restarting{0};
};

// The lock file every process writing this tunnel's remote configuration holds, beside the state
// ("" when the store names no file), and the ingress history folder (tunnel.backup_dir, else beside
// the state; "" when neither): the same for the daemon, the CLI and `ingress migrate`.
std::string remote_ingress_lock_path(core::state_store& state, const std::string& tunnel_id);
std::string ingress_history_dir(const config::config& cfg, core::state_store& state);

// One reconcile run over this core's slots, as `who` (the caller holds `writer` when not dry_run
// and repairs are allowed). Reports its outcome to the metrics.
core::result<core::reconcile_report> reconcile_now(core_services& core, core::state_store& state,
                                                   const core::session& who, bool dry_run);

core::result<std::unique_ptr<core_services>> build_core(const config::config& cfg, host::registry& plugins,
                                                        core::state_store& state);

}  // namespace tunnelmgr::service
