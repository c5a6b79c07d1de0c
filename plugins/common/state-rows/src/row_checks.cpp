// The checks and refusal sentences every state store shares (see row_checks.hpp).
#include "state_rows/row_checks.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include <tunnelmgr/sdk/hostname.hpp>

#include "state_rows/store_json.hpp"

namespace tunnelmgr::plugins::state_rows {
namespace {

// A DNS name as the store keeps it: lower-case, no spaces, within DNS's length limit.
std::optional<std::string> check_name(std::string_view value, std::string_view field) {
    if (value.empty()) return std::string(field) + " is required";
    if (value.size() > 253) return std::string(field) + " is longer than the 253 characters DNS allows";
    for (unsigned char c : value) {
        if (std::isspace(c) != 0 || c < 0x20) return std::string(field) + " must not contain spaces or control characters";
    }
    return std::nullopt;
}

}  // namespace

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool is_finished(std::string_view state) { return state == "committed" || state == "rolled_back"; }

store_result<cname_row> checked_cname(cname_row row) {
    row.hostname = sdk::fold_hostname(row.hostname);
    row.subdomain = sdk::fold_hostname(row.subdomain);
    row.domain = sdk::fold_hostname(row.domain);
    if (auto e = check_name(row.hostname, "hostname")) return store_fail(store_errc::invalid, *e + " in the CNAME row");
    if (auto e = check_name(row.domain, "domain")) return store_fail(store_errc::invalid, *e + " in the CNAME row");
    const std::string expected = row.subdomain.empty() ? row.domain : row.subdomain + "." + row.domain;
    if (row.hostname != expected) {
        return store_fail(store_errc::invalid, "the CNAME row's hostname " + in_quotes(row.hostname) +
                                                   " is not subdomain + \".\" + domain (" + in_quotes(expected) +
                                                   "); send matching fields");
    }
    if (row.project.empty()) return store_fail(store_errc::invalid, "project is required in the CNAME row");
    if (row.target.empty()) {
        return store_fail(store_errc::invalid, "target is required in the CNAME row (e.g. http://localhost:3100)");
    }
    if (row.port < 1 || row.port > 65535) {
        return store_fail(store_errc::invalid,
                          "port in the CNAME row must be from 1 to 65535, not " + std::to_string(row.port));
    }
    if (row.machine && row.machine->empty()) {
        return store_fail(store_errc::invalid, "machine in the CNAME row must be a machine's name, or left out for "
                                               "the store's own machine");
    }
    if (row.origin_request) {
        auto compact = compact_json_object(*row.origin_request);
        if (!compact) {
            return store_fail(store_errc::invalid,
                              "origin_request in the CNAME row must be a JSON object of cloudflared originRequest "
                              "settings (e.g. {\"connectTimeout\":30}), or null for none");
        }
        row.origin_request = std::move(*compact);
    }
    return row;
}

store_result<std::string> checked_hostname(std::string_view hostname, std::string_view what) {
    std::string host = sdk::fold_hostname(hostname);
    if (host.empty()) return store_fail(store_errc::invalid, "give the hostname of " + std::string(what));
    return host;
}

store_result<void> check_limit(int64_t limit) {
    if (limit < 1 || limit > max_query_limit) {
        return store_fail(store_errc::invalid, "limit must be from 1 to " + std::to_string(max_query_limit) + ", not " +
                                                   std::to_string(limit));
    }
    return {};
}

store_result<operation_request> checked_operation(operation_request request) {
    request.hostname = sdk::fold_hostname(request.hostname);
    if (auto e = check_name(request.hostname, "hostname")) return store_fail(store_errc::invalid, *e + " in the operation");
    if (request.project.empty()) return store_fail(store_errc::invalid, "project is required in the operation");
    if (!is_json_object(request.request_json)) {
        return store_fail(store_errc::invalid, "the operation's request must be a JSON object");
    }
    return request;
}

store_result<std::string> checked_advance(int64_t id, std::string_view state, std::string_view patch_json) {
    if (state.empty() || !std::all_of(state.begin(), state.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; })) {
        return store_fail(store_errc::invalid,
                          "an operation state is a lower-case word such as \"dns_created\", not " + in_quotes(state));
    }
    if (state == "committed") {
        return store_fail(store_errc::invalid, "commit an operation with operation_commit, which changes the CNAME row "
                                               "in the same transaction; operation_advance cannot set \"committed\"");
    }
    std::string patch = patch_json.empty() ? std::string("{}") : std::string(patch_json);
    if (!is_json_object(patch)) {
        return store_fail(store_errc::invalid, "the patch for operation " + std::to_string(id) +
                                                   " must be a JSON object (use {} for none)");
    }
    return patch;
}

store_result<std::optional<cname_row>> checked_commit_row(const operation_row& op, const cname_row& row) {
    const std::string row_host = sdk::fold_hostname(row.hostname);
    if (!row_host.empty() && row_host != sdk::fold_hostname(op.hostname)) {
        return store_fail(store_errc::invalid, "the CNAME row is for " + row_host + " but operation " +
                                                   std::to_string(op.id) + " is for " + op.hostname +
                                                   "; commit the operation with its own row");
    }
    if (op.kind == operation_kind::remove) return std::optional<cname_row>();
    // A retarget replaces the whole row, so it must be a whole row; its project may change (the host
    // decides who may move a name).
    auto checked = checked_cname(row);
    if (!checked) return tl::unexpected(checked.error());
    if (op.kind == operation_kind::create && checked->project != op.project) {
        return store_fail(store_errc::invalid, "the CNAME row belongs to project " + in_quotes(checked->project) +
                                                   " but operation " + std::to_string(op.id) + " was started for " +
                                                   in_quotes(op.project));
    }
    return std::optional<cname_row>(std::move(*checked));
}

