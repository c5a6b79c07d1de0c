// The `supervisor:` section of tunnelmgr's config for the systemd-supervisor plugin: which unit (or
// units, one per cloudflared replica), which systemctl, what to put before it (sudo, docker exec,
// ...), and how long a call may take.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "replica_list.hpp"
#include "supervisor_error.hpp"

namespace tunnelmgr::plugins::systemd_supervisor {

struct supervisor_config {
    // Every cloudflared this instance supervises, in config order: `unit: NAME` is one replica with
    // no metrics address of its own; `units: [{unit: NAME, metrics: "HOST:PORT"}, ...]` lists them.
    std::vector<replicas::replica_ref> units{{"cloudflared.service", ""}};
    bool listed = false;  // the config used `units:`; messages then name that setting
    // Run before systemctl, e.g. {"sudo","-n"} or {"docker","-H","unix:///x.sock","exec","CTR"}.
    std::vector<std::string> command_prefix;
    std::string systemctl = "systemctl";
    std::chrono::milliseconds timeout{15000};
};

// The setting that names the units, for messages that say what to fix: "supervisor.unit" or
// "supervisor.units".
std::string unit_setting(const supervisor_config& config);

// Parses the section (with or without "plugin"); unknown keys are refused so a typo is not ignored,
// and so are `unit` and `units` together. Errors are sentences naming the key to fix (kind invalid).
sup_result<supervisor_config> parse_supervisor_config(std::string_view json);

// systemd's rule for unit names, plus no leading '-' so a name can never read as an option.
bool is_valid_unit_name(std::string_view unit);

// Whether the MainPID systemctl reports is a PID of tunnelmgr's own namespace, so it can be
// followed: no command prefix, or one that only changes the user or environment (sudo, doas, run0,
// env) and names nothing that enters another machine or container (docker, nsenter, ssh...).
// When not, `why` says so in a sentence.
bool same_pid_namespace(const supervisor_config& config, std::string& why);

// The JSON Schema (draft 2020-12) published through TM_PLUGIN.
extern const char* const supervisor_config_schema;

}  // namespace tunnelmgr::plugins::systemd_supervisor
