// See host_calls.hpp.
#include "service/host_calls.hpp"

#include <algorithm>
#include <array>
#include <optional>

#include "core/audit.hpp"
#include "core/json.hpp"
#include "core/tunnel_status.hpp"
#include "log/logger.hpp"
#include "plugin_host/config_check.hpp"
#include "service/topology_view.hpp"

namespace tunnelmgr::service {
namespace {

// A string argument, absent → "", present but not a string → error.
core::result<std::string> string_arg(const rapidjson::Value& a, const char* key, bool required) {
    auto it = a.FindMember(key);
    if (it == a.MemberEnd() || it->value.IsNull()) {
        if (required) return core::fail(core::errc::invalid, std::string("`") + key + "` is required");
        return std::string();
    }
    if (!it->value.IsString()) return core::fail(core::errc::invalid, std::string("`") + key + "` must be a string");
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

core::result<int64_t> int_arg(const rapidjson::Value& a, const char* key, bool required, int64_t def) {
    auto it = a.FindMember(key);
    if (it == a.MemberEnd() || it->value.IsNull()) {
        if (required) return core::fail(core::errc::invalid, std::string("`") + key + "` is required");
        return def;
    }
    if (!it->value.IsInt64()) return core::fail(core::errc::invalid, std::string("`") + key + "` must be a whole number");
    return it->value.GetInt64();
}

// An op's argument schema: its own properties (each followed by a comma), its "required" clause (with
// a trailing comma, or nothing), and the two every op accepts — projectName (checked against the
// session) and _progress (a transport's progress token).
#define TM_ARGS(props, required)                                                                     \
    "{\"type\":\"object\",\"properties\":{" props                                                  \
    "\"projectName\":{\"type\":\"string\"},\"_progress\":{\"type\":\"string\"}}," required         \
    "\"additionalProperties\":false}"
// Names: printable text of DNS size. The schema stops only what can never be meant as a name (control
// characters such as a terminal's escape sequences, and unbounded length); the core's sentences
// explain the rest better than a pattern could ("has dots: give one label ...", "at most 63").
#define TM_NAME(key, max) "\"" key "\":{\"type\":\"string\",\"maxLength\":" #max R"(,"pattern":"^[^\\x00-\\x1f\\x7f]*$"},)"
#define TM_CNAME_ARGS TM_NAME("subdomain", 253) R"("port":{"type":"integer"},)" TM_NAME("domain", 253) \
    R"("ttl":{"type":["string","integer"]},"originRequest":{"type":"object"},)"
#define TM_CNAME_REQUIRED R"("required":["subdomain","port"],)"

using H = host_calls;
constexpr auto any = H::role_needed::any;
constexpr auto admin = H::role_needed::admin;
constexpr auto refusals = H::audit_policy::refusals;
constexpr auto by_handler = H::audit_policy::handler;
constexpr auto no_rate = H::rate_kind::none;
constexpr auto changes = H::rate_kind::changes;
constexpr auto checks = H::rate_kind::checks;

// A rate refusal's sentence without its "; retry in N s": what identical refusals share, for the audit.
const char* const retry_in = "; retry in ";
std::string without_retry_time(const std::string& message) {
    auto at = message.rfind(retry_in);
    return at == std::string::npos ? message : message.substr(0, at);
}


}  // namespace

std::span<const host_calls::entry> host_calls::table() {
    static const std::array<H::entry, 14> calls{{
        {"session.info", any, refusals, no_rate, TM_ARGS("", ""), &H::session_info},
        {"status.get", any, refusals, no_rate, TM_ARGS("", ""), &H::status_get},
        {"cname.request", any, by_handler, changes, TM_ARGS(TM_CNAME_ARGS, TM_CNAME_REQUIRED), &H::cname_request, true},
        {"target.check", any, refusals, checks, TM_ARGS(TM_CNAME_ARGS, TM_CNAME_REQUIRED), &H::target_check},
        {"cname.delete", any, by_handler, changes, TM_ARGS(TM_NAME("hostname", 253), R"("required":["hostname"],)"), &H::cname_delete, true},
        {"cname.retarget", any, by_handler, changes,
         TM_ARGS(TM_NAME("hostname", 253) R"("port":{"type":"integer"},)" TM_NAME("target", 2048)
                     R"("originRequest":{"type":"object"},)", R"("required":["hostname"],)"),
         &H::cname_retarget, true},
        {"cname.list", any, refusals, no_rate, TM_ARGS(R"("limit":{"type":"integer"},"offset":{"type":"integer"},)" TM_NAME("after", 253), ""), &H::cname_list},
        {"domains.list", any, refusals, no_rate, TM_ARGS("", ""), &H::domains_list},
        {"domains.refresh", admin, refusals, no_rate, TM_ARGS("", ""), &H::domains_refresh},
        {"tunnel.restart", admin, refusals, no_rate, TM_ARGS("", ""), &H::tunnel_restart, true},
        {"audit.query", any, refusals, no_rate, TM_ARGS(R"("limit":{"type":"integer"},"action":{"type":"string"},)", ""), &H::audit_query},
        {"health.history", any, refusals, no_rate, TM_ARGS(R"("limit":{"type":"integer"},)", ""), &H::health_history},
        {"reconcile.run", admin, refusals, no_rate, TM_ARGS(R"("dryRun":{"type":"boolean"},)", ""), &H::reconcile_run, true},
        {"topology.get", admin, refusals, no_rate, TM_ARGS("", ""), &H::topology_get},
    }};
    return calls;
}

void host_calls::audit_refusal(const core::session& who, const std::string& op, const std::string& requested_project,
                               const core::error& e) {
    core::json::object details;
    details.set("origin", who.origin);
    if (who.peer_uid >= 0) details.set("peer_uid", who.peer_uid).set("peer_pid", who.peer_pid);
    if (!requested_project.empty()) details.set("requested_project", requested_project);
    coalesce_refusal({who.actor(), who.role_name(), op, op, who.project,
                      e.code == core::errc::denied ? "denied" : "refused", without_retry_time(e.message), details.str()});
}

host_calls::~host_calls() {
    std::lock_guard<std::mutex> lock(refusals_mutex_);
    std::vector<sdk::model::audit_entry> rows;
    take_ended_windows(clock_(), true, rows);
    for (const auto& row : rows) core::record_audit(state_, row);
}

void host_calls::flush_refusals() {
    std::lock_guard<std::mutex> lock(refusals_mutex_);
    if (refusals_.empty()) return;
    std::vector<sdk::model::audit_entry> rows;
    take_ended_windows(clock_(), false, rows);
    for (const auto& row : rows) core::record_audit(state_, row);
}

void host_calls::take_ended_windows(std::chrono::steady_clock::time_point now, bool everything,
                                    std::vector<sdk::model::audit_entry>& out) {
    for (auto it = refusals_.begin(); it != refusals_.end();) {
        if (!everything && now - it->second.opened < refusal_window) {
            ++it;
            continue;
        }
        if (it->second.repeats > 0) {
            sdk::model::audit_entry summary = it->second.latest;
            auto details = core::json::parse(summary.details);
            if (!details || !details->IsObject()) details = core::json::parse("{}");
            details->RemoveMember("count");
            details->AddMember("count", rapidjson::Value(it->second.repeats), details->GetAllocator());
            details->RemoveMember("window_s");
            details->AddMember("window_s", rapidjson::Value(static_cast<int64_t>(refusal_window.count())),
                               details->GetAllocator());
            summary.details = core::json::to_string(*details);
            out.push_back(std::move(summary));
        }
        it = refusals_.erase(it);
    }
}

void host_calls::coalesce_refusal(sdk::model::audit_entry row) {
    // Rows are written under the lock, so each kind's rows stay in order: first, then its summary.
    std::lock_guard<std::mutex> lock(refusals_mutex_);
    const auto now = clock_();
    std::vector<sdk::model::audit_entry> rows;
    take_ended_windows(now, false, rows);
    refusal_key key{row.actor, row.action, row.result, row.error};
    if (auto open = refusals_.find(key); open != refusals_.end()) {
        open->second.latest = std::move(row);
        ++open->second.repeats;
    } else {
        if (refusals_.size() >= max_refusal_windows) {
            // Too many kinds at once (a caller varying its mistakes): close the oldest window early.
            auto oldest = std::min_element(refusals_.begin(), refusals_.end(), [](const auto& a, const auto& b) {
                return a.second.opened < b.second.opened;
            });
            oldest->second.opened = now - refusal_window;
            take_ended_windows(now, false, rows);
        }
        rows.push_back(row);
        refusals_.emplace(std::move(key), refusal_window_state{std::move(row), 0, now});
    }
    for (const auto& r : rows) core::record_audit(state_, r);
}

core::result<void> host_calls::spend_rate(const core::session& who, rate_kind kind) {
    if (kind == rate_kind::none || who.is_admin()) return {};
    config::project_rate limits;
    if (auto it = core_.project_rates.find(who.project); it != core_.project_rates.end()) limits = it->second;
    const int per_minute = std::max(1, kind == rate_kind::changes ? limits.changes_per_minute : limits.checks_per_minute);
    const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::minutes(1)) / per_minute;
    const auto burst = interval * (per_minute - 1);  // how far ahead the schedule may run: N calls at once
    std::lock_guard<std::mutex> lock(rates_mutex_);
    const auto now = clock_();
    auto& state = rates_[{who.project, kind}];
    const auto next = std::max(state.next, now);
    if (next - now > burst) {
        auto wait = std::chrono::ceil<std::chrono::seconds>(next - burst - now);
        std::string what = kind == rate_kind::changes
                               ? std::to_string(per_minute) + (per_minute == 1 ? " change" : " changes") +
                                     " a minute (cname.request, cname.retarget, cname.delete; projects." + who.project +
                                     ".rate.changes_per_minute)"
                               : std::to_string(per_minute) + (per_minute == 1 ? " dry run" : " dry runs") +
                                     " a minute (target.check; projects." + who.project + ".rate.checks_per_minute)";
        return core::fail(core::errc::retry, "project '" + who.project + "' may make " + what + retry_in +
                                                 std::to_string(wait.count()) + " s");
    }
    state.next = next + interval;
    return {};
}

core::result<std::string> host_calls::call(const std::string& op, const std::string& args_json, const core::session& who) {
    flush_refusals();
    const entry* e = nullptr;
    for (const auto& c : table()) {
        if (op == c.op) e = &c;
    }
    auto refuse = [&](core::error err, const std::string& named) -> core::result<std::string> {
        audit_refusal(who, op, named, err);
        return tl::unexpected(std::move(err));
    };
    if (e == nullptr) return refuse({core::errc::invalid, "unknown operation '" + op + "'"}, "");
    const std::string text = args_json.empty() ? "{}" : args_json;
    auto args = core::json::parse(text);
    if (!args || !args->IsObject()) return refuse({core::errc::invalid, "the arguments must be a JSON object"}, "");
    if (auto problems = host::check_section(e->input_schema, text, host::section_origin{}); !problems) {
        // The table's own schema is broken: a bug here, not the caller's mistake.
        return refuse({core::errc::error, op + ": internal error in its argument schema: " + problems.error()}, "");
    } else if (!problems->empty()) {
        std::string all;
        for (const auto& p : *problems) all += (all.empty() ? "" : "; ") + p;
        return refuse({core::errc::invalid, "the arguments of " + op + " are wrong: " + all}, "");
    }
    // projectName: accepted for compatibility; a project session may only name itself.
    auto named = string_arg(*args, "projectName", false);
    if (!named) return refuse(named.error(), "");
    if (!who.is_admin() && !named->empty() && *named != who.project) {
        return refuse({core::errc::denied, "this session belongs to project '" + who.project +
                                               "'; it cannot act for project '" + *named + "'"},
                      *named);
    }
    if (e->role == role_needed::admin && !who.is_admin()) {
        return refuse({core::errc::denied, op + " is for the admin session only (start tunnelmgr mcp with --admin)"}, "");
    }
    // Before the handler, so a project looping on calls that fail costs no more than one that succeeds.
    if (auto allowed = spend_rate(who, e->rate); !allowed) return refuse(allowed.error(), *named);
    // One writer: changes from every session and thread (and the daemon's reconcile) one at a time.
    std::unique_lock<core::one_writer> one_writer(core_.writer, std::defer_lock);
    if (e->writes) one_writer.lock();
    auto r = (this->*(e->handler))(request{who, *args, *named});
    if (!r && e->audit == audit_policy::refusals && r.error().code != core::errc::error &&
        r.error().code != core::errc::retry && r.error().code != core::errc::timeout) {
        audit_refusal(who, op, *named, r.error());  // a refusal, not a failure of the machinery
    }
    return r;
}

core::result<std::string> host_calls::tunnel_status() {
    std::lock_guard<std::mutex> lock(status_mutex_);
    auto now = std::chrono::steady_clock::now();
    if (!status_cached_.empty() && now - status_at_ < std::chrono::seconds(1)) return status_cached_;
    std::optional<bool> running;
    std::string supervisor = "null";
    if (core_.supervisor) {
        auto s = core_.supervisor->status();
        if (s) running = s->running;
        supervisor = sdk::model::encode(s ? *s : sdk::model::supervisor_status::unknown(s.error().message));
    }
    auto n = core_.probe ? core_.probe->ready_connections() : core::result<int>(core::fail(core::errc::error, "no probe"));
    core::json::object tunnel;
    tunnel.set("status", core::tunnel_status_of(running, n)).set("ready_connections", n ? *n : 0);
    tunnel.set("last_error", n ? std::string() : n.error().message);
    tunnel.set("metrics", core_.probe ? core_.probe->address() : std::string());
    if (const int count = core_.supervisor ? core_.supervisor->replica_count() : 1; count > 1) {
        // Replicas: each on its own metrics address; up while all are ready, degraded while some are.
        std::string list = "[";
        int up = 0, down = 0, total = 0;
        for (int i = 0; i < count; ++i) {
            auto info = core_.supervisor->replica_info(i);
            auto st = core_.supervisor->replica_status(i);
            std::optional<bool> r_running = st ? st->running : std::nullopt;
            core::metrics_probe probe(info.metrics.empty() && core_.probe ? core_.probe->address() : info.metrics);
            auto ready = r_running.value_or(true) ? probe.ready_connections() : core::result<int>(0);
            std::string status = core::tunnel_status_of(r_running, ready);
            up += status == "up" ? 1 : 0;
            down += r_running.has_value() && !*r_running ? 1 : 0;
            total += ready ? *ready : 0;
            core::json::object one;
            one.set("name", info.name).set("metrics", probe.address()).set("status", status);
            one.set("ready_connections", ready ? *ready : 0);
            if (!ready) one.set("last_error", ready.error().message);
            list += (i == 0 ? "" : ",") + one.str();
        }
        list += "]";
        tunnel.set("status", up == count ? "up" : up > 0 ? "degraded" : down == count ? "down" : "degraded");
        tunnel.set("ready_connections", total);
        tunnel.set_raw("replicas", list);
    }
    auto hist = state_.health_history("{\"limit\":1}");
    if (hist) {
        auto d = core::json::parse(*hist);
        if (d && d->IsArray() && !d->Empty()) {
            const auto& last = (*d)[0];
            tunnel.set("restart_count", core::json::i64(last, "restart_count"));
            tunnel.set("uptime_s", core::json::i64(last, "uptime_s"));
            tunnel.set("checked_ms", core::json::i64(last, "ts"));
        }
    }
    core::json::object out;
    out.set_raw("tunnel", tunnel.str());
    out.set_raw("supervisor", supervisor);
    status_cached_ = out.str();
    status_at_ = now;
    return status_cached_;
}

core::progress_fn host_calls::progress_for(const request& r) {
    auto token = string_arg(r.args, "_progress", false);
    if (!token || token->empty() || !progress_) return {};
    return [this, t = *token](const std::string& step, int done, int total) { progress_(t, step, done, total); };
}

core::result<std::string> host_calls::session_info(const request& r) {
    return core::json::object().set("project", r.who.project).set("role", r.who.role_name()).str();
}

core::result<std::string> host_calls::status_get(const request& r) {
    TM_TRY(status, tunnel_status());
    auto count = core_.pipeline->count_cnames(r.who, r.who.is_admin() ? r.project : "");
    auto doc = core::json::parse(status);
    core::json::object out;
    out.set_raw("tunnel", core::json::to_string((*doc)["tunnel"]));
    out.set_raw("supervisor", core::json::to_string((*doc)["supervisor"]));
    out.set("cnames", count ? *count : static_cast<int64_t>(0));
    out.set("project", r.who.project).set("role", r.who.role_name()).set("machine", core_.machine);
    return out.str();
}

namespace {

// `originRequest`: absent → nullopt; an object → its checked settings ({} → none).
core::result<std::optional<core::origin_settings>> origin_arg(const rapidjson::Value& a) {
    auto it = a.FindMember("originRequest");
    if (it == a.MemberEnd() || it->value.IsNull()) return std::optional<core::origin_settings>();
    TM_TRY(settings, core::origin_settings_from_json(it->value));
    return std::optional<core::origin_settings>(settings);
}

core::result<core::cname_request> cname_request_of(const host_calls::request& r) {
    core::cname_request req;
    TM_TRY(sub, string_arg(r.args, "subdomain", true));
    TM_TRY(port, int_arg(r.args, "port", true, 0));
    TM_TRY(domain, string_arg(r.args, "domain", false));
    req.subdomain = sub;
    req.port = port;
    req.domain = domain;
    req.project = r.project;
    if (auto ttl = r.args.FindMember("ttl"); ttl != r.args.MemberEnd() && !ttl->value.IsNull()) {
        std::string text;
        if (ttl->value.IsString()) {
            text = ttl->value.GetString();
        } else if (ttl->value.IsInt64()) {
            text = std::to_string(ttl->value.GetInt64());
        } else {
            return core::fail(core::errc::invalid, "`ttl` must be a duration such as \"2h\" or whole seconds");
        }
        TM_TRY(seconds, core::parse_ttl(text));
        req.ttl = seconds;
    }
    TM_TRY(origin, origin_arg(r.args));
    if (origin) req.origin = *origin;
    return req;
}

}  // namespace

core::result<std::string> host_calls::cname_request(const request& r) {
    auto req = cname_request_of(r);
    if (!req) {
        // The pipeline audits what reaches it; arguments it never saw are refused (and audited) here.
        audit_refusal(r.who, "cname.create", r.project, req.error());
        return tl::unexpected(req.error());
    }
    return core_.pipeline->request_cname(r.who, *req, progress_for(r));
}

core::result<std::string> host_calls::target_check(const request& r) {
    TM_TRY(req, cname_request_of(r));
    return core_.pipeline->check_target(r.who, req);
}

core::result<std::string> host_calls::cname_delete(const request& r) {
    auto host = string_arg(r.args, "hostname", true);
    if (!host) {
        audit_refusal(r.who, "cname.delete", r.project, host.error());
        return tl::unexpected(host.error());
    }
    return core_.pipeline->delete_cname(r.who, *host, progress_for(r));
}

core::result<std::string> host_calls::cname_retarget(const request& r) {
    auto args = [&]() -> core::result<core::retarget_request> {
        core::retarget_request req;
        TM_TRY(host, string_arg(r.args, "hostname", true));
        TM_TRY(port, int_arg(r.args, "port", false, 0));
        TM_TRY(target, string_arg(r.args, "target", false));
        TM_TRY(origin, origin_arg(r.args));
        req.hostname = host;
        req.port = port;
        req.target = target;
        req.origin = origin;
        return req;
    }();
    if (!args) {
        audit_refusal(r.who, "cname.retarget", r.project, args.error());
        return tl::unexpected(args.error());
    }
    return core_.pipeline->retarget_cname(r.who, *args, progress_for(r));
}

core::result<std::string> host_calls::cname_list(const request& r) {
    TM_TRY(limit, int_arg(r.args, "limit", false, 100));
    // Absent is not 0 here: a page asked for by `after` must not also name an offset.
    std::optional<int64_t> offset;
    if (auto it = r.args.FindMember("offset"); it != r.args.MemberEnd() && !it->value.IsNull()) {
        TM_TRY(given, int_arg(r.args, "offset", true, 0));
        offset = given;
    }
    std::optional<std::string> after;
    if (auto it = r.args.FindMember("after"); it != r.args.MemberEnd() && !it->value.IsNull()) {
        TM_TRY(given, string_arg(r.args, "after", true));
        after = given;
    }
    return core_.pipeline->list_cnames(r.who, r.project, limit, offset, after);
}

core::result<std::string> host_calls::domains_list(const request&) { return core_.pipeline->list_domains(false); }

core::result<std::string> host_calls::domains_refresh(const request&) { return core_.pipeline->list_domains(true); }

namespace {
std::string restart_details(const core::session& who) {
    core::json::object d;
    d.set("origin", who.origin);
    if (who.peer_uid >= 0) d.set("peer_uid", who.peer_uid).set("peer_pid", who.peer_pid);
    return d.str();
}
}  // namespace

core::result<std::string> host_calls::tunnel_restart(const request& r) {
    if (!core_.supervisor) {
        return core::fail(core::errc::invalid, "no supervisor is configured: add a `supervisor:` section, or restart cloudflared by hand");
    }
    auto done = core_.supervisor->restart();
    core::record_audit(state_, {r.who.actor(), r.who.role_name(), "tunnel.restart", "cloudflared", r.who.project,
                                done ? "ok" : "error", done ? "" : done.error().message,
                                restart_details(r.who)});
    if (!done) return tl::unexpected(done.error());
    return core::json::object().set("restarted", true).set("detail", "restart issued; the health loop watches /ready").str();
}

core::result<std::string> host_calls::audit_query(const request& r) {
    TM_TRY(limit, int_arg(r.args, "limit", false, 50));
    TM_TRY(action, string_arg(r.args, "action", false));
    if (limit < 1 || limit > 1000) return core::fail(core::errc::invalid, "`limit` must be from 1 to 1000");
    core::json::object f;
    f.set("limit", limit);
    if (!action.empty()) f.set("action", action);
    std::string project = r.who.is_admin() ? r.project : r.who.project;
    if (!project.empty()) f.set("project", project);
    return state_.audit_query(f.str());
}

core::result<std::string> host_calls::health_history(const request& r) {
    TM_TRY(limit, int_arg(r.args, "limit", false, 50));
    if (limit < 1 || limit > 1000) return core::fail(core::errc::invalid, "`limit` must be from 1 to 1000");
    return state_.health_history(core::json::object().set("limit", limit).str());
}

core::result<std::string> host_calls::reconcile_run(const request& r) {
    auto dry = r.args.FindMember("dryRun");
    const bool dry_run = dry != r.args.MemberEnd() && dry->value.IsBool() && dry->value.GetBool();
    TM_TRY(report, reconcile_now(core_, state_, r.who, dry_run));
    return report.to_json(core_.reconcile.policy, dry_run);
}

// The topology with its text rendering: the MCP resource tunnel://topology shows "text".
core::result<std::string> host_calls::topology_get(const request&) {
    TM_TRY(view, topology_now(core_, state_));
    const std::string text = core::topology_text(view);
    return core::topology_json(view, &text);
}

}  // namespace tunnelmgr::service
