// The state store on PostgreSQL. Each call is one transaction on a borrowed connection (READ
// COMMITTED); the races sqlite-state settles with its write lock are settled here by unique indexes
// and INSERT ... ON CONFLICT (hostnames, unfinished operations, leases) and by row or table locks
// (a snapshot, the zone list), so processes on several machines can share the database. The SQL runs
// through the connection's statement cache (pg_statement_cache.hpp): prepared once per connection.
#include "pg_store.hpp"

#include <chrono>
#include <map>
#include <thread>
#include <utility>

#include <pqxx/pqxx>
#include <tunnelmgr/sdk/hostname.hpp>

#include "pg_migrations.hpp"
#include "pg_statement_cache.hpp"
#include "state_rows/row_checks.hpp"
#include "state_rows/store_json.hpp"

namespace tunnelmgr::plugins::postgres_state {
namespace {

constexpr int transaction_attempts = 5;

std::optional<std::string> opt_text(const pqxx::field& f) {
    if (f.is_null()) return std::nullopt;
    return f.as<std::string>();
}
std::optional<int64_t> opt_int(const pqxx::field& f) {
    if (f.is_null()) return std::nullopt;
    return f.as<int64_t>();
}

constexpr const char* cname_columns =
    "id, hostname, subdomain, domain, project, port, target, target_type, container_name, docker_network, "
    "dns_record_id, zone_id, created_at, expires_at, origin_request, machine";

cname_row read_cname(const pqxx::row& q) {
    cname_row r;
    r.id = q[0].as<int64_t>();
    r.hostname = q[1].as<std::string>();
    r.subdomain = q[2].as<std::string>();
    r.domain = q[3].as<std::string>();
    r.project = q[4].as<std::string>();
    r.port = q[5].as<int64_t>();
    r.target = q[6].as<std::string>();
    r.target_type = opt_text(q[7]);
    r.container_name = opt_text(q[8]);
    r.docker_network = opt_text(q[9]);
    r.dns_record_id = opt_text(q[10]);
    r.zone_id = opt_text(q[11]);
    r.created_at = q[12].as<int64_t>();
    r.expires_at = opt_int(q[13]);
    r.origin_request = opt_text(q[14]);
    r.machine = q[15].as<std::string>();
    return r;
}

constexpr const char* operation_columns = "id, kind, hostname, project, state, data::text, created_at, updated_at, machine";

operation_row read_operation(const pqxx::row& q) {
    operation_row r;
    r.id = q[0].as<int64_t>();
    // The table's CHECK admits only the kinds operation_kind_named knows.
    r.kind = operation_kind_named(q[1].as<std::string>()).value_or(operation_kind::create);
    r.hostname = q[2].as<std::string>();
    r.project = q[3].as<std::string>();
    r.state = q[4].as<std::string>();
    // jsonb spaces its text and orders its keys its own way; the ABI's JSON is compact.
    r.data_json = compact_json_object(q[5].as<std::string>()).value_or("{}");
    r.created_at = q[6].as<int64_t>();
    r.updated_at = q[7].as<int64_t>();
    r.machine = q[8].as<std::string>();
    return r;
}

std::optional<operation_row> find_operation(pg_txn& txn, int64_t id, bool for_update) {
    auto r = txn.exec(std::string("SELECT ") + operation_columns + " FROM operations WHERE id = $1" +
                                 (for_update ? " FOR UPDATE" : ""),
                             id);
    if (r.empty()) return std::nullopt;
    return read_operation(r[0]);
}

// A CNAME filter's " WHERE ..." and the parameters it binds, numbered from $1 in this order. The
// parameters cross as text, their types taken from the columns they meet.
struct filter_sql {
    std::string where;
    std::vector<std::string> params;

