// See cname_pipeline.hpp. Every path out of request_cname/delete_cname writes one audit row.
#include "core/cname_pipeline.hpp"

#include <tunnelmgr/sdk/hostname.hpp>
#include <csignal>
#include <cstdlib>
#include <unistd.h>

#include "core/hostname.hpp"
#include "core/json.hpp"
#include "log/logger.hpp"
#include "sys/process_identity.hpp"
#include "sys/tcp_probe.hpp"

namespace tunnelmgr::core {

// An operation as the journal holds it; `data` merges the request and every step's patch.
struct cname_pipeline::op {
    int64_t id = 0;
    std::string kind, hostname, project, state;
    rapidjson::Document data;

    std::string s(const char* k) const { return json::str(data, k); }
    bool b(const char* k) const { return json::boolean(data, k); }
    void put(const char* k, const std::string& v) {
        data.RemoveMember(k);
        data.AddMember(rapidjson::Value(k, data.GetAllocator()), rapidjson::Value(v.c_str(), data.GetAllocator()),
                       data.GetAllocator());
    }
    void put(const char* k, bool v) {
        data.RemoveMember(k);
        data.AddMember(rapidjson::Value(k, data.GetAllocator()), rapidjson::Value(v), data.GetAllocator());
    }
};

namespace {

constexpr const char* create_steps[] = {"validated", "dns_created", "ingress_written", "applied", "committed"};
constexpr const char* delete_steps[] = {"validated", "ingress_removed", "applied", "dns_deleted", "committed"};

std::string with_error(const std::string& what, const error& e) { return what + ": " + e.message; }

}  // namespace

cname_pipeline::cname_pipeline(state_store& state, dns_provider* dns, ingress_strategy* ingress,
                               target_selector& targets, pipeline_settings settings)
    : state_(state), dns_(dns), ingress_(ingress), targets_(targets), settings_(std::move(settings)) {
    if (const char* c = std::getenv("TUNNELMGR_TEST_CRASH_AFTER"); c != nullptr) crash_after_ = c;
}

void cname_pipeline::crash_point(const std::string& step) const {
    // Crash-injection for the tests: die as hard as a power cut right after `step` is durable.
    if (!crash_after_.empty() && crash_after_ == step) ::kill(::getpid(), SIGKILL);
}

void cname_pipeline::audit(const session& who, const std::string& action, const std::string& target,
                           const std::string& project, const std::string& outcome, const std::string& error_text,
                           const std::string& details_json) {
    auto details = json::parse(details_json.empty() ? "{}" : details_json);
    if (!details || !details->IsObject()) details = json::parse("{}");
    details->RemoveMember("origin");
    details->AddMember("origin", rapidjson::Value(who.origin.c_str(), details->GetAllocator()), details->GetAllocator());
    json::object e;
    e.set("actor", who.actor()).set("role", who.is_admin() ? "admin" : "project");
    e.set("action", action).set("target", target).set("project", project).set("result", outcome);
    e.set("error", error_text).set_raw("details", json::to_string(*details));
    if (auto r = state_.audit_append(e.str()); !r) log::error("audit", "cannot write the audit log: " + r.error().message);
}

result<std::string> cname_pipeline::zone_of(const std::string& domain) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto zones = state_.domains_list();
        if (!zones) return tl::unexpected(zones.error());
        auto doc = json::parse(*zones);
        if (doc && doc->IsArray()) {
            for (const auto& z : doc->GetArray()) {
                if (json::str(z, "name") == domain) return json::str(z, "zone_id");
            }
        }
        if (attempt == 0) {
            // Zones are cached; a miss refreshes once from the provider before refusing.
            if (auto fresh = list_domains(true); !fresh) return tl::unexpected(fresh.error());
        }
    }
    return fail(errc::invalid, "'" + domain + "' is not a zone of this Cloudflare account: use one of the zones " +
                                   "`tunnel_list_domains` shows (or add the zone to the account)");
}

