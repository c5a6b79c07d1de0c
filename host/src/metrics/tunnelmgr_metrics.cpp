// See tunnelmgr_metrics.hpp.
#include "metrics/tunnelmgr_metrics.hpp"

#ifndef TM_VERSION
#define TM_VERSION "0.0.0"
#endif

namespace tunnelmgr::metrics {
namespace {

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

void declare(registry& r) {
    r.add_gauge("tunnelmgr_tunnel_up", "1 when cloudflared runs and reports at least one ready connection, else 0.");
    r.add_gauge("tunnelmgr_tunnel_ready_connections", "cloudflared's readyConnections at the last health check.");
    r.add_counter("tunnelmgr_tunnel_restarts_total", "Restarts of cloudflared issued by the health loop.");
    r.add_histogram("tunnelmgr_health_check_duration_seconds",
                    "How long one health check took (supervisor status plus GET /ready).");
    r.add_gauge("tunnelmgr_cnames", "Hostnames published, per project.", {"project"});
    r.add_histogram("tunnelmgr_pipeline_step_duration_seconds",
                    "Duration of each CNAME pipeline step (kind create|delete).", {"kind", "step"});
    r.add_counter("tunnelmgr_pipeline_failures_total", "CNAME pipeline operations that failed, by the step that failed.",
                  {"kind", "step"});
    r.add_counter("tunnelmgr_cloudflare_api_calls_total",
                  "Calls to the dns plugin (the Cloudflare API) as the host sees them, by operation and result.",
                  {"op", "result"});
    r.add_counter("tunnelmgr_cloudflare_api_retries_total",
                  "dns plugin calls that came back retry or timeout: the plugin's own retries were used up.");
    r.add_gauge("tunnelmgr_drift_findings",
                "Drift the last reconcile found, by class (record_missing, rule_changed, target_moved, ...).", {"class"});
    r.add_counter("tunnelmgr_reconcile_runs_total",
                  "Reconcile runs, by result: clean, drift (some remains) or incomplete (a check could not run).",
                  {"result"});
    r.add_counter("tunnelmgr_reconcile_repairs_total", "Repairs reconcile made (repaired) or tried (failed).",
                  {"result"});
    r.add_gauge("tunnelmgr_reconcile_last_run_timestamp_seconds", "When the last reconcile run ended (Unix time).");
    r.add_counter("tunnelmgr_expired_total", "Hostnames removed because their ttl ran out (cname add --ttl).");
    r.add_counter("tunnelmgr_expiry_failures_total",
                  "Attempts to remove a hostname past its ttl that failed; it is tried again at the next pass.");
    r.add_gauge("tunnelmgr_lease_holder", "1 while this process holds the background lease and runs the loops.");
    r.add_gauge("tunnelmgr_state_up", "1 when the state store answered the daemon's last lease check, else 0.");
    r.add_gauge("tunnelmgr_build_info", "Always 1; the version is in the label.", {"version"});
}

}  // namespace

registry& global() {
    static registry* r = [] {
        auto* made = new registry();  // never destroyed: hooks may run during static teardown
        declare(*made);
        return made;
    }();
    return *r;
}

namespace {

class core_metrics_observer final : public core::core_observer {
public:
    void pipeline_step_done(std::string_view kind, std::string_view step, std::chrono::steady_clock::duration took) override {
        global().observe("tunnelmgr_pipeline_step_duration_seconds", {std::string(kind), std::string(step)}, seconds(took));
    }
    void pipeline_failed(std::string_view kind, std::string_view step) override {
        global().inc("tunnelmgr_pipeline_failures_total", {std::string(kind), std::string(step)});
    }
    void health_checked(std::chrono::steady_clock::duration took, std::string_view status, int ready_connections) override {
        auto& r = global();
        r.observe("tunnelmgr_health_check_duration_seconds", seconds(took));
        r.set("tunnelmgr_tunnel_up", status == "up" ? 1 : 0);
        r.set("tunnelmgr_tunnel_ready_connections", ready_connections);
    }
    void tunnel_restarted() override { global().inc("tunnelmgr_tunnel_restarts_total"); }
    void expiry_pass(int removed, int failed) override {
        if (removed > 0) global().inc("tunnelmgr_expired_total", {}, removed);
        if (failed > 0) global().inc("tunnelmgr_expiry_failures_total", {}, failed);
    }
    void reconciled(const std::vector<std::pair<std::string, int>>& per_class, int repaired, int repair_failed,
                    bool complete) override {
        auto& r = global();
        std::vector<std::pair<std::vector<std::string>, double>> rows;
        int remaining = 0;
        for (const auto& [cls, n] : per_class) {
            rows.push_back({{cls}, static_cast<double>(n)});
            remaining += n;
        }
        r.replace("tunnelmgr_drift_findings", rows);
        remaining -= repaired;
        r.inc("tunnelmgr_reconcile_runs_total", {!complete ? "incomplete" : remaining > 0 ? "drift" : "clean"});
        if (repaired > 0) r.inc("tunnelmgr_reconcile_repairs_total", {"repaired"}, repaired);
        if (repair_failed > 0) r.inc("tunnelmgr_reconcile_repairs_total", {"failed"}, repair_failed);
        r.set("tunnelmgr_reconcile_last_run_timestamp_seconds",
              std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    }
};

}  // namespace

core::core_observer& core_metrics() {
    static core_metrics_observer observer;
    return observer;
}

void cloudflare_call(const std::string& op, const std::string& result) {
    global().inc("tunnelmgr_cloudflare_api_calls_total", {op, result});
    if (result == "retry" || result == "timeout") global().inc("tunnelmgr_cloudflare_api_retries_total");
}

void cnames_per_project(const std::map<std::string, int>& counts) {
    std::vector<std::pair<std::vector<std::string>, double>> rows;
    for (const auto& [project, n] : counts) rows.push_back({{project}, static_cast<double>(n)});
    global().replace("tunnelmgr_cnames", rows);
}

void lease_holder(bool holding) { global().set("tunnelmgr_lease_holder", holding ? 1 : 0); }

void state_answered(bool answered) { global().set("tunnelmgr_state_up", answered ? 1 : 0); }

void build_info() { global().replace("tunnelmgr_build_info", {{{TM_VERSION}, 1.0}}); }

}  // namespace tunnelmgr::metrics