    // Adds `condition`, whose one parameter is written "$?", bound to `value`.
    void add(const std::string& condition, std::string value) {
        params.push_back(std::move(value));
        std::string c = condition;
        c.replace(c.find("$?"), 2, "$" + std::to_string(params.size()));
        where += (where.empty() ? " WHERE " : " AND ") + c;
    }
    // The number of the next parameter after the filter's.
    int next() const { return static_cast<int>(params.size()) + 1; }
};

// limit and offset are the caller's; `after` only when `keyset` (cname_list pages by it, cname_count
// counts the whole listing).
filter_sql cname_filter_where(const cname_filter& f, bool keyset) {
    filter_sql out;
    if (f.project) out.add("project = $?", *f.project);
    if (f.expires_before) out.add("expires_at IS NOT NULL AND expires_at <= $?", std::to_string(*f.expires_before));
    // The ORDER BY's own expression, so the comparison is its order and seeks the index on lower(hostname)
    // (or cnames_project, (project, lower(hostname))).
    if (keyset && f.after) out.add("lower(hostname) > $?", *f.after);
    return out;
}

// `sql` with a filter's parameters and then `more`. Each shape of filter is a text of its own, so
// each is prepared (and planned) apart.
template <class... More>
pqxx::result exec_filtered(pg_txn& txn, const std::string& sql, const filter_sql& f, More&&... more) {
    return txn.exec(sql, pqxx::prepare::make_dynamic_params(f.params), std::forward<More>(more)...);
}

// Inserts a checked row; the unique index on lower(hostname) settles races with any machine.
store_result<int64_t> insert_cname(pg_txn& txn, const cname_row& r, int64_t now, const std::string& machine) {
    auto ins = txn.exec(
        "INSERT INTO cnames (hostname, subdomain, domain, project, port, target, target_type, container_name, "
        "docker_network, dns_record_id, zone_id, created_at, expires_at, origin_request, machine) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
        "ON CONFLICT ((lower(hostname))) DO NOTHING RETURNING id",
        r.hostname, r.subdomain, r.domain, r.project, r.port, r.target, r.target_type, r.container_name,
        r.docker_network, r.dns_record_id, r.zone_id, now, r.expires_at, r.origin_request, machine);
    if (!ins.empty()) return ins[0][0].as<int64_t>();
    auto taken = txn.exec("SELECT project FROM cnames WHERE lower(hostname) = $1", r.hostname);
    // Gone again already (deleted by another machine meanwhile): still not ours to take in this call.
    return hostname_taken(r.hostname, taken.empty() ? std::string("(another)") : taken[0][0].as<std::string>());
}

store_result<int64_t> retarget_cname(pg_txn& txn, const cname_row& r, const std::string& machine) {
    auto upd = txn.exec(
        "UPDATE cnames SET subdomain = $2, domain = $3, project = $4, port = $5, target = $6, target_type = $7, "
        "container_name = $8, docker_network = $9, dns_record_id = $10, zone_id = $11, expires_at = $12, "
        "origin_request = $13, machine = $14 WHERE lower(hostname) = $1 RETURNING id",
        r.hostname, r.subdomain, r.domain, r.project, r.port, r.target, r.target_type, r.container_name,
        r.docker_network, r.dns_record_id, r.zone_id, r.expires_at, r.origin_request, machine);
    if (upd.empty()) return no_cname_to_retarget(r.hostname);
    return upd[0][0].as<int64_t>();
}

int64_t count_rows(pg_txn& txn, const std::string& sql, const std::string& machine) {
    if (sql.find("$1") == std::string::npos) return txn.exec1(sql)[0].as<int64_t>();
    return txn.exec1(sql, machine)[0].as<int64_t>();
}

const char* const unfinished = "state NOT IN ('committed', 'rolled_back')";

}  // namespace

int64_t system_clock_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

pg_store::pg_store(pg_config config, clock_fn clock, std::unique_ptr<connection_pool> pool)
    : config_(std::move(config)), clock_(std::move(clock)), pool_(std::move(pool)) {}

pg_store::~pg_store() = default;

store_result<std::unique_ptr<pg_store>> pg_store::open(const pg_config& config, clock_fn clock) {
    if (!clock) clock = system_clock_ms;
    if (config.machine.empty()) {
        return store_fail(store_errc::invalid, "state.machine is empty; set it to this machine's name");
    }
    auto dsn = read_dsn(config.dsn_file);
    if (!dsn) return tl::unexpected(dsn.error());
    secret_filter secrets;
    if (!secrets.learn(*dsn)) {
        return store_fail(store_errc::error, "the dsn_file " + config.dsn_file +
                                                 " does not hold a connection string libpq understands; write it as "
                                                 "key=value pairs (host=/run/postgresql port=5432 dbname=tunnelmgr "
                                                 "user=tunnelmgr password=...) or as a postgresql:// URI");
    }
    const std::chrono::milliseconds timeout(config.connect_timeout_ms);
    auto pool = std::make_unique<connection_pool>(with_connect_timeout(*dsn, timeout),
                                                  static_cast<size_t>(config.pool_size), timeout, std::move(secrets),
                                                  config.prepared_statements);
    const std::string cannot = "cannot open the state store (PostgreSQL) named in the dsn_file " + config.dsn_file;
    auto first = pool->borrow();
    if (!first) {
        // Said again for the operator at start-up: which file, and what to check.
        std::string reason = first.error().message;
        const std::string prefix = "the state store (PostgreSQL) is unavailable: ";
        if (reason.rfind(prefix, 0) == 0) reason = reason.substr(prefix.size());
        const auto tail = reason.rfind("; tunnelmgr retries on the next call");
        if (tail != std::string::npos) reason.erase(tail);
        return store_fail(store_errc::error, cannot + ": " + reason +
                                                 "; check that the server is running and that the file's connection "
                                                 "string (host, port, dbname, user, password) is right");
    }
    try {
        auto version = apply_migrations(**first, embedded_migrations(), clock());
        if (!version) return tl::unexpected(version.error());
    } catch (const std::exception& e) {
        auto failure = classify(e, "applying migrations", pool->secrets());
        return store_fail(failure.error.kind == store_errc::busy ? store_errc::busy : store_errc::error,
                          cannot + ": " + failure.error.message);
    }
    first = tl::unexpected(store_error{});  // give the connection back before the store takes the pool
    return std::unique_ptr<pg_store>(new pg_store(config, std::move(clock), std::move(pool)));
}

template <class T, class Body>
store_result<T> pg_store::transact(std::string_view what, Body&& body) {
    bool reconnected = false;
    bool reprepared = false;
    for (int attempt = 1;; ++attempt) {
        auto loan = pool_->borrow();
        if (!loan) return tl::unexpected(loan.error());
        bool committing = false;
        try {
            pqxx::work raw(**loan);
            pg_txn txn(raw, loan->statements());
            store_result<T> r = body(txn);
            if (r) {
                committing = true;
                raw.commit();
            }
            return r;  // on failure the transaction's destructor rolls back
        } catch (const std::exception& e) {
            // The connection's prepared statements no longer match the server (see statements_out_of_step):
            // nothing was committed, so the call runs once more on a fresh connection, which prepares anew.
            if (!committing && !reprepared && statements_out_of_step(e)) {
                loan->discard();
                reprepared = true;
                continue;
            }
            auto failure = classify(e, what, pool_->secrets());
            const bool lost = failure.connection_lost || !(*loan)->is_open();
            if (lost) {
                loan->discard();
                // An idle connection the server dropped (it restarted) fails the first statement: nothing
                // was committed, so the call runs once more on a fresh connection. Lost while committing,
                // nobody knows whether it was saved: that is the caller's to find out.
                if (!committing && !reconnected) {
                    reconnected = true;
                    continue;
                }
                if (!failure.connection_lost) failure.error = unavailable(pool_->secrets().scrub(one_line(e.what())));
                return tl::unexpected(failure.error);
            }
            if (failure.retry_here && attempt < transaction_attempts) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5 * attempt));
                continue;
            }
            return tl::unexpected(failure.error);
        }
    }
}

