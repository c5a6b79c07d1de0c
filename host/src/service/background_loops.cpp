// See background_loops.hpp.
#include "service/background_loops.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <tunnelmgr/sdk/model.hpp>

#include "core/json.hpp"
#include "log/logger.hpp"
#include "metrics/tunnelmgr_metrics.hpp"
#include "sys/sha256.hpp"

namespace tunnelmgr::service {

// How a standby hears the leader go at once, even when it was killed: the leader listens on an
// abstract unix socket named after the state store, each standby keeps a connection to it and
// polls it, and the kernel closes that connection the moment the leader's process ends. The cue
// only makes the standby try the lease now; the lease in the state store stays the only authority,
// so a squatter on the name or a missing socket costs nothing but the wait for the next renewal.
class background_loops::takeover_beacon {
public:
    takeover_beacon(std::string name, std::function<void()> on_leader_gone)
        : name_(std::move(name)), leader_gone_(std::move(on_leader_gone)) {
        wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_fd_ >= 0) thread_ = std::thread([this] { run(); });
    }
    ~takeover_beacon() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        poke();
        if (thread_.joinable()) thread_.join();
        if (wake_fd_ >= 0) ::close(wake_fd_);
    }
    // Leading: listen for standbys. Standing by: connect to the leader if not connected (each
    // standby pass calls it, so a new leader is found at the next renewal).
    void set_leading(bool leading) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            leading_ = leading;
        }
        poke();
    }

private:
    static bool closed_by_peer(int fd) {
        char b;
        ssize_t n = ::recv(fd, &b, 1, MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
    void poke() {
        if (wake_fd_ < 0) return;
        uint64_t one = 1;
        ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
        (void)ignored;
    }
    sockaddr_un address(socklen_t& len) const {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        // Abstract namespace: a leading NUL, no file to clean up after a crash.
        std::memcpy(a.sun_path + 1, name_.data(), std::min(name_.size(), sizeof a.sun_path - 2));
        len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + std::min(name_.size(), sizeof a.sun_path - 2));
        return a;
    }
    int listen_now() const {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        socklen_t len = 0;
        auto a = address(len);
        if (fd >= 0 && ::bind(fd, reinterpret_cast<const sockaddr*>(&a), len) == 0 && ::listen(fd, 16) == 0) return fd;
        if (fd >= 0) ::close(fd);
        return -1;
    }
    int connect_now() const {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);  // a full backlog: EAGAIN, never a wait
        socklen_t len = 0;
        auto a = address(len);
        if (fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&a), len) == 0) return fd;
        if (fd >= 0) ::close(fd);
        return -1;
    }
    void run() {
        int listen_fd = -1, leader_fd = -1;
        std::vector<int> standbys;
        auto close_all = [&] {
            if (listen_fd >= 0) ::close(listen_fd);
            if (leader_fd >= 0) ::close(leader_fd);
            for (int fd : standbys) ::close(fd);
            listen_fd = leader_fd = -1;
            standbys.clear();
        };
        std::optional<bool> mode;
        for (;;) {
            bool leading;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (stopping_) break;
                leading = leading_;
            }
            if (mode != leading) {
                close_all();
                mode = leading;
            }
            if (leading && listen_fd < 0) listen_fd = listen_now();
            if (!leading && leader_fd < 0) leader_fd = connect_now();
            std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}, {listen_fd, POLLIN, 0}, {leader_fd, POLLIN, 0}};
            for (int fd : standbys) fds.push_back({fd, POLLIN, 0});
            if (::poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;
                break;
            }
            if ((fds[0].revents & POLLIN) != 0) {
                uint64_t n;
                ssize_t ignored = ::read(wake_fd_, &n, sizeof n);
                (void)ignored;
            }
            if (listen_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
                for (int fd; (fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0;) {
                    standbys.push_back(fd);
                }
            }
            if (leader_fd >= 0 && fds[2].revents != 0) {
                if (closed_by_peer(leader_fd)) {  // the leader's process is gone
                    ::close(leader_fd);
                    leader_fd = -1;
                    leader_gone_();
                    continue;  // reconnects at once if a new leader listens, else at the next standby pass
                }
            }
            for (size_t i = 3; i < fds.size(); ++i) {
                if (fds[i].revents == 0) continue;
                if (closed_by_peer(fds[i].fd)) {  // that standby went away
                    ::close(fds[i].fd);
                    standbys.erase(std::find(standbys.begin(), standbys.end(), fds[i].fd));
                }
            }
        }
        close_all();
    }

    std::string name_;
    std::function<void()> leader_gone_;
    int wake_fd_ = -1;
    std::mutex mutex_;
    bool leading_ = false, stopping_ = false;
    std::thread thread_;
};

