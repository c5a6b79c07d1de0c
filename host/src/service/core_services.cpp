// See core_services.hpp.
#include "service/core_services.hpp"

#include "metrics/tunnelmgr_metrics.hpp"

#include <filesystem>

#include "core/batched_ingress.hpp"
#include "core/docker_targets.hpp"
#include "core/json.hpp"

namespace tunnelmgr::service {
namespace {

// The lock file that serialises writes to the tunnel's remote configuration: beside the state (as
// the ingress history is), since every process sharing the tunnel shares that folder and whoever
// runs tunnelmgr can write there (the store keeps its own files there; /var/lib/tunnelmgr when
// packaged). "" when the store names no file: then only the version check guards the writes.
std::string remote_ingress_lock(core::state_store& state, const std::string& tunnel_id) {
    auto stats = state.stats();
    auto doc = stats ? core::json::parse(*stats) : std::nullopt;
    std::string path = doc ? core::json::str(*doc, "path") : "";
    if (path.empty()) return "";
    return (std::filesystem::path(path).parent_path() / ("remote-ingress-" + tunnel_id + ".lock")).string();
}

}  // namespace

core::result<std::unique_ptr<core_services>> build_core(const config::config& cfg, host::registry& plugins,
                                                        core::state_store& state) {
    auto c = std::make_unique<core_services>();
    core::pipeline_settings settings;
    settings.tunnel_id = cfg.tunnel.id;
    for (const auto& [name, p] : cfg.projects) {
        settings.project_ports[name] = p.ports;
        settings.max_hostnames[name] = p.max_hostnames;
        settings.project_scopes[name] = core::project_scope{p.domains, p.name_prefix, p.name_suffix};
        c->project_rates[name] = p.rate;
    }
    c->reconcile.tunnel_id = cfg.tunnel.id;
    for (const auto& [name, p] : cfg.projects) c->reconcile.projects.insert(name);
    c->reconcile.policy = cfg.reconcile.repair == "repair" ? core::repair_policy::repair : core::repair_policy::report;
    settings.reserved_labels = {cfg.reserved_labels.begin(), cfg.reserved_labels.end()};
    settings.default_domain = cfg.tunnel.default_domain;
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
            c->ingress = core::make_remote_ingress(*c->dns, cfg.tunnel.id, remote_ingress_lock(state, cfg.tunnel.id));
        }
    } else {
        std::string backup = cfg.tunnel.backup_dir;
        if (backup.empty()) {
            // Beside the state, where the state store says it keeps it (a file-backed store's stats()
            // carry its "path"); the host does not read the store's private config keys.
            auto stats = state.stats();
            auto doc = stats ? core::json::parse(*stats) : std::nullopt;
            std::string path = doc ? core::json::str(*doc, "path") : "";
            if (!path.empty()) backup = (std::filesystem::path(path).parent_path() / "ingress-history").string();
        }
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