store_result<int64_t> pg_store::schema_version() {
    return transact<int64_t>("reading the schema version",
                             [](pg_txn& txn) -> store_result<int64_t> { return schema_version_of(txn.unprepared()); });
}

store_result<store_stats> pg_store::stats() {
    return transact<store_stats>("counting rows", [this](pg_txn& txn) -> store_result<store_stats> {
        store_stats s;
        s.schema_version = schema_version_of(txn.unprepared());
        s.dsn_file = config_.dsn_file;
        s.machine = config_.machine;
        const std::string& m = config_.machine;
        s.cnames = count_rows(txn, "SELECT COUNT(*) FROM cnames", m);
        s.operations = count_rows(txn, "SELECT COUNT(*) FROM operations", m);
        s.operations_unfinished =
            count_rows(txn, std::string("SELECT COUNT(*) FROM operations WHERE machine = $1 AND ") + unfinished, m);
        s.audit_log = count_rows(txn, "SELECT COUNT(*) FROM audit_log", m);
        s.tunnel_health = count_rows(txn, "SELECT COUNT(*) FROM tunnel_health WHERE machine = $1", m);
        s.domains = count_rows(txn, "SELECT COUNT(*) FROM domains", m);
        s.docker_networks = count_rows(txn, "SELECT COUNT(*) FROM docker_networks WHERE machine = $1", m);
        s.docker_containers = count_rows(txn, "SELECT COUNT(*) FROM docker_containers WHERE machine = $1", m);
        s.leases = count_rows(txn, "SELECT COUNT(*) FROM leases WHERE machine = $1", m);
        s.file_bytes = txn.exec1("SELECT pg_database_size(current_database())")[0].as<int64_t>();
        return s;
    });
}

