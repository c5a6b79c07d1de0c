// The prepared statements of one connection, kept by SQL text, so that a call binds and runs a
// statement the server parsed (and, once it settles on a generic plan, planned) before instead of
// parsing and planning its SQL again (a third of a small tool's CPU). The PostgreSQL counterpart of
// sqlite-state's statement_cache.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>

#include <pqxx/connection_base>
#include <pqxx/dbtransaction>
#include <pqxx/result>
#include <pqxx/row>

namespace tunnelmgr::plugins::postgres_state {

// A text is prepared on its second run on the connection, not its first: libpqxx prepares in a round
// trip of its own, which a short-lived process running each text once would pay for nothing, so a
// first run goes unnamed, as every run did before.
// Not thread-safe: one per pooled connection, used only by the call that borrowed it, and dropped with
// it (connection_pool), so a re-opened connection prepares its statements afresh. (Were libpqxx to
// re-open a connection by itself, it would prepare the definitions it holds again on first use.)
class statement_cache {
public:
    // `prepare` false: every text runs unnamed, as through a pooler that drops prepared statements.
    explicit statement_cache(bool prepare = true) : prepare_(prepare) {}
    statement_cache(const statement_cache&) = delete;
    statement_cache& operator=(const statement_cache&) = delete;

    // The name `sql` runs under on `c` (defined there by now), or nullptr: run it unnamed this time.
    const std::string* name_for(pqxx::connection_base& c, const std::string& sql) {
        if (!prepare_) return nullptr;
        auto found = names_.find(sql);
        if (found == names_.end()) {
            // Every SQL text the store builds comes from fixed fragments, so this is a guard, not a policy.
            if (names_.size() < max_entries) names_.emplace(sql, std::string());
            return nullptr;
        }
        if (found->second.empty()) {
            // Numbered per connection: no two texts ever share a name (libpqxx refuses a redefinition).
            std::string name = "tm_" + std::to_string(++defined_);
            c.prepare(name, sql);
            found->second = std::move(name);
        }
        return &found->second;
    }

    size_t size() const { return names_.size(); }

private:
    static constexpr size_t max_entries = 256;

    bool prepare_ = true;
    std::unordered_map<std::string, std::string> names_;  // text -> its name; empty until its second run
    size_t defined_ = 0;
};

// A pg_store call's transaction: its SQL runs through the connection's statement cache, with the
// parameters exec_params would bind (the same text encoding, the same NULLs).
class pg_txn {
public:
    pg_txn(pqxx::dbtransaction& txn, statement_cache& statements) : txn_(txn), statements_(statements) {}
    pg_txn(const pg_txn&) = delete;
    pg_txn& operator=(const pg_txn&) = delete;

    // As pqxx's exec_params, exec_params0 (no rows) and exec_params1 (exactly one row).
    template <class... Args>
    pqxx::result exec(const std::string& sql, Args&&... args) {
        if (const std::string* name = statements_.name_for(txn_.conn(), sql)) {
            return txn_.exec_prepared(*name, std::forward<Args>(args)...);
        }
        return txn_.exec_params(sql, std::forward<Args>(args)...);
    }
    template <class... Args>
    pqxx::result exec0(const std::string& sql, Args&&... args) {
        if (const std::string* name = statements_.name_for(txn_.conn(), sql)) {
            return txn_.exec_prepared0(*name, std::forward<Args>(args)...);
        }
        return txn_.exec_params0(sql, std::forward<Args>(args)...);
    }
    template <class... Args>
    pqxx::row exec1(const std::string& sql, Args&&... args) {
        if (const std::string* name = statements_.name_for(txn_.conn(), sql)) {
            return txn_.exec_prepared1(*name, std::forward<Args>(args)...);
        }
        return txn_.exec_params1(sql, std::forward<Args>(args)...);
    }

    // The transaction itself, for what stays unprepared: SET and LOCK, whose effect is the point of
    // running them, and the schema version (read through pg_migrations).
    pqxx::dbtransaction& unprepared() const { return txn_; }

private:
    pqxx::dbtransaction& txn_;
    statement_cache& statements_;
};

}  // namespace tunnelmgr::plugins::postgres_state
