// The prepared statements of one connection, kept by SQL text, so that a call binds and steps a
// statement instead of parsing and planning its SQL again (a third of a small tool's CPU).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

namespace tunnelmgr::plugins::sqlite_state {

// Not thread-safe: sqlite_store uses it only under its own mutex, on its own connection. Create it
// after the migrations (the statements it holds are planned against that schema; a later change by
// another process makes SQLite re-prepare them on their next step). Destroy it before the database,
// which cannot close while statements are unfinalized.
// PRAGMAs stay out of it: some answer with what was true when they were prepared, not when they run.
class statement_cache {
    struct entry {
        std::unique_ptr<SQLite::Statement> statement;
        bool in_use = false;
    };

public:
    // A statement borrowed from the cache. Releasing it resets it, which ends its implicit read
    // transaction where finalizing a statement of its own used to, so no snapshot outlives the
    // call and no statement is still pending at COMMIT or ROLLBACK.
    class handle {
    public:
        handle(handle&& other) noexcept
            : cache_(other.cache_),
              key_(std::exchange(other.key_, nullptr)),
              entry_(std::exchange(other.entry_, nullptr)),
              owned_(std::move(other.owned_)) {}
        handle& operator=(handle&&) = delete;
        handle(const handle&) = delete;
        handle& operator=(const handle&) = delete;
        ~handle() { release(); }

        SQLite::Statement& operator*() const { return owned_ ? *owned_ : *entry_->statement; }
        SQLite::Statement* operator->() const { return &**this; }

    private:
        friend class statement_cache;
        handle(statement_cache& cache, const std::string* key, entry* borrowed)
            : cache_(&cache), key_(key), entry_(borrowed) {}
        handle(statement_cache& cache, std::unique_ptr<SQLite::Statement> owned)
            : cache_(&cache), owned_(std::move(owned)) {}

        void release() noexcept {
            if (entry_ == nullptr) return;  // moved from, or an owned statement (finalized with owned_)
            // A statement whose last step failed (busy, a constraint, a schema it can no longer
            // follow) is dropped and prepared afresh next time, as it would have been before.
            if (entry_->statement->tryReset() == SQLITE_OK) {
                entry_->in_use = false;
            } else {
                cache_->forget(*key_);
            }
            entry_ = nullptr;
        }

        statement_cache* cache_;
        const std::string* key_ = nullptr;  // the entry's key in the cache's map (stable while it lives)
        entry* entry_ = nullptr;
        std::unique_ptr<SQLite::Statement> owned_;
    };

    explicit statement_cache(SQLite::Database& db) : db_(db) {}
    statement_cache(const statement_cache&) = delete;
    statement_cache& operator=(const statement_cache&) = delete;

    SQLite::Database& database() const { return db_; }

    // The statement for `sql`, reset and with every parameter unbound (NULL), as a fresh one is.
    // Throws SQLite::Exception when `sql` does not prepare, as SQLite::Statement's constructor does.
    handle prepared(std::string_view sql) {
        auto found = entries_.find(sql);
        if (found != entries_.end()) {
            if (found->second.in_use) {
                // The same SQL borrowed twice at once (a nested call): the second gets a statement of its own.
                return handle(*this, std::make_unique<SQLite::Statement>(db_, std::string(sql)));
            }
            SQLite::Statement& statement = *found->second.statement;
            statement.reset();  // released handles reset it already; this also clears SQLiteCpp's row flags
            statement.clearBindings();
            found->second.in_use = true;
            return handle(*this, &found->first, &found->second);
        }
        auto statement = std::make_unique<SQLite::Statement>(db_, std::string(sql));
        if (entries_.size() >= max_entries) {
            // Every SQL text the store builds comes from fixed fragments, so this is a guard, not a policy.
            return handle(*this, std::move(statement));
        }
        const auto inserted = entries_.emplace(std::string(sql), entry{std::move(statement), true}).first;
        return handle(*this, &inserted->first, &inserted->second);
    }

    size_t size() const { return entries_.size(); }

private:
    static constexpr size_t max_entries = 256;

    struct text_hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    void forget(const std::string& key) noexcept {
        auto found = entries_.find(key);
        if (found != entries_.end()) entries_.erase(found);
    }

    SQLite::Database& db_;
    std::unordered_map<std::string, entry, text_hash, std::equal_to<>> entries_;
};

}  // namespace tunnelmgr::plugins::sqlite_state