// --- cnames ------------------------------------------------------------------------------------

store_result<int64_t> pg_store::cname_insert(const cname_row& row) {
    auto checked = checked_cname(row);
    if (!checked) return tl::unexpected(checked.error());
    const std::string machine = checked->machine.value_or(config_.machine);
    return transact<int64_t>("inserting a CNAME row", [&](pg_txn& txn) {
        return insert_cname(txn, *checked, given_or_now(checked->created_at.value_or(0), clock_()), machine);  // 1.4: a copy keeps its time
    });
}

store_result<void> pg_store::cname_delete(std::string_view hostname) {
    auto host = checked_hostname(hostname, "the CNAME row to delete");
    if (!host) return tl::unexpected(host.error());
    return transact<void>("deleting a CNAME row", [&](pg_txn& txn) -> store_result<void> {
        if (txn.exec("DELETE FROM cnames WHERE lower(hostname) = $1", *host).affected_rows() == 0) {
            return no_cname_to_delete(*host);
        }
        return {};
    });
}

store_result<cname_row> pg_store::cname_get(std::string_view hostname) {
    const std::string host = sdk::fold_hostname(hostname);
    return transact<cname_row>("reading a CNAME row", [&](pg_txn& txn) -> store_result<cname_row> {
        auto r = txn.exec(std::string("SELECT ") + cname_columns + " FROM cnames WHERE lower(hostname) = $1", host);
        if (r.empty()) return no_cname(host);
        return read_cname(r[0]);
    });
}

std::string cname_list_sql(const cname_filter& filter) {
    const filter_sql f = cname_filter_where(filter, true);
    std::string sql = std::string("SELECT ") + cname_columns + " FROM cnames" + f.where + " ORDER BY lower(hostname)";
    if (filter.limit || filter.offset) {
        sql += " LIMIT $" + std::to_string(f.next()) + " OFFSET $" + std::to_string(f.next() + 1);
    }
    return sql;
}

store_result<std::vector<cname_row>> pg_store::cname_list(const cname_filter& filter) {
    return transact<std::vector<cname_row>>("listing CNAME rows", [&](pg_txn& txn) {
        const filter_sql f = cname_filter_where(filter, true);
        const std::string sql = cname_list_sql(filter);
        // NULL: no limit, in PostgreSQL.
        const pqxx::result r = filter.limit || filter.offset
                                   ? exec_filtered(txn, sql, f, filter.limit, filter.offset.value_or(0))
                                   : exec_filtered(txn, sql, f);
        std::vector<cname_row> rows;
        rows.reserve(r.size());
        for (const auto& row : r) rows.push_back(read_cname(row));
        return store_result<std::vector<cname_row>>(std::move(rows));
    });
}

store_result<int64_t> pg_store::cname_count(const cname_filter& filter) {
    return transact<int64_t>("counting CNAME rows", [&](pg_txn& txn) {
        // Per project, or all: the counts the trigger keeps; an expiry filter counts rows.
        if (filter.pending_before && filter.project) {
            // Every machine's creates, in the rows' snapshot: the quota holds across machines.
            auto r = txn.exec1(
                "SELECT COALESCE((SELECT n FROM cname_counts WHERE project = $1), 0) + (SELECT COUNT(*) FROM operations "
                "WHERE kind = 'create' AND project = $1 AND id < $2 AND state NOT IN ('committed', 'rolled_back'))",
                *filter.project, *filter.pending_before);
            return store_result<int64_t>(r[0].as<int64_t>());
        }
        if (!filter.expires_before) {
            auto r = filter.project
                         ? txn.exec1("SELECT COALESCE((SELECT n FROM cname_counts WHERE project = $1), 0)", *filter.project)
                         : txn.exec1("SELECT COALESCE(SUM(n), 0)::bigint FROM cname_counts");
            return store_result<int64_t>(r[0].as<int64_t>());
        }
        const filter_sql f = cname_filter_where(filter, false);
        return store_result<int64_t>(exec_filtered(txn, "SELECT COUNT(*) FROM cnames" + f.where, f)[0][0].as<int64_t>());
    });
}

// --- operations --------------------------------------------------------------------------------

