// `tunnelmgr mcp --project NAME | --admin`: serve one client over the transport slot (MCP on stdio).
// Who the session is comes from TUNNELMGR_TOKEN checked against the config's SHA-256 hashes —
// never from anything the client sends.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "app/commands/commands.hpp"
#include "service/core_services.hpp"
#include "app/session_handle.hpp"
#include "core/json.hpp"
#include "log/logger.hpp"
#include "service/api_client.hpp"
#include "service/host_calls.hpp"
#include "sys/sha256.hpp"

namespace tunnelmgr::app {
namespace {

// Polls the tunnel's status and tells the transport when it changes (tunnel.status events).
class status_watch {
public:
    status_watch(service::host_calls& ops, host::transport_client& transport, std::chrono::milliseconds every)
        : ops_(ops), transport_(transport), every_(every), thread_([this] { loop(); }) {}
    ~status_watch() {
        {
            std::lock_guard<std::mutex> lock(m_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

private:
    void loop() {
        std::string last;
        std::unique_lock<std::mutex> lock(m_);
        while (!stop_) {
            lock.unlock();
            auto s = ops_.tunnel_status();
            if (s) {
                auto d = core::json::parse(*s);
                std::string tunnel = d ? core::json::to_string((*d)["tunnel"]) : "{}";
                std::string status = d ? core::json::str((*d)["tunnel"], "status") : "";
                if (!last.empty() && status != last) (void)transport_.deliver_event("tunnel.status", tunnel);
                last = status;
            }
            lock.lock();
            cv_.wait_for(lock, every_, [this] { return stop_; });
        }
    }

    service::host_calls& ops_;
    host::transport_client& transport_;
    std::chrono::milliseconds every_;
    std::mutex m_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

void wipe(std::string& secret) {
    std::fill(secret.begin(), secret.end(), '\0');
    secret.clear();
}

// TUNNELMGR_TOKEN, then gone: its bytes are overwritten where the kernel shows them
// (/proc/PID/environ reads the original environment block) and the variable is removed, so nothing
// this process starts inherits it.
std::string take_token_from_environment() {
    char* v = std::getenv("TUNNELMGR_TOKEN");
    if (v == nullptr) return {};
    std::string token = v;
    std::fill(v, v + std::strlen(v), '\0');
    ::unsetenv("TUNNELMGR_TOKEN");
    return token;
}

// The thin client: only the transport runs here; every host call, progress report and status change
// goes over the API socket to the daemon, which decides who this session is from the token.
run_result serve_through_daemon(app_state& s, const std::string& project, bool admin, std::string& token) {
    service::session_request want;
    want.token = token;
    want.project = project;
    want.admin = admin;
    wipe(token);
    auto opened = s.api->open_session(want);
    if (!opened) {
        return run_result::fatal("refusing to start: the tunnelmgr daemon on " + s.api->path() +
                                     " refused the session: " + opened.error().message,
                                 2);
    }
    tm_session session{admin ? core::session::admin_session("mcp") : core::session::project_session(project, "mcp")};
    host::transport_client transport(*s.plugins->find("transport"));
    s.api->on_event([&transport](const std::string& method, const std::string& params) {
        if (method == "call.progress" || method == "tunnel.status") (void)transport.deliver_event(method, params);
    });
    if (transport.takes_events()) {
        if (auto sub = s.api->call("events.subscribe", "{}"); !sub) {
            log::warn("mcp", "the daemon does not push status changes: " + sub.error().message);
        }
    }
    s.services.set_call_handler([&](const std::string& op, const std::string& args, const tm_session_t* who)
                                    -> core::result<std::string> {
        if (who != &session) {
            return core::fail(core::errc::denied, "unknown session: a transport may only use the session it was given");
        }
        return s.api->call(op, args);
    });
    // The daemon going away ends the session: its token is gone from this process, so it cannot open
    // another; the MCP client sees the server exit and can start it again.
    std::atomic<bool> daemon_gone{false};
    s.api->on_closed([&] {
        daemon_gone = true;
        (void)transport.stop();
    });
    log::info("mcp", "serving " + session.who.actor() + " through the daemon on " + s.api->path());
    auto served = transport.serve(&session);
    s.services.set_call_handler(nullptr);
    s.api->on_closed(nullptr);  // from here on, closing is ours (the client ended the session)
    const std::string path = s.api->path();
    s.api.reset();  // joins the reader: no callback runs after this
    if (daemon_gone) {
        return run_result::fatal("mcp: the tunnelmgr daemon on " + path +
                                     " closed the connection (it stopped or restarted); start the session again",
                                 3);
    }
    if (!served) return run_result::fatal("mcp: " + served.error().message, 3);
    return run_result::proceed();
}

}  // namespace

run_result cmd_mcp(app_state& s) {
    std::string project;
    bool admin = false;
    const auto& a = s.opts.args;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] == "--admin") {
            admin = true;
        } else if (a[i] == "--project" && i + 1 < a.size()) {
            project = a[++i];
        } else {
            return run_result::fatal("mcp: unknown argument '" + a[i] + "'; usage: tunnelmgr mcp --project NAME | --admin", 2);
        }
    }
    if (admin == !project.empty()) {
        return run_result::fatal("mcp: say which session this is: --project NAME or --admin (exactly one)", 2);
    }
    std::string token = take_token_from_environment();
    if (token.empty()) {
        return run_result::fatal("refusing to start: TUNNELMGR_TOKEN is not set; put the session's token in the "
                                 "environment of the MCP server entry",
                                 2);
    }
    log::logger::instance().add_secret(token);
    if (s.api) return serve_through_daemon(s, project, admin, token);
    std::string expected;
    if (admin) {
        expected = s.cfg.admin_token_sha256;
        if (expected.empty()) {
            return run_result::fatal("refusing to start: the config has no admin.token_sha256, so no admin session can start", 2);
        }
    } else {
        auto p = s.cfg.projects.find(project);
        if (p == s.cfg.projects.end()) {
            return run_result::fatal("refusing to start: project '" + project + "' is not in the config's projects", 2);
        }
        expected = p->second.token_sha256;
        if (expected.empty()) {
            return run_result::fatal("refusing to start: project '" + project +
                                         "' has no token_sha256 in the config, so no session can start for it",
                                     2);
        }
    }
    bool token_ok = sys::constant_time_equal(sys::sha256_hex(token), expected);
    wipe(token);
    if (!token_ok) {
        return run_result::fatal(std::string("refusing to start: TUNNELMGR_TOKEN is not the ") +
                                     (admin ? "admin" : "project '" + project + "'") + " token",
                                 2);
    }

    tm_session session{admin ? core::session::admin_session("mcp") : core::session::project_session(project, "mcp")};
    host::transport_client transport(*s.plugins->find("transport"));
    service::host_calls ops(*s.core, *s.state, [&](const std::string& token_id, const std::string& step, int done, int total) {
        core::json::object e;
        e.set("token", token_id).set("step", step).set("done", done).set("total", total);
        (void)transport.deliver_event("call.progress", e.str());
    });
    s.services.set_call_handler([&](const std::string& op, const std::string& args, const tm_session_t* who)
                                    -> core::result<std::string> {
        if (who != &session) {
            return core::fail(core::errc::denied, "unknown session: a transport may only use the session it was given");
        }
        return ops.call(op, args, who->who);
    });
    log::info("mcp", std::string("serving ") + session.who.actor());
    std::unique_ptr<status_watch> watch;
    if (transport.takes_events()) watch = std::make_unique<status_watch>(ops, transport, std::chrono::seconds(5));
    auto served = transport.serve(&session);
    watch.reset();
    s.services.set_call_handler(nullptr);
    if (!served) return run_result::fatal("mcp: " + served.error().message, 3);
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
