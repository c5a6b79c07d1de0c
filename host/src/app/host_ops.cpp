// See host_ops.hpp.
#include "app/host_ops.hpp"

#include "core/json.hpp"

namespace tunnelmgr::app {
namespace {

core::result<rapidjson::Document> args_object(const std::string& text) {
    auto d = core::json::parse(text.empty() ? "{}" : text);
    if (!d || !d->IsObject()) return core::fail(core::errc::invalid, "the arguments must be a JSON object");
    return std::move(*d);
}

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

core::result<void> admin_only(const core::session& who, const std::string& op) {
    if (who.is_admin()) return {};
    return core::fail(core::errc::denied, op + " is for the admin session only (start tunnelmgr mcp with --admin)");
}

#define TM_TRY(var, expr)                                  \
    auto var##_r = (expr);                                 \
    if (!var##_r) return tl::unexpected(var##_r.error());  \
    auto var = std::move(*var##_r)

}  // namespace

core::result<std::string> host_ops::tunnel_status() {
    std::lock_guard<std::mutex> lock(status_mutex_);
    auto now = std::chrono::steady_clock::now();
    if (!status_cached_.empty() && now - status_at_ < std::chrono::seconds(1)) return status_cached_;
    core::json::object tunnel;
    std::string status = "unknown";
    int ready = 0;
    std::string last_error;
    auto n = core_.probe ? core_.probe->ready_connections() : core::result<int>(core::fail(core::errc::error, "no probe"));
    if (n) {
        ready = *n;
        status = *n > 0 ? "up" : "degraded";
    } else {
        status = "down";
        last_error = n.error().message;
    }
    tunnel.set("status", status).set("ready_connections", ready).set("last_error", last_error);
    tunnel.set("metrics", core_.probe ? core_.probe->address() : std::string());
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
    if (core_.supervisor) {
        auto s = core_.supervisor->status();
        if (s) {
            out.set_raw("supervisor", *s);
        } else {
            out.set_raw("supervisor", core::json::object().set("running", false).set("detail", s.error().message).str());
        }
    } else {
        out.set_null("supervisor");
    }
    status_cached_ = out.str();
    status_at_ = now;
    return status_cached_;
}

core::result<std::string> host_ops::call(const std::string& op, const std::string& args_json, const core::session& who) {
    TM_TRY(a, args_object(args_json));
    auto& p = *core_.pipeline;
    // projectName: accepted for compatibility; a project session may only name itself.
    TM_TRY(named, string_arg(a, "projectName", false));
    if (!who.is_admin() && !named.empty() && named != who.project) {
        return core::fail(core::errc::denied, "this session belongs to project '" + who.project +
                                                  "'; it cannot act for project '" + named + "'");
    }

    if (op == "session.info") {
        return core::json::object().set("project", who.project).set("role", who.is_admin() ? "admin" : "project").str();
    }
    if (op == "status.get") {
        TM_TRY(status, tunnel_status());
        auto count = p.count_cnames(who, who.is_admin() ? named : "");
        auto doc = core::json::parse(status);
        core::json::object out;
        out.set_raw("tunnel", core::json::to_string((*doc)["tunnel"]));
        out.set_raw("supervisor", core::json::to_string((*doc)["supervisor"]));
        out.set("cnames", count ? *count : static_cast<int64_t>(0));
        out.set("project", who.project).set("role", who.is_admin() ? "admin" : "project");
        return out.str();
    }
    if (op == "cname.request" || op == "target.check") {
        core::cname_request req;
        TM_TRY(sub, string_arg(a, "subdomain", true));
        TM_TRY(port, int_arg(a, "port", true, 0));
        TM_TRY(domain, string_arg(a, "domain", false));
        req.subdomain = sub;
        req.port = port;
        req.domain = domain;
        req.project = named;
        if (op == "target.check") return p.check_target(who, req);
        TM_TRY(token, string_arg(a, "_progress", false));
        core::progress_fn progress;
        if (!token.empty() && progress_) {
            progress = [&](const std::string& step, int done, int total) { progress_(token, step, done, total); };
        }
        return p.request_cname(who, req, progress);
    }
    if (op == "cname.delete") {
        TM_TRY(host, string_arg(a, "hostname", true));
        TM_TRY(token, string_arg(a, "_progress", false));
        core::progress_fn progress;
        if (!token.empty() && progress_) {
            progress = [&](const std::string& step, int done, int total) { progress_(token, step, done, total); };
        }
        return p.delete_cname(who, host, progress);
    }
    if (op == "cname.list") {
        TM_TRY(limit, int_arg(a, "limit", false, 100));
        TM_TRY(offset, int_arg(a, "offset", false, 0));
        return p.list_cnames(who, named, limit, offset);
    }
    if (op == "domains.list") {
        TM_TRY(known, p.list_domains(false));
        auto d = core::json::parse(known);
        if (d && d->IsArray() && d->Empty() && core_.dns) return p.list_domains(true);
        return known;
    }
    if (op == "domains.refresh") {
        if (auto ok = admin_only(who, op); !ok) return tl::unexpected(ok.error());
        return p.list_domains(true);
    }
    if (op == "tunnel.restart") {
        if (auto ok = admin_only(who, op); !ok) return tl::unexpected(ok.error());
        if (!core_.supervisor) {
            return core::fail(core::errc::invalid, "no supervisor is configured: add a `supervisor:` section, or restart cloudflared by hand");
        }
        auto r = core_.supervisor->restart();
        core::json::object audit;
        audit.set("actor", who.actor()).set("role", who.is_admin() ? "admin" : "project").set("action", "tunnel.restart");
        audit.set("target", "cloudflared").set("result", r ? "ok" : "error").set("error", r ? "" : r.error().message);
        audit.set_raw("details", core::json::object().set("origin", who.origin).str());
        (void)state_.audit_append(audit.str());
        if (!r) return tl::unexpected(r.error());
        return core::json::object().set("restarted", true).set("detail", "restart issued; the health loop watches /ready").str();
    }
    if (op == "audit.query") {
        TM_TRY(limit, int_arg(a, "limit", false, 50));
        TM_TRY(action, string_arg(a, "action", false));
        if (limit < 1 || limit > 1000) return core::fail(core::errc::invalid, "`limit` must be from 1 to 1000");
        core::json::object f;
        f.set("limit", limit);
        if (!action.empty()) f.set("action", action);
        std::string project = who.is_admin() ? named : who.project;
        if (!project.empty()) f.set("project", project);
        return state_.audit_query(f.str());
    }
    if (op == "health.history") {
        TM_TRY(limit, int_arg(a, "limit", false, 50));
        if (limit < 1 || limit > 1000) return core::fail(core::errc::invalid, "`limit` must be from 1 to 1000");
        return state_.health_history(core::json::object().set("limit", limit).str());
    }
    return core::fail(core::errc::invalid, "unknown operation '" + op + "'");
}

}  // namespace tunnelmgr::app
