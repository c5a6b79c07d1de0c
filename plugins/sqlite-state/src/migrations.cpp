// Applies the embedded migrations: one BEGIN IMMEDIATE transaction each, version re-read inside
// it, so two processes upgrading one file at once apply every migration exactly once.
#include "migrations.hpp"

#include <string>

#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "sqlite_errors.hpp"

namespace tunnelmgr::plugins::sqlite_state {
namespace {

int64_t read_version(SQLite::Database& db) {
    if (!db.tableExists("schema_migrations")) return 0;
    SQLite::Statement q(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    q.executeStep();
    return q.getColumn(0).getInt64();
}

// Restores foreign-key enforcement however the migration ends.
class foreign_keys_off {
public:
    explicit foreign_keys_off(SQLite::Database& db) : db_(db) { db_.exec("PRAGMA foreign_keys = OFF"); }
    ~foreign_keys_off() {
        try {
            db_.exec("PRAGMA foreign_keys = ON");
        } catch (...) {
            // The connection is unusable then; the next statement reports why.
        }
    }
    foreign_keys_off(const foreign_keys_off&) = delete;
    foreign_keys_off& operator=(const foreign_keys_off&) = delete;

private:
    SQLite::Database& db_;
};

}  // namespace

store_result<int64_t> schema_version_of(SQLite::Database& db) {
    try {
        return read_version(db);
    } catch (const SQLite::Exception& e) {
        return tl::unexpected(from_sqlite(e, "reading the schema version", db.getFilename()));
    }
}

store_result<int64_t> apply_migrations(SQLite::Database& db, std::span<const migration> migrations, int64_t now_ms) {
    for (size_t i = 0; i < migrations.size(); ++i) {
        if (migrations[i].version != static_cast<int64_t>(i) + 1) {
            return store_fail(store_errc::error, "the embedded migrations are numbered wrongly (expected " +
                                                     std::to_string(i + 1) + ", found " +
                                                     std::to_string(migrations[i].version) +
                                                     "); this build of sqlite-state is broken, rebuild it");
        }
    }
    const auto newest = static_cast<int64_t>(migrations.size());
    std::string doing = "preparing schema_migrations";
    try {
        {
            SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
            db.exec(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
            txn.commit();
        }
        int64_t version = read_version(db);
        if (version > newest) {
            return store_fail(store_errc::error,
                              "the state database " + db.getFilename() + " is at schema version " +
                                  std::to_string(version) + ", newer than this sqlite-state knows (" +
                                  std::to_string(newest) +
                                  "); upgrade tunnelmgr, or point state.path at another file");
        }
        for (const migration& m : migrations) {
            if (m.version <= version) continue;
            doing = "applying migration " + std::to_string(m.version) + "_" + m.name;
            // Table rebuilds need foreign keys off, and the pragma is a no-op inside a transaction.
            foreign_keys_off fk(db);
            SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
            version = read_version(db);  // another process may have got here first
            if (version >= m.version) continue;
            db.exec(m.sql);
            SQLite::Statement check(db, "PRAGMA foreign_key_check");
            if (check.executeStep()) {
                return store_fail(store_errc::error, "migration " + std::to_string(m.version) + "_" + m.name +
                                                         " left rows whose foreign keys point nowhere (table " +
                                                         check.getColumn(0).getString() +
                                                         "); restore a backup of the database and report this");
            }
            SQLite::Statement record(db, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
            record.bind(1, m.version);
            record.bind(2, m.name);
            record.bind(3, now_ms);
            record.exec();
            txn.commit();
            version = m.version;
        }
        return version;
    } catch (const SQLite::Exception& e) {
        return tl::unexpected(from_sqlite(e, doing, db.getFilename()));
    }
}

}  // namespace tunnelmgr::plugins::sqlite_state
