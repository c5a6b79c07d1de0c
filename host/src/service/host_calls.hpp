// The table of host calls: op name → handler, the role it needs, the JSON Schema of its arguments,
// and who audits it. Transports (MCP today, the API socket next) and the CLI dispatch every request
// through call(); each refusal — role, project, arguments, rate — is audited here, once (identical
// refusals in a burst as one row with a count). Adding a call is one row plus its handler.
// call() may run on several threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include <tunnelmgr/sdk/model_audit.hpp>

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
    // Writes the summary rows of refusals still being counted.
    ~host_calls();
    host_calls(const host_calls&) = delete;
    host_calls& operator=(const host_calls&) = delete;

    core::result<std::string> call(const std::string& op, const std::string& args_json, const core::session& who);

    // Identical refusals (same actor, op, outcome and sentence) within this window after the first are
    // counted, not written: the first is written at once, the rest as one row whose details carry
    // "count" (how many more came) when the window ends — seen at the next call() or flush — or at
    // destruction. Each kind of refusal has its own window, so interleaved sessions still coalesce.
    static constexpr std::chrono::seconds refusal_window{60};
    // Writes the summary rows of windows that have ended (call() does this first; a daemon may call it
    // from its loop so a count is written on time when no call follows).
    void flush_refusals();

    // The time rates and refusal windows are measured in (tests bring their own; set before any call).
    using clock_fn = std::function<std::chrono::steady_clock::time_point()>;
    void use_clock(clock_fn clock) { clock_ = std::move(clock); }

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
    // Which of the project's rates (projects.P.rate) a call spends; the admin spends none.
    enum class rate_kind { none, changes, checks };

    struct entry {
        const char* op;
        role_needed role;
        audit_policy audit;
        rate_kind rate;
        // The arguments' JSON Schema: checked before the handler runs, so a handler reads arguments
        // of the right types. Types and required keys only; the values' rules (port ranges, label
        // syntax) stay with the core, which explains them better.
        const char* input_schema;
        core::result<std::string> (host_calls::*handler)(const request&);
        // It changes the tunnel (DNS, ingress, cloudflared): call() runs these one at a time, whichever
        // session or thread they come from (core_services::writer, which the daemon's reconcile takes too).
        bool writes = false;
    };
    static std::span<const entry> table();

private:
    core::result<std::string> session_info(const request& r);
    core::result<std::string> status_get(const request& r);
    core::result<std::string> cname_request(const request& r);
    core::result<std::string> target_check(const request& r);
    core::result<std::string> cname_delete(const request& r);
    core::result<std::string> cname_retarget(const request& r);
    core::result<std::string> cname_list(const request& r);
    core::result<std::string> domains_list(const request& r);
    core::result<std::string> domains_refresh(const request& r);
    core::result<std::string> tunnel_restart(const request& r);
    core::result<std::string> audit_query(const request& r);
    core::result<std::string> health_history(const request& r);
    core::result<std::string> reconcile_run(const request& r);
    core::result<std::string> topology_get(const request& r);

    void audit_refusal(const core::session& who, const std::string& op, const std::string& requested_project,
                       const core::error& e);
    // A project's call of `kind`: allowed (spending one), or refused (retry) saying which limit and when.
    core::result<void> spend_rate(const core::session& who, rate_kind kind);
    // Audits `entry` now, or counts it into the open window of identical refusals.
    void coalesce_refusal(sdk::model::audit_entry row);
    // Windows ended by `now` (all of them when `everything`): removed, their summary rows into `out`.
    void take_ended_windows(std::chrono::steady_clock::time_point now, bool everything,
                            std::vector<sdk::model::audit_entry>& out);
    core::progress_fn progress_for(const request& r);

    core_services& core_;
    core::state_store& state_;
    progress_sink progress_;
    // tunnel_status() is asked often (every status call, the status watch): a live probe of
    // cloudflared at most once a second is plenty, and keeps status calls sub-millisecond.
    std::mutex status_mutex_;
    std::chrono::steady_clock::time_point status_at_{};
    std::string status_cached_;

    clock_fn clock_ = [] { return std::chrono::steady_clock::now(); };

    // Per project and kind, the rate as a virtual schedule (GCRA): `next` is when the bucket would be
    // empty again; a call is allowed while next - now stays within the burst (N-1 intervals).
    struct rate_state {
        std::chrono::steady_clock::time_point next{};
    };
    std::mutex rates_mutex_;
    std::map<std::pair<std::string, rate_kind>, rate_state> rates_;

    // Open windows of identical refusals: (actor, op, outcome, sentence) → the latest one and how many
    // came after the row written at once. At most max_refusal_windows; the oldest is closed first.
    using refusal_key = std::tuple<std::string, std::string, std::string, std::string>;
    struct refusal_window_state {
        sdk::model::audit_entry latest;
        int64_t repeats = 0;
        std::chrono::steady_clock::time_point opened;
    };
    static constexpr size_t max_refusal_windows = 1024;
    std::mutex refusals_mutex_;
    std::map<refusal_key, refusal_window_state> refusals_;
};

}  // namespace tunnelmgr::service
