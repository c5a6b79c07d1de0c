// See ingress_migrate.hpp. The remote write follows make_remote_ingress: one lock file held for the
// whole read-check-PUT-read, and the PUT names the version it was read at, so a writer that takes no
// lock (the dashboard) and lands in between is reported instead of silently lost.
#include "core/ingress_migrate.hpp"

#include <filesystem>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "core/audit.hpp"
#include "core/json.hpp"
#include "log/logger.hpp"
#include "sys/files.hpp"

namespace tunnelmgr::core {
namespace {

std::string rule_count(size_t n) { return std::to_string(n) + (n == 1 ? " rule" : " rules"); }

std::optional<int64_t> version_of(const std::string& tunnel_config_json) {
    auto doc = json::parse(tunnel_config_json);
    if (!doc || !doc->IsObject()) return std::nullopt;
    auto v = doc->FindMember("version");
    if (v == doc->MemberEnd() || !v->value.IsInt64() || v->value.GetInt64() < 0) return std::nullopt;
    return v->value.GetInt64();
}

// The target holds something else: refused unless forced (a dry run says the same).
std::string refusal_text(const migrate_report& r) {
    std::string what = r.target + " already holds " + rule_count(r.target_before.ingress().Size()) +
                       (r.target_before.has_origin_request() ? " and a top-level originRequest" : "") +
                       " that differ from " + r.source;
    if (r.to == ingress_side::remote) {
        return what + ": to keep them, add them to the local file (in the order cloudflared should match them) and "
                      "run again; to replace them with the file's rules, run again with --force";
    }
    return what + ": to keep them, add them to the tunnel's remote configuration (the dashboard) and run again; to "
                  "replace them, run again with --force (copy the file first if you may want them back)";
}

result<std::string> read_existing(const std::string& path, const char* role) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        return fail(errc::invalid, std::string("the local ingress file ") + path + " does not exist" + role +
                                       ": point tunnel.config_file at the config.yml cloudflared runs with, or "
                                       "create it there (a `tunnel:` line and a `credentials-file:` line)");
    }
    return sys::read_file(path);
}

void audit_run(state_store* audit, const session& who, const migrate_settings& s, const migrate_report* r,
               const std::string& error_text) {
    if (audit == nullptr || s.dry_run) return;
    json::object details;
    details.set("to", side_name(s.to)).set("force", s.force).set("tunnel", s.tunnel_id);
    std::string outcome = "error";
    if (r != nullptr) {
        details.set("outcome", r->outcome).set("rules", static_cast<int64_t>(r->rules.ingress().Size()));
        if (r->version_after) details.set("version", *r->version_after);
        if (r->target_before.ingress().Size() > 0) {
            details.set("replaced_rules", static_cast<int64_t>(r->target_before.ingress().Size()));
        }
        outcome = r->refused() ? "refused" : "ok";
    }
    record_audit(*audit, {who.actor(), who.role_name(), "ingress.migrate", "tunnel:" + s.tunnel_id, "",
                          outcome, r != nullptr && r->refused() ? r->refusal : error_text, details.str()});
}

// Source checks shared by both directions: some rules, and cloudflared's rules pass.
result<void> check_source(const ingress_document& doc, const std::string& source) {
    if (doc.ingress().Empty()) return fail(errc::invalid, source + " holds no ingress rules: there is nothing to migrate");
    if (auto v = validate_ingress(doc.rules()); !v) {
        return fail(errc::invalid, source + " does not pass cloudflared's rules: " + v.error().message +
                                       " — fix it there first; nothing was changed");
    }
    return {};
}

