// `tunnelmgr daemon`: the background loops in the foreground (for a systemd unit). Many tunnelmgr
// processes may share a machine; only the holder of the "background" lease runs the loops, and
// another takes over within one lease period when it stops.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include "app/commands/commands.hpp"
#include "service/background_loops.hpp"
#include "service/core_services.hpp"
#include "core/json.hpp"
#include "core/tunnel_status.hpp"
#include "log/logger.hpp"
#include "metrics/http_server.hpp"
#include "metrics/tunnelmgr_metrics.hpp"
#include "sys/process_identity.hpp"

#include <systemd/sd-daemon.h>

namespace tunnelmgr::app {
namespace {

std::atomic<bool> g_stop{false};
std::mutex g_mutex;
std::condition_variable g_cv;

void on_signal(int) { g_stop.store(true); }

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Sleeps up to `d`, returning early when asked to stop.
void nap(std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (!g_stop.load() && std::chrono::steady_clock::now() < until) {
        std::unique_lock<std::mutex> lock(g_mutex);
        g_cv.wait_for(lock, std::min<std::chrono::steady_clock::duration>(until - std::chrono::steady_clock::now(),
                                                                           std::chrono::milliseconds(200)));
    }
}

}  // namespace

run_result cmd_daemon(app_state& s) {
    for (const auto& a : s.opts.args) {
        if (a != "--once") return run_result::fatal("daemon: unknown argument '" + a + "' (only --once, for tests)", 2);
    }
    bool once = !s.opts.args.empty();
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    auto& core = *s.core;
    // --- tunnelmgr's own Prometheus metrics (metrics.listen), served until this function returns.
    // Gauges that are cheaper to read than to track (hostnames per project) are refreshed per scrape.
    std::unique_ptr<metrics::http_server> metrics_server;
    if (!s.cfg.metrics.listen.empty()) {
        auto where = sys::parse_listen_address(s.cfg.metrics.listen);
        if (!where) return run_result::fatal("metrics.listen: " + where.error(), 2);
        metrics::build_info();
        metrics_server = std::make_unique<metrics::http_server>(metrics::global(), [&s] {
            std::map<std::string, int> per_project;
            for (const auto& [name, p] : s.cfg.projects) per_project[name] = 0;
            auto rows = s.state->cname_list("{}");
            auto doc = rows ? core::json::parse(*rows) : std::nullopt;
            if (!doc || !doc->IsArray()) return;  // keep the last known counts
            for (const auto& r : doc->GetArray()) ++per_project[core::json::str(r, "project")];
            metrics::cnames_per_project(per_project);
        });
        if (auto started = metrics_server->start(*where); !started) return run_result::fatal(started.error(), 2);
        log::info("daemon", "metrics at http://" + metrics_server->address().text() + "/metrics");
    }
    // ---
    core::health_policy policy;
    policy.interval = s.cfg.health.interval;
    policy.strikes = s.cfg.health.strikes;
    policy.backoff = s.cfg.health.backoff;
    service::background_loops loops(core, *s.state, s.cfg.tunnel.id, policy, sys::self_identity(), now_ms);
    log::info("daemon", "started; health every " + std::to_string(policy.interval.count() / 1000) + " s");
    // Under systemd (Type=notify): ready once the plugins are up and recovery has run; then a
    // watchdog ping at half the unit's WatchdogSec from the loop, so a hung loop gets restarted.
    uint64_t watchdog_usec = 0;
    bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
    auto watchdog_every = std::chrono::milliseconds(watchdog ? static_cast<int64_t>(watchdog_usec / 2000) : 0);
    sd_notify(0, "READY=1\nSTATUS=running the background loops");
    while (!g_stop.load()) {
        auto wait = loops.run_once();
        if (watchdog) sd_notify(0, "WATCHDOG=1");
        if (once) break;
        if (watchdog && watchdog_every.count() > 0) wait = std::min(wait, watchdog_every);
        nap(wait);
    }
    sd_notify(0, "STOPPING=1");
    loops.release();
    log::info("daemon", "stopped");
    return run_result::proceed();
}

run_result cmd_status(app_state& s) {
    bool json = false;
    for (const auto& a : s.opts.args) {
        if (a == "--json") {
            json = true;
        } else {
            return run_result::fatal("status: unknown argument '" + a + "' (only --json)", 2);
        }
    }
    auto& core = *s.core;
    core::json::object out;
    std::optional<bool> running;
    core::result<sdk::model::supervisor_status> sup = core::fail(core::errc::invalid, "no supervisor configured");
    if (core.supervisor) {
        sup = core.supervisor->status();
        if (sup) running = sup->running;
    }
    auto n = core.probe->ready_connections();
    std::string tunnel = core::tunnel_status_of(running, n);
    out.set("tunnel", tunnel).set("ready_connections", n ? *n : 0).set("metrics", core.probe->address());
    if (!n) out.set("probe_error", n.error().message);
    if (core.supervisor) {
        if (sup) {
            out.set_raw("supervisor", sdk::model::encode(*sup));
        } else {
            out.set("supervisor_error", sup.error().message);
        }
    }
    auto hist = s.state->health_history("{\"limit\":1}");
    if (hist) {
        auto d = core::json::parse(*hist);
        if (d && d->IsArray() && !d->Empty()) out.set_raw("last_recorded", core::json::to_string((*d)[0]));
    }
    auto cn = s.state->cname_count("{}");
    int64_t cname_total = cn ? *cn : 0;
    out.set("cnames", cname_total);
    if (json) {
        std::printf("%s\n", out.str().c_str());
    } else {
        std::printf("tunnel:      %s (%d ready connections, metrics %s)\n", tunnel.c_str(), n ? *n : 0,
                    core.probe->address().c_str());
        if (!n) std::printf("             %s\n", n.error().message.c_str());
        if (!core.supervisor) {
            std::printf("process:     no supervisor configured\n");
        } else if (!sup) {
            std::printf("process:     unknown: %s\n", sup.error().message.c_str());
        } else if (!sup->running) {
            std::printf("process:     unknown: %s\n", sup->detail.c_str());
        } else {
            std::printf("process:     %s (%s)\n", *sup->running ? "running" : "not running", sup->state.c_str());
        }
        std::printf("hostnames:   %lld published\n", static_cast<long long>(cname_total));
    }
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
