// The subcommands: what each needs started, and the function that runs it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "app/app.hpp"
#include "core/json.hpp"

namespace tunnelmgr::app {

struct command {
    const char* name;
    const char* summary;
    std::vector<std::string> needs;  // slots to start before running
    run_result (*fn)(app_state&);
    std::vector<std::string> wants = {};  // slots started when configured
    bool core = false;                    // needs the pipeline
    bool via_daemon = false;              // only host calls: forwarded to a daemon that answers (reach_daemon)
};

const std::vector<command>& commands();
const command* find_command(const std::string& name);

run_result cmd_plugins(app_state& s);
run_result cmd_state(app_state& s);
run_result cmd_check(app_state& s);
run_result cmd_cname(app_state& s);
run_result cmd_domains(app_state& s);
run_result cmd_project(app_state& s);  // cname_command.cpp
run_result cmd_audit(app_state& s);
run_result cmd_mcp(app_state& s);
run_result cmd_daemon(app_state& s);
run_result cmd_status(app_state& s);
run_result cmd_doctor(app_state& s);  // doctor_command.cpp
run_result cmd_reconcile(app_state& s);  // reconcile_command.cpp
run_result cmd_ingress(app_state& s);    // ingress_command.cpp
run_result cmd_topology(app_state& s);   // topology_command.cpp

// A call of the table of host calls as the admin: through the daemon when one answers (reach_daemon),
// else in-process; `progress` prints the pipeline's steps on stderr. In cname_command.cpp.
core::result<std::string> admin_call(app_state& s, const std::string& op, core::json::object& args, bool progress);

// True when `--json` is among the command's arguments; any other argument not in `allowed` is an error.
bool wants_json(const app_state& s, std::string& bad_arg);

}  // namespace tunnelmgr::app