result<std::string> cname_pipeline::list_domains(bool refresh) {
    if (refresh) {
        if (dns_ == nullptr) return fail(errc::invalid, "no DNS provider is configured: add a `dns:` section to the config");
        auto zones = dns_->list_zones();
        if (!zones) return tl::unexpected(error{zones.error().code, with_error("cannot list the zones", zones.error())});
        if (auto r = state_.domains_replace(*zones); !r) return tl::unexpected(r.error());
    }
    return state_.domains_list();
}

result<std::string> cname_pipeline::list_cnames(const session& who, const std::string& project, int64_t limit,
                                                int64_t offset) {
    if (!who.is_admin() && !project.empty() && project != who.project) {
        return fail(errc::denied, "this session belongs to project '" + who.project + "' and can list only its own hostnames");
    }
    if (limit < 1 || limit > 1000) return fail(errc::invalid, "`limit` must be from 1 to 1000");
    if (offset < 0) return fail(errc::invalid, "`offset` must be 0 or more");
    std::string filter_project = who.is_admin() ? project : who.project;
    json::object f;
    if (!filter_project.empty()) f.set("project", filter_project);
    auto total = state_.cname_count(f.str());
    if (!total) return tl::unexpected(total.error());
    f.set("limit", limit).set("offset", offset);
    auto rows = state_.cname_list(f.str());
    if (!rows) return tl::unexpected(rows.error());
    auto doc = json::parse(*rows);
    if (!doc || !doc->IsArray()) return fail(errc::error, "the state store listed malformed rows");
    auto n = static_cast<int64_t>(doc->Size());
    bool store_paged = n <= limit && (offset == 0 || n != *total || n == 0);  // a 1.0 store ignores both
    if (store_paged) {
        // The store paged: splice its text in as it is rather than parse and print it again.
        std::string out = "{\"cnames\":" + *rows + ",\"count\":" + std::to_string(n) + ",\"total\":" +
                          std::to_string(*total) + ",\"limit\":" + std::to_string(limit) + ",\"offset\":" +
                          std::to_string(offset) + ",\"next_offset\":" +
                          (offset + n < *total ? std::to_string(offset + n) : std::string("null")) + "}";
        return out;
    }
    {
        // A 1.0 store ignores limit/offset and returns everything: take the page here.
        rapidjson::Document page(rapidjson::kArrayType);
        auto arr = doc->GetArray();
        for (int64_t i = offset; i < static_cast<int64_t>(arr.Size()) && i < offset + limit; ++i) {
            page.PushBack(rapidjson::Value(arr[static_cast<rapidjson::SizeType>(i)], page.GetAllocator()), page.GetAllocator());
        }
        doc->CopyFrom(page, doc->GetAllocator());
    }
    n = static_cast<int64_t>(doc->Size());
    json::object out;
    out.set_raw("cnames", json::to_string(*doc));
    out.set("count", n).set("total", *total).set("limit", limit).set("offset", offset);
    if (offset + n < *total) {
        out.set("next_offset", offset + n);
    } else {
        out.set_null("next_offset");
    }
    return out.str();
}

result<int64_t> cname_pipeline::count_cnames(const session& who, const std::string& project) {
    std::string filter_project = who.is_admin() ? project : who.project;
    json::object f;
    if (!filter_project.empty()) f.set("project", filter_project);
    return state_.cname_count(f.str());
}

