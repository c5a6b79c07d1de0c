// The config as it is now: what the daemon started with, replaced on SIGHUP by a fresh read of the
// same file. Readers take a snapshot (current()) and keep it as long as they like; thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "config/config.hpp"

namespace tunnelmgr::app {

class live_config {
public:
    explicit live_config(config::config initial);

    std::shared_ptr<const config::config> current() const;

    // Re-reads initial.source. On failure the current config stays and the error (file:line: key:
    // what to write) is returned. What only a restart can change (the slots and their plugins,
    // plugin_dir, tunnel, api, metrics.listen) keeps its running value, and one log line names
    // each such difference — including a project's ports, rate, quota and scope, new projects and
    // reserved_labels, which the pipeline holds from start-up; everything else (health, the tokens of
    // the projects it knows, admin, log level) is new.
    tl::expected<void, std::string> reload();

    // Called after each successful reload, on the thread that called reload(), with the new config.
    void on_reload(std::function<void(const config::config&)> cb);

private:
    mutable std::mutex mutex_;
    std::mutex reload_mutex_;  // one reload at a time, so callbacks see reloads in order
    std::shared_ptr<const config::config> current_;
    std::vector<std::function<void(const config::config&)>> callbacks_;
};

// The parts of `next` that differ from `running` and take a restart to apply, by config key
// ("supervisor", "tunnel.metrics", "api.socket", ...). Empty when a reload applies everything.
std::vector<std::string> needs_restart(const config::config& running, const config::config& next);

}  // namespace tunnelmgr::app
