// core::state_store over a plugin's tm_state_store_v1 table: copies every returned string at once,
// turns rc + last_error into core::error, and serialises calls per instance as the ABI requires.
#pragma once

#include "core/state_store.hpp"
#include "plugin_host/loader.hpp"

namespace tunnelmgr::host {

class state_store_client final : public core::state_store {
public:
    explicit state_store_client(plugin_instance& inst);

    core::result<int64_t> schema_version() override;
    core::result<std::string> stats() override;
    core::result<int64_t> cname_insert(std::string_view row_json) override;
    core::result<void> cname_delete(std::string_view hostname) override;
    core::result<std::string> cname_get(std::string_view hostname) override;
    core::result<std::string> cname_list(std::string_view filter_json) override;
    core::result<int64_t> operation_begin(std::string_view op_json) override;
    core::result<void> operation_advance(int64_t id, std::string_view state, std::string_view patch_json) override;
    core::result<void> operation_commit(int64_t id, std::string_view cname_json) override;
    core::result<std::string> operation_list_unfinished() override;
    core::result<void> audit_append(std::string_view entry_json) override;
    core::result<std::string> audit_query(std::string_view filter_json) override;
    core::result<void> health_record(std::string_view json) override;
    core::result<std::string> health_history(std::string_view filter_json) override;
    core::result<void> domains_replace(std::string_view zones_json) override;
    core::result<std::string> domains_list() override;
    core::result<void> docker_snapshot_replace(std::string_view snapshot_json) override;
    core::result<std::string> docker_snapshot_get() override;
    core::result<bool> lease_acquire(std::string_view name, std::string_view holder, int64_t ttl_ms) override;
    core::result<void> lease_release(std::string_view name, std::string_view holder) override;
    core::result<int64_t> prune() override;
    core::result<int64_t> cname_count(std::string_view filter_json) override;

private:
    plugin_instance& inst_;
    const tm_state_store_v1& t_;
};


}  // namespace tunnelmgr::host