result<cname_pipeline::validated> cname_pipeline::validate(const session& who, const cname_request& req,
                                                            std::string& shown) {
    std::string project = req.project.empty() ? who.project : req.project;
    std::string domain_in = req.domain.empty() ? settings_.default_domain : req.domain;
    shown = req.subdomain + "." + domain_in;
    if (!who.is_admin() && !req.project.empty() && req.project != who.project) {
        return fail(errc::denied, "this session belongs to project '" + who.project + "'; it cannot act for project '" +
                                      req.project + "'");
    }
    if (project.empty()) return fail(errc::invalid, "name the project the hostname is for (--project NAME)");
    auto ports = settings_.project_ports.find(project);
    if (ports == settings_.project_ports.end()) {
        return fail(errc::invalid, "project '" + project + "' is not in the config's `projects:` section");
    }
    if (req.port < 1 || req.port > 65535) {
        return fail(errc::invalid, "port " + std::to_string(req.port) + " is not a TCP port: give one from 1 to 65535");
    }
    bool allowed = false;
    std::string ranges;
    for (const auto& r : ports->second) {
        allowed = allowed || r.contains(static_cast<uint32_t>(req.port));
        ranges += (ranges.empty() ? "" : ", ") + std::to_string(r.first) + (r.first == r.last ? "" : "-" + std::to_string(r.last));
    }
    if (!allowed) {
        return fail(errc::denied, "port " + std::to_string(req.port) + " is not among the ports of project '" + project + "' (" +
                                      ranges + "): publish a port in that range");
    }
    auto label = normalize_label(req.subdomain);
    if (!label) return tl::unexpected(label.error());
    auto domain = normalize_domain(domain_in);
    if (!domain) return tl::unexpected(domain.error());
    auto host = join_hostname(*label, *domain);
    if (!host) return tl::unexpected(host.error());
    shown = *host;
    if (dns_ == nullptr) return fail(errc::invalid, "no DNS provider is configured: add a `dns:` section to the config");
    if (ingress_ == nullptr) return fail(errc::invalid, "no ingress strategy is configured: set `tunnel.ingress`");
    if (settings_.tunnel_id.empty()) return fail(errc::invalid, "tunnel.id is not configured: set it to the tunnel's UUID");
    auto existing = state_.cname_get(*host);
    if (existing) {
        auto row = json::parse(*existing);
        std::string owner = row ? json::str(*row, "project") : "";
        if (owner == project || who.is_admin()) {
            return fail(errc::conflict, *host + " is already published (project '" + owner + "', port " +
                                            std::to_string(row ? json::i64(*row, "port") : 0) +
                                            "): delete it first to point it elsewhere");
        }
        return fail(errc::conflict, *host + " is taken by another project: pick another subdomain");
    }
    if (existing.error().code != errc::not_found) return tl::unexpected(existing.error());
    auto zone = zone_of(*domain);
    if (!zone) return tl::unexpected(zone.error());
    auto tgt = targets_.select(project, static_cast<uint32_t>(req.port));
    if (!tgt) return tl::unexpected(tgt.error());
    return validated{project, *label, *domain, *host, *zone, *tgt};
}

result<std::string> cname_pipeline::check_target(const session& who, const cname_request& req) {
    std::string shown;
    auto v = validate(who, req, shown);
    json::object out;
    out.set("hostname", shown);
    if (!v) {
        out.set("available", false).set("problem", v.error().message).set("code", errc_name(v.error().code));
        return out.str();
    }
    out.set("hostname", v->host).set("available", true).set("project", v->project).set("port", req.port);
    out.set("ingress_target", v->tgt.service).set("target_type", v->tgt.type).set("container_name", v->tgt.container_name);
    out.set("docker_network", v->tgt.docker_network).set("reason", v->tgt.reason);
    // Does the target answer? Only a hint: the service may simply not be started yet.
    if (v->tgt.probe_address.empty()) {
        out.set_null("reachable");
    } else {
        std::string why = sys::tcp_probe(v->tgt.probe_address, std::chrono::milliseconds(1000));
        out.set("reachable", why.empty()).set("probe", v->tgt.probe_address + (why.empty() ? " accepts connections" : ": " + why));
    }
    return out.str();
}

