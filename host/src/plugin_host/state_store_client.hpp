// core::state_store over a plugin's tm_state_store_v1 table: copies every returned string at once,
// turns rc + last_error into core::error, and serialises calls per instance as the ABI requires.
// Typed rows are encoded and decoded here, at the edge; a reply that does not decode is an error.
#pragma once

#include "core/state_store.hpp"
#include "plugin_host/loader.hpp"

namespace tunnelmgr::host {

class state_store_client final : public core::state_store {
public:
    explicit state_store_client(plugin_instance& inst);

    core::result<int64_t> schema_version() override;
    core::result<std::string> stats() override;
    core::result<int64_t> cname_insert(const sdk::model::cname_row& row) override;
    core::result<void> cname_delete(std::string_view hostname) override;
    core::result<sdk::model::cname_row> cname_get(std::string_view hostname) override;
    core::result<std::string> cname_list(std::string_view filter_json) override;
    core::result<int64_t> operation_begin(std::string_view op_json) override;
    core::result<void> operation_advance(int64_t id, std::string_view state, std::string_view patch_json) override;
    core::result<void> operation_commit(int64_t id, const sdk::model::cname_row& row) override;
    core::result<std::string> operation_list_unfinished() override;
    core::result<void> audit_append(const sdk::model::audit_entry& entry) override;
    core::result<std::string> audit_query(std::string_view filter_json) override;
    core::result<void> health_record(const sdk::model::health_sample& sample) override;
    core::result<std::string> health_history(std::string_view filter_json) override;
    core::result<void> domains_replace(const std::vector<sdk::model::zone>& zones) override;
    core::result<std::vector<sdk::model::zone>> domains_list() override;
    core::result<void> docker_snapshot_replace(const sdk::model::docker_snapshot& snapshot) override;
    core::result<sdk::model::docker_snapshot> docker_snapshot_get() override;
    core::result<bool> lease_acquire(std::string_view name, std::string_view holder, int64_t ttl_ms) override;
    core::result<void> lease_release(std::string_view name, std::string_view holder) override;
    core::result<int64_t> prune() override;
    core::result<int64_t> cname_count(std::string_view filter_json) override;
    // True when the plugin requires plugin API 1.3 or newer.
    bool keeps_row_extras() const override;
    bool counts_pending() const override;
    bool pages_after() const override;

    // What operation_commit sends: the whole row for a create; for a delete, whose row carries nothing
    // but the hostname, {"hostname"} alone, as stores have always been given it.
    static std::string commit_json(const sdk::model::cname_row& row);

private:
    // The sentence for a reply of `function` that does not decode: which plugin, which call, which field.
    core::error malformed(const char* function, const std::string& why) const;

    plugin_instance& inst_;
    const tm_state_store_v1& t_;
};


}  // namespace tunnelmgr::host
