// See state_copy.hpp.
#include "service/state_copy.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include <tunnelmgr/sdk/hostname.hpp>
#include <tunnelmgr/sdk/model_audit.hpp>
#include <tunnelmgr/sdk/model_cname.hpp>
#include <tunnelmgr/sdk/model_health.hpp>

#include "core/json.hpp"

namespace tunnelmgr::service {
namespace {

using core::errc;
using core::fail;

constexpr int64_t k_name_page = 1000;
constexpr int64_t k_log_page = 10000;  // the most audit_query and health_history give at once

core::result<std::vector<sdk::model::cname_row>> all_names(core::state_store& store, const char* which) {
    std::vector<sdk::model::cname_row> out;
    for (int64_t offset = 0;; offset += k_name_page) {
        core::json::object f;
        f.set("limit", k_name_page).set("offset", offset);
        auto page = store.cname_list(f.str());
        if (!page) return fail(page.error().code, std::string("cannot list the names of the ") + which + " store: " + page.error().message);
        auto rows = sdk::model::decode_cname_rows(*page);
        if (!rows) return fail(errc::error, std::string("the ") + which + " store listed malformed names: " + rows.error());
        const size_t got = rows->size();
        for (auto& r : *rows) out.push_back(std::move(r));
        // A store older than plugin API 1.1 ignores limit and offset and gives every row at once.
        if (got < static_cast<size_t>(k_name_page) || (offset == 0 && got > static_cast<size_t>(k_name_page))) break;
    }
    return out;
}

// Every entry of a newest-first log (audit_query / health_history), oldest first and decoded with
// `decode`, paged with "before_id" (plugin API 1.4: entries with a smaller id, newest id first).
template <class T, class Decode>
core::result<std::vector<T>> all_entries(const std::function<core::result<std::string>(std::string_view)>& query,
                                         Decode decode, const std::string& what, const char* which) {
    std::vector<T> newest_first;
    std::optional<int64_t> before;
    for (;;) {
        core::json::object f;
        f.set("limit", k_log_page);
        if (before) f.set("before_id", *before);
        auto page = query(f.str());
        if (!page) return fail(page.error().code, "cannot read the " + what + " of the " + which + " store: " + page.error().message);
        auto doc = core::json::parse(*page);
        if (!doc || !doc->IsArray()) return fail(errc::error, "the " + std::string(which) + " store returned a malformed " + what);
        int64_t lowest = before.value_or(INT64_MAX);
        for (const auto& e : doc->GetArray()) {
            const int64_t id = core::json::i64(e, "id");
            if (id <= 0 || id >= lowest) {
                return fail(errc::invalid, "the " + std::string(which) + " store cannot page its " + what +
                                               " by id (plugin API 1.4 `before_id`): upgrade the plugin, then copy again");
            }
            lowest = id;
            auto v = decode(core::json::to_string(e));
            if (!v) return fail(errc::error, "the " + std::string(which) + " store returned a malformed " + what + " entry: " + v.error());
            newest_first.push_back(std::move(*v));
        }
        if (doc->Size() < static_cast<rapidjson::SizeType>(k_log_page)) break;
        before = lowest;
    }
    std::reverse(newest_first.begin(), newest_first.end());
    return newest_first;
}

core::result<std::vector<sdk::model::audit_entry>> audit_log(core::state_store& store, const char* which) {
    return all_entries<sdk::model::audit_entry>([&](std::string_view f) { return store.audit_query(f); },
                                                [](const std::string& t) { return sdk::model::decode_audit_entry(t); },
                                                "audit log", which);
}

core::result<std::vector<sdk::model::health_sample>> health_log(core::state_store& store, const char* which) {
    return all_entries<sdk::model::health_sample>([&](std::string_view f) { return store.health_history(f); },
                                                  [](const std::string& t) { return sdk::model::decode_health_sample(t); },
                                                  "health history", which);
}

// JSON texts equal as values (key order and spacing aside: a store may keep objects its own way).
bool same_json(const std::string& a, const std::string& b) {
    auto x = core::json::parse(a.empty() ? "null" : a);
    auto y = core::json::parse(b.empty() ? "null" : b);
    return x && y && *x == *y;
}

// The first field in which the copy of `want` differs, or "".
std::string name_difference(const sdk::model::cname_row& want, const sdk::model::cname_row& got) {
    auto text = [](const std::optional<std::string>& v) { return v.value_or(""); };
    if (want.subdomain != got.subdomain || want.domain != got.domain) return "subdomain/domain";
    if (want.project != got.project) return "project";
    if (want.port != got.port) return "port";
    if (want.target != got.target) return "target";
    if (text(want.target_type) != text(got.target_type)) return "target_type";
    if (text(want.container_name) != text(got.container_name)) return "container_name";
    if (text(want.docker_network) != text(got.docker_network)) return "docker_network";
    if (text(want.dns_record_id) != text(got.dns_record_id)) return "dns_record_id";
    if (text(want.zone_id) != text(got.zone_id)) return "zone_id";
    if (want.created_at != got.created_at) return "created_at";
    if (want.expires_at != got.expires_at) return "expires_at";
    if (!same_json(want.origin_request.value_or("null"), got.origin_request.value_or("null"))) return "origin_request";
    if (got.machine && want.machine != got.machine) return "machine";  // a one-machine store keeps none
    return "";
}

std::string audit_difference(const sdk::model::audit_entry& a, const sdk::model::audit_entry& b) {
    if (a.ts != b.ts) return "ts";
    if (a.actor != b.actor || a.role != b.role) return "actor/role";
    if (a.action != b.action || a.target != b.target) return "action/target";
    if (a.project != b.project) return "project";
    if (a.result != b.result || a.error != b.error) return "result/error";
    if (!same_json(a.details, b.details)) return "details";
    if (!b.machine.empty() && a.machine != b.machine) return "machine";
    return "";
}

std::string health_difference(const sdk::model::health_sample& a, const sdk::model::health_sample& b) {
    if (a.ts != b.ts) return "ts";
    if (a.status != b.status) return "status";
    if (a.ready_connections != b.ready_connections || a.restart_count != b.restart_count || a.uptime_s != b.uptime_s) {
        return "counts";
    }
    if (a.last_error != b.last_error) return "last_error";
    if (!same_json(a.detail, b.detail)) return "detail";
    return "";
}

template <class T, class Diff>
core::result<void> compare_logs(const std::vector<T>& want, const std::vector<T>& got, Diff diff, const std::string& what) {
    if (want.size() != got.size()) {
        return fail(errc::error, "verification failed: the destination holds " + std::to_string(got.size()) + " " + what +
                                     " entries after the copy, the source " + std::to_string(want.size()));
    }
    for (size_t i = 0; i < want.size(); ++i) {
        if (auto d = diff(want[i], got[i]); !d.empty()) {
            return fail(errc::error, "verification failed: " + what + " entry " + std::to_string(i + 1) +
                                         " (oldest first) differs in its " + d);
        }
    }
    return {};
}

core::result<void> verify(core::state_store& to, const std::vector<sdk::model::cname_row>& names,
                          const std::vector<sdk::model::audit_entry>& audit,
                          const std::vector<sdk::model::health_sample>& health,
                          const std::vector<sdk::model::zone>& zones) {
    TM_TRY(copied, all_names(to, "destination"));
    if (copied.size() != names.size()) {
        return fail(errc::error, "verification failed: the destination holds " + std::to_string(copied.size()) +
                                     " names after the copy, the source " + std::to_string(names.size()));
    }
    std::map<std::string, const sdk::model::cname_row*> by_host;
    for (const auto& r : copied) by_host[sdk::fold_hostname(r.hostname)] = &r;
    for (const auto& want : names) {
        auto it = by_host.find(sdk::fold_hostname(want.hostname));
        if (it == by_host.end()) return fail(errc::error, "verification failed: " + want.hostname + " is missing from the destination");
        if (auto d = name_difference(want, *it->second); !d.empty()) {
            return fail(errc::error, "verification failed: the copy of " + want.hostname + " differs in its " + d);
        }
    }
    TM_TRY(audit_got, audit_log(to, "destination"));
    TM_TRY_VOID(compare_logs(audit, audit_got, audit_difference, "audit"));
    TM_TRY(health_got, health_log(to, "destination"));
    TM_TRY_VOID(compare_logs(health, health_got, health_difference, "health"));
    TM_TRY(zones_got, to.domains_list());
    if (zones_got.size() != zones.size()) {
        return fail(errc::error, "verification failed: the destination knows " + std::to_string(zones_got.size()) +
                                     " zones, the source " + std::to_string(zones.size()));
    }
    return {};
}

}  // namespace

std::string copy_report::to_json() const {
    core::json::object o;
    o.set("cnames", cnames).set("audit", audit).set("health", health).set("zones", zones).set("verified", verified);
    return o.str();
}

core::result<copy_report> copy_state(core::state_store& from, core::state_store& to, const std::string& machine) {
    // Refusals first: nothing is written until every check has passed.
    TM_TRY(unfinished, from.operation_list_unfinished());
    if (auto doc = core::json::parse(unfinished); !doc || !doc->IsArray() || !doc->Empty()) {
        return fail(errc::conflict, "the source store has an unfinished operation: let tunnelmgr settle it (start the "
                                    "daemon, or run any command such as `tunnelmgr status`), then copy again");
    }
    TM_TRY(held, to.cname_count("{}"));
    if (held > 0) {
        return fail(errc::conflict, "the destination store already holds " + std::to_string(held) +
                                        " names: copy into an empty store (a new database), so that no name is merged "
                                        "or lost");
    }
    TM_TRY(logged, to.audit_query("{\"limit\":1}"));
    if (auto doc = core::json::parse(logged); doc && doc->IsArray() && !doc->Empty()) {
        return fail(errc::conflict, "the destination store already holds audit entries: copy into an empty store (a new "
                                    "database), so that two histories are not mixed");
    }
    TM_TRY(names, all_names(from, "source"));
    TM_TRY(audit, audit_log(from, "source"));
    TM_TRY(health, health_log(from, "source"));
    TM_TRY(zones, from.domains_list());
    for (auto& r : names) {
        if (!r.machine || r.machine->empty()) r.machine = machine;
    }
    for (auto& e : audit) {
        if (e.machine.empty()) e.machine = machine;
    }

    copy_report out;
    std::vector<std::string> inserted;
    auto undo = [&](const core::error& e) -> core::result<copy_report> {
        for (const auto& h : inserted) (void)to.cname_delete(h);
        std::string msg = "the copy stopped: " + e.message + "; the " + std::to_string(inserted.size()) +
                          " names it had copied were removed from the destination";
        if (out.audit > 0 || out.health > 0) {
            msg += ", but its " + std::to_string(out.audit) + " audit and " + std::to_string(out.health) +
                   " health entries stay: drop and recreate the destination database before copying again";
        }
        return fail(e.code, msg);
    };
    for (const auto& r : names) {
        auto id = to.cname_insert(r);
        if (!id) return undo(id.error());
        inserted.push_back(r.hostname);
        ++out.cnames;
    }
    if (!zones.empty()) {
        if (auto z = to.domains_replace(zones); !z) return undo(z.error());
    }
    out.zones = static_cast<int64_t>(zones.size());
    for (const auto& e : audit) {
        if (auto a = to.audit_append(e); !a) return undo(a.error());
        ++out.audit;
    }
    for (const auto& h : health) {
        if (auto a = to.health_record(h); !a) return undo(a.error());
        ++out.health;
    }
    TM_TRY_VOID(verify(to, names, audit, health, zones));
    out.verified = true;
    return out;
}

}  // namespace tunnelmgr::service