store_result<audit_entry> checked_audit(audit_entry entry) {
    if (entry.actor.empty()) return store_fail(store_errc::invalid, "actor is required in an audit entry");
    if (entry.action.empty()) return store_fail(store_errc::invalid, "action is required in an audit entry");
    if (!is_json_object(entry.details_json)) {
        return store_fail(store_errc::invalid, "details in an audit entry must be a JSON object");
    }
    if (entry.ts < 0) {
        return store_fail(store_errc::invalid, "ts in an audit entry must be Unix milliseconds (> 0), or left out for "
                                               "the store's time");
    }
    if (!entry.project && entry.role == std::optional<std::string>("project")) entry.project = entry.actor;
    return entry;
}

store_result<void> check_health(const health_observation& h) {
    if (h.status.empty()) return store_fail(store_errc::invalid, "status is required in a health observation");
    if (!is_json_object(h.detail_json)) {
        return store_fail(store_errc::invalid, "detail in a health observation must be a JSON object");
    }
    if (h.ts < 0) {
        return store_fail(store_errc::invalid, "ts in a health observation must be Unix milliseconds (> 0), or left "
                                               "out for the store's time");
    }
    return {};
}

store_result<void> check_zones(const std::vector<zone>& zones) {
    std::set<std::string> seen;
    for (const zone& z : zones) {
        if (z.zone_id.empty() || z.name.empty()) {
            return store_fail(store_errc::invalid, "every zone needs a zone_id and a name");
        }
        if (!seen.insert(z.zone_id).second) {
            return store_fail(store_errc::invalid, "zone_id " + z.zone_id + " appears twice in the zone list");
        }
    }
    return {};
}

store_result<void> check_snapshot(const docker_snapshot& snapshot) {
    std::set<std::string> network_ids;
    for (const auto& n : snapshot.networks) {
        if (n.id.empty() || n.name.empty()) return store_fail(store_errc::invalid, "every network needs an id and a name");
        if (!network_ids.insert(n.id).second) {
            return store_fail(store_errc::invalid, "network " + n.id + " appears twice in the snapshot");
        }
    }
    std::set<std::string> container_ids;
    for (const auto& c : snapshot.containers) {
        if (c.id.empty() || c.name.empty()) {
            return store_fail(store_errc::invalid, "every container needs an id and a name");
        }
        if (!container_ids.insert(c.id).second) {
            return store_fail(store_errc::invalid, "container " + c.id + " appears twice in the snapshot");
        }
        for (const auto& a : c.networks) {
            if (a.network.empty()) {
                return store_fail(store_errc::invalid, "container " + c.name + " has a network entry without a network");
            }
        }
        for (const auto& p : c.ports) {
            if (p.container_port < 1 || p.container_port > 65535 || p.host_port.value_or(0) < 0 ||
                p.host_port.value_or(0) > 65535) {
                return store_fail(store_errc::invalid, "container " + c.name + " has a port outside 1-65535");
            }
        }
    }
    return {};
}

store_result<void> check_lease(std::string_view name, std::string_view holder, int64_t ttl_ms) {
    if (name.empty() || holder.empty()) return store_fail(store_errc::invalid, "a lease needs a name and a holder");
    if (ttl_ms <= 0) {
        return store_fail(store_errc::invalid, "a lease's ttl_ms must be positive, not " + std::to_string(ttl_ms));
    }
    return {};
}

std::optional<std::string> unless_empty(const std::string& v) {
    if (v.empty()) return std::nullopt;
    return v;
}

tl::unexpected<store_error> no_operation(int64_t id) {
    return store_fail(store_errc::not_found, "there is no operation " + std::to_string(id) +
                                                 "; list unfinished ones with operation_list_unfinished");
}

tl::unexpected<store_error> hostname_taken(std::string_view hostname, std::string_view by_project) {
    return store_fail(store_errc::conflict, std::string(hostname) + " is already published by project " +
                                                in_quotes(by_project) + "; delete that CNAME first or choose another name");
}

tl::unexpected<store_error> hostname_busy(std::string_view hostname, int64_t op_id, std::string_view kind,
                                          std::string_view project, std::string_view state) {
    return store_fail(store_errc::conflict, std::string(hostname) + " is being worked on by operation " +
                                                std::to_string(op_id) + " (" + std::string(kind) + " for project " +
                                                in_quotes(project) + ", state " + std::string(state) +
                                                "); wait for it to finish or roll back, then try again");
}

tl::unexpected<store_error> operation_already_finished(int64_t id, std::string_view state) {
    return store_fail(store_errc::conflict, "operation " + std::to_string(id) + " is already " + std::string(state) +
                                                "; start a new operation instead");
}

tl::unexpected<store_error> operation_rolled_back(int64_t id) {
    return store_fail(store_errc::conflict,
                      "operation " + std::to_string(id) + " was rolled back and cannot be committed; start a new one");
}

tl::unexpected<store_error> no_cname_to_retarget(std::string_view hostname) {
    return store_fail(store_errc::not_found, "there is no CNAME row for " + in_quotes(hostname) +
                                                 " to retarget (it was deleted meanwhile); roll the operation "
                                                 "back, or publish the name anew with a create");
}

tl::unexpected<store_error> no_cname(std::string_view hostname) {
    return store_fail(store_errc::not_found, "there is no CNAME row for " + in_quotes(hostname) +
                                                 "; list the published names with cname_list");
}

tl::unexpected<store_error> no_cname_to_delete(std::string_view hostname) {
    return store_fail(store_errc::not_found, "there is no CNAME row for " + std::string(hostname) + "; nothing was deleted");
}

}  // namespace tunnelmgr::plugins::state_rows
