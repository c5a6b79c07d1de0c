// The docker-runtime plugin: tm_container_runtime_v1 with event watching, over topology_reader and
// event_watcher. A thin adapter: config in, a call on the domain classes, JSON out, docker_errc → tm_rc.
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <tunnelmgr/sdk/plugin.hpp>

#include "engine_client.hpp"
#include "event_stream.hpp"
#include "event_watcher.hpp"
#include "runtime_config.hpp"
#include "runtime_events.hpp"
#include "sdk_glue.hpp"
#include "topology_reader.hpp"

namespace tunnelmgr::plugins::docker_runtime {
namespace {

using docker_engine::docker_event;
using docker_engine::engine_client;
using docker_engine::event_watcher;
using docker_engine::lift;
using docker_engine::to_log_level;
using docker_engine::watch_log_level;

constexpr const char* component = "docker-runtime";

runtime_config config_or_throw(std::string_view json) {
    auto config = parse_runtime_config(json);
    if (!config) throw std::runtime_error(config.error().message);
    return std::move(*config);
}

}  // namespace

class docker_runtime_plugin final : public sdk::plugin, public sdk::container_runtime_v1, public sdk::event_watch {
public:
    docker_runtime_plugin(const sdk::host& host, std::string_view config_json)
        : host_(host),
          config_(config_or_throw(config_json)),
          client_(config_.socket, config_.timeout),
          reader_(client_, config_.snapshot) {
        // The daemon may come up after tunnelmgr: report, do not refuse to start.
        auto version = client_.api_version();
        if (version) {
            host_.info(component, "Docker Engine API " + *version + " at " + config_.socket);
        } else {
            host_.warn(component, version.error().message);
        }
        watcher_ = std::make_unique<event_watcher>(
            config_.socket, config_.timeout, runtime_event_filters(),
            [this](const docker_event& event) {
                auto report = runtime_event_for(event, config_.snapshot.project_label);
                if (report) host_.emit_event(report->first, report->second);
            },
            [this](watch_log_level level, std::string_view msg) { host_.log(to_log_level(level), component, msg); });
    }

    ~docker_runtime_plugin() override { watcher_.reset(); }

    sdk::result<std::string> snapshot() override { return lift(reader_.snapshot()); }

    sdk::result<void> watch_start() override {
        watcher_->start();
        return {};
    }

    sdk::result<void> watch_stop() override {
        watcher_->stop();
        return {};
    }

private:
    sdk::host host_;
    runtime_config config_;
    engine_client client_;
    topology_reader reader_;
    std::unique_ptr<event_watcher> watcher_;
};

}  // namespace tunnelmgr::plugins::docker_runtime

TM_PLUGIN(tunnelmgr::plugins::docker_runtime::docker_runtime_plugin, "docker-runtime", TM_PLUGIN_VERSION,
          tunnelmgr::plugins::docker_runtime::runtime_config_schema)
