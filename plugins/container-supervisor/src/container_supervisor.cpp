#include "container_supervisor.hpp"

#include <vector>

#include "container_status.hpp"
#include "replica_status.hpp"

namespace tunnelmgr::plugins::container_supervisor {

using docker_engine::docker_errc;
using docker_engine::docker_fail;

container_supervisor::container_supervisor(supervisor_config config, report_fn report, log_fn log)
    : config_(std::move(config)), client_(config_.socket, config_.timeout) {
    const auto containers = config_.containers;
    watcher_ = std::make_unique<docker_engine::event_watcher>(
        config_.socket, config_.timeout, supervisor_event_filters(containers),
        [report = std::move(report), containers](const docker_engine::docker_event& event) {
            auto out = supervisor_event_for(event, containers);
            if (out) report(out->first, out->second);
        },
        std::move(log));
}

docker_engine::docker_result<void> container_supervisor::check_index(int index) const {
    if (index >= 0 && index < replica_count()) return {};
    const int n = replica_count();
    return docker_fail(docker_errc::invalid, "container-supervisor has no replica " + std::to_string(index) +
                                                 ": it supervises " + std::to_string(n) +
                                                 (n == 1 ? " container (replica 0)"
                                                         : " containers (replicas 0 to " + std::to_string(n - 1) + ")"));
}

docker_engine::docker_result<std::string> container_supervisor::inspect_status(const std::string& container) {
    auto inspect = client_.inspect_container(container);
    if (!inspect) {
        if (inspect.error().kind == docker_errc::not_found) {
            return docker_fail(docker_errc::not_found,
                               missing_container_sentence(container, config_.socket, container_setting(config_)));
        }
        return tl::unexpected(inspect.error());
    }
    return status_from_inspect(*inspect, container);
}

docker_engine::docker_result<std::string> container_supervisor::replica_status(int index) {
    if (auto ok = check_index(index); !ok) return tl::unexpected(ok.error());
    auto status = inspect_status(replica(index).name);
    if (!status) return status;
    return replicas::with_replica_fields(*status, replica(index));
}

docker_engine::docker_result<void> container_supervisor::replica_restart(int index) {
    if (auto ok = check_index(index); !ok) return ok;
    const std::string& container = replica(index).name;
    auto done = client_.restart_container(container, config_.grace_s);
    if (!done && done.error().kind == docker_errc::not_found) {
        return docker_fail(docker_errc::not_found,
                           missing_container_sentence(container, config_.socket, container_setting(config_)));
    }
    return done;
}

docker_engine::docker_result<std::string> container_supervisor::status() {
    if (replica_count() == 1) return inspect_status(replica(0).name);
    std::vector<replicas::replica_answer> answers;
    std::optional<docker_engine::docker_error> first_error;
    for (int i = 0; i < replica_count(); ++i) {
        auto s = replica_status(i);
        if (s) {
            answers.push_back({std::move(*s), ""});
        } else {
            if (!first_error) first_error = s.error();
            answers.push_back({std::nullopt, s.error().message});
        }
    }
    if (auto whole = replicas::whole_status(answers)) return *whole;
    return tl::unexpected(first_error.value_or(docker_engine::docker_error{docker_errc::error, "no container's status could be read"}));
}

docker_engine::docker_result<void> container_supervisor::restart() {
    docker_engine::docker_result<void> first = {};
    for (int i = 0; i < replica_count(); ++i) {
        auto r = replica_restart(i);
        if (!r && first) first = r;
    }
    return first;
}

void container_supervisor::watch_start() { watcher_->start(); }

void container_supervisor::watch_stop() { watcher_->stop(); }

}  // namespace tunnelmgr::plugins::container_supervisor
