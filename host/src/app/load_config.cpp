// Step: read the config file (or the embedded default) and apply --plugin-dir.
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "app/app.hpp"
#include "log/logger.hpp"

namespace tunnelmgr::app {

namespace {
constexpr const char* system_config = "/etc/tunnelmgr/config.yml";
}

run_result load_config(app_state& s) {
    std::string path = s.opts.config_path;
    std::error_code ec;
    if (path.empty() && std::filesystem::exists(system_config, ec)) path = system_config;
    if (!path.empty() && s.opts.command == "mcp" && ::access(path.c_str(), R_OK) != 0 && errno == EACCES) {
        // A project's user runs `tunnelmgr mcp` as a thin client: it needs the daemon, not the config
        // (which may name secrets it must not read). reach_daemon insists on the socket.
        s.cfg = config::embedded_default();
        s.cfg.source = path;
        s.cfg.slots.clear();
        s.config_unreadable = true;
    } else if (path.empty()) {
        s.cfg = config::embedded_default();
    } else {
        auto cfg = config::load_file(path);
        if (!cfg && s.opts.command == "doctor") {
            // doctor reports a broken config as a finding instead of stopping before it runs.
            s.config_error = cfg.error();
            s.cfg = config::embedded_default();
            s.cfg.source = path;
            s.cfg.slots.clear();
        } else if (!cfg) {
            return run_result::fatal(cfg.error(), 2);
        } else {
            s.cfg = std::move(*cfg);
        }
    }
    for (const auto& w : s.cfg.warnings) log::warn("config", w);
    if (!s.opts.plugin_dirs.empty()) s.cfg.plugin_dirs = s.opts.plugin_dirs;
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
