// What the core needs from the system of record; the host implements it over whichever plugin
// fills the `state` slot. Rows are JSON texts in the shapes plugin_api.h documents.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tunnelmgr::core {

class state_store {
public:
    virtual ~state_store() = default;
    virtual result<int64_t> schema_version() = 0;
    virtual result<std::string> stats() = 0;
    virtual result<int64_t> cname_insert(std::string_view row_json) = 0;
    virtual result<void> cname_delete(std::string_view hostname) = 0;
    virtual result<std::string> cname_get(std::string_view hostname) = 0;
    virtual result<std::string> cname_list(std::string_view filter_json) = 0;
    virtual result<int64_t> operation_begin(std::string_view op_json) = 0;
    virtual result<void> operation_advance(int64_t id, std::string_view state, std::string_view patch_json) = 0;
    virtual result<void> operation_commit(int64_t id, std::string_view cname_json) = 0;
    virtual result<std::string> operation_list_unfinished() = 0;
    virtual result<void> audit_append(std::string_view entry_json) = 0;
    virtual result<std::string> audit_query(std::string_view filter_json) = 0;
    virtual result<void> health_record(std::string_view json) = 0;
    virtual result<std::string> health_history(std::string_view filter_json) = 0;
    virtual result<void> domains_replace(std::string_view zones_json) = 0;
    virtual result<std::string> domains_list() = 0;
    virtual result<void> docker_snapshot_replace(std::string_view snapshot_json) = 0;
    virtual result<std::string> docker_snapshot_get() = 0;
    virtual result<bool> lease_acquire(std::string_view name, std::string_view holder, int64_t ttl_ms) = 0;
    virtual result<void> lease_release(std::string_view name, std::string_view holder) = 0;
    virtual result<int64_t> prune() = 0;
    // Rows cname_list would return for the filter ({} or {"project"}), counted.
    virtual result<int64_t> cname_count(std::string_view filter_json) = 0;
};

}  // namespace tunnelmgr::core
