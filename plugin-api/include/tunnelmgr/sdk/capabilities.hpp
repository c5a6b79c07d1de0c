// The C++ interfaces a plugin class derives from, one per capability table of plugin_api.h.
// A plugin derives from sdk::plugin plus each capability it provides; the SDK fills the C tables.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <tunnelmgr/plugin_api.h>
#include <tunnelmgr/sdk/result.hpp>

namespace tunnelmgr::sdk {

// Every plugin class derives from this (directly), so the SDK can own and destroy it.
class plugin {
public:
    virtual ~plugin() = default;
};

// Returned JSON strings are copied by the SDK into the instance's buffer, which keeps them valid
// until the next call, as the ABI promises.

class state_store_v1 {
public:
    virtual ~state_store_v1() = default;
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
    // since 1.1, optional: override to count without listing (the host falls back to cname_list).
    virtual result<int64_t> cname_count(std::string_view /*filter_json*/) {
        return fail(TM_ERROR, "this state store does not count rows by itself");
    }
};

class dns_provider_v1 {
public:
    virtual ~dns_provider_v1() = default;
    virtual result<std::string> list_zones() = 0;
    virtual result<std::string> find_record(std::string_view zone_id, std::string_view hostname,
                                            std::string_view type) = 0;
    virtual result<std::string> create_record(std::string_view zone_id, std::string_view record_json) = 0;
    virtual result<void> delete_record(std::string_view zone_id, std::string_view record_id,
                                       std::string_view expected_comment) = 0;
};

// Optional part of dns_provider_v1: remotely-managed tunnel configuration.
class dns_tunnel_config {
public:
    virtual ~dns_tunnel_config() = default;
    virtual result<void> put_tunnel_config(std::string_view tunnel_id, std::string_view config_json) = 0;
    virtual result<std::string> get_tunnel_config(std::string_view tunnel_id) = 0;
};

// Optional part of dns_provider_v1, since 1.2: the records of a zone whose comment starts with a
// prefix (the ownership marker), every page followed, as a JSON array of find_record's objects.
class dns_record_listing {
public:
    virtual ~dns_record_listing() = default;
    virtual result<std::string> list_records(std::string_view zone_id, std::string_view comment_prefix) = 0;
};

class container_runtime_v1 {
public:
    virtual ~container_runtime_v1() = default;
    virtual result<std::string> snapshot() = 0;
};

// Optional part of container_runtime_v1 and tunnel_supervisor_v1: following events on a thread of
// the plugin's own, reported through host::emit_event. watch_stop() may run concurrently.
class event_watch {
public:
    virtual ~event_watch() = default;
    virtual result<void> watch_start() = 0;
    virtual result<void> watch_stop() = 0;
};

class tunnel_supervisor_v1 {
public:
    virtual ~tunnel_supervisor_v1() = default;
    // With replicas: the whole (running when any replica runs; pid/since_ms of the first that runs).
    virtual result<std::string> status() = 0;
    // With replicas: every replica.
    virtual result<void> restart() = 0;
};

// Optional part of tunnel_supervisor_v1, since 1.2: several cloudflared replicas (connectors of one
// tunnel, each its own unit or container with its own metrics address), restarted one at a time by
// the host. The count is fixed for the instance's life; an index outside 0..count-1 is TM_INVALID
// (the SDK refuses a negative one before calling).
class supervisor_replicas {
public:
    virtual ~supervisor_replicas() = default;
    virtual result<int32_t> replica_count() = 0;
    // status()'s shape plus "name" (the unit or container) and "metrics" ("HOST:PORT", "" when none).
    virtual result<std::string> replica_status(int32_t index) = 0;
    // Returns once the restart was issued, as restart() does.
    virtual result<void> replica_restart(int32_t index) = 0;
};

class transport_v1 {
public:
    virtual ~transport_v1() = default;
    virtual result<void> serve(const tm_session_t* session) = 0;
    virtual result<void> stop() = 0;
};

// Optional part of transport_v1: host events pushed to clients; runs concurrently with serve().
class transport_events {
public:
    virtual ~transport_events() = default;
    virtual result<void> deliver_event(std::string_view type, std::string_view json) = 0;
};

}  // namespace tunnelmgr::sdk
