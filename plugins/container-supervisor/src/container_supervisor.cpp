#include "container_supervisor.hpp"

#include "container_status.hpp"

namespace tunnelmgr::plugins::container_supervisor {

using docker_engine::docker_errc;

container_supervisor::container_supervisor(supervisor_config config, report_fn report, log_fn log)
    : config_(std::move(config)), client_(config_.socket, config_.timeout) {
    const std::string container = config_.container;
    watcher_ = std::make_unique<docker_engine::event_watcher>(
        config_.socket, config_.timeout, supervisor_event_filters(container),
        [report = std::move(report), container](const docker_engine::docker_event& event) {
            auto out = supervisor_event_for(event, container);
            if (out) report(out->first, out->second);
        },
        std::move(log));
}

docker_engine::docker_result<std::string> container_supervisor::status() {
    auto inspect = client_.inspect_container(config_.container);
    if (!inspect) {
        if (inspect.error().kind == docker_errc::not_found) {
            return docker_engine::docker_fail(docker_errc::not_found,
                                              missing_container_sentence(config_.container, config_.socket));
        }
        return tl::unexpected(inspect.error());
    }
    return status_from_inspect(*inspect, config_.container);
}

docker_engine::docker_result<void> container_supervisor::restart() {
    auto done = client_.restart_container(config_.container, config_.grace_s);
    if (!done && done.error().kind == docker_errc::not_found) {
        return docker_engine::docker_fail(docker_errc::not_found,
                                          missing_container_sentence(config_.container, config_.socket));
    }
    return done;
}

void container_supervisor::watch_start() { watcher_->start(); }

void container_supervisor::watch_stop() { watcher_->stop(); }

}  // namespace tunnelmgr::plugins::container_supervisor
