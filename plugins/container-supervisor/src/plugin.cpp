// The container-supervisor plugin: tm_tunnel_supervisor_v1 with event watching and replicas, over
// container_supervisor. A thin adapter: config in, a call on the domain class, JSON out.
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <tunnelmgr/sdk/plugin.hpp>

#include "container_supervisor.hpp"
#include "sdk_glue.hpp"
#include "supervisor_config.hpp"

namespace tunnelmgr::plugins::container_supervisor {
namespace {

constexpr const char* component = "container-supervisor";

supervisor_config config_or_throw(std::string_view json) {
    auto config = parse_supervisor_config(json);
    if (!config) throw std::runtime_error(config.error().message);
    return std::move(*config);
}

}  // namespace

class container_supervisor_plugin final : public sdk::plugin,
                                          public sdk::tunnel_supervisor_v1,
                                          public sdk::supervisor_replicas,
                                          public sdk::event_watch {
public:
    container_supervisor_plugin(const sdk::host& host, std::string_view config_json)
        : host_(host),
          supervisor_(
              config_or_throw(config_json),
              [this](const std::string& type, const std::string& json) { host_.emit_event(type, json); },
              [this](docker_engine::watch_log_level level, std::string_view msg) {
                  host_.log(docker_engine::to_log_level(level), component, msg);
              }) {}

    ~container_supervisor_plugin() override { supervisor_.watch_stop(); }

    sdk::result<std::string> status() override { return docker_engine::lift(supervisor_.status()); }

    sdk::result<void> restart() override {
        host_.info(component, (supervisor_.replica_count() == 1 ? "restarting container " + supervisor_.replica(0).name
                                                                : "restarting every container, one after the other") +
                                  " (grace " + std::to_string(supervisor_.config().grace_s) + " s)");
        return docker_engine::lift(supervisor_.restart());
    }

    sdk::result<int32_t> replica_count() override { return static_cast<int32_t>(supervisor_.replica_count()); }

    sdk::result<std::string> replica_status(int32_t index) override {
        return docker_engine::lift(supervisor_.replica_status(index));
    }

    sdk::result<void> replica_restart(int32_t index) override {
        if (index < supervisor_.replica_count()) {
            host_.info(component, "restarting container " + supervisor_.replica(index).name + " (grace " +
                                      std::to_string(supervisor_.config().grace_s) + " s)");
        }
        return docker_engine::lift(supervisor_.replica_restart(index));
    }

    sdk::result<void> watch_start() override {
        supervisor_.watch_start();
        return {};
    }

    sdk::result<void> watch_stop() override {
        supervisor_.watch_stop();
        return {};
    }

private:
    sdk::host host_;
    container_supervisor supervisor_;
};

}  // namespace tunnelmgr::plugins::container_supervisor

TM_PLUGIN(tunnelmgr::plugins::container_supervisor::container_supervisor_plugin, "container-supervisor", TM_PLUGIN_VERSION,
          tunnelmgr::plugins::container_supervisor::supervisor_config_schema)
