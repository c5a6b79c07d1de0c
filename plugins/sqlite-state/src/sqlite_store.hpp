// The system of record on SQLite: CNAME ownership, the operations journal, audit, health, zones,
// the Docker topology and leases, shared safely by every tunnelmgr process on the machine.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store_config.hpp"
#include "store_error.hpp"
#include "store_types.hpp"

namespace SQLite {
class Database;
}

namespace tunnelmgr::plugins::sqlite_state {

class statement_cache;

// The SELECT cname_list runs for `filter`, its parameters in the order of cname_filter's members
// (project, expires_before, after, then limit and offset): its query plan is a tested property.
std::string cname_list_sql(const cname_filter& filter);

// Unix milliseconds. Injected so lease and retention tests move time without sleeping.
using clock_fn = std::function<int64_t()>;
int64_t system_clock_ms();

class sqlite_store {
public:
    // Opens (creating the file and its parent directories), sets WAL, busy_timeout and foreign
    // keys, and applies the embedded migrations.
    static store_result<std::unique_ptr<sqlite_store>> open(const store_config& config,
                                                            clock_fn clock = system_clock_ms);
    ~sqlite_store();
    sqlite_store(const sqlite_store&) = delete;
    sqlite_store& operator=(const sqlite_store&) = delete;

    store_result<int64_t> schema_version();
    store_result<store_stats> stats();

    store_result<int64_t> cname_insert(const cname_row& row);
    store_result<void> cname_delete(std::string_view hostname);
    store_result<cname_row> cname_get(std::string_view hostname);
    store_result<std::vector<cname_row>> cname_list(const cname_filter& filter);
    store_result<int64_t> cname_count(const cname_filter& filter);  // limit, offset and after ignored

    store_result<int64_t> operation_begin(const operation_request& request);
    // patch_json is an object merged into the operation's data (RFC 7396: null removes a key).
    store_result<void> operation_advance(int64_t id, std::string_view state, std::string_view patch_json);
    // For a create: inserts `row`; for a delete: removes the row of the operation's hostname; for a
    // retarget: gives the stored row every field of `row` but id and created_at (not_found, and nothing
    // changed, when there is no such row). Each marks the operation committed, all in one transaction.
    store_result<void> operation_commit(int64_t id, const cname_row& row);
    store_result<operation_row> operation_get(int64_t id);
    store_result<std::vector<operation_row>> operation_list_unfinished();

    store_result<void> audit_append(const audit_entry& entry);
    store_result<std::vector<audit_entry>> audit_query(const audit_filter& filter);

    store_result<void> health_record(const health_observation& observation);
    store_result<std::vector<health_observation>> health_history(const health_filter& filter);

    store_result<void> domains_replace(const std::vector<zone>& zones);
    store_result<std::vector<zone>> domains_list();

    store_result<void> docker_snapshot_replace(const docker_snapshot& snapshot);
    store_result<docker_snapshot> docker_snapshot_get();

    // True when `holder` holds lease `name` after the call.
    store_result<bool> lease_acquire(std::string_view name, std::string_view holder, int64_t ttl_ms);
    store_result<void> lease_release(std::string_view name, std::string_view holder);

    // Deletes health and audit rows older than the configured retention; returns how many.
    store_result<int64_t> prune();

    // Folds the WAL into the main file (PRAGMA wal_checkpoint(TRUNCATE)), e.g. before measuring it.
    store_result<void> checkpoint();

    const store_config& config() const { return config_; }

private:
    sqlite_store(store_config config, clock_fn clock, std::unique_ptr<SQLite::Database> db);

    // Runs `body(statements)` inside BEGIN IMMEDIATE ... COMMIT, turning SQLite exceptions into store_error.
    // The commit waits for the disk (synchronous FULL), which makes every commit before it durable too.
    template <class T, class Body>
    store_result<T> write(std::string_view what, Body&& body);
    // The same, committed without waiting for the disk (synchronous NORMAL): a crash of the process
    // keeps it, and the next write() makes it durable with everything before it (API 1.6).
    template <class T, class Body>
    store_result<T> write_lazily(std::string_view what, Body&& body);
    template <class T, class Body>
    store_result<T> read(std::string_view what, Body&& body);

    store_config config_;
    clock_fn clock_;
    std::unique_ptr<SQLite::Database> db_;
    std::unique_ptr<statement_cache> statements_;  // after db_: its statements are finalized first
    std::mutex mutex_;  // one statement sequence at a time on this connection (and its statement cache)
};

}  // namespace tunnelmgr::plugins::sqlite_state
