// The table of host calls: op name → handler, the role it needs, the JSON Schema of its arguments,
// and who audits it. Transports (MCP today, the API socket next) and the CLI dispatch every request
// through call(); each refusal — role, project, arguments — is audited here, once. Adding a call is
// one row plus its handler.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <span>
#include <string>

#include <rapidjson/document.h>

#include "service/core_services.hpp"
#include "core/result.hpp"
#include "core/session.hpp"

namespace tunnelmgr::service {

class host_calls {
public:
    // progress_sink(token, step, done, total): how call.progress reaches the transport.
    using progress_sink = std::function<void(const std::string&, const std::string&, int, int)>;

    host_calls(core_services& core, core::state_store& state, progress_sink progress)
        : core_(core), state_(state), progress_(std::move(progress)) {}

    core::result<std::string> call(const std::string& op, const std::string& args_json, const core::session& who);

    // The status object of `status.get` (also what tunnel.status events carry).
    core::result<std::string> tunnel_status();

    // What a handler gets: the session, its arguments (an object), and the project it may name.
    struct request {
        const core::session& who;
        const rapidjson::Value& args;
        std::string project;  // projectName as given ("" when absent); already checked against the session
    };

    enum class role_needed { any, admin };
    // refusals: this table audits the refusals (the call itself is a read, or audits its success);
    // handler: the handler audits every outcome itself (the CNAME pipeline does).
    enum class audit_policy { refusals, handler };

    struct entry {
        const char* op;
        role_needed role;
        audit_policy audit;
        // The arguments' JSON Schema: checked before the handler runs, so a handler reads arguments
        // of the right types. Types and required keys only; the values' rules (port ranges, label
        // syntax) stay with the core, which explains them better.
        const char* input_schema;
        core::result<std::string> (host_calls::*handler)(const request&);
    };
    static std::span<const entry> table();

private:
    core::result<std::string> session_info(const request& r);
    core::result<std::string> status_get(const request& r);
    core::result<std::string> cname_request(const request& r);
    core::result<std::string> target_check(const request& r);
    core::result<std::string> cname_delete(const request& r);
    core::result<std::string> cname_list(const request& r);
    core::result<std::string> domains_list(const request& r);
    core::result<std::string> domains_refresh(const request& r);
    core::result<std::string> tunnel_restart(const request& r);
    core::result<std::string> audit_query(const request& r);
    core::result<std::string> health_history(const request& r);

    void audit_refusal(const core::session& who, const std::string& op, const std::string& requested_project,
                       const core::error& e);
    core::progress_fn progress_for(const request& r);

    core_services& core_;
    core::state_store& state_;
    progress_sink progress_;
    // tunnel_status() is asked often (every status call, the status watch): a live probe of
    // cloudflared at most once a second is plenty, and keeps status calls sub-millisecond.
    std::mutex status_mutex_;
    std::chrono::steady_clock::time_point status_at_{};
    std::string status_cached_;
};

}  // namespace tunnelmgr::service
