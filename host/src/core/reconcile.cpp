// See reconcile.hpp. The state's rows are the truth of what was published; a record or rule is only
// ever compared, restored or reported when it is tied to one of our rows or carries our marker, so
// what others made (the dashboard, hand-written rules) is never looked at twice, let alone changed.
#include "core/reconcile.hpp"

#include <tunnelmgr/sdk/hostname.hpp>
#include <map>
#include <optional>
#include <utility>

#include "core/audit.hpp"
#include "core/docker_targets.hpp"
#include "core/json.hpp"
#include "core/origin_settings.hpp"
#include "log/logger.hpp"

namespace tunnelmgr::core {

namespace {

// The marker cname_pipeline writes into each record's comment: "tunnelmgr:<project>".
constexpr const char* k_marker_prefix = "tunnelmgr:";
std::string marker_of(const std::string& project) { return k_marker_prefix + project; }
bool is_marked(const std::string& comment) { return comment.rfind(k_marker_prefix, 0) == 0; }

// The rule cloudflared uses for exactly `host` (no path), or nullptr.
const ingress_rule* rule_for(const std::vector<ingress_rule>& rules, const std::string& host) {
    for (const auto& r : rules) {
        if (r.path.empty() && sdk::fold_hostname(r.hostname) == host) return &r;
    }
    return nullptr;
}

bool plausible_hostname(const std::string& h) {
    return h.find('.') != std::string::npos && h.find_first_of(" */:") == std::string::npos;
}

}  // namespace

const char* drift_class_name(drift_class c) {
    switch (c) {
        case drift_class::record_missing: return "record_missing";
        case drift_class::record_changed: return "record_changed";
        case drift_class::rule_missing: return "rule_missing";
        case drift_class::rule_changed: return "rule_changed";
        case drift_class::orphan_record: return "orphan_record";
        case drift_class::project_removed: return "project_removed";
        case drift_class::target_moved: return "target_moved";
    }
    return "unknown";
}

bool reconcile_report::drift_remains() const {
    for (const auto& f : findings) {
        if (f.action != "repaired") return true;
    }
    return false;
}

std::string reconcile_report::to_json(repair_policy policy, bool dry_run) const {
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    auto text = [&a](const std::string& s) { return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a); };
    d.AddMember("drift", drift_remains(), a);
    d.AddMember("policy", rapidjson::StringRef(policy == repair_policy::repair ? "repair" : "report"), a);
    d.AddMember("dry_run", dry_run, a);
    rapidjson::Value list(rapidjson::kArrayType);
    for (const auto& f : findings) {
        rapidjson::Value o(rapidjson::kObjectType);
        o.AddMember("class", rapidjson::StringRef(drift_class_name(f.kind)), a);
        o.AddMember("hostname", text(f.hostname), a);
        o.AddMember("project", text(f.project), a);
        o.AddMember("expected", text(f.expected), a);
        o.AddMember("found", text(f.found), a);
        o.AddMember("detail", text(f.detail), a);
        o.AddMember("repairable", f.repairable, a);
        o.AddMember("action", text(f.action), a);
        if (!f.repair_error.empty()) o.AddMember("repair_error", text(f.repair_error), a);
        list.PushBack(o, a);
    }
    d.AddMember("findings", list, a);
    rapidjson::Value problem_list(rapidjson::kArrayType), note_list(rapidjson::kArrayType);
    for (const auto& p : problems) problem_list.PushBack(text(p), a);
    for (const auto& n : notes) note_list.PushBack(text(n), a);
    d.AddMember("problems", problem_list, a);
    d.AddMember("notes", note_list, a);
    if (!apply_note.empty()) d.AddMember("apply", text(apply_note), a);
    return json::to_string(d);
}

reconciler::reconciler(state_store& state, dns_provider* dns, ingress_strategy* ingress, reconcile_settings settings)
    : state_(state), dns_(dns), ingress_(ingress), settings_(std::move(settings)) {}

std::string reconciler::zone_for(const std::string& host) {
    std::string best_id;
    size_t best_len = 0;
    for (const auto& z : zones_) {
        std::string name = sdk::fold_hostname(z.name);
        bool match = host == name || (host.size() > name.size() && host.compare(host.size() - name.size(), name.size(), name) == 0 &&
                                      host[host.size() - name.size() - 1] == '.');
        if (match && name.size() > best_len) {
            best_len = name.size();
            best_id = z.zone_id;
        }
    }
    return best_id;
}

