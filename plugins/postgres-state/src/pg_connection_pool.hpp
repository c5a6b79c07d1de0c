// A fixed number of connections to the PostgreSQL server, lent to one call at a time. A connection
// that broke is dropped and opened anew on its next loan, so the store outlives a server restart; its
// prepared statements go with it and are prepared again on the new one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "pg_errors.hpp"
#include "pg_statement_cache.hpp"
#include "state_rows/store_error.hpp"

namespace tunnelmgr::plugins::postgres_state {

class connection_pool {
    struct slot {
        std::unique_ptr<pqxx::connection> connection;
        std::unique_ptr<statement_cache> statements;  // the connection's; dropped and made with it
        bool lent = false;
    };

public:
    // One borrowed connection; going out of scope gives it back (or drops it after discard()).
    class loan {
    public:
        loan(loan&& other) noexcept;
        loan& operator=(loan&&) = delete;
        loan(const loan&) = delete;
        loan& operator=(const loan&) = delete;
        ~loan();

        pqxx::connection& operator*() const;
        pqxx::connection* operator->() const { return &**this; }
        // The connection's prepared statements, for pg_txn.
        statement_cache& statements() const;
        // The connection is broken: close it; the slot opens a new one on its next loan.
        void discard();

    private:
        friend class connection_pool;
        loan(connection_pool& pool, slot& s) : pool_(&pool), slot_(&s) {}
        connection_pool* pool_;
        slot* slot_;
    };

    // conninfo: the libpq connection string (secrets are kept out of errors by `secrets`); `prepare`:
    // whether each connection keeps its SQL texts prepared (pg_config::prepared_statements).
    connection_pool(std::string conninfo, size_t size, std::chrono::milliseconds wait, secret_filter secrets,
                    bool prepare = true);
    ~connection_pool();
    connection_pool(const connection_pool&) = delete;
    connection_pool& operator=(const connection_pool&) = delete;

    // A free connection, opened if its slot has none; busy (retry) when the server cannot be reached
    // or every connection stays lent for longer than `wait`.
    state_rows::store_result<loan> borrow();

    const secret_filter& secrets() const { return secrets_; }

private:
    void give_back(slot& s, bool broken);

    std::string conninfo_;
    std::chrono::milliseconds wait_;
    secret_filter secrets_;
    bool prepare_ = true;
    std::vector<slot> slots_;
    std::mutex mutex_;
    std::condition_variable freed_;
};

// The connection string with libpq's connect_timeout (whole seconds, at least 1) added.
std::string with_connect_timeout(const std::string& dsn, std::chrono::milliseconds timeout);

}  // namespace tunnelmgr::plugins::postgres_state