namespace {

// Where the beacon listens: one name per state store (the lease lives there), from the store's
// own report of its path. A store with no file here (postgres-state, shared by several machines,
// each with its own lease) is named by this machine's tunnel. Empty when neither is known (no beacon).
std::string beacon_name(core::state_store& state, const std::string& tunnel_id) {
    auto stats = state.stats();
    auto doc = stats ? core::json::parse(*stats) : std::nullopt;
    std::string path = doc ? core::json::str(*doc, "path") : "";
    if (path.empty() && stats && !tunnel_id.empty()) path = "tunnel:" + tunnel_id;
    if (path.empty()) return {};
    return "tunnelmgr/lease/" + sys::sha256_hex(path).substr(0, 32);
}

}  // namespace

background_loops::background_loops(core_services& core, core::state_store& state, std::string tunnel_id,
                                   core::health_policy policy, std::string holder, clock_fn now,
                                   refresh_schedule schedule)
    : core_(core),
      state_(state),
      tunnel_id_(std::move(tunnel_id)),
      holder_(std::move(holder)),
      now_(std::move(now)),
      schedule_(schedule),
      health_(core.supervisor.get(), *core.probe, state, policy, now_,
              [this](const std::string& type, const std::string&) {
                  log::debug("daemon", "event " + type);
                  if (type == "tunnel.status") publish_status();
              }),
      interval_(policy.interval),
      // Three missed renewals before a standby takes over; never under 3 s, so a busy machine's
      // scheduling hiccup does not hand the loops back and forth.
      lease_ttl_(std::max<std::chrono::milliseconds>(policy.interval * 3, std::chrono::seconds(3))) {
    health_.observe_with(metrics::core_metrics());
    health_.leave_restarts_to(&core.restarting);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) log::warn("daemon", std::string("cannot create an eventfd: ") + std::strerror(errno));
    if (auto name = beacon_name(state_, tunnel_id_); !name.empty()) {
        beacon_ = std::make_unique<takeover_beacon>(name, [this] {
            takeover_.store(true);
            wake();
        });
    }
}