result<reconcile_report> reconciler::detect() {
    reconcile_report out;
    auto listed = state_.cname_list("{}");
    if (!listed) return fail(listed.error().code, "cannot read the published names: " + listed.error().message);
    auto rows = sdk::model::decode_cname_rows(*listed);
    if (!rows) return fail(errc::error, "the state store listed malformed rows: " + rows.error());
    rows_ = std::move(*rows);
    if (auto zones = state_.domains_list()) {
        zones_ = std::move(*zones);
    } else {
        out.problems.push_back("cannot read the known zones: " + zones.error().message);
    }

    // A name an unfinished operation holds is mid-change: the pipeline (or its recovery) settles it.
    std::set<std::string> in_flight;
    if (auto ops = state_.operation_list_unfinished()) {
        if (auto doc = json::parse(*ops); doc && doc->IsArray()) {
            for (const auto& o : doc->GetArray()) in_flight.insert(sdk::fold_hostname(json::str(o, "hostname")));
        }
    } else {
        out.problems.push_back("cannot read the unfinished operations: " + ops.error().message);
    }

    std::optional<std::vector<ingress_rule>> rules;
    if (ingress_ == nullptr) {
        out.problems.push_back("no ingress is configured: the rules were not compared");
    } else if (auto r = ingress_->list_rules()) {
        rules = std::move(*r);
    } else {
        out.problems.push_back("cannot read the ingress rules: " + r.error().message);
    }
    // The rules' origin settings, compared with what each name was published with; a strategy that
    // cannot list them leaves that comparison out, said as a note.
    std::optional<std::map<std::string, std::string>> origins;
    if (rules) {
        if (auto o = ingress_->list_rule_origins()) {
            origins = std::move(*o);
        } else {
            out.notes.push_back("the rules' origin settings were not compared: " + o.error().message);
        }
    }
    if (dns_ == nullptr) out.problems.push_back("the dns slot is not configured: the DNS records were not compared");
    // One snapshot for every row: the topology as the pipeline would see it for a new request now.
    std::optional<std::string> topology;
    if (settings_.topology) {
        if (auto snap = settings_.topology()) {
            topology = std::move(*snap);
        } else {
            out.problems.push_back("cannot read the Docker topology: the targets were not compared (" +
                                   snap.error().message + ")");
        }
    }

    std::set<std::string> known;
    size_t elsewhere = 0;
    for (const auto& row : rows_) {
        const std::string host = sdk::fold_hostname(row.hostname);
        known.insert(host);
        if (row.machine && !row.machine->empty() && *row.machine != settings_.machine) {
            ++elsewhere;  // its record points at that machine's tunnel and its rule is in that machine's ingress
            continue;
        }
        if (in_flight.count(host) != 0U) {
            out.notes.push_back(host + " is being changed by an unfinished operation; not compared this time");
            continue;
        }
        check_row(row, rules ? &*rules : nullptr, origins ? &*origins : nullptr, out);
        if (topology && settings_.projects.count(row.project) != 0U && row.port > 0) check_target(row, *topology, out);
    }
    if (elsewhere > 0) {
        out.notes.push_back(std::to_string(elsewhere) + " name(s) served by other machines sharing the state were not "
                            "compared here: each machine's own reconcile compares its names");
    }
    for (const auto& h : in_flight) known.insert(h);
    if (dns_ != nullptr) find_orphans(known, rules ? &*rules : nullptr, out);
    return out;
}