result<migrate_report> to_remote(const migrate_settings& s, dns_provider& dns, ingress_file& file,
                                 const cloudflared_check& judge) {
    migrate_report r;
    r.to = s.to;
    r.dry_run = s.dry_run;
    r.force = s.force;
    r.source = "the local file " + file.path();
    r.target = "the tunnel's remote configuration";
    auto text = read_existing(file.path(), "");
    if (!text) return tl::unexpected(text.error());
    auto src = ingress_document::from_yaml(*text, file.path());
    if (!src) return tl::unexpected(src.error());
    if (auto ok = check_source(*src, r.source); !ok) return tl::unexpected(ok.error());
    if (auto v = judge.validate_file(file.path()); !v) {
        if (v.error().code != errc::invalid) return tl::unexpected(v.error());
        return fail(errc::invalid, "cloudflared refuses " + file.path() + ": " + v.error().message +
                                       " — fix the file first; nothing was changed");
    }
    r.rules = std::move(*src);
    if (auto root = YAML::Load(*text); root.IsMap() && root["warp-routing"]) {
        r.notes.push_back("the file's `warp-routing` is not part of the ingress and was not copied: a remotely-managed "
                          "tunnel takes it from the dashboard (Networks → Tunnels)");
    }

    // From here to the read-back, every tunnelmgr writer of this tunnel waits (as make_remote_ingress does).
    std::optional<sys::file_lock> lock;
    if (!s.dry_run && !s.remote_lock_path.empty()) {
        auto l = sys::file_lock::acquire(s.remote_lock_path);
        if (!l) {
            return fail(l.error().code, "cannot take the lock that serialises writes to the tunnel's remote "
                                        "configuration: " + l.error().message);
        }
        lock.emplace(std::move(*l));
    }
    auto got = dns.get_tunnel_config(s.tunnel_id);
    if (!got) return tl::unexpected(got.error());
    auto before = ingress_document::from_remote(*got);
    if (!before) return tl::unexpected(before.error());
    r.target_before = std::move(*before);
    r.version_before = version_of(*got);
    if (r.target_before.same_as(r.rules)) {
        r.outcome = "unchanged";
        r.verified = true;
        r.version_after = r.version_before;
        return r;
    }
    if (!r.target_before.bare() && !s.force) {
        r.outcome = "refused";
        r.refusal = refusal_text(r);
        return r;
    }
    if (s.dry_run) {
        r.outcome = "would migrate";
        return r;
    }

    // The stored configuration with its ingress and originRequest replaced; its other keys
    // (warp-routing, ...) go back as they came.
    auto stored = json::parse(*got);
    rapidjson::Document body;
    body.SetObject();
    auto& a = body.GetAllocator();
    rapidjson::Value config(rapidjson::kObjectType);
    if (stored && stored->IsObject() && stored->HasMember("config") && (*stored)["config"].IsObject()) {
        config.CopyFrom((*stored)["config"], a);
    }
    config.RemoveMember("ingress");
    config.RemoveMember("originRequest");
    rapidjson::Value ingress;
    ingress.CopyFrom(r.rules.ingress(), a);
    config.AddMember("ingress", ingress, a);
    if (r.rules.has_origin_request()) {
        rapidjson::Value origin;
        origin.CopyFrom(r.rules.origin_request(), a);
        config.AddMember("originRequest", origin, a);
    }
    body.AddMember("config", config, a);
    if (r.version_before) body.AddMember("version", rapidjson::Value(*r.version_before), a);
    auto put = dns.put_tunnel_config(s.tunnel_id, json::to_string(body));
    if (!put && put.error().code != errc::conflict) return tl::unexpected(put.error());
    if (!put) {
        // Stored, but someone wrote between our read and our PUT: what they wrote is overwritten.
        log::warn("ingress", "tunnel " + s.tunnel_id + ": migrate: " + put.error().message);
        r.notes.push_back("another writer changed the remote configuration while it was being migrated (" +
                          put.error().message + "); the migrated rules replaced that change: check the dashboard");
    }
    auto back = dns.get_tunnel_config(s.tunnel_id);
    if (!back) {
        return fail(back.error().code, "the rules were stored but could not be read back to check them: " +
                                           back.error().message + " — run `tunnelmgr ingress migrate --to remote "
                                           "--dry-run` to compare");
    }
    auto now = ingress_document::from_remote(*back);
    if (!now) return tl::unexpected(now.error());
    if (!now->same_as(r.rules)) {
        return fail(errc::retry, "the rules were stored, but the remote configuration read back right after holds "
                                 "something else (another writer, e.g. the dashboard, changed it): stop that writer, "
                                 "then run the migration again");
    }
    r.version_after = version_of(*back);
    r.verified = true;
    r.outcome = "migrated";
    return r;
}

