// Step: when a daemon answers on the API socket, `mcp`, `cname`, `project`, `domains` and `reconcile` become thin clients of
// it — they start no plugin but the transport, never open the state and never read the Cloudflare
// token. With no daemon (the embedded default, the demo, a fresh clone) they run in-process as before:
// one table of host calls, two ways to reach it.
#include <cstdlib>

#include "app/app.hpp"
#include "log/logger.hpp"
#include "service/api_client.hpp"

namespace tunnelmgr::app {

// The socket a client tries: TUNNELMGR_API_SOCKET, else the config's api.socket, else — for a user who
// may not read the config — the packaged /run/tunnelmgr/api.sock; empty: never.
std::string api_socket_path(const app_state& s) {
    if (const char* e = std::getenv("TUNNELMGR_API_SOCKET"); e != nullptr) return e;
    if (s.config_unreadable) return config::k_default_api_socket;
    return s.cfg.api.socket;
}

run_result reach_daemon(app_state& s) {
    const std::string& cmd = s.opts.command;
    if (!s.via_daemon) return run_result::proceed();
    std::string path = api_socket_path(s);
    if (path.empty()) {
        if (s.config_unreadable) {
            return run_result::fatal("cannot read the config " + s.cfg.source +
                                         " (permission denied) and no API socket is set; set TUNNELMGR_API_SOCKET to "
                                         "the daemon's socket, or ask the operator",
                                     2);
        }
        return run_result::proceed();
    }
    auto client = service::api_client::connect(path);
    if (!client) {
        if (client.error().code == core::errc::denied) return run_result::fatal(client.error().message, 2);
        if (s.config_unreadable) {
            return run_result::fatal("cannot read the config " + s.cfg.source + " (permission denied) and " +
                                         client.error().message +
                                         "; the daemon serves project sessions: ask the operator to start it "
                                         "(systemctl start tunnelmgr)",
                                     2);
        }
        log::debug("api", client.error().message + "; running in-process");
        return run_result::proceed();
    }
    log::debug("api", "using the daemon on " + path);
    s.api = std::move(*client);
    s.wanted_slots.clear();
    s.needs_core = false;
    s.needed_slots.clear();
    if (cmd == "mcp") {
        s.needed_slots = {"transport"};
        if (s.cfg.find_slot("transport") == nullptr) {
            config::slot t;
            t.plugin = "mcp-stdio";
            t.source = "<default transport>";
            s.cfg.slots["transport"] = t;
        }
    }
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
