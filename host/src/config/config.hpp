// The operator's configuration: one YAML file, read once at start-up into plain values.
// Errors name the file, the line and the key, and say what to write instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "common/port_range.hpp"

namespace tunnelmgr::config {

using tunnelmgr::port_range;

// "3100-3199, 8080" → [{3100,3199},{8080,8080}]. Fails with a sentence naming the bad piece.
tl::expected<std::vector<port_range>, std::string> parse_port_ranges(const std::string& text);
// "250ms", "30s", "1m", "2h" (or a bare number of seconds) → milliseconds.
tl::expected<std::chrono::milliseconds, std::string> parse_duration(const std::string& text);

// How often a project's sessions may call (projects.P.rate). The table of host calls keeps one
// bucket per project and kind: up to N calls at once, then one every 60/N seconds. The admin is not limited.
struct project_rate {
    int changes_per_minute = 10;  // cname.request and cname.delete
    int checks_per_minute = 60;   // target.check (dry runs)
};

struct project {
    std::string name;
    std::vector<port_range> ports;
    std::string token_sha256;  // hex, lower-case; empty: the project cannot start a session
    project_rate rate;
    int64_t max_hostnames = 100;  // hostnames it may hold at once, whoever asks; 0: none
    // The zones it may publish in (projects.P.domains), folded to lower case; empty (not set):
    // tunnel.default_domain only; ["*"]: any zone of the account.
    std::vector<std::string> domains;
    // projects.P.names: every label it publishes starts with name_prefix and ends with name_suffix.
    std::string name_prefix;
    std::string name_suffix;
    // projects.P.machines: the machines (state.machine names) the project runs on when several share
    // one state store. Empty: this machine only. A session may remove the project's names on another
    // machine it lists (that machine's daemon does it); it may change names on this machine alone.
    std::vector<std::string> machines;
};

// A plugin slot: which plugin fills it and that plugin's section, as a JSON object without "plugin".
struct slot {
    std::string plugin;
    std::string config_json = "{}";
    int line = 0;         // of the section's first key; 0 when it came from no file
    std::string source;   // the file the section came from (for messages)
    // JSON pointer inside config_json ("/timeout_ms", "/retention/audit_days", "/names/0") → its YAML line,
    // so a schema complaint about the JSON can name the line the operator wrote.
    std::map<std::string, int> key_lines;
};

struct tunnel_settings {
    std::string id;
    std::string default_domain;  // the zone a request names no domain for; empty: every request names one
    std::string ingress = "local";  // local | remote
    std::string config_file = "/etc/cloudflared/config.yml";
    std::string metrics = "127.0.0.1:20241";
    std::string backup_dir;  // git history of config_file; empty: <state folder>/ingress-history
    int history_keep = 100;  // versions the history keeps (pruned in batches of a tenth); 0: every version
    // The cloudflared that checks every version of config_file before it is written (and in doctor):
    // "" looks `cloudflared` up in PATH (absent: no check), "none" turns the check off.
    std::string cloudflared_bin;
    std::chrono::milliseconds ready_timeout{60000};  // how long to wait for /ready after a restart
    // Changes that arrive within this of each other are applied together (local: one restart); 0: off.
    std::chrono::milliseconds apply_delay{0};
};

struct health_settings {
    std::chrono::milliseconds interval{30000};
    int strikes = 3;
    std::vector<std::chrono::milliseconds> backoff{std::chrono::seconds(5), std::chrono::seconds(15),
                                                   std::chrono::seconds(30), std::chrono::minutes(1),
                                                   std::chrono::minutes(5)};
};

// Drift between the state, the DNS records and the ingress (tunnelmgr reconcile): how often the
// daemon looks, and whether the safe repairs (a missing or changed record, a missing rule) are made
// or only reported.
struct reconcile_settings {
    std::chrono::milliseconds interval{std::chrono::minutes(10)};  // 0: only on demand
    std::string repair = "report";  // report | repair
};

// tunnelmgr's own Prometheus metrics, served by `tunnelmgr daemon` (loopback only).
struct metrics_settings {
    std::string listen;  // HOST:PORT on loopback, e.g. 127.0.0.1:9464; empty: no metrics server
};

// The daemon's local API (newline-delimited JSON-RPC 2.0 on a unix socket): the CLI and every
// `tunnelmgr mcp` reach the daemon's table of host calls through it.
inline constexpr const char* k_default_api_socket = "/run/tunnelmgr/api.sock";
struct api_settings {
    // Empty (the default): no socket — the daemon serves none and the CLI runs in-process. The package
    // sets /run/tunnelmgr/api.sock (k_default_api_socket).
    std::string socket;
    std::string group;      // the group that may connect (socket mode 0660); empty: the daemon's own group
};

// Labels no project session may publish unless the config's reserved_labels says otherwise:
// mail and autoconfiguration names, sign-in pages, name servers — names users trust or software
// looks up by itself. The admin may still publish them.
const std::vector<std::string>& default_reserved_labels();

// Slot names, in the order plugins are started (and the reverse of teardown).
inline const std::vector<std::string>& slot_names() {
    static const std::vector<std::string> names{"state", "dns", "runtime", "supervisor", "transport"};
    return names;
}

// This machine's name among those sharing a state store: the state section's `machine` (a shared
// store such as postgres-state reads it there), else the system's host name.
std::string machine_of(const std::map<std::string, slot>& slots);

struct config {
    std::string source;  // the file it came from, or "<embedded default>"
    std::string machine;  // machine_of(slots), set when the file is read
    std::vector<std::string> plugin_dirs;
    std::map<std::string, slot> slots;  // by slot name; absent = slot empty
    tunnel_settings tunnel;
    health_settings health;
    reconcile_settings reconcile;
    metrics_settings metrics;
    std::map<std::string, project> projects;
    std::string admin_token_sha256;
    // reserved_labels: labels only the admin may publish (lower case); [] in the file: none.
    std::vector<std::string> reserved_labels = default_reserved_labels();
    api_settings api;
    std::string log_level;  // empty: not set in the file
    std::vector<std::string> warnings;  // deprecations found while reading, one sentence each, logged once

    const slot* find_slot(const std::string& name) const {
        auto it = slots.find(name);
        return it == slots.end() ? nullptr : &it->second;
    }
};

// The default plugin folder of an installed tunnelmgr.
std::string default_plugin_dir();
// Where the embedded default keeps its state: $TUNNELMGR_STATE_DB, else
// $XDG_STATE_HOME/tunnelmgr/state.db, else ~/.local/state/tunnelmgr/state.db.
std::string default_state_path();

tl::expected<config, std::string> load_file(const std::string& path);
tl::expected<config, std::string> load_string(const std::string& yaml, const std::string& source_name);
// Used when no --config is given and /etc/tunnelmgr/config.yml does not exist: SQLite state only.
config embedded_default();

}  // namespace tunnelmgr::config