void reconciler::check_row(const sdk::model::cname_row& row, const std::vector<ingress_rule>* rules,
                           const std::map<std::string, std::string>* origins, reconcile_report& out) {
    const std::string host = sdk::fold_hostname(row.hostname);
    auto finding = [&](drift_class c, std::string expected, std::string found, std::string detail, bool repairable) {
        drift_finding f;
        f.kind = c;
        f.hostname = host;
        f.project = row.project;
        f.expected = std::move(expected);
        f.found = std::move(found);
        f.detail = std::move(detail);
        f.repairable = repairable;
        out.findings.push_back(std::move(f));
    };
    if (settings_.projects.count(row.project) == 0U) {
        // Its names are not restored (the project is gone); `project purge` is how they will go.
        finding(drift_class::project_removed, "", "", "project '" + row.project + "' is no longer in the config but " +
                    host + " is still published for it: put the project back, or remove the name with `tunnelmgr cname rm " +
                    host + "`", false);
        return;
    }
    if (dns_ != nullptr) {
        const std::string zone = row.zone_id.value_or("");
        auto found = dns_->find_record(zone, host, "CNAME");
        if (!found && found.error().code == errc::not_found) {
            finding(drift_class::record_missing, record_content(), "",
                    "the DNS record of " + host + " is gone (deleted in the dashboard?): `reconcile` with "
                    "reconcile.repair: repair creates it again", true);
        } else if (!found) {
            out.problems.push_back("cannot look up the DNS record of " + host + ": " + found.error().message);
        } else if (auto rec = json::parse(*found); !rec || !rec->IsObject()) {
            out.problems.push_back("the DNS provider answered malformed JSON for " + host);
        } else {
            const std::string comment = json::str(*rec, "comment");
            const std::string content = sdk::fold_hostname(json::str(*rec, "content"));
            const bool proxied = json::boolean(*rec, "proxied", true);
            const std::string shown = content + (proxied ? " (proxied)" : " (not proxied)") + ", comment '" + comment + "'";
            if (comment != marker_of(row.project)) {
                // Someone replaced or re-labelled it: not ours any more, so never changed by us.
                finding(drift_class::record_changed, record_content() + " (proxied), comment '" + marker_of(row.project) + "'",
                        shown, "the DNS record of " + host + " no longer carries tunnelmgr's marker " + marker_of(row.project) +
                                   ": someone replaced it; tunnelmgr leaves it alone — delete it in the dashboard and run "
                                   "`tunnelmgr reconcile` to restore ours, or `tunnelmgr cname rm " + host + "`",
                        false);
            } else if (content != sdk::fold_hostname(record_content()) || !proxied) {
                finding(drift_class::record_changed, record_content() + " (proxied)", shown,
                        "the DNS record of " + host + " was edited: `reconcile` with reconcile.repair: repair puts "
                        "back what tunnelmgr made", true);
            }
        }
    }
    if (rules != nullptr) {
        const ingress_rule* rule = rule_for(*rules, host);
        if (rule == nullptr) {
            finding(drift_class::rule_missing, row.target, "",
                    "the ingress rule of " + host + " is gone (a hand edit?): `reconcile` with reconcile.repair: "
                    "repair adds it again", true);
        } else if (rule->service != row.target) {
            finding(drift_class::rule_changed, row.target, rule->service,
                    "the ingress rule of " + host + " routes to " + rule->service + ", not " + row.target +
                        " as published: a hand edit, never overwritten — put it back by hand, or `tunnelmgr cname rm " +
                        host + "` and add it again",
                    false);
        } else if (origins != nullptr) {
            // The settings published with the name, in the form the strategies list them.
            std::string want;
            if (row.origin_request && !row.origin_request->empty()) {
                auto settings = origin_settings_from_json_text(*row.origin_request);
                want = !settings ? *row.origin_request : settings->empty() ? "" : settings->to_json();
            }
            auto it = origins->find(host);
            const std::string have = it == origins->end() ? std::string() : it->second;
            if (have != want) {
                auto shown = [](const std::string& o) { return "originRequest " + (o.empty() ? std::string("none") : o); };
                finding(drift_class::rule_changed, shown(want), shown(have),
                        "the ingress rule of " + host + " carries " + shown(have) + ", not " + shown(want) +
                            " as published: a hand edit, never overwritten — put it back by hand, or make it what "
                            "tunnelmgr records with `tunnelmgr cname retarget " + host + " --port " +
                            std::to_string(row.port) + (want.empty() ? " --origin-clear`" : " --origin KEY=VALUE`") +
                            " (MCP: tunnel_update_cname)",
                        false);
            }
        }
    }
}

void reconciler::check_target(const sdk::model::cname_row& row, const std::string& snapshot_json,
                              reconcile_report& out) {
    const std::string host = sdk::fold_hostname(row.hostname);
    auto now = select_target(snapshot_json, row.project, static_cast<uint32_t>(row.port));
    if (now && now->service == row.target) return;
    drift_finding f;
    f.kind = drift_class::target_moved;
    f.hostname = host;
    f.project = row.project;
    f.expected = row.target;
    const std::string was = row.container_name ? "container " + *row.container_name +
                                                     (row.docker_network ? " on network " + *row.docker_network : "")
                                               : row.target;
    if (now) {
        f.found = now->service;
        f.detail = host + " was published to " + row.target + " (" + was + "), but the Docker topology now gives " +
                   now->service + " (" + now->reason + "); the rule still sends traffic to the old target — point it at "
                   "the new one without a DNS change: `tunnelmgr cname retarget " + host + " --port " +
                   std::to_string(row.port) + "` (MCP: tunnel_update_cname)";
    } else {
        f.detail = host + " was published to " + row.target + " (" + was + "), but port " + std::to_string(row.port) +
                   " of project " + row.project + " has no target now: " + now.error().message;
    }
    out.findings.push_back(std::move(f));
}