result<std::string> cname_pipeline::request_cname(const session& who, const cname_request& req,
                                                  const progress_fn& progress) {
    // --- validation: nothing outside the process is touched until it all passes -------------------
    std::string shown;
    core::step_clock step_clock(*observer_, "create");
    std::string project = req.project.empty() ? who.project : req.project;
    std::string domain_in = req.domain.empty() ? settings_.default_domain : req.domain;
    auto refuse = [&](error e) -> result<std::string> {
        json::object d;
        d.set("port", req.port).set("subdomain", req.subdomain).set("domain", domain_in);
        audit(who, "cname.create", shown, project, e.code == errc::denied ? "denied" : "refused", e.message, d.str());
        return tl::unexpected(std::move(e));
    };
    auto checked = validate(who, req, shown);
    if (!checked) return refuse(checked.error());
    auto label = &checked->label;
    auto domain = &checked->domain;
    auto host = &checked->host;
    auto zone = &checked->zone;
    auto tgt = &checked->tgt;

    // --- the journal starts: from here on every failure is compensated --------------------------------
    json::object request;
    request.set("subdomain", *label).set("domain", *domain).set("zone_id", *zone).set("port", req.port);
    request.set("service", tgt->service).set("target_type", tgt->type).set("container_name", tgt->container_name);
    request.set("docker_network", tgt->docker_network).set("reason", tgt->reason).set("actor", who.actor());
    request.set("owner", sys::self_identity());
    json::object begin;
    begin.set("kind", "create").set("hostname", *host).set("project", project).set_raw("request", request.str());
    auto id = state_.operation_begin(begin.str());
    if (!id) {
        if (id.error().code == errc::conflict) {
            return refuse({errc::conflict, "another change to " + *host + " is in progress: retry in a few seconds"});
        }
        return refuse(id.error());
    }
    op o;
    o.id = *id;
    o.kind = "create";
    o.hostname = *host;
    o.project = project;
    o.state = "validated";
    o.data.Parse(request.str().c_str());
    auto step_done = [&](int n) {
        step_clock.done(create_steps[n]);
        if (progress) progress(create_steps[n], n + 1, 5);
    };
    step_done(0);
    crash_point("create:validated");

    auto failed = [&](error e, const char* step) -> result<std::string> {
        for (size_t i = 0; i + 1 < std::size(create_steps); ++i) {  // the step it did not reach
            if (o.state == create_steps[i]) step_clock.failed(create_steps[i + 1]);
        }
        auto undo = roll_back_create(o, std::string(step) == "ingress" || std::string(step) == "dns");
        std::string msg = e.message;
        if (!undo) msg += " (and undoing the earlier steps failed: " + undo.error().message + "; tunnelmgr retries at its next start)";
        json::object d;
        d.set("port", req.port).set("failed_step", step).set("operation_id", o.id);
        audit(who, "cname.create", *host, project, "error", msg, d.str());
        return tl::unexpected(error{e.code, msg});
    };

    // Step 1: the DNS record, unless a record of ours for this name is already there (a retry).
    std::string marker = ownership_marker(project);
    std::string content = settings_.tunnel_id + ".cfargotunnel.com";
    std::string record_id;
    auto found = dns_->find_record(*zone, *host, "CNAME");
    if (found) {
        auto rec = json::parse(*found);
        if (!rec || json::str(*rec, "comment") != marker || json::str(*rec, "content") != content) {
            return failed({errc::conflict, "a DNS record for " + *host + " already exists and tunnelmgr does not own it"
                                           " (it lacks the comment " + marker + "): remove it in the Cloudflare dashboard or pick another name"},
                          "dns");
        }
        record_id = json::str(*rec, "id");
    } else if (found.error().code != errc::not_found) {
        return failed({found.error().code, with_error("cannot look up " + *host + " at the DNS provider", found.error())}, "dns");
    } else {
        json::object rec;
        rec.set("name", *host).set("content", content).set("comment", marker);
        auto created = dns_->create_record(*zone, rec.str());
        if (!created) {
            return failed({created.error().code, with_error("cannot create the DNS record for " + *host, created.error())}, "dns");
        }
        auto doc = json::parse(*created);
        record_id = doc ? json::str(*doc, "id") : "";
    }
    o.put("record_id", record_id);
    o.put("record_created", true);
    json::object p1;
    p1.set("record_id", record_id).set("record_created", true);
    if (auto a = state_.operation_advance(o.id, "dns_created", p1.str()); !a) return failed(a.error(), "journal");
    o.state = "dns_created";
    step_done(1);
    crash_point("create:dns_created");

    // Step 2: the ingress rule.
    auto added = ingress_->add(*host, tgt->service, "add " + *host + " -> " + tgt->service + " for " + project);
    if (!added) return failed(added.error(), "ingress");
    o.put("ingress_changed", *added);
    std::string backup_error = ingress_->take_backup_error();
    json::object p2;
    p2.set("ingress_changed", *added);
    if (auto a = state_.operation_advance(o.id, "ingress_written", p2.str()); !a) return failed(a.error(), "journal");
    o.state = "ingress_written";
    step_done(2);
    crash_point("create:ingress_written");

    // Step 3: apply (restart cloudflared and wait for /ready, or nothing for remote).
    auto applied = ingress_->apply();
    if (!applied) return failed(applied.error(), "apply");
    if (auto a = state_.operation_advance(o.id, "applied", "{}"); !a) return failed(a.error(), "journal");
    o.state = "applied";
    step_done(3);
    crash_point("create:applied");

    // Step 4: commit — the cname row and the operation's end in one transaction.
    json::object row;
    row.set("hostname", *host).set("subdomain", *label).set("domain", *domain).set("project", project);
    row.set("port", req.port).set("target", tgt->service).set("target_type", tgt->type);
    row.set("container_name", tgt->container_name).set("docker_network", tgt->docker_network);
    row.set("dns_record_id", record_id).set("zone_id", *zone);
    if (auto c = state_.operation_commit(o.id, row.str()); !c) return failed(c.error(), "commit");
    step_done(4);
    crash_point("create:committed");

    json::object out;
    out.set("hostname", *host).set("url", "https://" + *host).set("ingress_target", tgt->service);
    out.set("target_type", tgt->type).set("container_name", tgt->container_name).set("docker_network", tgt->docker_network);
    out.set("reason", tgt->reason).set("project", project).set("port", req.port).set("dns_record_id", record_id);
    out.set("apply", *applied).set("operation_id", o.id);
    json::object d;
    d.set("port", req.port).set("target", tgt->service).set("target_type", tgt->type).set("operation_id", o.id);
    if (!backup_error.empty()) d.set("backup_error", backup_error);
    audit(who, "cname.create", *host, project, "ok", "", d.str());
    return out.str();
}