background_loops::~background_loops() {
    if (services_ != nullptr) services_->remove_event_handler(event_handler_id_);
    beacon_.reset();
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

void background_loops::wake() {
    if (wake_fd_ < 0) return;
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
    (void)ignored;
}

void background_loops::drain_wake() {
    if (wake_fd_ < 0) return;
    uint64_t n;
    ssize_t ignored = ::read(wake_fd_, &n, sizeof n);
    (void)ignored;
}

void background_loops::on_event(const std::string& source, const std::string& type, const std::string&) {
    if (type == "tunnel.died") {
        died_.store(true);
    } else if (type == "tunnel.started") {
        started_.store(true);
    } else if (type.rfind("container.", 0) == 0 || type.rfind("network.", 0) == 0) {
        docker_changed_.store(true);
    } else {
        log::debug("daemon", "event " + type + " from " + source + ": nothing to do");
        return;
    }
    wake();
}

void background_loops::follow_events(host::host_services& services) {
    if (services_ != nullptr) return;
    services_ = &services;
    event_handler_id_ = services.add_event_handler(
        [this](const std::string& source, const std::string& type, const std::string& json) { on_event(source, type, json); });
}

void background_loops::on_status_change(status_fn cb) {
    std::lock_guard<std::mutex> lock(shared_mutex_);
    status_listeners_.push_back(std::move(cb));
}

void background_loops::set_health_policy(core::health_policy policy) {
    {
        std::lock_guard<std::mutex> lock(shared_mutex_);
        pending_policy_ = std::move(policy);
    }
    wake();
}

std::string background_loops::status_json(int64_t now) const {
    const auto& s = health_.snapshot();
    core::json::object o;
    o.set("status", s.status).set("ready_connections", s.ready_connections).set("last_error", s.last_error);
    o.set("metrics", core_.probe ? core_.probe->address() : std::string());
    o.set("restart_count", s.restart_count).set("uptime_s", s.up_since_ms > 0 ? (now - s.up_since_ms) / 1000 : 0);
    o.set("checked_ms", now);
    return o.str();
}

void background_loops::publish_status() {
    std::vector<status_fn> listeners;
    {
        std::lock_guard<std::mutex> lock(shared_mutex_);
        listeners = status_listeners_;
    }
    if (listeners.empty()) return;
    auto json = status_json(now_());
    for (auto& cb : listeners) cb(json);
}

std::chrono::milliseconds background_loops::run_once() { return pass(true); }

std::chrono::milliseconds background_loops::run_due() { return pass(false); }

void background_loops::renew_lease(int64_t now) {
    auto got = state_.lease_acquire("background", holder_, lease_ttl_.count());
    // A state store that does not answer (a database server away) decides nothing: the leader keeps
    // the loops running, so cloudflared stays watched, and the lease decides again once it answers.
    bool now_leading = got ? *got : leading_;
    if (now_leading != leading_ || !announced_) {
        announced_ = true;
        log::info("daemon", now_leading ? "holding the background lease: running the loops"
                                        : "another tunnelmgr holds the background lease: standing by");
        bool was = leading_;
        leading_ = now_leading;
        if (leading_ && !was) became_leader();
        if (!leading_ && was) stopped_leading();
    }
    if (!got) {
        log::warn("daemon", std::string(leading_ ? "cannot renew the lease (the loops keep running): "
                                                 : "cannot take the lease: ") + got.error().message);
    }
    metrics::state_answered(static_cast<bool>(got));
    metrics::lease_holder(leading_);
    if (beacon_) beacon_->set_leading(leading_);
    next_lease_ = now + interval_.count();
}

void background_loops::became_leader() {
    // Events first, then a check: nothing that happens from here on goes unnoticed.
    if (core_.supervisor && core_.supervisor->can_watch()) {
        auto w = core_.supervisor->watch_start();
        supervisor_watching_ = static_cast<bool>(w);
        if (!w) log::info("daemon", "no supervisor events (" + w.error().message + ")");
    }
    if (core_.runtime && core_.runtime->can_watch()) {
        auto w = core_.runtime->watch_start();
        runtime_watching_ = static_cast<bool>(w);
        if (!w) log::info("daemon", "no Docker events (" + w.error().message + "); the snapshot refreshes every " +
                                        std::to_string(schedule_.docker.count() / 1000) + " s");
    }
    next_check_ = 0;
    for (auto& j : jobs_) j.schedule(true, now_());
}

void background_loops::set_job(const std::string& name, std::chrono::milliseconds every, std::function<bool()> run) {
    auto it = std::find_if(jobs_.begin(), jobs_.end(), [&](const periodic_job& j) { return j.name == name; });
    if (it == jobs_.end()) it = jobs_.insert(jobs_.end(), periodic_job{name, {}, {}, 0});
    it->every = every;
    it->run = std::move(run);
    it->schedule(leading_, now_());
}

void background_loops::stopped_leading() {
    for (auto& j : jobs_) j.next = 0;
    if (supervisor_watching_) (void)core_.supervisor->watch_stop();
    if (runtime_watching_) (void)core_.runtime->watch_stop();
    supervisor_watching_ = runtime_watching_ = false;
}

void background_loops::check_tunnel(int64_t now, core::check_trigger why) {
    if (tunnel_id_.empty()) {
        // Nothing to watch yet: say so once rather than report a tunnel nobody configured as down.
        if (!said_no_tunnel_) log::warn("daemon", "tunnel.id is not set: the health loop is idle until a tunnel is configured");
        said_no_tunnel_ = true;
        next_check_ = now + interval_.count();
        return;
    }
    next_check_ = now + health_.check_once(why).count();
}

std::chrono::milliseconds background_loops::pass(bool full) {
    int64_t now = now_();
    {
        std::lock_guard<std::mutex> lock(shared_mutex_);
        if (pending_policy_) {
            health_.set_policy(*pending_policy_);
            interval_ = pending_policy_->interval;
            lease_ttl_ = std::max<std::chrono::milliseconds>(interval_ * 3, std::chrono::seconds(3));
            log::info("daemon", "health policy now: every " + std::to_string(interval_.count()) + " ms, " +
                                    std::to_string(health_.policy().strikes) + " strikes");
            pending_policy_.reset();
            next_check_ = std::min(next_check_, now + interval_.count());
            next_lease_ = std::min(next_lease_, now + interval_.count());
        }
    }
    bool died = died_.exchange(false);
    bool started = started_.exchange(false);
    bool docker_changed = docker_changed_.exchange(false);
    bool takeover = takeover_.exchange(false);

    bool lease_due = full || takeover || now >= next_lease_ || !announced_;
    if (lease_due) {
        renew_lease(now);
        if (leading_) {
            if (auto r = core_.pipeline->recover(); !r) log::warn("daemon", "reconcile: " + r.error().message);
        }
    }
    if (!leading_) return std::chrono::milliseconds(std::max<int64_t>(next_lease_ - now, 0));

    if (died) {
        log::info("daemon", "the supervisor saw cloudflared end: checking now");
        recheck_at_ = now + schedule_.recheck_after_death.count();
    }
    if (started && !died) recheck_at_ = std::max(recheck_at_, now + schedule_.check_after_start.count());
    if (full || now >= next_check_) {
        if (!died && recheck_at_ != 0 && now >= recheck_at_) recheck_at_ = 0;
        check_tunnel(now, core::check_trigger::scheduled);
    } else if (died || (recheck_at_ != 0 && now >= recheck_at_)) {
        if (!died) recheck_at_ = 0;
        check_tunnel(now, core::check_trigger::event);
    }
    if (docker_changed && core_.runtime) {
        if (docker_event_at_ == 0) docker_event_at_ = now + schedule_.docker_settle.count();
    }
    // Periodic refreshes ride on the lease renewal's wake-up rather than waking on their own.
    refresh_due(now, lease_due);
    for (auto& j : jobs_) {
        if (j.next == 0 || now < j.next) continue;
        const bool ran = j.run();
        j.next = now_() + (ran ? j.every : std::chrono::milliseconds(busy_retry)).count();
        if (!ran) log::debug("daemon", j.name + ": a change is in progress; trying again in 5 s");
    }

    int64_t next = std::min(next_lease_, next_check_);
    for (const auto& j : jobs_) {
        if (j.next != 0) next = std::min(next, j.next);
    }
    if (recheck_at_ != 0) next = std::min(next, recheck_at_);
    if (docker_event_at_ != 0) next = std::min(next, docker_event_at_);
    return std::chrono::milliseconds(std::max<int64_t>(next - now, 0));
}

void background_loops::refresh_due(int64_t t, bool with_periodic) {
    if (docker_event_at_ != 0 && t >= docker_event_at_) {
        docker_event_at_ = 0;
        refresh_docker();
        next_docker_ = t + (runtime_watching_ ? schedule_.docker_watched : schedule_.docker).count();
    }
    if (!with_periodic) return;
    if (core_.dns && t >= next_zones_) {
        if (auto z = core_.pipeline->list_domains(true); !z) log::warn("daemon", "zone refresh: " + z.error().message);
        next_zones_ = t + schedule_.zones.count();
    }
    if (core_.runtime && t >= next_docker_) {
        refresh_docker();
        next_docker_ = t + (runtime_watching_ ? schedule_.docker_watched : schedule_.docker).count();
    }
    if (t >= next_prune_) {
        if (auto p = state_.prune(); p && *p > 0) log::info("daemon", "pruned " + std::to_string(*p) + " old rows");
        next_prune_ = t + schedule_.prune.count();
    }
}

void background_loops::refresh_docker() {
    auto snap = core_.runtime->snapshot();
    if (!snap) {
        log::warn("daemon", "docker snapshot: " + snap.error().message);
        return;
    }
    auto decoded = sdk::model::decode_docker_snapshot(*snap);
    if (!decoded) {
        log::warn("daemon", "docker snapshot: the container runtime returned a malformed snapshot, not stored: " + decoded.error());
    } else if (auto w = state_.docker_snapshot_replace(*decoded); !w) {
        log::warn("daemon", "docker snapshot: " + w.error().message);
    } else {
        log::debug("daemon", "docker snapshot stored");
    }
}

void background_loops::release() {
    stopped_leading();
    if (leading_) (void)state_.lease_release("background", holder_);
    leading_ = false;
    // The beacon's socket closes last, after the lease is free, so the standby it wakes finds it free.
    beacon_.reset();
}

}  // namespace tunnelmgr::service
