// What the core needs from the system of record; the host implements it over whichever plugin
// fills the `state` slot. Single rows are typed (the SDK's model); the paged lists, the journal's
// patches and filters stay JSON texts in the shapes plugin_api.h documents, since clients get
// them as they are.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <tunnelmgr/sdk/model.hpp>
#include <tunnelmgr/sdk/model_audit.hpp>

#include "core/result.hpp"

namespace tunnelmgr::core {

class state_store {
public:
    virtual ~state_store() = default;
    virtual result<int64_t> schema_version() = 0;
    virtual result<std::string> stats() = 0;
    virtual result<int64_t> cname_insert(const sdk::model::cname_row& row) = 0;
    virtual result<void> cname_delete(std::string_view hostname) = 0;
    virtual result<sdk::model::cname_row> cname_get(std::string_view hostname) = 0;
    virtual result<std::string> cname_list(std::string_view filter_json) = 0;
    virtual result<int64_t> operation_begin(std::string_view op_json) = 0;
    virtual result<void> operation_advance(int64_t id, std::string_view state, std::string_view patch_json) = 0;
    // A create commits the new row; a delete, a row carrying only the hostname to remove.
    virtual result<void> operation_commit(int64_t id, const sdk::model::cname_row& row) = 0;
    virtual result<std::string> operation_list_unfinished() = 0;
    virtual result<void> audit_append(const sdk::model::audit_entry& entry) = 0;
    virtual result<std::string> audit_query(std::string_view filter_json) = 0;
    virtual result<void> health_record(const sdk::model::health_sample& sample) = 0;
    virtual result<std::string> health_history(std::string_view filter_json) = 0;
    virtual result<void> domains_replace(const std::vector<sdk::model::zone>& zones) = 0;
    virtual result<std::vector<sdk::model::zone>> domains_list() = 0;
    virtual result<void> docker_snapshot_replace(const sdk::model::docker_snapshot& snapshot) = 0;
    virtual result<sdk::model::docker_snapshot> docker_snapshot_get() = 0;
    virtual result<bool> lease_acquire(std::string_view name, std::string_view holder, int64_t ttl_ms) = 0;
    virtual result<void> lease_release(std::string_view name, std::string_view holder) = 0;
    virtual result<int64_t> prune() = 0;
    // Rows cname_list would return for the filter ({} or {"project"}), counted.
    virtual result<int64_t> cname_count(std::string_view filter_json) = 0;
    // Whether the store keeps a row's expires_at and origin_request, filters by expires_before and
    // knows retarget operations (plugin API 1.3).
    virtual bool keeps_row_extras() const { return true; }
    // Whether cname_count takes {"project","pending_before":id}: the project's rows plus its unfinished
    // creates begun before operation `id`, on every machine, in one snapshot (plugin API 1.4).
    virtual bool counts_pending() const { return true; }
    // Whether cname_list takes "after": only the rows whose hostname sorts after it, from an index
    // (keyset paging, plugin API 1.5). An older store ignores it and lists from the first row.
    virtual bool pages_after() const { return true; }
};

}  // namespace tunnelmgr::core