result<void> cname_pipeline::roll_back_create(op& o, bool ingress_untouched) {
    // Undo in reverse: the ingress rule, then our DNS record. `ingress_untouched`: the caller knows
    // the ingress step never wrote (it failed); after a crash nobody knows, so look.
    if ((o.state == "dns_created" && !ingress_untouched) || o.state == "ingress_written" || o.state == "applied") {
        auto removed = ingress_->remove(o.hostname, "roll back " + o.hostname);
        if (!removed && removed.error().code == errc::invalid && o.state == "dns_created") {
            // The file is malformed (someone else's edit): our rule cannot be in it, since every
            // file tunnelmgr writes is valid. Leave the file alone and go on with the DNS record.
            log::warn("pipeline", "rolling back " + o.hostname + " without touching the ingress file: " + removed.error().message);
            removed = std::optional<std::string>{};
        }
        if (!removed) return tl::unexpected(removed.error());
        ingress_->take_backup_error();
        if (removed->has_value() && (o.state == "ingress_written" || o.state == "applied")) {
            // cloudflared may already run with the rule; let it drop it. Best effort.
            if (auto a = ingress_->apply(); !a) log::warn("pipeline", "re-apply after roll back: " + a.error().message);
        }
    }
    if (o.state == "validated" || o.state == "dns_created" || o.state == "ingress_written" || o.state == "applied") {
        std::string zone = o.s("zone_id"), marker = ownership_marker(o.project);
        std::string record_id = o.s("record_id");
        if (record_id.empty() && dns_ != nullptr) {
            // A crash may have come between creating the record and writing down its id: look it up.
            auto found = dns_->find_record(zone, o.hostname, "CNAME");
            if (found) {
                auto rec = json::parse(*found);
                if (rec && json::str(*rec, "comment") == marker &&
                    json::str(*rec, "content") == settings_.tunnel_id + ".cfargotunnel.com") {
                    record_id = json::str(*rec, "id");
                }
            } else if (found.error().code != errc::not_found) {
                return tl::unexpected(found.error());
            }
        }
        if (!record_id.empty() && dns_ != nullptr) {
            auto del = dns_->delete_record(zone, record_id, marker);
            if (!del && del.error().code != errc::not_found) return tl::unexpected(del.error());
        }
    }
    if (auto a = state_.operation_advance(o.id, "rolled_back", "{}"); !a) return tl::unexpected(a.error());
    o.state = "rolled_back";
    return {};
}

