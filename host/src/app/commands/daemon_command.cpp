// `tunnelmgr daemon`: the background loops in the foreground (for a systemd unit). Many tunnelmgr
// processes may share a machine; only the holder of the "background" lease runs the loops; another
// takes over the moment it stops (SIGTERM gives the lease back), or within one lease period if it
// dies without a word. The main thread sleeps in poll() on two descriptors — the signal pipe and
// the loops' wake eventfd — for exactly as long as the loops say nothing is due.
//
// Signals: SIGTERM/SIGINT stop (components in reverse order, then the lease is released); SIGHUP
// re-reads the config file (a bad one is refused with file:line and the running one kept).
// metrics.listen: a standby whose address is taken (by the leader, normally) keeps standing by and
// tries the address again at each lease check, so it serves metrics once the leader lets go.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "app/commands/commands.hpp"
#include "app/daemon_api.hpp"
#include "app/live_config.hpp"
#include "service/background_loops.hpp"
#include "service/core_services.hpp"
#include "core/json.hpp"
#include "core/tunnel_status.hpp"
#include "log/logger.hpp"
#include "metrics/http_server.hpp"
#include "metrics/tunnelmgr_metrics.hpp"
#include "sys/process_identity.hpp"
#include "sys/systemd_notify.hpp"


namespace tunnelmgr::app {
namespace {

// One job at a time on a thread of its own, joined when it goes away.
class background_worker {
public:
    background_worker() = default;
    background_worker(const background_worker&) = delete;
    background_worker& operator=(const background_worker&) = delete;
    ~background_worker() {
        if (t_.joinable()) t_.join();
    }
    // Starts fn unless the last one still runs.
    void start_unless_running(std::function<void()> fn) {
        if (running_.load()) return;
        if (t_.joinable()) t_.join();
        running_ = true;
        t_ = std::thread([this, fn = std::move(fn)] {
            fn();
            running_ = false;
        });
    }

private:
    std::thread t_;
    std::atomic<bool> running_{false};
};

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// SIGTERM, SIGINT and SIGHUP as bytes on a pipe: the handler only write()s (async-signal-safe),
// whichever thread the kernel picked, and the main loop reads them when poll() says so.
class signal_pipe {
public:
    signal_pipe() = default;
    ~signal_pipe() {
        for (auto& [sig, old] : previous_) ::sigaction(sig, &old, nullptr);
        if (fds_[0] >= 0) ::close(fds_[0]);
        if (fds_[1] >= 0) ::close(fds_[1]);
        write_end_.store(-1);
    }
    signal_pipe(const signal_pipe&) = delete;
    signal_pipe& operator=(const signal_pipe&) = delete;

    tl::expected<void, std::string> install() {
        if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) return tl::unexpected("cannot create the signal pipe: " + std::string(std::strerror(errno)));
        write_end_.store(fds_[1]);
        for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
            struct sigaction sa {};
            sa.sa_handler = on_signal;
            sa.sa_flags = SA_RESTART;
            sigemptyset(&sa.sa_mask);
            struct sigaction old {};
            if (::sigaction(sig, &sa, &old) != 0) return tl::unexpected("cannot handle signal " + std::to_string(sig));
            previous_[sig] = old;
        }
        return {};
    }
    int fd() const { return fds_[0]; }
    std::vector<int> drain() {
        std::vector<int> got;
        unsigned char b[16];
        for (ssize_t n; (n = ::read(fds_[0], b, sizeof b)) > 0;) got.insert(got.end(), b, b + n);
        return got;
    }

private:
    static void on_signal(int sig) {
        int saved = errno;
        int fd = write_end_.load();
        unsigned char b = static_cast<unsigned char>(sig);
        if (fd >= 0) {
            ssize_t ignored = ::write(fd, &b, 1);
            (void)ignored;
        }
        errno = saved;
    }
    static inline std::atomic<int> write_end_{-1};
    int fds_[2] = {-1, -1};
    std::map<int, struct sigaction> previous_;
};

core::health_policy policy_of(const config::health_settings& h) {
    core::health_policy p;
    p.interval = h.interval;
    p.strikes = h.strikes;
    p.backoff = h.backoff;
    return p;
}

// tunnelmgr's own Prometheus metrics (metrics.listen). Gauges that are cheaper to read than to
// track (hostnames per project) are refreshed per scrape. An address in use is retried after each
// pass of the loops instead of ending the daemon (see the top of this file).
class metrics_endpoint {
public:
    metrics_endpoint(app_state& s, const live_config& live) : s_(s), live_(live) {}

