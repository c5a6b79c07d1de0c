// The system of record on PostgreSQL, shared by the tunnelmgr processes of several machines: CNAME
// ownership (hostnames unique across machines), the operations journal, audit, per-machine health,
// Docker topology and leases, the account's zones. Same calls and meanings as sqlite_store.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pg_config.hpp"
#include "pg_connection_pool.hpp"
#include "state_rows/store_error.hpp"
#include "state_rows/store_types.hpp"

namespace tunnelmgr::plugins::postgres_state {

using namespace state_rows;

// The SELECT cname_list runs for `filter`, its parameters $1.. in the order of cname_filter's members
// (project, expires_before, after, then limit and offset): its query plan is a tested property.
std::string cname_list_sql(const cname_filter& filter);

// Unix milliseconds. Injected so lease and retention tests move time without sleeping. Every time
// the store writes or compares comes from it (never the server's clock), so one clock rules.
using clock_fn = std::function<int64_t()>;
int64_t system_clock_ms();

class pg_store {
public:
    // Reads the connection string from config.dsn_file, connects (an error naming the file when the
    // first connection cannot be made) and applies the embedded migrations.
    static store_result<std::unique_ptr<pg_store>> open(const pg_config& config, clock_fn clock = system_clock_ms);
    ~pg_store();
    pg_store(const pg_store&) = delete;
    pg_store& operator=(const pg_store&) = delete;

    store_result<int64_t> schema_version();
    store_result<store_stats> stats();

    // A row without "machine" is this store's machine's.
    store_result<int64_t> cname_insert(const cname_row& row);
    store_result<void> cname_delete(std::string_view hostname);
    store_result<cname_row> cname_get(std::string_view hostname);
    store_result<std::vector<cname_row>> cname_list(const cname_filter& filter);  // every machine's
    store_result<int64_t> cname_count(const cname_filter& filter);                // limit, offset and after ignored

    // Conflict while any machine has an unfinished operation on the hostname.
    store_result<int64_t> operation_begin(const operation_request& request);
    store_result<void> operation_advance(int64_t id, std::string_view state, std::string_view patch_json);
    store_result<void> operation_commit(int64_t id, const cname_row& row);
    store_result<operation_row> operation_get(int64_t id);
    store_result<std::vector<operation_row>> operation_list_unfinished();  // this machine's only

    store_result<void> audit_append(const audit_entry& entry);
    store_result<std::vector<audit_entry>> audit_query(const audit_filter& filter);  // every machine's

    store_result<void> health_record(const health_observation& observation);              // this machine's
    store_result<std::vector<health_observation>> health_history(const health_filter& filter);  // this machine's

    store_result<void> domains_replace(const std::vector<zone>& zones);  // shared by all machines
    store_result<std::vector<zone>> domains_list();

    store_result<void> docker_snapshot_replace(const docker_snapshot& snapshot);  // this machine's
    store_result<docker_snapshot> docker_snapshot_get();

    // True when `holder` holds this machine's lease `name` after the call.
    store_result<bool> lease_acquire(std::string_view name, std::string_view holder, int64_t ttl_ms);
    store_result<void> lease_release(std::string_view name, std::string_view holder);

    // Deletes this machine's health and audit rows older than the configured retention; returns how many.
    store_result<int64_t> prune();

    const pg_config& config() const { return config_; }
    const std::string& machine() const { return config_.machine; }

private:
    pg_store(pg_config config, clock_fn clock, std::unique_ptr<connection_pool> pool);

    // Runs `body(txn)` (txn: a pg_txn, the transaction and the connection's prepared statements) in one
    // transaction on a borrowed connection, committing when it succeeds. Serialization failures and
    // deadlocks run it again (a few times); a lost connection answers busy with the "unavailable"
    // sentence and is dropped, so the next call reconnects.
    template <class T, class Body>
    store_result<T> transact(std::string_view what, Body&& body);

    pg_config config_;
    clock_fn clock_;
    std::unique_ptr<connection_pool> pool_;
};

}  // namespace tunnelmgr::plugins::postgres_state
