// Start-up as an ordered list of small steps, each returning proceed / exit / fatal, and a
// teardown that always runs (plugins destroyed newest first). The CLI fills `options`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "plugin_host/host_services.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"

namespace tunnelmgr::service {
struct core_services;
class api_client;
}

namespace tunnelmgr::app {

struct options {
    std::string config_path;  // empty: /etc/tunnelmgr/config.yml if present, else the embedded default
    std::vector<std::string> plugin_dirs;  // --plugin-dir, overriding the config's
    std::string log_level;
    std::string command;
    std::vector<std::string> args;  // the command's own arguments
};

struct run_result {
    enum class kind { proceed, exit, fatal } what = kind::proceed;
    int exit_code = 0;
    std::string message;

    static run_result proceed() { return {}; }
    static run_result exit(int code) { return {kind::exit, code, {}}; }
    static run_result fatal(std::string msg, int code = 1) { return {kind::fatal, code, std::move(msg)}; }
};

struct app_state {
    app_state();
    ~app_state();
    options opts;
    config::config cfg;
    std::string config_error;  // doctor only: the config did not load, and this says why
    bool config_unreadable = false;  // mcp only: this user may not read the config; only the daemon can serve it
    host::host_services services;
    std::unique_ptr<host::registry> plugins;
    std::unique_ptr<host::state_store_client> state;
    std::vector<std::string> needed_slots;  // what the command needs; decided by select_command
    std::vector<std::string> wanted_slots;  // started when configured, skipped when not
    // Wanted by the command but not by this use of it (`cname ls` reads only the state): open_state
    // starts them only when recovery has an unfinished operation to settle, or when
    // `deferred_needed` says this run needs them after all (select_command decides both).
    std::vector<std::string> deferred_slots;
    bool (*deferred_needed)(app_state& s) = nullptr;
    bool needs_core = false;                // build the pipeline (and recover unfinished operations)
    bool via_daemon = false;                // the command is only host calls: a daemon may serve them
    std::unique_ptr<service::core_services> core;
    // Set when a daemon answers on the API socket: the command forwards its host calls to it and
    // starts no plugin that holds a secret or the state (reach_daemon).
    std::unique_ptr<service::api_client> api;
    int exit_code = 0;
};

// The steps, in order (one file each).
run_result load_config(app_state& s);
run_result configure_logging(app_state& s);
run_result select_command(app_state& s);
run_result reach_daemon(app_state& s);
run_result start_plugins(app_state& s);
run_result open_state(app_state& s);
run_result start_core(app_state& s);
run_result run_command(app_state& s);
// Always runs, whatever happened before.
void teardown(app_state& s);

int run(options opts);

// Starts the plugin of each slot in `needed` (fatal when it is not configured or refuses) and of each
// slot in `wanted` that the config names, in the config's slot order; start_plugins and open_state.
run_result start_slots(app_state& s, const std::vector<std::string>& needed, const std::vector<std::string>& wanted);

// The one place host facts are added to a plugin's section: `slot`'s section as its plugin gets it
// (the runtime gets the config's project names, for `{project}-` names). The slot must exist.
config::slot slot_as_started(const config::config& cfg, const std::string& slot);

}  // namespace tunnelmgr::app
