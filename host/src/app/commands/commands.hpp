// The subcommands: what each needs started, and the function that runs it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "app/app.hpp"

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

// True when `--json` is among the command's arguments; any other argument not in `allowed` is an error.
bool wants_json(const app_state& s, std::string& bad_arg);

}  // namespace tunnelmgr::app
