// The tm_state_store_v1 table of one instance as plain calls returning outcomes, so the suite reads
// like the rules it checks. Rows are built here too, in the shapes plugin_api.h documents.
#pragma once

#include <string>

#include "plugin_check/plugin_call.hpp"

namespace tunnelmgr::plugin_check {

class store_calls {
public:
    explicit store_calls(host::plugin_instance& inst) : inst_(inst), t_(inst.library().state_store) {}

    outcome schema_version() { return call_plugin(inst_, [&](int64_t* v) { return t_.schema_version(h(), v); }); }
    outcome stats() { return call_plugin(inst_, [&](const char** o) { return t_.stats(h(), o); }); }
    outcome cname_insert(const std::string& row) {
        return call_plugin(inst_, [&](int64_t* id) { return t_.cname_insert(h(), row.c_str(), id); });
    }
    outcome cname_delete(const std::string& hostname) {
        return call_plugin(inst_, [&] { return t_.cname_delete(h(), hostname.c_str()); });
    }
    outcome cname_get(const std::string& hostname) {
        return call_plugin(inst_, [&](const char** o) { return t_.cname_get(h(), hostname.c_str(), o); });
    }
    outcome cname_list(const std::string& filter) {
        return call_plugin(inst_, [&](const char** o) { return t_.cname_list(h(), filter.c_str(), o); });
    }
    bool has_cname_count() const { return t_.cname_count != nullptr; }
    outcome cname_count(const std::string& filter) {
        return call_plugin(inst_, [&](int64_t* n) { return t_.cname_count(h(), filter.c_str(), n); });
    }
    outcome operation_begin(const std::string& op) {
        return call_plugin(inst_, [&](int64_t* id) { return t_.operation_begin(h(), op.c_str(), id); });
    }
    outcome operation_advance(int64_t id, const std::string& state, const std::string& patch) {
        return call_plugin(inst_, [&] { return t_.operation_advance(h(), id, state.c_str(), patch.c_str()); });
    }
    outcome operation_commit(int64_t id, const std::string& cname) {
        return call_plugin(inst_, [&] { return t_.operation_commit(h(), id, cname.c_str()); });
    }
    outcome operation_list_unfinished() {
        return call_plugin(inst_, [&](const char** o) { return t_.operation_list_unfinished(h(), o); });
    }
    outcome audit_append(const std::string& entry) {
        return call_plugin(inst_, [&] { return t_.audit_append(h(), entry.c_str()); });
    }
    outcome audit_query(const std::string& filter) {
        return call_plugin(inst_, [&](const char** o) { return t_.audit_query(h(), filter.c_str(), o); });
    }
    outcome health_record(const std::string& obs) {
        return call_plugin(inst_, [&] { return t_.health_record(h(), obs.c_str()); });
    }
    outcome health_history(const std::string& filter) {
        return call_plugin(inst_, [&](const char** o) { return t_.health_history(h(), filter.c_str(), o); });
    }
    outcome domains_replace(const std::string& zones) {
        return call_plugin(inst_, [&] { return t_.domains_replace(h(), zones.c_str()); });
    }
    outcome domains_list() { return call_plugin(inst_, [&](const char** o) { return t_.domains_list(h(), o); }); }
    outcome docker_snapshot_replace(const std::string& snap) {
        return call_plugin(inst_, [&] { return t_.docker_snapshot_replace(h(), snap.c_str()); });
    }
    outcome docker_snapshot_get() {
        return call_plugin(inst_, [&](const char** o) { return t_.docker_snapshot_get(h(), o); });
    }
    // number: 1 when `holder` holds the lease after the call.
    outcome lease_acquire(const std::string& name, const std::string& holder, int64_t ttl_ms) {
        return call_plugin(inst_, [&](int32_t* acquired) {
            return t_.lease_acquire(h(), name.c_str(), holder.c_str(), ttl_ms, acquired);
        });
    }
    outcome lease_release(const std::string& name, const std::string& holder) {
        return call_plugin(inst_, [&] { return t_.lease_release(h(), name.c_str(), holder.c_str()); });
    }
    outcome prune() { return call_plugin(inst_, [&](int64_t* n) { return t_.prune(h(), n); }); }

private:
    tm_plugin_t* h() const { return inst_.handle(); }
    host::plugin_instance& inst_;
    const tm_state_store_v1& t_;
};

// {"hostname": "<sub>.<domain>", ...} with every field cname_insert documents.
std::string cname_row_json(const std::string& subdomain, const std::string& domain, const std::string& project,
                           int port);
// {"kind", "hostname", "project", "request": {"port": port}}
std::string operation_json(const std::string& kind, const std::string& hostname, const std::string& project,
                           int port = 3100);

}  // namespace tunnelmgr::plugin_check