result<std::string> cname_pipeline::delete_cname(const session& who, const std::string& hostname_in,
                                                 const progress_fn& progress) {
    std::string hostname = sdk::fold_hostname(hostname_in);
    auto refuse = [&](error e, const std::string& project) -> result<std::string> {
        // For a project, a name outside its own is denied whether or not it exists, so its own audit
        // rows tell it no more than the answer does.
        bool denied = e.code == errc::denied || (!who.is_admin() && e.code == errc::not_found);
        audit(who, "cname.delete", hostname, project, denied ? "denied" : "refused", e.message, "{}");
        return tl::unexpected(std::move(e));
    };
    auto row_text = state_.cname_get(hostname);
    if (!row_text) {
        if (row_text.error().code == errc::not_found) {
            return refuse({errc::not_found, who.is_admin() ? hostname + " is not managed by tunnelmgr"
                                                           : hostname + " is not among the hostnames of project '" + who.project + "'"},
                          who.project);
        }
        return refuse(row_text.error(), who.project);
    }
    auto row = json::parse(*row_text);
    std::string project = row ? json::str(*row, "project") : "";
    if (!who.is_admin() && project != who.project) {
        // Same answer as for a name that does not exist: a project learns nothing of others' names.
        return refuse({errc::not_found, hostname + " is not among the hostnames of project '" + who.project + "'"}, who.project);
    }
    if (dns_ == nullptr || ingress_ == nullptr) {
        return refuse({errc::invalid, "the dns slot and tunnel.ingress must be configured to delete hostnames"}, project);
    }
    json::object request;
    request.set("zone_id", json::str(*row, "zone_id")).set("record_id", json::str(*row, "dns_record_id"));
    request.set("service", json::str(*row, "target")).set("actor", who.actor()).set("owner", sys::self_identity());
    json::object begin;
    begin.set("kind", "delete").set("hostname", hostname).set("project", project).set_raw("request", request.str());
    auto id = state_.operation_begin(begin.str());
    if (!id) {
        if (id.error().code == errc::conflict) {
            return refuse({errc::conflict, "another change to " + hostname + " is in progress: retry in a few seconds"}, project);
        }
        return refuse(id.error(), project);
    }
    op o;
    o.id = *id;
    o.kind = "delete";
    o.hostname = hostname;
    o.project = project;
    o.state = "validated";
    o.data.Parse(request.str().c_str());
    // each step's duration on its way to the caller's progress; a failure counted at the step it stopped before.
    core::step_clock step_clock(*observer_, "delete");
    progress_fn timed = [&](const std::string& step, int done, int total) {
        step_clock.done(step);
        if (progress) progress(step, done, total);
    };
    timed(delete_steps[0], 1, 5);
    crash_point("delete:validated");
    auto r = finish_delete(o, timed);
    if (!r) {
        for (size_t i = 0; i + 1 < std::size(delete_steps); ++i) {
            if (o.state == delete_steps[i]) step_clock.failed(delete_steps[i + 1]);
        }
    }
    json::object d;
    d.set("operation_id", o.id).set("state", o.state);
    if (!r) {
        audit(who, "cname.delete", hostname, project, "error", r.error().message, d.str());
        return r;
    }
    audit(who, "cname.delete", hostname, project, "ok", "", d.str());
    return r;
}

