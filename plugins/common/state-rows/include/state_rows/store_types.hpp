// The rows a state store keeps, as plain C++ values (no ABI, no database, no JSON library types),
// shared by every stock store (sqlite-state, postgres-state).
// JSON-valued columns (details, data, request) travel as JSON text that the store has validated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tunnelmgr/sdk/model.hpp>

namespace tunnelmgr::plugins::state_rows {

// One published hostname: the SDK's typed row (one shape and codec for the store and the CNAME pipeline).
// The store always sets id and created_at on the rows it reads; it ignores them on the rows it is given.
using cname_row = sdk::model::cname_row;

struct cname_filter {
    std::optional<std::string> project;
    std::optional<int64_t> limit;   // one page: 1..10000 rows
    std::optional<int64_t> offset;  // rows to skip, >= 0
    // cname_list only (since 1.5): rows whose hostname sorts after this one (folded), in the list's order:
    // keyset paging, the last hostname of the previous page. Never together with offset.
    std::optional<std::string> after;
    // Only rows whose expires_at is set and <= this (Unix ms): the daemon's expiry pass.
    std::optional<int64_t> expires_before;
    // cname_count only, with project (since 1.4): also count the project's unfinished create operations
    // whose id is smaller, on every machine, in the same snapshot as the rows (the quota's exact count).
    std::optional<int64_t> pending_before;
};

// retarget: the row's service (port, target, ...) changes in place; its DNS record does not.
enum class operation_kind { create, remove, retarget };

// The kind as the ABI and the operations table spell it, and back (nullopt for any other word).
inline const char* kind_name(operation_kind kind) {
    switch (kind) {
        case operation_kind::create: return "create";
        case operation_kind::remove: return "delete";
        case operation_kind::retarget: return "retarget";
    }
    return "create";
}
inline std::optional<operation_kind> operation_kind_named(std::string_view name) {
    if (name == "create") return operation_kind::create;
    if (name == "delete") return operation_kind::remove;
    if (name == "retarget") return operation_kind::retarget;
    return std::nullopt;
}

struct operation_request {
    operation_kind kind = operation_kind::create;
    std::string hostname;
    std::string project;
    std::string request_json = "{}";  // the caller's request, an object
};

struct operation_row {
    int64_t id = 0;
    operation_kind kind = operation_kind::create;
    std::string hostname;
    std::string project;
    std::string state;
    std::string data_json = "{}";  // {"request":{...}} merged with every advance() patch
    int64_t created_at = 0;
    int64_t updated_at = 0;
    std::optional<std::string> machine;  // a store shared by several machines: whose it is (written when set)
};

struct audit_entry {
    int64_t id = 0;  // set by the store
    int64_t ts = 0;  // set by the store, unless given (> 0): since API 1.4 a given time is kept
    std::string actor;
    std::optional<std::string> role;
    std::string action;
    std::optional<std::string> target;
    std::optional<std::string> result;
    std::optional<std::string> error;
    // The project the action concerns; when absent and role is "project", the actor is the project.
    std::optional<std::string> project;
    std::string details_json = "{}";
    // Since API 1.4: the machine that wrote the entry, as a store shared by several machines returns
    // it (written in JSON only when set; a store of one machine leaves it out).
    std::optional<std::string> machine;
};

struct audit_filter {
    std::optional<std::string> project;
    std::optional<std::string> action;
    std::optional<int64_t> since_ms;
    // since 1.4: only entries with a smaller id, newest id first (pages through the whole log: state copy)
    std::optional<int64_t> before_id;
    int64_t limit = 100;
};

// A stored sdk::model::health_sample with the store's id and time (health_record decodes the sample
// with the SDK's codec; health_history writes these rows).
struct health_observation {
    int64_t id = 0;  // set by the store
    int64_t ts = 0;  // set by the store, unless given (> 0): since API 1.4 a given time is kept
    std::string status;
    std::optional<int64_t> ready_connections;
    std::optional<int64_t> restart_count;
    std::optional<std::string> last_error;
    std::optional<int64_t> uptime_s;
    std::string detail_json = "{}";
};

struct health_filter {
    std::optional<int64_t> since_ms;
    std::optional<int64_t> before_id;  // since 1.4, as for audit_filter
    int64_t limit = 100;
};

// A zone of the account: the SDK's typed row, as the DNS plugin lists it and the host reads it back.
using zone = sdk::model::zone;

// The Docker snapshot is the SDK's typed row (one shape and codec for the runtime, the store and the
// host). The store keeps networks (id, name, driver, scope) and containers (id, name, image, state,
// project, their networks' name, ip and aliases, their ports), plus taken_ms; the rest is the runtime's.
using docker_network = sdk::model::docker_network;
using docker_endpoint = sdk::model::docker_endpoint;
using docker_port = sdk::model::docker_port;
using docker_container = sdk::model::docker_container;
using docker_snapshot = sdk::model::docker_snapshot;

// What stats() reports. The page and file facts are SQLite's; a server store leaves them 0 and
// counts its database's size in file_bytes.
struct store_stats {
    int64_t schema_version = 0;
    std::string path;  // the database file on this machine; "" for a server store (not written then)
    std::optional<std::string> dsn_file;  // a server store: the file naming its connection (written when set)
    std::optional<std::string> machine;  // a store shared by several machines: its own (written when set)
    int64_t cnames = 0;
    int64_t operations = 0;
    int64_t operations_unfinished = 0;
    int64_t audit_log = 0;
    int64_t tunnel_health = 0;
    int64_t domains = 0;
    int64_t docker_networks = 0;
    int64_t docker_containers = 0;
    int64_t leases = 0;
    int64_t page_size = 0;
    int64_t page_count = 0;
    int64_t freelist_count = 0;
    int64_t file_bytes = 0;  // the main database file
    int64_t wal_bytes = 0;   // the write-ahead log, 0 after a checkpoint
};

}  // namespace tunnelmgr::plugins::state_rows
