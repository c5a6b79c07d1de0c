// See core_services.hpp.
#include "service/core_services.hpp"

#include "metrics/tunnelmgr_metrics.hpp"

#include <filesystem>

#include "core/batched_ingress.hpp"
#include "core/docker_targets.hpp"
#include "core/json.hpp"

namespace tunnelmgr::service {
namespace {

// The folder the state store keeps its file in, as its stats() report it: every process sharing the
// tunnel shares it, and whoever runs tunnelmgr can write there. A store with no file on this machine
// (postgres-state) names none: then the folder the embedded default would keep its file in.
std::string state_folder(core::state_store& state) {
    auto stats = state.stats();
    auto doc = stats ? core::json::parse(*stats) : std::nullopt;
    std::string path = doc ? core::json::str(*doc, "path") : "";
    if (path.empty() && stats) path = config::default_state_path();
    return path.empty() ? "" : std::filesystem::path(path).parent_path().string();
}

}  // namespace

std::string remote_ingress_lock_path(core::state_store& state, const std::string& tunnel_id) {
    const std::string folder = state_folder(state);
    return folder.empty() ? "" : (std::filesystem::path(folder) / ("remote-ingress-" + tunnel_id + ".lock")).string();
}

std::string ingress_history_dir(const config::config& cfg, core::state_store& state) {
    if (!cfg.tunnel.backup_dir.empty()) return cfg.tunnel.backup_dir;
    const std::string folder = state_folder(state);
    return folder.empty() ? "" : (std::filesystem::path(folder) / "ingress-history").string();
}

core::result<std::unique_ptr<core_services>> build_core(const config::config& cfg, host::registry& plugins,
                                                        core::state_store& state) {
    auto c = std::make_unique<core_services>();
    core::pipeline_settings settings;
    settings.tunnel_id = cfg.tunnel.id;
    for (const auto& [name, p] : cfg.projects) {
        settings.project_ports[name] = p.ports;
        settings.max_hostnames[name] = p.max_hostnames;
        settings.project_scopes[name] = core::project_scope{p.domains, p.name_prefix, p.name_suffix};
        settings.project_machines[name] = {p.machines.begin(), p.machines.end()};
        c->project_rates[name] = p.rate;
    }
    settings.machine = cfg.machine;
    c->machine = cfg.machine;
    c->reconcile.tunnel_id = cfg.tunnel.id;
    c->reconcile.machine = cfg.machine;
    for (const auto& [name, p] : cfg.projects) c->reconcile.projects.insert(name);
    c->reconcile.policy = cfg.reconcile.repair == "repair" ? core::repair_policy::repair : core::repair_policy::report;
    settings.reserved_labels = {cfg.reserved_labels.begin(), cfg.reserved_labels.end()};
    settings.default_domain = cfg.tunnel.default_domain;
    settings.dns_configured = cfg.find_slot("dns") != nullptr;
    if (auto* inst = plugins.find("dns")) c->dns = std::make_unique<host::dns_provider_client>(*inst);
    if (auto* inst = plugins.find("supervisor")) c->supervisor = std::make_unique<host::supervisor_client>(*inst);
    if (auto* inst = plugins.find("runtime")) c->runtime = std::make_unique<host::runtime_client>(*inst);
    c->probe = std::make_unique<core::metrics_probe>(cfg.tunnel.metrics);

    if (cfg.tunnel.ingress == "remote") {
        if (c->dns) {
            if (!c->dns->supports_tunnel_config()) {
                return core::fail(core::errc::invalid, "tunnel.ingress is `remote` but the dns plugin cannot manage remote "
                                                       "tunnel configuration: use `local` or another dns plugin");
            }
            c->ingress = core::make_remote_ingress(*c->dns, cfg.tunnel.id, remote_ingress_lock_path(state, cfg.tunnel.id));
        }
    } else {
        // Beside the state unless set, where the state store says it keeps it (a file-backed store's
        // stats() carry its "path"); the host does not read the store's private config keys.
        const std::string backup = ingress_history_dir(cfg, state);
        core::apply_timing timing;
        timing.ready_timeout = cfg.tunnel.ready_timeout;
        timing.restarting = &c->restarting;
        c->ingress = core::make_local_ingress(cfg.tunnel.config_file, backup, c->supervisor.get(), c->probe.get(), timing,
                                               cfg.tunnel.history_keep, core::cloudflared_check(cfg.tunnel.cloudflared_bin));
        if (cfg.tunnel.apply_delay.count() > 0) {
            // Each restart drops every connection: changes close together share one.
            c->ingress = std::make_unique<core::batched_ingress>(std::move(c->ingress), cfg.tunnel.apply_delay, &c->writer);
        }
    }
    if (c->runtime) {
        auto* runtime = c->runtime.get();
        c->targets = std::make_unique<core::docker_target_selector>([runtime] { return runtime->snapshot(); },
                                                                    [&state] { return state.docker_snapshot_get(); });
        c->reconcile.topology = [runtime] { return runtime->snapshot(); };
    } else {
        c->targets = std::make_unique<core::host_target_selector>();
    }
    c->pipeline = std::make_unique<core::cname_pipeline>(state, c->dns.get(), c->ingress.get(), *c->targets, settings);
    c->pipeline->observe_with(metrics::core_metrics());
    return c;
}

core::result<core::reconcile_report> reconcile_now(core_services& core, core::state_store& state,
                                                   const core::session& who, bool dry_run) {
    core::reconciler rec(state, core.dns.get(), core.ingress.get(), core.reconcile);
    rec.observe_with(metrics::core_metrics());
    return rec.run(who, dry_run);
}

}  // namespace tunnelmgr::service