result<std::string> cname_pipeline::finish_delete(op& o, const progress_fn& progress) {
    std::string apply_note;
    if (o.state == "validated") {
        auto removed = ingress_->remove(o.hostname, "remove " + o.hostname + " for " + o.project);
        if (!removed) {
            // Nothing has changed yet: the delete simply did not happen.
            if (auto a = state_.operation_advance(o.id, "rolled_back", "{}"); a) o.state = "rolled_back";
            return tl::unexpected(error{removed.error().code, "cannot remove the ingress rule: " + removed.error().message});
        }
        ingress_->take_backup_error();
        json::object p;
        p.set("ingress_changed", removed->has_value());
        if (removed->has_value()) p.set("removed_service", **removed);
        if (auto a = state_.operation_advance(o.id, "ingress_removed", p.str()); !a) return tl::unexpected(a.error());
        o.state = "ingress_removed";
        if (progress) progress(delete_steps[1], 2, 5);
        crash_point("delete:ingress_removed");
    }
    if (o.state == "ingress_removed") {
        auto applied = ingress_->apply();
        if (!applied) {
            // The rule is gone from the file; cloudflared picks that up at its next start. Leave the
            // operation open so the DNS record is still removed later.
            return tl::unexpected(error{applied.error().code, applied.error().message +
                                                                  " — the deletion of " + o.hostname +
                                                                  " will be finished at tunnelmgr's next start"});
        }
        apply_note = *applied;
        if (auto a = state_.operation_advance(o.id, "applied", "{}"); !a) return tl::unexpected(a.error());
        o.state = "applied";
        if (progress) progress(delete_steps[2], 3, 5);
        crash_point("delete:applied");
    }
    if (o.state == "applied") {
        std::string record_id = o.s("record_id");
        if (!record_id.empty()) {
            auto del = dns_->delete_record(o.s("zone_id"), record_id, ownership_marker(o.project));
            if (!del && del.error().code == errc::conflict) {
                // Someone re-labelled the record: it is no longer ours to delete. Say so and move on.
                log::warn("pipeline", "left DNS record " + record_id + " of " + o.hostname + " in place: " + del.error().message);
            } else if (!del && del.error().code != errc::not_found) {
                return tl::unexpected(error{del.error().code, "the ingress rule is removed but the DNS record could not be "
                                                              "deleted yet (" + del.error().message +
                                                              "); tunnelmgr finishes this at its next start"});
            }
        }
        if (auto a = state_.operation_advance(o.id, "dns_deleted", "{}"); !a) return tl::unexpected(a.error());
        o.state = "dns_deleted";
        if (progress) progress(delete_steps[3], 4, 5);
        crash_point("delete:dns_deleted");
    }
    if (o.state == "dns_deleted") {
        json::object row;
        row.set("hostname", o.hostname);
        if (auto c = state_.operation_commit(o.id, row.str()); !c) return tl::unexpected(c.error());
        o.state = "committed";
        if (progress) progress(delete_steps[4], 5, 5);
        crash_point("delete:committed");
    }
    json::object out;
    out.set("hostname", o.hostname).set("deleted", true).set("apply", apply_note);
    return out.str();
}