void reconciler::report_to_observer(const reconcile_report& out) const {
    std::vector<std::pair<std::string, int>> per_class;
    for (drift_class c : k_drift_classes) {
        int n = 0;
        for (const auto& f : out.findings) n += f.kind == c ? 1 : 0;
        per_class.emplace_back(drift_class_name(c), n);
    }
    int repaired = 0, failed = 0;
    for (const auto& f : out.findings) {
        repaired += f.action == "repaired" ? 1 : 0;
        failed += f.action == "repair failed" ? 1 : 0;
    }
    observer_->reconciled(per_class, repaired, failed, out.problems.empty());
}

void reconciler::find_orphans(const std::set<std::string>& known, const std::vector<ingress_rule>* rules,
                              reconcile_report& out) {
    auto orphan = [&](const std::string& host, const rapidjson::Value& rec) {
        drift_finding f;
        f.kind = drift_class::orphan_record;
        f.hostname = host;
        const std::string comment = json::str(rec, "comment");
        f.project = comment.substr(std::string(k_marker_prefix).size());
        f.found = sdk::fold_hostname(json::str(rec, "content")) + ", comment '" + comment + "'";
        f.detail = "the DNS record " + host + " carries tunnelmgr's marker but no published name holds it: delete it in "
                   "the dashboard if nobody needs it (tunnelmgr does not delete it by itself)";
        out.findings.push_back(std::move(f));
    };
    if (dns_->supports_list_records()) {
        std::set<std::string> zone_ids;
        for (const auto& z : zones_) zone_ids.insert(z.zone_id);
        for (const auto& zone : zone_ids) {
            auto listed = dns_->list_records(zone, k_marker_prefix);
            if (!listed) {
                out.problems.push_back("cannot list the records of zone " + zone + ": " + listed.error().message);
                continue;
            }
            auto doc = json::parse(*listed);
            if (!doc || !doc->IsArray()) continue;
            for (const auto& rec : doc->GetArray()) {
                std::string host = sdk::fold_hostname(json::str(rec, "name"));
                if (is_marked(json::str(rec, "comment")) && known.count(host) == 0U) orphan(host, rec);
            }
        }
        return;
    }
    // A DNS plugin built before API 1.2 cannot list records: look up every name tunnelmgr has known — the rules, and
    // the names the audit log says were published or removed.
    std::set<std::string> candidates;
    if (rules != nullptr) {
        for (const auto& r : *rules) {
            std::string h = sdk::fold_hostname(r.hostname);
            if (!h.empty() && h.front() != '*') candidates.insert(h);
        }
    }
    for (const char* action : {"cname.create", "cname.delete", "reconcile.repair"}) {
        json::object f;
        f.set("action", action).set("limit", 10000);
        auto entries = state_.audit_query(f.str());
        if (!entries) {
            out.problems.push_back("cannot read the audit log: " + entries.error().message);
            break;
        }
        if (auto doc = json::parse(*entries); doc && doc->IsArray()) {
            for (const auto& e : doc->GetArray()) candidates.insert(sdk::fold_hostname(json::str(e, "target")));
        }
    }
    int looked = 0;
    for (const auto& host : candidates) {
        if (known.count(host) != 0U || !plausible_hostname(host)) continue;
        const std::string zone = zone_for(host);
        if (zone.empty()) continue;
        ++looked;
        auto found = dns_->find_record(zone, host, "CNAME");
        if (!found) {
            if (found.error().code != errc::not_found) {
                out.problems.push_back("cannot look up the DNS record of " + host + ": " + found.error().message);
            }
            continue;
        }
        auto rec = json::parse(*found);
        if (rec && rec->IsObject() && is_marked(json::str(*rec, "comment"))) orphan(host, *rec);
    }
    out.notes.push_back("orphan records were looked for among the " + std::to_string(looked) +
                        " unpublished name(s) tunnelmgr has known (ingress rules, audit log): the DNS plugin "
                        "cannot list records by comment, so a marked record under any other name is not seen");
}

