// Supervises the cloudflared container: its status, a graceful restart, and its start/die events
// reported through a callback. No ABI types; plugin.cpp adapts it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "docker_error.hpp"
#include "engine_client.hpp"
#include "event_watcher.hpp"
#include "supervisor_config.hpp"

namespace tunnelmgr::plugins::container_supervisor {

class container_supervisor {
public:
    using report_fn = std::function<void(const std::string& type, const std::string& json)>;
    using log_fn = docker_engine::event_watcher::log_fn;

    container_supervisor(supervisor_config config, report_fn report, log_fn log);

    docker_engine::docker_result<std::string> status();
    docker_engine::docker_result<void> restart();
    void watch_start();
    void watch_stop();

    const supervisor_config& config() const { return config_; }

private:
    supervisor_config config_;
    docker_engine::engine_client client_;
    std::unique_ptr<docker_engine::event_watcher> watcher_;
};

}  // namespace tunnelmgr::plugins::container_supervisor
