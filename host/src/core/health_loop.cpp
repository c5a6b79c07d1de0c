// See health_loop.hpp.
#include "core/health_loop.hpp"

#include <algorithm>

#include <tunnelmgr/sdk/model.hpp>

#include "core/audit.hpp"
#include "core/json.hpp"
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

std::chrono::milliseconds health_loop::check_once(check_trigger why) {
    int64_t now = now_();
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
        restart(now, "process not running");
    } else if (to == "up") {
        snap_.failed_checks = 0;
    } else {
        if (why == check_trigger::scheduled) ++snap_.failed_checks;
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