result<void> reconciler::repair_record(const sdk::model::cname_row& row, const drift_finding& f) {
    const std::string zone = row.zone_id.value_or("");
    const std::string marker = marker_of(row.project);
    if (f.kind == drift_class::record_changed) {
        // No update call in dns_provider_v1: replace it, by id and only while it still carries our marker.
        auto found = dns_->find_record(zone, f.hostname, "CNAME");
        if (!found) return tl::unexpected(found.error());
        auto rec = json::parse(*found);
        std::string id = rec ? json::str(*rec, "id") : "";
        if (id.empty()) return fail(errc::error, "the DNS provider gave the record of " + f.hostname + " no id");
        auto del = dns_->delete_record(zone, id, marker);
        if (!del && del.error().code != errc::not_found) return tl::unexpected(del.error());
    }
    json::object rec;
    rec.set("name", f.hostname).set("content", record_content()).set("comment", marker);
    auto created = dns_->create_record(zone, rec.str());
    if (!created) return tl::unexpected(created.error());
    return {};
}

result<reconcile_report> reconciler::run(const session& who, bool dry_run) {
    auto detected = detect();
    if (!detected) return detected;
    reconcile_report& out = *detected;
    if (settings_.policy != repair_policy::repair || dry_run) {
        if (settings_.policy == repair_policy::repair) {
            for (auto& f : out.findings) {
                if (f.repairable) f.action = "would repair";
            }
        }
        report_to_observer(out);
        return out;
    }
    std::map<std::string, const sdk::model::cname_row*> by_host;
    for (const auto& row : rows_) by_host[sdk::fold_hostname(row.hostname)] = &row;
    // A change that began after detect() read the journal (a `cname rm` that has taken the rule out and
    // not yet the row) must not be undone by a repair: a name an unfinished operation holds now is left
    // to it. (One that begins after this read is not seen: the window is this loop, not the comparison.)
    std::set<std::string> busy;
    auto ops = state_.operation_list_unfinished();
    if (!ops) {
        out.problems.push_back("cannot read the unfinished operations, so nothing was repaired: " + ops.error().message);
        report_to_observer(out);
        return out;
    }
    if (auto doc = json::parse(*ops); doc && doc->IsArray()) {
        for (const auto& o : doc->GetArray()) busy.insert(sdk::fold_hostname(json::str(o, "hostname")));
    }
    bool rules_added = false;
    for (auto& f : out.findings) {
        if (!f.repairable) continue;
        auto it = by_host.find(f.hostname);
        if (it == by_host.end()) continue;
        if (busy.count(f.hostname) != 0U) {
            out.notes.push_back(f.hostname + " began changing after the comparison; not repaired this time");
            continue;
        }
        const auto& row = *it->second;
        // The row may have gone (cname rm) since detect(): then there is nothing to restore.
        auto still = state_.cname_get(f.hostname);
        result<void> done;
        if (!still) {
            done = fail(errc::not_found, f.hostname + " is no longer published; nothing to restore");
        } else if (f.kind == drift_class::rule_missing) {
            auto added = ingress_->add(f.hostname, rule_target{row.target, row.origin_request.value_or("")},
                                       "reconcile: restore the rule of " + f.hostname);
            if (added) {
                rules_added = rules_added || *added;
                ingress_->take_backup_error();
            } else {
                done = tl::unexpected(added.error());
            }
        } else {
            done = repair_record(row, f);
        }
        f.action = done ? "repaired" : "repair failed";
        if (!done) f.repair_error = done.error().message;
        json::object details;
        details.set("class", drift_class_name(f.kind)).set("origin", who.origin);
        if (who.peer_uid >= 0) details.set("peer_uid", who.peer_uid).set("peer_pid", who.peer_pid);
        if (!f.found.empty()) details.set("found", f.found);
        details.set("restored", f.expected);
        record_audit(state_, {who.actor(), who.role_name(), "reconcile.repair", f.hostname, row.project,
                              done ? "ok" : "error", done ? "" : f.repair_error, details.str()});
        if (done) {
            log::info("reconcile", std::string("repaired ") + drift_class_name(f.kind) + " of " + f.hostname);
        } else {
            log::warn("reconcile", std::string("cannot repair ") + drift_class_name(f.kind) + " of " + f.hostname + ": " +
                                       f.repair_error);
        }
    }
    if (rules_added) {
        auto applied = ingress_->apply();
        if (applied) {
            out.apply_note = *applied;
        } else {
            out.apply_note = "the restored rules are written but not applied: " + applied.error().message;
            out.problems.push_back(out.apply_note);
        }
    }
    report_to_observer(out);
    return out;
}

}  // namespace tunnelmgr::core
