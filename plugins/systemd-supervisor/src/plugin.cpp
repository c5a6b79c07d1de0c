// The systemd-supervisor plugin: tm_tunnel_supervisor_v1 with event watching and replicas, over
// systemd_supervisor and one main_pid_watch per unit. A thin adapter: config JSON in, a call on the domain class, JSON out, sup_errc → tm_rc.
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <tunnelmgr/sdk/plugin.hpp>

#include "main_pid_watch.hpp"
#include "supervisor_config.hpp"
#include "systemd_supervisor.hpp"

namespace tunnelmgr::plugins::systemd_supervisor {
namespace {

constexpr const char* component = "systemd-supervisor";

tm_rc to_rc(sup_errc kind) {
    switch (kind) {
        case sup_errc::invalid: return TM_INVALID;
        case sup_errc::not_found: return TM_NOT_FOUND;
        case sup_errc::denied: return TM_DENIED;
        case sup_errc::timeout: return TM_TIMEOUT;
        case sup_errc::error: return TM_ERROR;
    }
    return TM_ERROR;
}

supervisor_config config_or_throw(std::string_view json) {
    auto config = parse_supervisor_config(json);
    if (!config) throw std::runtime_error(config.error().message);
    return std::move(*config);
}

}  // namespace

class systemd_supervisor_plugin final : public sdk::plugin,
                                        public sdk::tunnel_supervisor_v1,
                                        public sdk::supervisor_replicas,
                                        public sdk::event_watch {
public:
    systemd_supervisor_plugin(const sdk::host& host, std::string_view config_json)
        : host_(host), supervisor_(config_or_throw(config_json)) {
        std::string units;
        for (int i = 0; i < supervisor_.replica_count(); ++i) {
            const auto& r = supervisor_.replica(i);
            units += (units.empty() ? "" : ",") + r.name;
            watches_.push_back(std::make_unique<main_pid_watch>(
                r.name, i, [this](const std::string& type, const std::string& json) { host_.emit_event(type, json); }));
        }
        std::string prefix;
        for (const auto& a : supervisor_.config().command_prefix) prefix += a + " ";
        host_.info(component, std::string(supervisor_.replica_count() == 1 ? "supervising unit=" : "supervising units=") +
                                  units + " via `" + prefix + supervisor_.config().systemctl + "`");
    }

    ~systemd_supervisor_plugin() override {
        for (auto& w : watches_) w->stop();
    }

    sdk::result<std::string> status() override {
        auto each = supervisor_.every_status();
        for (std::size_t i = 0; i < each.size(); ++i) {
            if (each[i]) follow(static_cast<int>(i), *each[i]);
        }
        auto whole = supervisor_.whole_status(each);
        if (!whole) return sdk::fail(to_rc(whole.error().kind), std::move(whole.error().message));
        return std::move(*whole);
    }

    sdk::result<void> restart() override {
        auto r = supervisor_.restart();
        if (!r) {
            host_.warn(component, "restart failed: " + r.error().message);
            return sdk::fail(to_rc(r.error().kind), std::move(r.error().message));
        }
        host_.info(component, std::string("restart of ") +
                                  (supervisor_.replica_count() == 1 ? supervisor_.replica(0).name : "every unit") + " queued");
        return {};
    }

    sdk::result<int32_t> replica_count() override { return static_cast<int32_t>(supervisor_.replica_count()); }

    sdk::result<std::string> replica_status(int32_t index) override {
        auto s = supervisor_.replica_status(index);
        if (!s) return sdk::fail(to_rc(s.error().kind), std::move(s.error().message));
        follow(index, *s);
        return supervisor_.replica_json(index, *s);
    }

    sdk::result<void> replica_restart(int32_t index) override {
        auto r = supervisor_.replica_restart(index);
        if (!r) {
            if (r.error().kind != sup_errc::invalid) host_.warn(component, "restart failed: " + r.error().message);
            return sdk::fail(to_rc(r.error().kind), std::move(r.error().message));
        }
        host_.info(component, "restart of " + supervisor_.replica(index).name + " queued");
        return {};
    }

    sdk::result<void> watch_start() override {
        std::string why;
        if (!same_pid_namespace(supervisor_.config(), why)) return cannot_follow(why);
        for (auto& w : watches_) {
            if (!w->start(why)) {
                for (auto& started : watches_) started->stop();
                return cannot_follow(why);
            }
        }
        auto each = supervisor_.every_status();
        for (std::size_t i = 0; i < each.size(); ++i) {
            if (each[i]) follow(static_cast<int>(i), *each[i]);
        }
        host_.info(component, "following the main process of " +
                                  (supervisor_.replica_count() == 1 ? supervisor_.replica(0).name
                                                                    : std::to_string(supervisor_.replica_count()) + " units"));
        return {};
    }

    sdk::result<void> watch_stop() override {
        for (auto& w : watches_) w->stop();
        return {};
    }

private:
    // A new main process is followed from here on (and reported as started).
    void follow(int index, const supervisor_status& s) {
        auto& w = *watches_.at(static_cast<std::size_t>(index));
        if (w.running()) w.follow(s.pid.value_or(0));
    }

    static sdk::result<void> cannot_follow(const std::string& why) {
        return sdk::fail(TM_INVALID, "systemd-supervisor cannot follow cloudflared's main process: " + why +
                                         "; the health check's interval covers it");
    }

    sdk::host host_;
    systemd_supervisor supervisor_;
    std::vector<std::unique_ptr<main_pid_watch>> watches_;  // one per replica, in config order
};

}  // namespace tunnelmgr::plugins::systemd_supervisor

TM_PLUGIN(tunnelmgr::plugins::systemd_supervisor::systemd_supervisor_plugin, "systemd-supervisor", TM_PLUGIN_VERSION,
          tunnelmgr::plugins::systemd_supervisor::supervisor_config_schema)
