// Supervises the cloudflared containers — one, or one per replica: their status, a graceful restart,
// and their start/die events reported through a callback. No ABI types; plugin.cpp adapts it.
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

    int replica_count() const { return static_cast<int>(config_.containers.size()); }
    // The container of replica `index` and its metrics address; index must be in range.
    const replicas::replica_ref& replica(int index) const { return config_.containers.at(static_cast<std::size_t>(index)); }

    // status_from_inspect of replica `index` plus "name" and "metrics"; invalid for an index out of
    // range, not_found (with the fix) when the container does not exist.
    docker_engine::docker_result<std::string> replica_status(int index);
    // docker restart of that container only: SIGTERM, SIGKILL after grace_s, start; returns once
    // the daemon has started it again.
    docker_engine::docker_result<void> replica_restart(int index);

    // status() of the whole: with one container, its status as it always was; with several, the
    // replicas' rule (running when any runs; pid and since_ms of the first that runs). An error
    // only when no container answered (the first one's).
    docker_engine::docker_result<std::string> status();
    // Every container, one after the other (each restart returns once that one has started again,
    // so the others keep serving meanwhile); all are tried, and the first failure is returned.
    docker_engine::docker_result<void> restart();

    void watch_start();
    void watch_stop();

    const supervisor_config& config() const { return config_; }

private:
    docker_engine::docker_result<void> check_index(int index) const;
    // The container's status as status_from_inspect gives it.
    docker_engine::docker_result<std::string> inspect_status(const std::string& container);

    supervisor_config config_;
    docker_engine::engine_client client_;
    std::unique_ptr<docker_engine::event_watcher> watcher_;
};

}  // namespace tunnelmgr::plugins::container_supervisor