store_result<int64_t> pg_store::operation_begin(const operation_request& request) {
    auto checked = checked_operation(request);
    if (!checked) return tl::unexpected(checked.error());
    const operation_request& op = *checked;
    return transact<int64_t>("starting an operation", [&](pg_txn& txn) -> store_result<int64_t> {
        const int64_t now = clock_();
        // The holder may finish between the refused insert and the look at it: then try once more.
        for (int attempt = 0; attempt < 3; ++attempt) {
            auto ins = txn.exec(
                std::string("INSERT INTO operations (kind, hostname, project, state, data, created_at, updated_at, "
                            "machine) VALUES ($1, $2, $3, 'validated', jsonb_build_object('request', $4::jsonb), $5, "
                            "$5, $6) ON CONFLICT ((lower(hostname))) WHERE ") +
                    unfinished + " DO NOTHING RETURNING id",
                std::string(kind_name(op.kind)), op.hostname, op.project, op.request_json, now, config_.machine);
            if (!ins.empty()) return ins[0][0].as<int64_t>();
            auto busy = txn.exec(std::string("SELECT id, kind, state, project FROM operations "
                                                    "WHERE lower(hostname) = $1 AND ") +
                                            unfinished,
                                        op.hostname);
            if (!busy.empty()) {
                return hostname_busy(op.hostname, busy[0][0].as<int64_t>(), busy[0][1].as<std::string>(),
                                     busy[0][3].as<std::string>(), busy[0][2].as<std::string>());
            }
        }
        return store_fail(store_errc::busy, op.hostname + " kept being taken and freed by other operations; try again");
    });
}

store_result<void> pg_store::operation_advance(int64_t id, std::string_view state, std::string_view patch_json) {
    auto checked_patch = checked_advance(id, state, patch_json);
    if (!checked_patch) return tl::unexpected(checked_patch.error());
    return transact<void>("advancing an operation", [&](pg_txn& txn) -> store_result<void> {
        // Lazy (API 1.6): no wait for the WAL flush. PostgreSQL's WAL keeps a prefix after a crash, and
        // the next synchronous commit on the server (operation_commit, audit_append) flushes past it.
        txn.unprepared().exec("SET LOCAL synchronous_commit TO OFF");
        auto upd = txn.exec(std::string("UPDATE operations SET state = $2, data = tm_merge_patch(data, $3::jsonb), "
                                               "updated_at = $4 WHERE id = $1 AND ") +
                                       unfinished + " RETURNING id",
                                   id, std::string(state), *checked_patch, clock_());
        if (!upd.empty()) return {};
        auto op = find_operation(txn, id, false);
        if (!op) return no_operation(id);
        return operation_already_finished(id, op->state);
    });
}

store_result<void> pg_store::operation_commit(int64_t id, const cname_row& row) {
    return transact<void>("committing an operation", [&](pg_txn& txn) -> store_result<void> {
        auto op = find_operation(txn, id, true);  // locked: a second commit of it waits for this one
        if (!op) return no_operation(id);
        if (op->state == "committed") return {};  // a retried commit: the work is already done
        if (op->state == "rolled_back") return operation_rolled_back(id);
        auto checked = checked_commit_row(*op, row);
        if (!checked) return tl::unexpected(checked.error());
        const int64_t now = clock_();
        std::string patch = "{}";
        if (op->kind == operation_kind::create) {
            auto inserted = insert_cname(txn, **checked, now, (*checked)->machine.value_or(config_.machine));
            if (!inserted) return tl::unexpected(inserted.error());
            patch = "{\"cname_id\":" + std::to_string(*inserted) + "}";
        } else if (op->kind == operation_kind::retarget) {
            auto retargeted = retarget_cname(txn, **checked, (*checked)->machine.value_or(config_.machine));
            if (!retargeted) return tl::unexpected(retargeted.error());
            patch = "{\"cname_id\":" + std::to_string(*retargeted) + "}";
        } else {
            // Deleting a row that is already gone leaves the state the operation wanted.
            txn.exec0("DELETE FROM cnames WHERE lower(hostname) = $1", op->hostname);
        }
        txn.exec0("UPDATE operations SET state = 'committed', data = tm_merge_patch(data, $2::jsonb), "
                         "updated_at = $3 WHERE id = $1",
                         id, patch, now);
        return {};
    });
}

store_result<operation_row> pg_store::operation_get(int64_t id) {
    return transact<operation_row>("reading an operation", [&](pg_txn& txn) -> store_result<operation_row> {
        auto op = find_operation(txn, id, false);
        if (!op) return no_operation(id);
        return *op;
    });
}

store_result<std::vector<operation_row>> pg_store::operation_list_unfinished() {
    return transact<std::vector<operation_row>>("listing unfinished operations", [&](pg_txn& txn) {
        auto r = txn.exec(std::string("SELECT ") + operation_columns + " FROM operations WHERE machine = $1 AND " +
                                     unfinished + " ORDER BY id",
                                 config_.machine);
        std::vector<operation_row> rows;
        for (const auto& row : r) rows.push_back(read_operation(row));
        return store_result<std::vector<operation_row>>(std::move(rows));
    });
}

