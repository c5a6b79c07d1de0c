// Who is asking: a project (sees and changes only its own) or the admin (sees all). Set by how
// the session was started, never by a tool argument.
#pragma once

#include <cstdint>
#include <string>

namespace tunnelmgr::core {

struct session {
    enum class role { project, admin };
    role who = role::project;
    std::string project;  // the project's name; for the admin, empty
    std::string origin;   // "cli", "mcp", "api", "daemon": where the request came from, for the audit log
    // The connecting process as the kernel saw it (SO_PEERCRED) for calls over the API socket; -1: in-process.
    int64_t peer_uid = -1;
    int64_t peer_pid = -1;

    bool is_admin() const { return who == role::admin; }
    std::string actor() const { return is_admin() ? std::string("admin") : "project:" + project; }
    const char* role_name() const { return is_admin() ? "admin" : "project"; }

    static session admin_session(std::string origin) { return {role::admin, "", std::move(origin)}; }
    static session project_session(std::string name, std::string origin) {
        return {role::project, std::move(name), std::move(origin)};
    }
};

}  // namespace tunnelmgr::core
