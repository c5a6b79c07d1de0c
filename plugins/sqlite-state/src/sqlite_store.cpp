// The state store on SQLite. Every write runs in BEGIN IMMEDIATE so that, with WAL and a busy
// timeout, processes sharing the file queue for the write lock instead of failing on upgrade.
// Statements come from the connection's statement_cache, borrowed for as long as a statement of
// their own used to live, so each call ends its read exactly where it did when it prepared its SQL.
#include "sqlite_store.hpp"

#include <tunnelmgr/sdk/hostname.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "migrations.hpp"
#include "sqlite_errors.hpp"
#include "state_rows/row_checks.hpp"
#include "statement_cache.hpp"
#include "store_json.hpp"

namespace tunnelmgr::plugins::sqlite_state {
namespace {

std::optional<std::string> opt_text(const SQLite::Column& c) {
    if (c.isNull()) return std::nullopt;
    return c.getString();
}
std::optional<int64_t> opt_int(const SQLite::Column& c) {
    if (c.isNull()) return std::nullopt;
    return c.getInt64();
}
void bind_opt(SQLite::Statement& s, int index, const std::optional<std::string>& v) {
    if (v) {
        s.bind(index, *v);
    } else {
        s.bind(index);
    }
}
void bind_opt(SQLite::Statement& s, int index, const std::optional<int64_t>& v) {
    if (v) {
        s.bind(index, *v);
    } else {
        s.bind(index);
    }
}

constexpr const char* cname_columns =
    "id, hostname, subdomain, domain, project, port, target, target_type, container_name, docker_network, "
    "dns_record_id, zone_id, created_at, expires_at, origin_request";

cname_row read_cname(SQLite::Statement& q) {
    cname_row r;
    r.id = q.getColumn(0).getInt64();
    r.hostname = q.getColumn(1).getString();
    r.subdomain = q.getColumn(2).getString();
    r.domain = q.getColumn(3).getString();
    r.project = q.getColumn(4).getString();
    r.port = q.getColumn(5).getInt64();
    r.target = q.getColumn(6).getString();
    r.target_type = opt_text(q.getColumn(7));
    r.container_name = opt_text(q.getColumn(8));
    r.docker_network = opt_text(q.getColumn(9));
    r.dns_record_id = opt_text(q.getColumn(10));
    r.zone_id = opt_text(q.getColumn(11));
    r.created_at = q.getColumn(12).getInt64();
    r.expires_at = opt_int(q.getColumn(13));
    r.origin_request = opt_text(q.getColumn(14));
    return r;
}

// " WHERE ..." for a CNAME filter's project and expires_before (limit and offset are the caller's).
std::string cname_filter_where(const cname_filter& f) {
    std::string sql;
    if (f.project) sql += " WHERE project = ?";
    // Spelled so that the partial index cnames_expires_at answers it.
    if (f.expires_before) {
        sql += f.project ? " AND" : " WHERE";
        sql += " expires_at IS NOT NULL AND expires_at <= ?";
    }
    return sql;
}

// Binds what cname_filter_where asked for from index `at`; returns the next free index.
int bind_cname_filter(SQLite::Statement& q, const cname_filter& f, int at) {
    if (f.project) q.bind(at++, *f.project);
    if (f.expires_before) q.bind(at++, *f.expires_before);
    return at;
}

// Inserts a checked row; the caller holds the write lock, so the check-then-insert cannot race.
store_result<int64_t> insert_cname(statement_cache& statements, const cname_row& r, int64_t now) {
    auto taken = statements.prepared("SELECT hostname, project FROM cnames WHERE hostname = ? OR (subdomain = ? AND domain = ?)");
    taken->bind(1, r.hostname);
    taken->bind(2, r.subdomain);
    taken->bind(3, r.domain);
    if (taken->executeStep()) return hostname_taken(r.hostname, taken->getColumn(1).getString());
    auto ins = statements.prepared(
        "INSERT INTO cnames (hostname, subdomain, domain, project, port, target, target_type, "
        "container_name, docker_network, dns_record_id, zone_id, created_at, expires_at, "
        "origin_request) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins->bind(1, r.hostname);
    ins->bind(2, r.subdomain);
    ins->bind(3, r.domain);
    ins->bind(4, r.project);
    ins->bind(5, r.port);
    ins->bind(6, r.target);
    bind_opt(*ins, 7, r.target_type);
    bind_opt(*ins, 8, r.container_name);
    bind_opt(*ins, 9, r.docker_network);
    bind_opt(*ins, 10, r.dns_record_id);
    bind_opt(*ins, 11, r.zone_id);
    ins->bind(12, now);
    bind_opt(*ins, 13, r.expires_at);
    bind_opt(*ins, 14, r.origin_request);
    ins->exec();
    return statements.database().getLastInsertRowid();
}

// Gives the row of `r.hostname` every field of `r` but id and created_at; the caller holds the write
// lock and has checked `r`. Returns the row's id.
store_result<int64_t> retarget_cname(statement_cache& statements, const cname_row& r) {
    auto find = statements.prepared("SELECT id FROM cnames WHERE hostname = ?");
    find->bind(1, r.hostname);
    if (!find->executeStep()) return no_cname_to_retarget(r.hostname);
    const int64_t id = find->getColumn(0).getInt64();
    auto upd = statements.prepared(
        "UPDATE cnames SET subdomain = ?, domain = ?, project = ?, port = ?, target = ?, "
        "target_type = ?, container_name = ?, docker_network = ?, dns_record_id = ?, zone_id = ?, "
        "expires_at = ?, origin_request = ? WHERE id = ?");
    upd->bind(1, r.subdomain);
    upd->bind(2, r.domain);
    upd->bind(3, r.project);
    upd->bind(4, r.port);
    upd->bind(5, r.target);
    bind_opt(*upd, 6, r.target_type);
    bind_opt(*upd, 7, r.container_name);
    bind_opt(*upd, 8, r.docker_network);
    bind_opt(*upd, 9, r.dns_record_id);
    bind_opt(*upd, 10, r.zone_id);
    bind_opt(*upd, 11, r.expires_at);
    bind_opt(*upd, 12, r.origin_request);
    upd->bind(13, id);
    upd->exec();
    return id;
}

constexpr const char* operation_columns = "id, kind, hostname, project, state, data, created_at, updated_at";

operation_row read_operation(SQLite::Statement& q) {
    operation_row r;
    r.id = q.getColumn(0).getInt64();
    // The table's CHECK admits only the kinds operation_kind_named knows.
    r.kind = operation_kind_named(q.getColumn(1).getString()).value_or(operation_kind::create);
    r.hostname = q.getColumn(2).getString();
    r.project = q.getColumn(3).getString();
    r.state = q.getColumn(4).getString();
    r.data_json = q.getColumn(5).getString();
    r.created_at = q.getColumn(6).getInt64();
    r.updated_at = q.getColumn(7).getInt64();
    return r;
}

std::optional<operation_row> find_operation(statement_cache& statements, int64_t id) {
    auto q = statements.prepared(std::string("SELECT ") + operation_columns + " FROM operations WHERE id = ?");
    q->bind(1, id);
    if (!q->executeStep()) return std::nullopt;
    return read_operation(*q);
}

int64_t count_rows(statement_cache& statements, const char* sql) {
    auto q = statements.prepared(sql);
    q->executeStep();
    return q->getColumn(0).getInt64();
}

// Prepared each time: some PRAGMAs answer with what was true when they were prepared.
int64_t pragma_value(SQLite::Database& db, const char* sql) {
    SQLite::Statement q(db, sql);
    q.executeStep();
    return q.getColumn(0).getInt64();
}

int64_t file_size_or_zero(const std::string& path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    return ec ? 0 : static_cast<int64_t>(size);
}

// Serialises the opening sequence (create, switch to WAL, migrate) between processes. SQLite
// answers a journal-mode change on a brand-new file racing another opener with SQLITE_BUSY (no
// busy handler applies) or even SQLITE_IOERR, so first openers take turns on a side lock file.
// flock, not fcntl: closing any descriptor of the database itself would drop SQLite's own locks.
class open_lock {
public:
    // Waits up to timeout_ms. A lock file that cannot be created (read-only directory) is skipped:
    // SQLite then reports the real problem when it opens the database.
    static store_result<open_lock> take(const std::string& db_path, int64_t timeout_ms) {
        open_lock lock;
        lock.fd_ = ::open((db_path + "-open.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock.fd_ < 0) return lock;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (::flock(lock.fd_, LOCK_EX | LOCK_NB) != 0) {
            if (errno != EWOULDBLOCK && errno != EINTR) return lock;  // no flock here (some network filesystems)
            if (std::chrono::steady_clock::now() >= deadline) {
                return store_fail(store_errc::busy, "another tunnelmgr process has been opening the state database " +
                                                        db_path + " for longer than busy_timeout_ms; try again, or "
                                                        "look for a stuck tunnelmgr process");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return lock;
    }
    open_lock(open_lock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    open_lock& operator=(open_lock&&) = delete;
    open_lock(const open_lock&) = delete;
    ~open_lock() {
        if (fd_ >= 0) ::close(fd_);  // also releases the flock
    }

private:
    open_lock() = default;
    int fd_ = -1;
};

constexpr const char* k_start_fresh =
    ": move it away to start fresh (a new, empty state is then created), or restore your backup";

// A file that exists must already be tunnelmgr's state. Taking a 0-byte file, or another program's
// database, as a new empty state would forget every published name without a word. Asked before
// anything writes to the file (the switch to WAL would).
store_result<void> refuse_empty_file(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return {};
    if (std::filesystem::file_size(path, ec) != 0 || ec) return {};
    // A brand-new database is 0 bytes only until its first write, which is done under the open lock.
    if (std::filesystem::file_size(path + "-wal", ec) > 0 && !ec) return {};
    return store_fail(store_errc::error, "the state database " + path +
                                             " is an empty file (0 bytes), not tunnelmgr's state; tunnelmgr will not "
                                             "take it as a new, empty state, which would forget every published "
                                             "name" + std::string(k_start_fresh));
}

store_result<void> refuse_foreign_database(SQLite::Database& db, const std::string& path) {
    std::vector<std::string> tables;
    SQLite::Statement q(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
    while (q.executeStep()) tables.push_back(q.getColumn(0).getString());
    if (tables.empty()) return {};  // a database with nothing in it: nothing can be forgotten
    bool has_migrations = std::find(tables.begin(), tables.end(), "schema_migrations") != tables.end();
    if (has_migrations) {
        // Ours records the first embedded migration under its own name (another program's
        // schema_migrations, e.g. Rails', has no `name` column and the query throws).
        try {
            SQLite::Statement first(db, "SELECT name FROM schema_migrations WHERE version = 1");
            if (first.executeStep() && first.getColumn(0).getString() == embedded_migrations().front().name) return {};
            SQLite::Statement any(db, "SELECT COUNT(*) FROM schema_migrations");
            // Created, then killed before the first migration: tunnelmgr's, and still empty.
            if (any.executeStep() && any.getColumn(0).getInt64() == 0 && tables.size() == 1) return {};
        } catch (const SQLite::Exception&) {
            // not our table's shape: foreign
        }
    }
    std::string list;
    for (size_t i = 0; i < tables.size() && i < 5; ++i) list += (i == 0 ? "" : ", ") + tables[i];
    if (tables.size() > 5) list += ", ...";
    return store_fail(store_errc::error, "the state database " + path +
                                             " is a SQLite database of another program (tables: " + list +
                                             "), not tunnelmgr's state; tunnelmgr leaves it untouched. Point "
                                             "state.path at tunnelmgr's file, or" + std::string(k_start_fresh).substr(1));
}

}  // namespace

int64_t system_clock_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

sqlite_store::sqlite_store(store_config config, clock_fn clock, std::unique_ptr<SQLite::Database> db)
    : config_(std::move(config)),
      clock_(std::move(clock)),
      db_(std::move(db)),
      statements_(std::make_unique<statement_cache>(*db_)) {}

sqlite_store::~sqlite_store() = default;

store_result<std::unique_ptr<sqlite_store>> sqlite_store::open(const store_config& config, clock_fn clock) {
    if (config.path.empty()) {
        return store_fail(store_errc::invalid, "state.path is empty; set it to the SQLite file to use");
    }
    if (!clock) clock = system_clock_ms;

    const std::filesystem::path file(config.path);
    if (file.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(file.parent_path(), ec);
        if (ec) {
            return store_fail(store_errc::error, "cannot create the directory " + file.parent_path().string() +
                                                     " for the state database (" + ec.message() +
                                                     "); create it writable for tunnelmgr, or set state.path to a "
                                                     "writable place");
        }
    }
    auto serialised = open_lock::take(config.path, config.busy_timeout_ms);
    if (!serialised) return tl::unexpected(serialised.error());
    if (auto empty = refuse_empty_file(config.path); !empty) return tl::unexpected(empty.error());
    std::string doing = "opening the file";
    try {
        auto db = std::make_unique<SQLite::Database>(config.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
                                                     static_cast<int>(config.busy_timeout_ms));
        doing = "checking that the file is tunnelmgr's state";
        if (auto foreign = refuse_foreign_database(*db, config.path); !foreign) return tl::unexpected(foreign.error());
        doing = "switching to WAL";
        SQLite::Statement wal(*db, "PRAGMA journal_mode = WAL");
        wal.executeStep();
        const std::string mode = lower(wal.getColumn(0).getString());
        wal.reset();
        if (mode != "wal") {
            return store_fail(store_errc::error,
                              "the state database " + config.path + " cannot use write-ahead logging (journal mode " +
                                  mode +
                                  "), which processes sharing it need; put state.path on a local filesystem");
        }
        doing = "setting up the connection";
        // FULL: a write is durable before it returns; operation_advance alone is lazy (write_lazily).
        db->exec("PRAGMA synchronous = FULL");
        db->exec("PRAGMA foreign_keys = ON");

        doing = "applying migrations";
        auto version = apply_migrations(*db, embedded_migrations(), clock());
        if (!version) return tl::unexpected(version.error());
        return std::unique_ptr<sqlite_store>(new sqlite_store(config, std::move(clock), std::move(db)));
    } catch (const SQLite::Exception& e) {
        return tl::unexpected(from_sqlite(e, doing, config.path));
    } catch (const std::exception& e) {
        return store_fail(store_errc::error, "cannot open the state database " + config.path + " (" + e.what() +
                                                 "); check state.path");
    }
}

template <class T, class Body>
store_result<T> sqlite_store::write(std::string_view what, Body&& body) {
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        store_result<T> r = body(*statements_);
        if (r) txn.commit();
        return r;  // on failure the transaction's destructor rolls back
    } catch (const SQLite::Exception& e) {
        return tl::unexpected(from_sqlite(e, what, config_.path));
    } catch (const std::exception& e) {
        return store_fail(store_errc::error, std::string("unexpected failure while ") + std::string(what) + ": " +
                                                 e.what());
    }
}

template <class T, class Body>
store_result<T> sqlite_store::write_lazily(std::string_view what, Body&& body) {
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        // In WAL mode, NORMAL commits without an fsync. WAL frames are appended in order and read back
        // only up to the first torn one, so a machine crash keeps a prefix of the commits: this one is
        // lost only with every later one, until a FULL commit (any process's) syncs the log past it.
        db_->exec("PRAGMA synchronous = NORMAL");
        struct back_to_full {
            SQLite::Database& db;
            ~back_to_full() {
                try {
                    db.exec("PRAGMA synchronous = FULL");
                } catch (...) {  // a pragma that sets a flag does not fail; nothing to do if it did
                }
            }
        } restore{*db_};
        SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        store_result<T> r = body(*statements_);
        if (r) txn.commit();
        return r;
    } catch (const SQLite::Exception& e) {
        return tl::unexpected(from_sqlite(e, what, config_.path));
    } catch (const std::exception& e) {
        return store_fail(store_errc::error, std::string("unexpected failure while ") + std::string(what) + ": " +
                                                 e.what());
    }
}

template <class T, class Body>
store_result<T> sqlite_store::read(std::string_view what, Body&& body) {
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        return body(*statements_);
    } catch (const SQLite::Exception& e) {
        return tl::unexpected(from_sqlite(e, what, config_.path));
    } catch (const std::exception& e) {
        return store_fail(store_errc::error, std::string("unexpected failure while ") + std::string(what) + ": " +
                                                 e.what());
    }
}

store_result<int64_t> sqlite_store::schema_version() {
    return read<int64_t>("reading the schema version", [](statement_cache& statements) {
        return schema_version_of(statements.database());
    });
}

store_result<store_stats> sqlite_store::stats() {
    return read<store_stats>("counting rows", [this](statement_cache& statements) -> store_result<store_stats> {
        // One read transaction, so the counts agree with each other.
        SQLite::Transaction txn(statements.database(), SQLite::TransactionBehavior::DEFERRED);
        store_stats s;
        auto version = schema_version_of(statements.database());
        if (!version) return tl::unexpected(version.error());
        s.schema_version = *version;
        s.path = config_.path;
        s.cnames = count_rows(statements, "SELECT COUNT(*) FROM cnames");
        s.operations = count_rows(statements, "SELECT COUNT(*) FROM operations");
        s.operations_unfinished =
            count_rows(statements, "SELECT COUNT(*) FROM operations WHERE state NOT IN ('committed', 'rolled_back')");
        s.audit_log = count_rows(statements, "SELECT COUNT(*) FROM audit_log");
        s.tunnel_health = count_rows(statements, "SELECT COUNT(*) FROM tunnel_health");
        s.domains = count_rows(statements, "SELECT COUNT(*) FROM domains");
        s.docker_networks = count_rows(statements, "SELECT COUNT(*) FROM docker_networks");
        s.docker_containers = count_rows(statements, "SELECT COUNT(*) FROM docker_containers");
        s.leases = count_rows(statements, "SELECT COUNT(*) FROM leases");
        s.page_size = pragma_value(statements.database(), "PRAGMA page_size");
        s.page_count = pragma_value(statements.database(), "PRAGMA page_count");
        s.freelist_count = pragma_value(statements.database(), "PRAGMA freelist_count");
        txn.commit();
        s.file_bytes = file_size_or_zero(config_.path);
        s.wal_bytes = file_size_or_zero(config_.path + "-wal");
        return s;
    });
}

// --- cnames ------------------------------------------------------------------------------------

store_result<int64_t> sqlite_store::cname_insert(const cname_row& row) {
    auto checked = checked_cname(row);
    if (!checked) return tl::unexpected(checked.error());
    return write<int64_t>("inserting a CNAME row",
                          [&](statement_cache& statements) {
                              // Since 1.4 a given created_at is kept (state copy); the pipeline gives none.
                              return insert_cname(statements, *checked, given_or_now(checked->created_at.value_or(0), clock_()));
                          });
}

store_result<void> sqlite_store::cname_delete(std::string_view hostname) {
    auto host = checked_hostname(hostname, "the CNAME row to delete");
    if (!host) return tl::unexpected(host.error());
    return write<void>("deleting a CNAME row", [&](statement_cache& statements) -> store_result<void> {
        auto del = statements.prepared("DELETE FROM cnames WHERE hostname = ?");
        del->bind(1, *host);
        if (del->exec() == 0) return no_cname_to_delete(*host);
        return {};
    });
}

store_result<cname_row> sqlite_store::cname_get(std::string_view hostname) {
    const std::string host = sdk::fold_hostname(hostname);
    return read<cname_row>("reading a CNAME row", [&](statement_cache& statements) -> store_result<cname_row> {
        auto q = statements.prepared(std::string("SELECT ") + cname_columns + " FROM cnames WHERE hostname = ?");
        q->bind(1, host);
        if (!q->executeStep()) return no_cname(host);
        return read_cname(*q);
    });
}

std::string cname_list_sql(const cname_filter& filter) {
    std::string where = cname_filter_where(filter);
    // Keyset paging: the hostname column's own collation (NOCASE), so the comparison is the ORDER BY's and
    // seeks the index that order reads (the hostname's unique index, or cnames_project_hostname).
    if (filter.after) where += where.empty() ? " WHERE hostname > ?" : " AND hostname > ?";
    std::string sql = std::string("SELECT ") + cname_columns + " FROM cnames" + where + " ORDER BY hostname";
    if (filter.limit || filter.offset) sql += " LIMIT ? OFFSET ?";
    return sql;
}

store_result<std::vector<cname_row>> sqlite_store::cname_list(const cname_filter& filter) {
    return read<std::vector<cname_row>>("listing CNAME rows", [&](statement_cache& statements) {
        auto q = statements.prepared(cname_list_sql(filter));
        int at = bind_cname_filter(*q, filter, 1);
        if (filter.after) q->bind(at++, *filter.after);
        if (filter.limit || filter.offset) {
            q->bind(at++, static_cast<int64_t>(filter.limit.value_or(-1)));  // -1: no limit, in SQLite
            q->bind(at++, static_cast<int64_t>(filter.offset.value_or(0)));
        }
        std::vector<cname_row> rows;
        while (q->executeStep()) rows.push_back(read_cname(*q));
        return store_result<std::vector<cname_row>>(std::move(rows));
    });
}

store_result<int64_t> sqlite_store::cname_count(const cname_filter& filter) {
    return read<int64_t>("counting CNAME rows", [&](statement_cache& statements) {
        // Per project, or all: the counts the triggers keep (migration 0010); an expiry filter counts rows.
        if (filter.pending_before && filter.project) {
            // One statement, one snapshot: a create that commits meanwhile is a row or an operation, never both.
            auto q = statements.prepared(
                "SELECT COALESCE((SELECT n FROM cname_counts WHERE project = ?), 0) + (SELECT COUNT(*) FROM operations "
                "WHERE kind = 'create' AND project = ? AND id < ? AND state NOT IN ('committed', 'rolled_back'))");
            q->bind(1, *filter.project);
            q->bind(2, *filter.project);
            q->bind(3, *filter.pending_before);
            q->executeStep();
            return store_result<int64_t>(q->getColumn(0).getInt64());
        }
        if (!filter.expires_before) {
            auto q = filter.project ? statements.prepared("SELECT COALESCE((SELECT n FROM cname_counts WHERE project = ?), 0)")
                                    : statements.prepared("SELECT COALESCE(SUM(n), 0) FROM cname_counts");
            if (filter.project) q->bind(1, *filter.project);
            q->executeStep();
            return store_result<int64_t>(q->getColumn(0).getInt64());
        }
        auto q = statements.prepared("SELECT COUNT(*) FROM cnames" + cname_filter_where(filter));
        bind_cname_filter(*q, filter, 1);
        q->executeStep();
        return store_result<int64_t>(q->getColumn(0).getInt64());
    });
}

// --- operations --------------------------------------------------------------------------------

store_result<int64_t> sqlite_store::operation_begin(const operation_request& request) {
    auto checked = checked_operation(request);
    if (!checked) return tl::unexpected(checked.error());
    const std::string& host = checked->hostname;
    return write<int64_t>("starting an operation", [&](statement_cache& statements) -> store_result<int64_t> {
        auto busy = statements.prepared(
            "SELECT id, kind, state, project FROM operations "
            "WHERE hostname = ? AND state NOT IN ('committed', 'rolled_back')");
        busy->bind(1, host);
        if (busy->executeStep()) {
            return hostname_busy(host, busy->getColumn(0).getInt64(), busy->getColumn(1).getString(),
                                 busy->getColumn(3).getString(), busy->getColumn(2).getString());
        }
        const int64_t now = clock_();
        auto ins = statements.prepared(
            "INSERT INTO operations (kind, hostname, project, state, data, created_at, updated_at) "
            "VALUES (?, ?, ?, 'validated', json_object('request', json(?)), ?, ?)");
        ins->bind(1, kind_name(request.kind));
        ins->bind(2, host);
        ins->bind(3, request.project);
        ins->bind(4, request.request_json);
        ins->bind(5, now);
        ins->bind(6, now);
        ins->exec();
        return statements.database().getLastInsertRowid();
    });
}

store_result<void> sqlite_store::operation_advance(int64_t id, std::string_view state, std::string_view patch_json) {
    auto checked_patch = checked_advance(id, state, patch_json);
    if (!checked_patch) return tl::unexpected(checked_patch.error());
    const std::string& patch = *checked_patch;
    // Lazy: the host's recovery treats every step after the journaled one as possibly done (API 1.6).
    return write_lazily<void>("advancing an operation", [&](statement_cache& statements) -> store_result<void> {
        auto op = find_operation(statements, id);
        if (!op) return no_operation(id);
        if (is_finished(op->state)) return operation_already_finished(id, op->state);
        auto upd = statements.prepared("UPDATE operations SET state = ?, data = json_patch(data, ?), updated_at = ? WHERE id = ?");
        upd->bind(1, std::string(state));
        upd->bind(2, patch);
        upd->bind(3, clock_());
        upd->bind(4, id);
        upd->exec();
        return {};
    });
}

store_result<void> sqlite_store::operation_commit(int64_t id, const cname_row& row) {
    return write<void>("committing an operation", [&](statement_cache& statements) -> store_result<void> {
        auto op = find_operation(statements, id);
        if (!op) return no_operation(id);
        if (op->state == "committed") return {};  // a retried commit: the work is already done
        if (op->state == "rolled_back") return operation_rolled_back(id);
        auto checked = checked_commit_row(*op, row);
        if (!checked) return tl::unexpected(checked.error());
        const int64_t now = clock_();
        std::string patch = "{}";
        if (op->kind == operation_kind::create) {
            auto inserted = insert_cname(statements, **checked, now);
            if (!inserted) return tl::unexpected(inserted.error());
            patch = "{\"cname_id\":" + std::to_string(*inserted) + "}";
        } else if (op->kind == operation_kind::retarget) {
            auto retargeted = retarget_cname(statements, **checked);
            if (!retargeted) return tl::unexpected(retargeted.error());
            patch = "{\"cname_id\":" + std::to_string(*retargeted) + "}";
        } else {
            // Deleting a row that is already gone leaves the state the operation wanted.
            auto del = statements.prepared("DELETE FROM cnames WHERE hostname = ?");
            del->bind(1, op->hostname);
            del->exec();
        }
        auto upd = statements.prepared(
            "UPDATE operations SET state = 'committed', data = json_patch(data, ?), updated_at = ? "
            "WHERE id = ?");
        upd->bind(1, patch);
        upd->bind(2, now);
        upd->bind(3, id);
        upd->exec();
        return {};
    });
}

store_result<operation_row> sqlite_store::operation_get(int64_t id) {
    return read<operation_row>("reading an operation", [&](statement_cache& statements) -> store_result<operation_row> {
        auto op = find_operation(statements, id);
        if (!op) return no_operation(id);
        return *op;
    });
}

store_result<std::vector<operation_row>> sqlite_store::operation_list_unfinished() {
    return read<std::vector<operation_row>>("listing unfinished operations", [](statement_cache& statements) {
        auto q = statements.prepared(std::string("SELECT ") + operation_columns +
                                    " FROM operations WHERE state NOT IN ('committed', 'rolled_back') ORDER BY id");
        std::vector<operation_row> rows;
        while (q->executeStep()) rows.push_back(read_operation(*q));
        return store_result<std::vector<operation_row>>(std::move(rows));
    });
}

// --- audit -------------------------------------------------------------------------------------

store_result<void> sqlite_store::audit_append(const audit_entry& entry) {
    auto checked = checked_audit(entry);
    if (!checked) return tl::unexpected(checked.error());
    const audit_entry& e = *checked;
    return write<void>("appending to the audit log", [&](statement_cache& statements) -> store_result<void> {
        auto ins = statements.prepared(
            "INSERT INTO audit_log (ts, actor, role, action, target, result, error, details, project) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
        ins->bind(1, given_or_now(e.ts, clock_()));
        ins->bind(2, e.actor);
        bind_opt(*ins, 3, e.role);
        ins->bind(4, e.action);
        bind_opt(*ins, 5, e.target);
        bind_opt(*ins, 6, e.result);
        bind_opt(*ins, 7, e.error);
        ins->bind(8, e.details_json);
        bind_opt(*ins, 9, e.project);
        ins->exec();
        return {};
    });
}

store_result<std::vector<audit_entry>> sqlite_store::audit_query(const audit_filter& filter) {
    if (auto ok = check_limit(filter.limit); !ok) return tl::unexpected(ok.error());
    return read<std::vector<audit_entry>>("querying the audit log", [&](statement_cache& statements) {
        std::string sql =
            "SELECT id, ts, actor, role, action, target, result, error, project, details FROM audit_log WHERE 1 = 1";
        if (filter.project) sql += " AND project = ?";
        if (filter.action) sql += " AND action = ?";
        if (filter.since_ms) sql += " AND ts >= ?";
        if (filter.before_id) sql += " AND id < ?";
        sql += filter.before_id ? " ORDER BY id DESC LIMIT ?" : " ORDER BY ts DESC, id DESC LIMIT ?";
        auto q = statements.prepared(sql);
        int i = 1;
        if (filter.project) q->bind(i++, *filter.project);
        if (filter.action) q->bind(i++, *filter.action);
        if (filter.since_ms) q->bind(i++, *filter.since_ms);
        if (filter.before_id) q->bind(i++, *filter.before_id);
        q->bind(i, filter.limit);
        std::vector<audit_entry> rows;
        while (q->executeStep()) {
            audit_entry e;
            e.id = q->getColumn(0).getInt64();
            e.ts = q->getColumn(1).getInt64();
            e.actor = q->getColumn(2).getString();
            e.role = opt_text(q->getColumn(3));
            e.action = q->getColumn(4).getString();
            e.target = opt_text(q->getColumn(5));
            e.result = opt_text(q->getColumn(6));
            e.error = opt_text(q->getColumn(7));
            e.project = opt_text(q->getColumn(8));
            e.details_json = opt_text(q->getColumn(9)).value_or("{}");
            rows.push_back(std::move(e));
        }
        return store_result<std::vector<audit_entry>>(std::move(rows));
    });
}

// --- health ------------------------------------------------------------------------------------

store_result<void> sqlite_store::health_record(const health_observation& h) {
    if (auto ok = check_health(h); !ok) return tl::unexpected(ok.error());
    return write<void>("recording tunnel health", [&](statement_cache& statements) -> store_result<void> {
        auto ins = statements.prepared(
            "INSERT INTO tunnel_health (ts, status, ready_connections, restart_count, last_error, "
            "uptime_s, detail) VALUES (?, ?, ?, ?, ?, ?, ?)");
        ins->bind(1, given_or_now(h.ts, clock_()));
        ins->bind(2, h.status);
        bind_opt(*ins, 3, h.ready_connections);
        bind_opt(*ins, 4, h.restart_count);
        bind_opt(*ins, 5, h.last_error);
        bind_opt(*ins, 6, h.uptime_s);
        ins->bind(7, h.detail_json);
        ins->exec();
        return {};
    });
}

store_result<std::vector<health_observation>> sqlite_store::health_history(const health_filter& filter) {
    if (auto ok = check_limit(filter.limit); !ok) return tl::unexpected(ok.error());
    return read<std::vector<health_observation>>("reading tunnel health", [&](statement_cache& statements) {
        std::string sql =
            "SELECT id, ts, status, ready_connections, restart_count, last_error, uptime_s, detail FROM tunnel_health";
        sql += " WHERE 1 = 1";
        if (filter.since_ms) sql += " AND ts >= ?";
        if (filter.before_id) sql += " AND id < ?";
        sql += filter.before_id ? " ORDER BY id DESC LIMIT ?" : " ORDER BY ts DESC, id DESC LIMIT ?";
        auto q = statements.prepared(sql);
        int i = 1;
        if (filter.since_ms) q->bind(i++, *filter.since_ms);
        if (filter.before_id) q->bind(i++, *filter.before_id);
        q->bind(i, filter.limit);
        std::vector<health_observation> rows;
        while (q->executeStep()) {
            health_observation h;
            h.id = q->getColumn(0).getInt64();
            h.ts = q->getColumn(1).getInt64();
            h.status = q->getColumn(2).getString();
            h.ready_connections = opt_int(q->getColumn(3));
            h.restart_count = opt_int(q->getColumn(4));
            h.last_error = opt_text(q->getColumn(5));
            h.uptime_s = opt_int(q->getColumn(6));
            h.detail_json = opt_text(q->getColumn(7)).value_or("{}");
            rows.push_back(std::move(h));
        }
        return store_result<std::vector<health_observation>>(std::move(rows));
    });
}

// --- domains -----------------------------------------------------------------------------------

store_result<void> sqlite_store::domains_replace(const std::vector<zone>& zones) {
    if (auto ok = check_zones(zones); !ok) return tl::unexpected(ok.error());
    return write<void>("replacing the zone list", [&](statement_cache& statements) -> store_result<void> {
        statements.database().exec("DELETE FROM domains");
        auto ins = statements.prepared("INSERT INTO domains (zone_id, name, status, updated_at) VALUES (?, ?, ?, ?)");
        const int64_t now = clock_();
        for (const zone& z : zones) {
            ins->bind(1, z.zone_id);
            ins->bind(2, sdk::fold_hostname(z.name));
            bind_opt(*ins, 3, z.status);
            ins->bind(4, now);
            ins->exec();
            ins->reset();
        }
        return {};
    });
}

store_result<std::vector<zone>> sqlite_store::domains_list() {
    return read<std::vector<zone>>("listing zones", [](statement_cache& statements) {
        auto q = statements.prepared("SELECT zone_id, name, status FROM domains ORDER BY name COLLATE NOCASE, zone_id");
        std::vector<zone> out;
        while (q->executeStep()) {
            out.push_back(zone{q->getColumn(0).getString(), q->getColumn(1).getString(), opt_text(q->getColumn(2))});
        }
        return store_result<std::vector<zone>>(std::move(out));
    });
}

// --- docker topology ---------------------------------------------------------------------------

store_result<void> sqlite_store::docker_snapshot_replace(const docker_snapshot& snapshot) {
    if (auto ok = check_snapshot(snapshot); !ok) return tl::unexpected(ok.error());
    return write<void>("replacing the Docker snapshot", [&](statement_cache& statements) -> store_result<void> {
        // Attachments and ports go with their containers (ON DELETE CASCADE).
        statements.database().exec("DELETE FROM docker_containers");
        statements.database().exec("DELETE FROM docker_networks");
        const int64_t now = clock_();
        auto net = statements.prepared("INSERT INTO docker_networks (id, name, driver, scope, updated_at) VALUES (?, ?, ?, ?, ?)");
        for (const auto& n : snapshot.networks) {
            net->bind(1, n.id);
            net->bind(2, n.name);
            bind_opt(*net, 3, unless_empty(n.driver));
            bind_opt(*net, 4, unless_empty(n.scope));
            net->bind(5, now);
            net->exec();
            net->reset();
        }
        auto con = statements.prepared(
            "INSERT INTO docker_containers (id, name, image, state, project, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)");
        // A key seen twice in one poll is one fact, so the later copy replaces the earlier.
        auto att = statements.prepared(
            "INSERT OR REPLACE INTO container_networks (container_id, network_id, ip, aliases) "
            "VALUES (?, ?, ?, ?)");
        auto port = statements.prepared(
            "INSERT OR REPLACE INTO container_ports (container_id, container_port, protocol, host_ip, "
            "host_port) VALUES (?, ?, ?, ?, ?)");
        for (const auto& c : snapshot.containers) {
            con->bind(1, c.id);
            con->bind(2, c.name);
            bind_opt(*con, 3, unless_empty(c.image));
            bind_opt(*con, 4, unless_empty(c.state));
            bind_opt(*con, 5, c.project);
            con->bind(6, now);
            con->exec();
            con->reset();
            for (const auto& a : c.networks) {
                att->bind(1, c.id);
                att->bind(2, a.network);
                bind_opt(*att, 3, a.ip);
                att->bind(4, json_string_array(a.aliases));
                att->exec();
                att->reset();
            }
            for (const auto& p : c.ports) {
                port->bind(1, c.id);
                port->bind(2, p.container_port);
                port->bind(3, p.protocol.empty() ? std::string("tcp") : lower(p.protocol));
                port->bind(4, p.host_ip.value_or(""));
                port->bind(5, p.host_port.value_or(0));
                port->exec();
                port->reset();
            }
        }
        auto taken = statements.prepared(
            "INSERT INTO docker_snapshot (singleton, taken_ms) VALUES (1, ?) "
            "ON CONFLICT (singleton) DO UPDATE SET taken_ms = excluded.taken_ms");
        taken->bind(1, now);
        taken->exec();
        return {};
    });
}

store_result<docker_snapshot> sqlite_store::docker_snapshot_get() {
    return read<docker_snapshot>("reading the Docker snapshot", [](statement_cache& statements) -> store_result<docker_snapshot> {
        SQLite::Transaction txn(statements.database(), SQLite::TransactionBehavior::DEFERRED);  // one consistent view
        docker_snapshot snap;
        {
            auto q = statements.prepared("SELECT taken_ms FROM docker_snapshot WHERE singleton = 1");
            if (q->executeStep()) snap.taken_ms = q->getColumn(0).getInt64();
        }
        {
            auto q = statements.prepared("SELECT id, name, driver, scope FROM docker_networks ORDER BY name, id");
            while (q->executeStep()) {
                snap.networks.push_back(docker_network{q->getColumn(0).getString(), q->getColumn(1).getString(),
                                                       opt_text(q->getColumn(2)).value_or(""),
                                                       opt_text(q->getColumn(3)).value_or("")});
            }
        }
        std::map<std::string, size_t> index;
        {
            auto q = statements.prepared("SELECT id, name, image, state, project FROM docker_containers ORDER BY name, id");
            while (q->executeStep()) {
                docker_container c;
                c.id = q->getColumn(0).getString();
                c.name = q->getColumn(1).getString();
                c.image = opt_text(q->getColumn(2)).value_or("");
                c.state = opt_text(q->getColumn(3)).value_or("");
                c.project = opt_text(q->getColumn(4));
                index[c.id] = snap.containers.size();
                snap.containers.push_back(std::move(c));
            }
        }
        {
            auto q = statements.prepared(
                "SELECT container_id, network_id, ip, aliases FROM container_networks "
                "ORDER BY container_id, network_id");
            while (q->executeStep()) {
                auto it = index.find(q->getColumn(0).getString());
                if (it == index.end()) continue;
                snap.containers[it->second].networks.push_back(docker_endpoint{
                    q->getColumn(1).getString(), opt_text(q->getColumn(2)), parse_string_array(q->getColumn(3).getString())});
            }
        }
        {
            auto q = statements.prepared(
                "SELECT container_id, container_port, protocol, host_ip, host_port FROM container_ports "
                "ORDER BY container_id, container_port, protocol, host_ip, host_port");
            while (q->executeStep()) {
                auto it = index.find(q->getColumn(0).getString());
                if (it == index.end()) continue;
                docker_port p;
                p.container_port = q->getColumn(1).getInt64();
                p.protocol = q->getColumn(2).getString();
                const int64_t host_port = q->getColumn(4).getInt64();
                if (host_port != 0) {  // 0 marks an exposed port that is not published
                    p.host_ip = q->getColumn(3).getString();
                    p.host_port = host_port;
                }
                snap.containers[it->second].ports.push_back(std::move(p));
            }
        }
        txn.commit();
        return snap;
    });
}

// --- leases ------------------------------------------------------------------------------------

store_result<bool> sqlite_store::lease_acquire(std::string_view name, std::string_view holder, int64_t ttl_ms) {
    if (auto ok = check_lease(name, holder, ttl_ms); !ok) return tl::unexpected(ok.error());
    return write<bool>("taking a lease", [&](statement_cache& statements) -> store_result<bool> {
        const int64_t now = clock_();
        auto q = statements.prepared("SELECT holder, expires_at_ms FROM leases WHERE name = ?");
        q->bind(1, std::string(name));
        if (q->executeStep() && q->getColumn(0).getString() != holder && q->getColumn(1).getInt64() > now) {
            return false;  // another holder's lease still stands
        }
        q->reset();
        auto up = statements.prepared(
            "INSERT INTO leases (name, holder, expires_at_ms, acquired_at) VALUES (?1, ?2, ?3, ?4) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "expires_at_ms = excluded.expires_at_ms, "
            "acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at "
            "ELSE excluded.acquired_at END");
        up->bind(1, std::string(name));
        up->bind(2, std::string(holder));
        up->bind(3, now + ttl_ms);
        up->bind(4, now);
        up->exec();
        return true;
    });
}

store_result<void> sqlite_store::lease_release(std::string_view name, std::string_view holder) {
    return write<void>("releasing a lease", [&](statement_cache& statements) -> store_result<void> {
        auto del = statements.prepared("DELETE FROM leases WHERE name = ? AND holder = ?");
        del->bind(1, std::string(name));
        del->bind(2, std::string(holder));
        del->exec();
        return {};
    });
}

// --- retention ---------------------------------------------------------------------------------

store_result<int64_t> sqlite_store::prune() {
    return write<int64_t>("pruning old health and audit rows", [&](statement_cache& statements) -> store_result<int64_t> {
        const int64_t now = clock_();
        int64_t deleted = 0;
        if (config_.health_days > 0) {
            auto del = statements.prepared("DELETE FROM tunnel_health WHERE ts < ?");
            del->bind(1, now - config_.health_days * ms_per_day);
            deleted += del->exec();
        }
        if (config_.audit_days > 0) {
            auto del = statements.prepared("DELETE FROM audit_log WHERE ts < ?");
            del->bind(1, now - config_.audit_days * ms_per_day);
            deleted += del->exec();
        }
        return deleted;
    });
}

store_result<void> sqlite_store::checkpoint() {
    return read<void>("checkpointing the write-ahead log", [](statement_cache& statements) -> store_result<void> {
        SQLite::Statement q(statements.database(), "PRAGMA wal_checkpoint(TRUNCATE)");
        q.executeStep();
        if (q.getColumn(0).getInt() != 0) {
            return store_fail(store_errc::busy, "another process is reading the state database, so the write-ahead "
                                                "log could not be folded in completely; try again later");
        }
        return {};
    });
}

}  // namespace tunnelmgr::plugins::sqlite_state