result<int> cname_pipeline::recover() {
    auto list = state_.operation_list_unfinished();
    if (!list) return tl::unexpected(list.error());
    auto doc = json::parse(*list);
    if (!doc || !doc->IsArray()) return fail(errc::error, "the state store returned a malformed operation list");
    int settled = 0;
    session system = session::admin_session("recovery");
    for (const auto& item : doc->GetArray()) {
        op o;
        o.id = json::i64(item, "id");
        o.kind = json::str(item, "kind");
        o.hostname = json::str(item, "hostname");
        o.project = json::str(item, "project");
        o.state = json::str(item, "state");
        o.data.SetObject();
        // One flat view: the request as begun, then every step's patch over it. The store keeps
        // the request under data.request (older rows may carry it beside data).
        auto merge = [&](const rapidjson::Value& from) {
            if (!from.IsObject()) return;
            for (const auto& m : from.GetObject()) {
                if (std::string(m.name.GetString()) == "request") continue;
                o.data.RemoveMember(m.name.GetString());
                rapidjson::Value k(m.name, o.data.GetAllocator()), v(m.value, o.data.GetAllocator());
                o.data.AddMember(k, v, o.data.GetAllocator());
            }
        };
        auto data_it = item.FindMember("data");
        auto req_it = item.FindMember("request");
        if (req_it != item.MemberEnd()) merge(req_it->value);
        if (data_it != item.MemberEnd() && data_it->value.IsObject()) {
            auto nested = data_it->value.FindMember("request");
            if (nested != data_it->value.MemberEnd()) merge(nested->value);
            merge(data_it->value);
        }
        // Another tunnelmgr process may be working on it right now: only a dead owner's work is ours.
        std::string owner = o.s("owner");
        if (!owner.empty() && owner != sys::self_identity() && sys::identity_alive(owner)) continue;
        if (dns_ == nullptr || ingress_ == nullptr) {
            log::warn("recovery", "operation " + std::to_string(o.id) + " on " + o.hostname +
                                      " is unfinished but the dns slot or tunnel.ingress is not configured; left as it is");
            continue;
        }
        std::string from = o.state;
        if (o.kind == "create" && o.state == "applied") {
            // Everything outside is in place: roll forward.
            json::object row;
            row.set("hostname", o.hostname).set("subdomain", o.s("subdomain")).set("domain", o.s("domain"));
            row.set("project", o.project).set("port", json::i64(o.data, "port")).set("target", o.s("service"));
            row.set("target_type", o.s("target_type")).set("container_name", o.s("container_name"));
            row.set("docker_network", o.s("docker_network")).set("dns_record_id", o.s("record_id")).set("zone_id", o.s("zone_id"));
            auto c = state_.operation_commit(o.id, row.str());
            if (!c) {
                log::error("recovery", "cannot commit operation " + std::to_string(o.id) + ": " + c.error().message);
                continue;
            }
            o.state = "committed";
        } else if (o.kind == "create") {
            auto r = roll_back_create(o, false);
            if (!r) {
                log::error("recovery", "cannot roll back operation " + std::to_string(o.id) + " on " + o.hostname + ": " +
                                           r.error().message + " (retried at the next start)");
                continue;
            }
        } else {
            auto r = finish_delete(o, {});
            if (!r) {
                log::error("recovery", "cannot finish deleting " + o.hostname + ": " + r.error().message);
                continue;
            }
        }
        json::object d;
        d.set("operation_id", o.id).set("kind", o.kind).set("from_state", from).set("to_state", o.state);
        audit(system, "cname.recover", o.hostname, o.project, "ok", "", d.str());
        log::info("recovery", "operation " + std::to_string(o.id) + " (" + o.kind + " " + o.hostname + ") " + from +
                                  " -> " + o.state);
        ++settled;
    }
    return settled;
}

}  // namespace tunnelmgr::core
