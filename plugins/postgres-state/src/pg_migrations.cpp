// Applies the embedded migrations. pg_advisory_xact_lock serialises whole migrations between
// processes (CREATE TABLE IF NOT EXISTS alone races on the catalog); the version is re-read inside
// the lock, so each migration runs exactly once however many processes start together.
#include "pg_migrations.hpp"

#include <string>

#include <pqxx/connection>
#include <pqxx/transaction>

namespace tunnelmgr::plugins::postgres_state {
namespace {

using state_rows::store_errc;
using state_rows::store_fail;

int64_t read_version(pqxx::transaction_base& txn) {
    auto exists = txn.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists[0].as<bool>()) return 0;
    return txn.exec1("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0].as<int64_t>();
}

void lock(pqxx::transaction_base& txn) { txn.exec_params("SELECT pg_advisory_xact_lock($1)", migration_lock_key); }

}  // namespace

int64_t schema_version_of(pqxx::transaction_base& txn) { return read_version(txn); }

state_rows::store_result<int64_t> apply_migrations(pqxx::connection& c, std::span<const migration> migrations,
                                                   int64_t now_ms) {
    for (size_t i = 0; i < migrations.size(); ++i) {
        if (migrations[i].version != static_cast<int64_t>(i) + 1) {
            return store_fail(store_errc::error, "the embedded migrations are numbered wrongly (expected " +
                                                     std::to_string(i + 1) + ", found " +
                                                     std::to_string(migrations[i].version) +
                                                     "); this build of postgres-state is broken, rebuild it");
        }
    }
    const auto newest = static_cast<int64_t>(migrations.size());
    {
        pqxx::work txn(c);
        lock(txn);
        txn.exec0(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version bigint PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)");
        txn.commit();
    }
    int64_t version = 0;
    {
        pqxx::read_transaction txn(c);
        version = read_version(txn);
    }
    if (version > newest) {
        return store_fail(store_errc::error, "the PostgreSQL state database is at schema version " +
                                                 std::to_string(version) + ", newer than this postgres-state knows (" +
                                                 std::to_string(newest) +
                                                 "); upgrade tunnelmgr on this machine to the version the others run");
    }
    for (const migration& m : migrations) {
        if (m.version <= version) continue;
        pqxx::work txn(c);
        lock(txn);
        version = read_version(txn);  // another process may have got here first
        if (version >= m.version) continue;
        txn.exec0(m.sql);
        txn.exec_params0("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", m.version,
                         std::string(m.name), now_ms);
        txn.commit();
        version = m.version;
    }
    return version;
}

}  // namespace tunnelmgr::plugins::postgres_state