    run_result start() {
        const auto& listen = live_.current()->metrics.listen;
        if (listen.empty()) return run_result::proceed();
        auto where = sys::parse_listen_address(listen);
        if (!where) return run_result::fatal("metrics.listen: " + where.error(), 2);
        where_ = *where;
        metrics::build_info();
        server_ = std::make_unique<metrics::http_server>(metrics::global(), [this] { refresh_gauges(); });
        if (auto started = server_->start(*where_); !started) {
            if (!server_->address_in_use()) return run_result::fatal(started.error(), 2);
            log::warn("daemon", "metrics.listen " + where_->text() + " is in use (by the daemon holding the lease?): "
                                "serving metrics as soon as it is free, trying again at each lease check");
            return run_result::proceed();
        }
        said_serving();
        return run_result::proceed();
    }
    void retry() {
        if (!server_ || server_->running()) return;
        if (server_->start(*where_)) said_serving();
    }
    void stop() {
        if (server_) server_->stop();
    }

private:
    void said_serving() { log::info("daemon", "metrics at http://" + server_->address().text() + "/metrics"); }
    // One indexed count per configured project (cname_count), not every row per scrape: a scrape costs
    // the same at 100 names as at 100,000. Names of projects gone from the config are not counted here
    // (reconcile reports them as project_removed).
    void refresh_gauges() {
        std::map<std::string, int> per_project;
        for (const auto& [name, p] : live_.current()->projects) {
            core::json::object f;
            f.set("project", name);
            auto n = s_.state->cname_count(f.str());
            if (!n) return;  // keep the last known counts
            per_project[name] = static_cast<int>(*n);
        }
        metrics::cnames_per_project(per_project);
    }

    app_state& s_;
    const live_config& live_;
    std::optional<sys::listen_address> where_;
    std::unique_ptr<metrics::http_server> server_;
};

// Something the daemon runs beside the loops: started after them in list order, stopped before
// them in reverse order; after_pass runs on the main thread after each pass of the loops.
struct component {
    const char* name;
    std::function<run_result()> start;
    std::function<void()> stop;
    std::function<void()> after_pass = {};
};

}  // namespace