// --- audit -------------------------------------------------------------------------------------

store_result<void> pg_store::audit_append(const audit_entry& entry) {
    auto checked = checked_audit(entry);
    if (!checked) return tl::unexpected(checked.error());
    const audit_entry& e = *checked;
    return transact<void>("appending to the audit log", [&](pg_txn& txn) -> store_result<void> {
        txn.exec0(
            "INSERT INTO audit_log (ts, actor, role, action, target, result, error, details, project, machine) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            given_or_now(e.ts, clock_()), e.actor, e.role, e.action, e.target, e.result, e.error, e.details_json,
            e.project, e.machine.value_or(config_.machine));
        return {};
    });
}

store_result<std::vector<audit_entry>> pg_store::audit_query(const audit_filter& filter) {
    if (auto ok = check_limit(filter.limit); !ok) return tl::unexpected(ok.error());
    return transact<std::vector<audit_entry>>("querying the audit log", [&](pg_txn& txn) {
        // Absent filters are NULL parameters, so one statement text serves every combination.
        auto r = txn.exec(
            "SELECT id, ts, actor, role, action, target, result, error, project, details, machine FROM audit_log "
            "WHERE ($1::text IS NULL OR project = $1) AND ($2::text IS NULL OR action = $2) "
            "AND ($3::bigint IS NULL OR ts >= $3) AND ($5::bigint IS NULL OR id < $5) " +
                std::string(filter.before_id ? "ORDER BY id DESC" : "ORDER BY ts DESC, id DESC") + " LIMIT $4",
            filter.project, filter.action, filter.since_ms, filter.limit, filter.before_id);
        std::vector<audit_entry> rows;
        for (const auto& q : r) {
            audit_entry e;
            e.id = q[0].as<int64_t>();
            e.ts = q[1].as<int64_t>();
            e.actor = q[2].as<std::string>();
            e.role = opt_text(q[3]);
            e.action = q[4].as<std::string>();
            e.target = opt_text(q[5]);
            e.result = opt_text(q[6]);
            e.error = opt_text(q[7]);
            e.project = opt_text(q[8]);
            e.details_json = opt_text(q[9]).value_or("{}");
            e.machine = q[10].as<std::string>();
            rows.push_back(std::move(e));
        }
        return store_result<std::vector<audit_entry>>(std::move(rows));
    });
}

// --- health ------------------------------------------------------------------------------------

store_result<void> pg_store::health_record(const health_observation& h) {
    if (auto ok = check_health(h); !ok) return tl::unexpected(ok.error());
    return transact<void>("recording tunnel health", [&](pg_txn& txn) -> store_result<void> {
        txn.exec0(
            "INSERT INTO tunnel_health (machine, ts, status, ready_connections, restart_count, last_error, uptime_s, "
            "detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            config_.machine, given_or_now(h.ts, clock_()), h.status, h.ready_connections, h.restart_count, h.last_error,
            h.uptime_s, h.detail_json);
        return {};
    });
}

store_result<std::vector<health_observation>> pg_store::health_history(const health_filter& filter) {
    if (auto ok = check_limit(filter.limit); !ok) return tl::unexpected(ok.error());
    return transact<std::vector<health_observation>>("reading tunnel health", [&](pg_txn& txn) {
        auto r = txn.exec(
            "SELECT id, ts, status, ready_connections, restart_count, last_error, uptime_s, detail FROM tunnel_health "
            "WHERE machine = $1 AND ($2::bigint IS NULL OR ts >= $2) AND ($4::bigint IS NULL OR id < $4) " +
                std::string(filter.before_id ? "ORDER BY id DESC" : "ORDER BY ts DESC, id DESC") + " LIMIT $3",
            config_.machine, filter.since_ms, filter.limit, filter.before_id);
        std::vector<health_observation> rows;
        for (const auto& q : r) {
            health_observation h;
            h.id = q[0].as<int64_t>();
            h.ts = q[1].as<int64_t>();
            h.status = q[2].as<std::string>();
            h.ready_connections = opt_int(q[3]);
            h.restart_count = opt_int(q[4]);
            h.last_error = opt_text(q[5]);
            h.uptime_s = opt_int(q[6]);
            h.detail_json = opt_text(q[7]).value_or("{}");
            rows.push_back(std::move(h));
        }
        return store_result<std::vector<health_observation>>(std::move(rows));
    });
}

