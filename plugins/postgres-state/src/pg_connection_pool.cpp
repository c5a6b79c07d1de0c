// The connection pool: slots opened lazily, a loan per call, broken connections dropped.
#include "pg_connection_pool.hpp"

#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>

namespace tunnelmgr::plugins::postgres_state {

connection_pool::loan::loan(loan&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), slot_(std::exchange(other.slot_, nullptr)) {}

connection_pool::loan::~loan() {
    if (pool_ != nullptr) pool_->give_back(*slot_, false);
}

pqxx::connection& connection_pool::loan::operator*() const { return *slot_->connection; }

statement_cache& connection_pool::loan::statements() const { return *slot_->statements; }

void connection_pool::loan::discard() {
    if (pool_ == nullptr) return;
    pool_->give_back(*slot_, true);
    pool_ = nullptr;
    slot_ = nullptr;
}

connection_pool::connection_pool(std::string conninfo, size_t size, std::chrono::milliseconds wait,
                                 secret_filter secrets, bool prepare)
    : conninfo_(std::move(conninfo)), wait_(wait), secrets_(std::move(secrets)), prepare_(prepare), slots_(size) {}

connection_pool::~connection_pool() = default;

state_rows::store_result<connection_pool::loan> connection_pool::borrow() {
    slot* chosen = nullptr;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        auto pick = [&] {
            // An open connection first; then an empty slot.
            for (auto& s : slots_) {
                if (!s.lent && s.connection) return chosen = &s, true;
            }
            for (auto& s : slots_) {
                if (!s.lent) return chosen = &s, true;
            }
            return false;
        };
        if (!freed_.wait_for(lock, wait_, pick)) {
            return state_rows::store_fail(
                store_errc::busy, "all " + std::to_string(slots_.size()) +
                                      " connections to the state store (PostgreSQL) stayed busy; tunnelmgr retries on "
                                      "the next call (raise state.pool_size if this keeps happening)");
        }
        chosen->lent = true;
    }
    loan lent(*this, *chosen);
    // The socket may have died while the connection was idle; a query on it would tell, but the loan
    // would then fail one call more than needed. Checked here only as far as libpq already knows.
    if (chosen->connection && !chosen->connection->is_open()) {
        chosen->connection.reset();
        chosen->statements.reset();
    }
    if (!chosen->connection) {
        try {
            auto c = std::make_unique<pqxx::connection>(conninfo_);
            // Notices (e.g. "relation already exists, skipping") are not the operator's business.
            pqxx::nontransaction quiet(*c);
            quiet.exec0("SET client_min_messages TO warning");
            quiet.commit();
            chosen->connection = std::move(c);
            chosen->statements = std::make_unique<statement_cache>(prepare_);
        } catch (const std::exception& e) {
            auto failure = classify(e, "connecting", secrets_);
            if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr || failure.connection_lost) {
                return tl::unexpected(unavailable(secrets_.scrub(one_line(e.what()))));
            }
            return tl::unexpected(failure.error);
        }
    }
    return lent;
}

void connection_pool::give_back(slot& s, bool broken) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (broken) {
            s.connection.reset();
            s.statements.reset();
        }
        s.lent = false;
    }
    freed_.notify_one();
}

std::string with_connect_timeout(const std::string& dsn, std::chrono::milliseconds timeout) {
    const long seconds = std::max<long>(1, static_cast<long>((timeout.count() + 999) / 1000));
    const bool uri = dsn.rfind("postgresql://", 0) == 0 || dsn.rfind("postgres://", 0) == 0;
    if (!uri) return dsn + " connect_timeout=" + std::to_string(seconds);
    return dsn + (dsn.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=" + std::to_string(seconds);
}

}  // namespace tunnelmgr::plugins::postgres_state