run_result cmd_daemon(app_state& s) {
    for (const auto& a : s.opts.args) {
        if (a != "--once") return run_result::fatal("daemon: unknown argument '" + a + "' (only --once, for tests)", 2);
    }
    bool once = !s.opts.args.empty();
    signal_pipe signals;
    if (auto installed = signals.install(); !installed) return run_result::fatal(installed.error(), 1);
    live_config live(s.cfg);
    // Declared before the loops so it outlives them (the loops call it with status changes).
    std::unique_ptr<daemon_api> api;
    auto& core = *s.core;
    // A change answers before git runs: the ingress history is written by a worker, several changes
    // to a commit when they come close together.
    if (core.ingress) core.ingress->write_history_after_reply();

    // --- 1. the loops: built here, first pass after every component is up.
    service::background_loops loops(core, *s.state, s.cfg.tunnel.id, policy_of(s.cfg.health), sys::self_identity(), now_ms);
    loops.follow_events(s.services);
    // Drift is looked for every reconcile.interval by the lease holder; repairs (reconcile.repair:
    // repair) take the one-writer lock, and never wait for it on the loops' thread.
    std::string last_drift;  // said at warn when it changes, at debug while it stays the same
    loops.set_reconcile(s.cfg.reconcile.interval, [&s, &core, &last_drift] {
        std::unique_lock<core::one_writer> one_writer(core.writer, std::try_to_lock);
        if (!one_writer.owns_lock()) return false;
        auto report = service::reconcile_now(core, *s.state, core::session::admin_session("daemon"), false);
        if (!report) {
            log::warn("reconcile", report.error().message);
            return true;
        }
        int repaired = 0;
        std::map<std::string, int> kinds;
        for (const auto& f : report->findings) {
            ++kinds[core::drift_class_name(f.kind)];
            repaired += f.action == "repaired" ? 1 : 0;
        }
        std::string summary;
        for (const auto& [k, n] : kinds) summary += (summary.empty() ? "" : ", ") + std::to_string(n) + " " + k;
        std::string said = report->findings.empty()
                               ? "no drift"
                               : "drift: " + summary + "; " + std::to_string(repaired) +
                                     " repaired (tunnelmgr reconcile --dry-run lists it)";
        if (said != last_drift && !report->findings.empty()) {
            log::warn("reconcile", said);
        } else if (said != last_drift) {
            log::info("reconcile", said);
        } else {
            log::debug("reconcile", said);
        }
        last_drift = said;
        for (const auto& p : report->problems) log::warn("reconcile", "not checked: " + p);
        return true;
    });
    // Expired names (cname add --ttl) are deleted through the pipeline as any deletion is, on a thread
    // of their own, since each may restart cloudflared and the health loop must not wait for that.
    // The pass runs as often as the health check, at least every 15 s; names past their time while no
    // daemon ran go at the first pass.
    background_worker expiry;
    loops.set_job("expiry", std::min<std::chrono::milliseconds>(s.cfg.health.interval, std::chrono::seconds(15)),
                  [&core, &expiry] {
                      expiry.start_unless_running([&core] {
                          std::lock_guard<core::one_writer> one_writer(core.writer);
                          auto removed = core.pipeline->remove_expired(now_ms());
                          if (!removed) log::warn("expiry", removed.error().message);
                      });
                      return true;
                  });
    live.on_reload([&s, &loops](const config::config& c) {
        loops.set_health_policy(policy_of(c.health));
        // --log-level on the command line wins over the file, as at start-up.
        if (s.opts.log_level.empty()) {
            log::level l = log::level::info;
            if (c.log_level.empty() || log::parse_level(c.log_level, l)) log::logger::instance().set_level(l);
        }
    });

    // --- 2. the components, in start order. Add one by appending: it starts after the loops
    // exist and stops before they release the lease.
    metrics_endpoint metrics_http(s, live);
    std::vector<component> components;
    components.push_back({"metrics", [&] { return metrics_http.start(); }, [&] { metrics_http.stop(); },
                          [&] { metrics_http.retry(); }});
    // The API socket (api.socket): every MCP session and CLI call of the machine, through this daemon,
    // with its projects and tokens as of the last reload. A standby finds it served and tries again
    // after each pass; status changes are pushed to subscribed sessions.
    if (!once) {
        api = std::make_unique<daemon_api>(s, [&live] { return live.current(); });
        components.push_back({"api",
                              [&] {
                                  loops.on_status_change([&api](const std::string& tunnel) { api->publish_status(tunnel); });
                                  api->try_serve();
                                  return run_result::proceed();
                              },
                              [&] { api->stop(); },  // calls in flight finish first
                              [&] {
                                  api->try_serve();
                                  api->flush_refusals();
                              }});
    }

    size_t started = 0;
    auto stop_components = [&] {
        while (started > 0) components[--started].stop();
    };
    for (auto& c : components) {
        run_result r = c.start();
        if (r.what != run_result::kind::proceed) {
            stop_components();
            return r;
        }
        ++started;
    }

    // --- 3. run until a signal says stop.
    log::info("daemon", "started; health every " + std::to_string(s.cfg.health.interval.count() / 1000) + " s");
    // Under systemd (Type=notify): ready once the plugins are up and the components started; then
    // a watchdog ping at half the unit's WatchdogSec, so a hung loop gets restarted.
    const auto watchdog_usec = sys::systemd_watchdog_interval();
    const bool watchdog = watchdog_usec.count() > 0;
    auto watchdog_every = std::chrono::duration_cast<std::chrono::milliseconds>(watchdog_usec / 2);
    sys::notify_systemd("READY=1\nSTATUS=running the background loops");
    auto wait = loops.run_once();
    bool stop = once;
    while (!stop) {
        for (auto& c : components) {
            if (c.after_pass) c.after_pass();
        }
        if (watchdog) sys::notify_systemd("WATCHDOG=1");
        if (watchdog && watchdog_every.count() > 0) wait = std::min(wait, watchdog_every);
        pollfd fds[2] = {{signals.fd(), POLLIN, 0}, {loops.wake_fd(), POLLIN, 0}};
        int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(wait.count(), 24LL * 3600 * 1000)));
        if (n < 0 && errno != EINTR) {
            log::error("daemon", std::string("poll failed: ") + std::strerror(errno));
            break;
        }
        if (n > 0 && (fds[0].revents & POLLIN) != 0) {
            for (int sig : signals.drain()) {
                if (sig == SIGHUP) {
                    log::info("config", "SIGHUP: reading " + live.current()->source + " again");
                    if (auto r = live.reload(); !r) {
                        log::error("config", "the config was not reloaded, the running one stays: " + r.error());
                    } else {
                        log::info("config", "reloaded " + live.current()->source);
                    }
                } else {
                    log::info("daemon", std::string("stopping on ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
                    stop = true;
                }
            }
            if (stop) break;
        }
        if (n > 0 && (fds[1].revents & POLLIN) != 0) loops.drain_wake();
        wait = loops.run_due();
    }

    // --- 4. teardown: components newest first, then the lease, so a standby takes over at once.
    sys::notify_systemd("STOPPING=1");
    stop_components();
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
    out.set("cnames", cname_total).set("machine", s.cfg.machine);
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
        std::printf("machine:     %s\n", s.cfg.machine.c_str());
    }
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
