// See health_loop.hpp.
#include "core/health_loop.hpp"

#include <algorithm>

#include <tunnelmgr/sdk/model.hpp>

#include "core/audit.hpp"
#include "core/json.hpp"
#include "core/metrics_probe.hpp"
#include "core/tunnel_status.hpp"
#include "log/logger.hpp"

namespace tunnelmgr::core {

std::string health_snapshot::json(int64_t now_ms) const {
    json::object o;
    o.set("status", status).set("ready_connections", ready_connections).set("failed_checks", failed_checks);
    o.set("restart_count", restart_count).set("uptime_s", up_since_ms > 0 ? (now_ms - up_since_ms) / 1000 : 0);
    o.set("last_error", last_error).set("checked_ms", now_ms);
    if (next_restart_ms > now_ms) o.set("next_restart_ms", next_restart_ms);
    return o.str();
}

health_loop::health_loop(tunnel_supervisor* supervisor, ready_probe& probe, state_store& state, health_policy policy,
                         clock_fn now, event_fn on_event)
    : supervisor_(supervisor), probe_(probe), state_(state), policy_(std::move(policy)), now_(std::move(now)),
      on_event_(std::move(on_event)) {
    set_policy(policy_);
}

void health_loop::set_policy(health_policy policy) {
    policy_ = std::move(policy);
    if (policy_.backoff.empty()) policy_.backoff = {std::chrono::seconds(5)};
    if (policy_.strikes < 1) policy_.strikes = 1;
}

void health_loop::record(int64_t now, bool changed) {
    if (!changed && last_row_ms_ != 0 && now - last_row_ms_ < policy_.heartbeat_every.count()) return;
    sdk::model::health_sample row;
    row.status = snap_.status;
    row.ready_connections = snap_.ready_connections;
    row.restart_count = snap_.restart_count;
    row.last_error = snap_.last_error;
    row.uptime_s = snap_.up_since_ms > 0 ? (now - snap_.up_since_ms) / 1000 : 0;
    row.detail = json::object().set("failed_checks", snap_.failed_checks).str();
    if (auto r = state_.health_record(row); !r) log::warn("health", "cannot record health: " + r.error().message);
    last_row_ms_ = now;
}

void health_loop::transition(const std::string& to, int64_t now) {
    if (to == snap_.status) return;
    std::string from = snap_.status;
    snap_.status = to;
    if (to == "up") {
        manual_restart_said_ = false;
        snap_.up_since_ms = now;
        snap_.restarts_since_up = 0;
        snap_.next_restart_ms = 0;
        snap_.last_error.clear();
    } else if (from == "up") {
        snap_.up_since_ms = 0;
    }
    log::logger::instance().write(to == "up" ? log::level::info : log::level::warn, "health",
                                  "tunnel " + from + " -> " + to + (snap_.last_error.empty() ? "" : ": " + snap_.last_error));
    record_audit(state_, {"health-loop", "system", "tunnel.status", "cloudflared", "", to, snap_.last_error,
                          json::object().set("from", from).set("to", to).set("restart_count", snap_.restart_count).str()});
    if (on_event_) on_event_("tunnel.status", snap_.json(now));
}

bool health_loop::restart(int64_t now, const std::string& why) {
    if (supervisor_ == nullptr) {
        snap_.last_error = why + "; no supervisor is configured, so restart cloudflared by hand";
        if (!manual_restart_said_) {
            // Once per outage: the operator has to act, and the log is where they will look.
            log::error("health", "cloudflared needs a restart (" + why + ") but no supervisor is configured: "
                                 "restart cloudflared by hand, or configure the supervisor slot");
            manual_restart_said_ = true;
        }
        return false;
    }
    if (now < snap_.next_restart_ms) return false;  // backing off
    size_t step = std::min<size_t>(static_cast<size_t>(snap_.restarts_since_up), policy_.backoff.size() - 1);
    snap_.last_restart_ms = now;
    snap_.next_restart_ms = now + policy_.backoff[step].count();
    ++snap_.restarts_since_up;
    ++snap_.restart_count;
    observer_->tunnel_restarted();
    auto r = supervisor_->restart();
    audit_entry a{"health-loop", "system", "tunnel.restart", "cloudflared", "", r ? "ok" : "error",
                  r ? "" : r.error().message,
                  json::object().set("why", why).set("attempt", snap_.restarts_since_up)
                      .set("next_restart_ms", snap_.next_restart_ms).str()};
    record_audit(state_, a);
    if (on_event_) on_event_("tunnel.restart", sdk::model::encode(a));
    log::logger::instance().write(r ? log::level::warn : log::level::error, "health",
                                  "restart #" + std::to_string(snap_.restart_count) + " (" + why + ")" +
                                      (r ? "" : " failed: " + r.error().message));
    if (!r) snap_.last_error = "restart failed: " + r.error().message;
    return static_cast<bool>(r);
}

ready_probe& health_loop::probe_for(const std::string& metrics) {
    if (metrics.empty()) return probe_;
    auto& p = replica_probes_[metrics];
    if (!p) p = make_probe_ ? make_probe_(metrics) : std::make_unique<metrics_probe>(metrics);
    return *p;
}

bool health_loop::restart_replica(int index, int64_t now, const std::string& why) {
    auto& r = replicas_[static_cast<size_t>(index)];
    if (now < r.next_restart_ms) return false;  // backing off
    size_t step = std::min<size_t>(static_cast<size_t>(r.restarts_since_up), policy_.backoff.size() - 1);
    snap_.last_restart_ms = now;
    r.next_restart_ms = now + policy_.backoff[step].count();
    ++r.restarts_since_up;
    ++snap_.restart_count;
    observer_->tunnel_restarted();
    auto done = supervisor_->replica_restart(index);
    audit_entry a{"health-loop", "system", "tunnel.restart", r.name, "", done ? "ok" : "error",
                  done ? "" : done.error().message,
                  json::object().set("why", why).set("replica", index + 1).set("attempt", r.restarts_since_up)
                      .set("next_restart_ms", r.next_restart_ms).str()};
    record_audit(state_, a);
    if (on_event_) on_event_("tunnel.restart", sdk::model::encode(a));
    log::logger::instance().write(done ? log::level::warn : log::level::error, "health",
                                  "restart #" + std::to_string(snap_.restart_count) + " of " + r.name + " (" + why + ")" +
                                      (done ? "" : " failed: " + done.error().message));
    return static_cast<bool>(done);
}

std::chrono::milliseconds health_loop::check_replicas(int count, check_trigger why, int64_t now) {
    std::string before = snap_.status;
    const auto check_started = std::chrono::steady_clock::now();
    if (replicas_.size() != static_cast<size_t>(count)) replicas_.assign(static_cast<size_t>(count), replica_state{});
    int up = 0, down = 0, connections = 0;
    bool restarted = false;  // one restart per check, so they never overlap
    std::string problems;
    for (int i = 0; i < count; ++i) {
        auto& r = replicas_[static_cast<size_t>(i)];
        auto info = supervisor_->replica_info(i);
        r.name = info.name.empty() ? "replica " + std::to_string(i + 1) : info.name;
        std::optional<bool> running;
        std::string sup_error;
        if (auto st = supervisor_->replica_status(i); !st) {
            sup_error = st.error().message;
        } else if (st->running) {
            running = *st->running;
            if (!*running) sup_error = "not running (" + st->state + ")";
        }
        // Each replica has its own metrics address; none known yet is not the tunnel's address.
        auto ready = !running.value_or(true) ? result<int>(0)
                     : info.metrics.empty()
                         ? result<int>(fail(errc::error, "the supervisor has not said where " + r.name +
                                                             " serves its metrics (its status did not answer)"))
                         : probe_for(info.metrics).ready_connections();
        std::string to = tunnel_status_of(running, ready);
        std::string problem;
        if (running.has_value() && !*running) {
            ++down;
            r.failed_checks = 0;
            problem = sup_error;
            if (!restarted && !applying()) restarted = restart_replica(i, now, "process not running");
        } else if (to == "up") {
            ++up;
            connections += *ready;
            r.failed_checks = 0;
            r.restarts_since_up = 0;
            r.next_restart_ms = 0;
        } else {
            if (why == check_trigger::scheduled && !applying()) ++r.failed_checks;
            problem = ready ? "/ready reports 0 connections" : ready.error().message;
            if (r.failed_checks >= policy_.strikes && !restarted) {
                restarted = restart_replica(i, now, std::to_string(r.failed_checks) + " failed checks in a row");
            }
        }
        if (to != r.status) {
            log::logger::instance().write(to == "up" ? log::level::info : log::level::warn, "health",
                                          r.name + " " + r.status + " -> " + to + (problem.empty() ? "" : ": " + problem));
            r.status = to;
        }
        if (!problem.empty()) problems += (problems.empty() ? "" : "; ") + r.name + ": " + problem;
    }
    snap_.ready_connections = connections;
    snap_.failed_checks = 0;
    int64_t next_restart = 0;
    for (const auto& r : replicas_) {
        snap_.failed_checks = std::max(snap_.failed_checks, r.failed_checks);
        if (r.status != "up" && r.next_restart_ms > now) {
            next_restart = next_restart == 0 ? r.next_restart_ms : std::min(next_restart, r.next_restart_ms);
        }
    }
    snap_.next_restart_ms = next_restart;
    std::string to = up == count ? "up" : up > 0 ? "degraded" : down == count ? "down" : "degraded";
    snap_.last_error = problems;
    transition(to, now);
    record(now, before != snap_.status);
    observer_->health_checked(std::chrono::steady_clock::now() - check_started, snap_.status, snap_.ready_connections);
    auto wait = policy_.interval;
    if (next_restart > now) wait = std::min(wait, std::chrono::milliseconds(next_restart - now));
    return std::max(wait, std::chrono::milliseconds(100));
}

std::chrono::milliseconds health_loop::check_once(check_trigger why) {
    int64_t now = now_();
    if (supervisor_ != nullptr) {
        if (int n = supervisor_->replica_count(); n > 1) return check_replicas(n, why, now);
    }
    std::string before = snap_.status;
    const auto check_started = std::chrono::steady_clock::now();
    // 1. Is the process there at all? (nullopt: no supervisor, or it cannot tell right now)
    std::optional<bool> running;
    std::string sup_error;
    if (supervisor_ != nullptr) {
        auto st = supervisor_->status();
        if (!st) {
            sup_error = st.error().message;  // cannot tell: let /ready decide
        } else if (!st->running) {
            sup_error = st->detail.empty() ? "the supervisor cannot tell whether cloudflared runs" : st->detail;
        } else {
            running = *st->running;
            if (!*running) sup_error = "cloudflared is not running (" + st->state + ")";
        }
    }
    // 2. Is the tunnel ready?
    auto ready = running.value_or(true) ? probe_.ready_connections() : result<int>(0);
    snap_.ready_connections = ready ? *ready : 0;
    std::string to = tunnel_status_of(running, ready);
    if (running.has_value() && !*running) {
        snap_.last_error = sup_error;
        snap_.failed_checks = 0;
        if (applying()) {
            log::debug("health", "cloudflared is being restarted by a change; the change waits for it");
        } else {
            restart(now, "process not running");
        }
    } else if (to == "up") {
        snap_.failed_checks = 0;
    } else {
        if (why == check_trigger::scheduled && !applying()) ++snap_.failed_checks;
        snap_.last_error = ready ? "/ready reports 0 connections" : ready.error().message;
        if (!sup_error.empty()) snap_.last_error += "; supervisor: " + sup_error;
        if (snap_.failed_checks >= policy_.strikes) {
            restart(now, std::to_string(snap_.failed_checks) + " failed checks in a row");
        }
    }
    transition(to, now);
    record(now, before != snap_.status);
    observer_->health_checked(std::chrono::steady_clock::now() - check_started, snap_.status, snap_.ready_connections);
    // 3. When to look again: the normal interval, or sooner when a restart is due.
    auto wait = policy_.interval;
    if (snap_.status != "up" && snap_.next_restart_ms > now) {
        wait = std::min(wait, std::chrono::milliseconds(snap_.next_restart_ms - now));
    }
    return std::max(wait, std::chrono::milliseconds(100));
}

}  // namespace tunnelmgr::core