// --- domains -----------------------------------------------------------------------------------

store_result<void> pg_store::domains_replace(const std::vector<zone>& zones) {
    if (auto ok = check_zones(zones); !ok) return tl::unexpected(ok.error());
    return transact<void>("replacing the zone list", [&](pg_txn& txn) -> store_result<void> {
        // Two machines replacing at once take turns: the second's DELETE then sees the first's rows.
        txn.unprepared().exec0("LOCK TABLE domains IN SHARE ROW EXCLUSIVE MODE");
        txn.exec0("DELETE FROM domains");
        const int64_t now = clock_();
        for (const zone& z : zones) {
            txn.exec0("INSERT INTO domains (zone_id, name, status, updated_at) VALUES ($1, $2, $3, $4)", z.zone_id,
                             sdk::fold_hostname(z.name), z.status, now);
        }
        return {};
    });
}

store_result<std::vector<zone>> pg_store::domains_list() {
    return transact<std::vector<zone>>("listing zones", [](pg_txn& txn) {
        auto r = txn.exec("SELECT zone_id, name, status FROM domains ORDER BY lower(name), zone_id");
        std::vector<zone> out;
        for (const auto& q : r) out.push_back(zone{q[0].as<std::string>(), q[1].as<std::string>(), opt_text(q[2])});
        return store_result<std::vector<zone>>(std::move(out));
    });
}

// --- docker topology ---------------------------------------------------------------------------

