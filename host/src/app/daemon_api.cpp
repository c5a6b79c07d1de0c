// See daemon_api.hpp.
#include "app/daemon_api.hpp"

#include <unistd.h>

#include "log/logger.hpp"
#include "service/core_services.hpp"
#include "sys/sha256.hpp"

namespace tunnelmgr::app {

daemon_api::daemon_api(app_state& s, config_source current)
    : s_(s),
      current_(std::move(current)),
      ops_(*s.core, *s.state,
           [this](const std::string& token, const std::string& step, int done, int total) {
               server_.progress(token, step, done, total);
           }),
      server_(ops_, [this](const service::session_request& want, const sys::peer_credentials& peer) {
          auto cfg = current_();
          return authenticate(*cfg, want, peer, static_cast<int64_t>(::geteuid()));
      }) {}

daemon_api::~daemon_api() { stop(); }

bool daemon_api::try_serve() {
    if (server_.serving()) return true;
    auto cfg = current_();
    if (cfg->api.socket.empty()) return false;
    auto started = server_.start(cfg->api.socket, cfg->api.group);
    if (!started) {
        // Said once per distinct reason: a standby retries every loop.
        if (started.error().message != last_refusal_) {
            log::info("api", "not serving the API socket: " + started.error().message);
            last_refusal_ = started.error().message;
        }
        return false;
    }
    last_refusal_.clear();
    return true;
}

void daemon_api::stop() { server_.stop(); }

void daemon_api::publish_status(const std::string& tunnel_json) { server_.publish("tunnel.status", tunnel_json); }

core::result<core::session> daemon_api::authenticate(const config::config& cfg, const service::session_request& want,
                                                     const sys::peer_credentials& peer, int64_t daemon_uid) {
    if (want.admin && !want.project.empty()) {
        return core::fail(core::errc::invalid, "a session is a project or the admin, not both");
    }
    if (want.token.empty()) {
        // The operator: a process that could read the state and the token files anyway.
        if (peer.uid == 0 || peer.uid == daemon_uid) return core::session::admin_session("api");
        return core::fail(core::errc::denied,
                          "a session needs its token: set TUNNELMGR_TOKEN to the project's token (uid " +
                              std::to_string(peer.uid) + " is neither root nor the daemon's user)");
    }
    const std::string hash = sys::sha256_hex(want.token);
    if (want.admin || want.project.empty()) {
        if (cfg.admin_token_sha256.empty()) {
            return core::fail(core::errc::denied, "the daemon's config has no admin.token_sha256, so no admin session can open");
        }
        if (!sys::constant_time_equal(hash, cfg.admin_token_sha256)) {
            return core::fail(core::errc::denied, "the token is not the admin token");
        }
        return core::session::admin_session("api");
    }
    auto p = cfg.projects.find(want.project);
    if (p == cfg.projects.end()) {
        return core::fail(core::errc::denied, "project '" + want.project + "' is not in the daemon's config");
    }
    if (p->second.token_sha256.empty()) {
        return core::fail(core::errc::denied, "project '" + want.project + "' has no token_sha256 in the daemon's config, so no session can open for it");
    }
    if (!sys::constant_time_equal(hash, p->second.token_sha256)) {
        return core::fail(core::errc::denied, "the token is not project '" + want.project + "''s token");
    }
    return core::session::project_session(want.project, "api");
}

}  // namespace tunnelmgr::app
