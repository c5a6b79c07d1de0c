// The systemd-supervisor plugin: tm_tunnel_supervisor_v1 with event watching, over systemd_supervisor
// and main_pid_watch. A thin adapter: config JSON in, a call on the domain class, JSON out, sup_errc → tm_rc.
#include <stdexcept>
#include <string>
#include <string_view>

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

class systemd_supervisor_plugin final : public sdk::plugin, public sdk::tunnel_supervisor_v1, public sdk::event_watch {
public:
    systemd_supervisor_plugin(const sdk::host& host, std::string_view config_json)
        : host_(host),
          supervisor_(config_or_throw(config_json)),
          watch_(supervisor_.config().unit,
                 [this](const std::string& type, const std::string& json) { host_.emit_event(type, json); }) {
        std::string prefix;
        for (const auto& a : supervisor_.config().command_prefix) prefix += a + " ";
        host_.info(component, "supervising unit=" + supervisor_.config().unit + " via `" + prefix +
                                  supervisor_.config().systemctl + "`");
    }

    ~systemd_supervisor_plugin() override { watch_.stop(); }

    sdk::result<std::string> status() override {
        auto s = supervisor_.status();
        if (!s) return sdk::fail(to_rc(s.error().kind), std::move(s.error().message));
        if (watch_.running()) watch_.follow(s->pid.value_or(0));  // a new main process is followed from here on
        return to_json(*s);
    }

    sdk::result<void> watch_start() override {
        std::string why;
        if (!same_pid_namespace(supervisor_.config(), why) || !watch_.start(why)) {
            return sdk::fail(TM_INVALID, "systemd-supervisor cannot follow cloudflared's main process: " + why +
                                             "; the health check's interval covers it");
        }
        if (auto s = supervisor_.status()) watch_.follow(s->pid.value_or(0));
        host_.info(component, "following the main process of " + supervisor_.config().unit);
        return {};
    }

    sdk::result<void> watch_stop() override {
        watch_.stop();
        return {};
    }

    sdk::result<void> restart() override {
        auto r = supervisor_.restart();
        if (!r) {
            host_.warn(component, "restart failed: " + r.error().message);
            return sdk::fail(to_rc(r.error().kind), std::move(r.error().message));
        }
        host_.info(component, "restart of " + supervisor_.config().unit + " queued");
        return {};
    }

private:
    sdk::host host_;
    systemd_supervisor supervisor_;
    main_pid_watch watch_;
};

}  // namespace tunnelmgr::plugins::systemd_supervisor

TM_PLUGIN(tunnelmgr::plugins::systemd_supervisor::systemd_supervisor_plugin, "systemd-supervisor", TM_PLUGIN_VERSION,
          tunnelmgr::plugins::systemd_supervisor::supervisor_config_schema)