store_result<void> pg_store::docker_snapshot_replace(const docker_snapshot& snapshot) {
    if (auto ok = check_snapshot(snapshot); !ok) return tl::unexpected(ok.error());
    return transact<void>("replacing the Docker snapshot", [&](pg_txn& txn) -> store_result<void> {
        const std::string& m = config_.machine;
        const int64_t now = clock_();
        // First, so this machine's row is locked: two processes of one machine replace in turn.
        txn.exec0("INSERT INTO docker_snapshot (machine, taken_ms) VALUES ($1, $2) "
                         "ON CONFLICT (machine) DO UPDATE SET taken_ms = EXCLUDED.taken_ms",
                         m, now);
        // Attachments and ports go with their containers (ON DELETE CASCADE).
        txn.exec0("DELETE FROM docker_containers WHERE machine = $1", m);
        txn.exec0("DELETE FROM docker_networks WHERE machine = $1", m);
        for (const auto& n : snapshot.networks) {
            txn.exec0("INSERT INTO docker_networks (machine, id, name, driver, scope, updated_at) "
                             "VALUES ($1, $2, $3, $4, $5, $6)",
                             m, n.id, n.name, unless_empty(n.driver), unless_empty(n.scope), now);
        }
        for (const auto& c : snapshot.containers) {
            txn.exec0("INSERT INTO docker_containers (machine, id, name, image, state, project, updated_at) "
                             "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                             m, c.id, c.name, unless_empty(c.image), unless_empty(c.state), c.project, now);
            // A key seen twice in one poll is one fact, so the later copy replaces the earlier.
            for (const auto& a : c.networks) {
                txn.exec0("INSERT INTO container_networks (machine, container_id, network_id, ip, aliases) "
                                 "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (machine, container_id, network_id) "
                                 "DO UPDATE SET ip = EXCLUDED.ip, aliases = EXCLUDED.aliases",
                                 m, c.id, a.network, a.ip, json_string_array(a.aliases));
            }
            for (const auto& p : c.ports) {
                txn.exec0("INSERT INTO container_ports (machine, container_id, container_port, protocol, "
                                 "host_ip, host_port) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                                 m, c.id, p.container_port, p.protocol.empty() ? std::string("tcp") : lower(p.protocol),
                                 p.host_ip.value_or(""), p.host_port.value_or(0));
            }
        }
        return {};
    });
}

store_result<docker_snapshot> pg_store::docker_snapshot_get() {
    return transact<docker_snapshot>("reading the Docker snapshot", [&](pg_txn& txn) -> store_result<docker_snapshot> {
        // One snapshot of the tables for the four reads: a replace committing between them is not half seen.
        txn.unprepared().exec0("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
        const std::string& m = config_.machine;
        docker_snapshot snap;
        if (auto r = txn.exec("SELECT taken_ms FROM docker_snapshot WHERE machine = $1", m); !r.empty()) {
            snap.taken_ms = r[0][0].as<int64_t>();
        }
        for (const auto& q : txn.exec("SELECT id, name, driver, scope FROM docker_networks WHERE machine = $1 "
                                             "ORDER BY name, id",
                                             m)) {
            snap.networks.push_back(docker_network{q[0].as<std::string>(), q[1].as<std::string>(),
                                                   opt_text(q[2]).value_or(""), opt_text(q[3]).value_or("")});
        }
        std::map<std::string, size_t> index;
        for (const auto& q : txn.exec("SELECT id, name, image, state, project FROM docker_containers "
                                             "WHERE machine = $1 ORDER BY name, id",
                                             m)) {
            docker_container c;
            c.id = q[0].as<std::string>();
            c.name = q[1].as<std::string>();
            c.image = opt_text(q[2]).value_or("");
            c.state = opt_text(q[3]).value_or("");
            c.project = opt_text(q[4]);
            index[c.id] = snap.containers.size();
            snap.containers.push_back(std::move(c));
        }
        for (const auto& q : txn.exec("SELECT container_id, network_id, ip, aliases FROM container_networks "
                                             "WHERE machine = $1 ORDER BY container_id, network_id",
                                             m)) {
            auto it = index.find(q[0].as<std::string>());
            if (it == index.end()) continue;
            snap.containers[it->second].networks.push_back(
                docker_endpoint{q[1].as<std::string>(), opt_text(q[2]), parse_string_array(q[3].as<std::string>())});
        }
        for (const auto& q : txn.exec("SELECT container_id, container_port, protocol, host_ip, host_port "
                                             "FROM container_ports WHERE machine = $1 "
                                             "ORDER BY container_id, container_port, protocol, host_ip, host_port",
                                             m)) {
            auto it = index.find(q[0].as<std::string>());
            if (it == index.end()) continue;
            docker_port p;
            p.container_port = q[1].as<int64_t>();
            p.protocol = q[2].as<std::string>();
            const int64_t host_port = q[4].as<int64_t>();
            if (host_port != 0) {  // 0 marks an exposed port that is not published
                p.host_ip = q[3].as<std::string>();
                p.host_port = host_port;
            }
            snap.containers[it->second].ports.push_back(std::move(p));
        }
        return snap;
    });
}

// --- leases ------------------------------------------------------------------------------------

store_result<bool> pg_store::lease_acquire(std::string_view name, std::string_view holder, int64_t ttl_ms) {
    if (auto ok = check_lease(name, holder, ttl_ms); !ok) return tl::unexpected(ok.error());
    return transact<bool>("taking a lease", [&](pg_txn& txn) -> store_result<bool> {
        const int64_t now = clock_();
        // One statement: taken when free, renewed by its holder, taken over once expired; otherwise
        // the WHERE leaves the row alone and nothing is returned.
        auto r = txn.exec(
            "INSERT INTO leases (machine, name, holder, expires_at_ms, acquired_at) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (machine, name) DO UPDATE SET holder = EXCLUDED.holder, "
            "expires_at_ms = EXCLUDED.expires_at_ms, "
            "acquired_at = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.acquired_at "
            "ELSE EXCLUDED.acquired_at END "
            "WHERE leases.holder = EXCLUDED.holder OR leases.expires_at_ms <= EXCLUDED.acquired_at RETURNING holder",
            config_.machine, std::string(name), std::string(holder), now + ttl_ms, now);
        return !r.empty();
    });
}

store_result<void> pg_store::lease_release(std::string_view name, std::string_view holder) {
    return transact<void>("releasing a lease", [&](pg_txn& txn) -> store_result<void> {
        txn.exec0("DELETE FROM leases WHERE machine = $1 AND name = $2 AND holder = $3", config_.machine,
                         std::string(name), std::string(holder));
        return {};
    });
}

// --- retention ---------------------------------------------------------------------------------

store_result<int64_t> pg_store::prune() {
    return transact<int64_t>("pruning old health and audit rows", [&](pg_txn& txn) -> store_result<int64_t> {
        const int64_t now = clock_();
        int64_t deleted = 0;
        if (config_.health_days > 0) {
            deleted += static_cast<int64_t>(
                txn.exec("DELETE FROM tunnel_health WHERE machine = $1 AND ts < $2", config_.machine,
                                now - config_.health_days * ms_per_day)
                    .affected_rows());
        }
        if (config_.audit_days > 0) {
            deleted += static_cast<int64_t>(
                txn.exec("DELETE FROM audit_log WHERE machine = $1 AND ts < $2", config_.machine,
                                now - config_.audit_days * ms_per_day)
                    .affected_rows());
        }
        return deleted;
    });
}

}  // namespace tunnelmgr::plugins::postgres_state