result<migrate_report> to_local(const migrate_settings& s, dns_provider& dns, ingress_file& file,
                                const cloudflared_check& judge) {
    migrate_report r;
    r.to = s.to;
    r.dry_run = s.dry_run;
    r.force = s.force;
    r.source = "the tunnel's remote configuration";
    r.target = "the local file " + file.path();
    auto text = read_existing(file.path(), " (--to local writes into an existing file, keeping its other keys)");
    if (!text) return tl::unexpected(text.error());
    auto got = dns.get_tunnel_config(s.tunnel_id);
    if (!got) return tl::unexpected(got.error());
    auto src = ingress_document::from_remote(*got);
    if (!src) return tl::unexpected(src.error());
    if (auto ok = check_source(*src, r.source); !ok) return tl::unexpected(ok.error());
    r.rules = std::move(*src);
    r.version_before = version_of(*got);
    r.version_after = r.version_before;

    // What the file holds, and whether it may be replaced: decided again under the lock by the edit.
    bool comments_lost = false;
    auto decide = [&](const std::string& now, migrate_report& into) -> result<std::optional<std::string>> {
        auto cur = ingress_document::from_yaml(now, file.path());
        if (!cur) return tl::unexpected(cur.error());
        into.target_before = std::move(*cur);
        if (into.target_before.same_as(into.rules)) return std::optional<std::string>{};
        if (!into.target_before.bare() && !s.force) {
            into.outcome = "refused";
            into.refusal = refusal_text(into);
            return std::optional<std::string>{};
        }
        auto edited = with_ingress(now, file.path(), into.rules, &comments_lost);
        if (!edited) return tl::unexpected(edited.error());
        return std::optional<std::string>(std::move(*edited));
    };
    auto first = decide(*text, r);
    if (!first) return tl::unexpected(first.error());
    if (r.refused()) return r;
    if (!*first) {
        r.outcome = "unchanged";
        r.verified = true;
        return r;
    }
    if (auto v = judge.validate_text(**first, file.path()); !v) {
        if (v.error().code != errc::invalid) return tl::unexpected(v.error());
        r.outcome = "refused";
        r.refusal = "cloudflared refuses " + file.path() + " with these rules: " + v.error().message +
                    " — fix them in the remote configuration first; the file is left untouched";
        return r;
    }
    if (s.dry_run) {
        r.outcome = "would migrate";
        return r;
    }

    migrate_report under_lock;
    under_lock.to = r.to;
    under_lock.source = r.source;
    under_lock.target = r.target;
    auto copy = ingress_document::from_remote(*got);  // the same rules, for the edit's own report
    if (!copy) return tl::unexpected(copy.error());
    under_lock.rules = std::move(*copy);
    auto change = file.rewrite(
        [&](const std::string& now) -> result<std::string> {
            auto d = decide(now, under_lock);
            if (!d) return tl::unexpected(d.error());
            if (under_lock.refused()) return fail(errc::conflict, under_lock.refusal);
            return *d ? **d : now;
        },
        "tunnelmgr ingress migrate --to local: " + rule_count(r.rules.ingress().Size()) +
            " from the tunnel's remote configuration" + (s.force ? " (--force)" : ""));
    if (!change) return tl::unexpected(change.error());
    r.backup_error = change->backup_error;
    r.target_before = std::move(under_lock.target_before);
    if (comments_lost) {
        r.notes.push_back("the file is not in block style, so it was re-written whole: every key is kept, its "
                          "comments are not (the previous version is in the ingress history)");
    }

    auto back = sys::read_file(file.path());
    if (!back) return fail(back.error().code, "the file was written but could not be read back: " + back.error().message);
    auto now = ingress_document::from_yaml(*back, file.path());
    if (!now || !now->same_as(r.rules)) {
        return fail(errc::retry, "the file was written, but read back right after it holds something else (another "
                                 "editor changed it): check " + file.path() + " and run the migration again");
    }
    r.verified = true;
    r.outcome = change->changed ? "migrated" : "unchanged";
    auto root = YAML::Load(*back);
    for (const char* key : {"tunnel", "credentials-file"}) {
        if (!root[key]) {
            r.notes.push_back(file.path() + " names no `" + key + ":`: cloudflared run with --config needs the tunnel's "
                              "id and its credentials file (`cloudflared tunnel token --cred-file FILE " + s.tunnel_id +
                              "` writes one)");
        }
    }
    return r;
}

}  // namespace

std::string migrate_report::to_json() const {
    json::object o;
    o.set("to", side_name(to)).set("dry_run", dry_run).set("force", force).set("outcome", outcome);
    o.set("source", source).set("target", target).set("verified", verified);
    if (!refusal.empty()) o.set("refusal", refusal);
    o.set_raw("rules", rules.to_json());
    o.set_raw("target_before", target_before.to_json());
    if (version_before) o.set("version_before", *version_before);
    if (version_after) o.set("version_after", *version_after);
    rapidjson::Document list;
    list.SetArray();
    for (const auto& n : notes) list.PushBack(rapidjson::Value(n.c_str(), list.GetAllocator()), list.GetAllocator());
    o.set_raw("notes", json::to_string(list));
    if (!backup_error.empty()) o.set("backup_error", backup_error);
    return o.str();
}

result<migrate_report> migrate_ingress(const migrate_settings& settings, dns_provider& dns, ingress_file& file,
                                       const cloudflared_check& judge, state_store* audit, const session& who) {
    auto r = settings.to == ingress_side::remote ? to_remote(settings, dns, file, judge)
                                                 : to_local(settings, dns, file, judge);
    audit_run(audit, who, settings, r ? &*r : nullptr, r ? std::string() : r.error().message);
    return r;
}

}  // namespace tunnelmgr::core
