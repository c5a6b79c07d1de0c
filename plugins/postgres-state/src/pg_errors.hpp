// Turns libpqxx/libpq failures into store_error: a kind the caller can act on and a sentence that
// says what to do, with the connection string's secrets taken out of whatever libpq said.
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "state_rows/store_error.hpp"

namespace tunnelmgr::plugins::postgres_state {

using state_rows::store_errc;
using state_rows::store_error;

// Knows the secrets of one connection string (its password, and the string itself) and removes them
// from any text before it reaches a message or a log line.
class secret_filter {
public:
    secret_filter() = default;
    // False when `dsn` is not a connection string libpq can parse.
    bool learn(const std::string& dsn);
    std::string scrub(std::string_view text) const;

private:
    std::vector<std::string> secrets_;
};

// What a caught exception means for the call and for the connection it ran on.
struct classified_failure {
    store_error error;
    bool connection_lost = false;  // drop the connection: the next call opens a new one
    bool retry_here = false;       // a serialization failure or deadlock: run the transaction again
};

// `doing` completes "... while <doing>", e.g. "inserting a CNAME row".
classified_failure classify(const std::exception& e, std::string_view doing, const secret_filter& secrets);

// A failure a fresh connection would not have, caused by a statement the connection prepared earlier:
// another process changed a table under it so that its result has other columns or types (0A000,
// "cached plan must not change result type"; PostgreSQL re-plans it but cannot change that), or the
// server does not hold the connection's statements as prepared (26000, 42P05: e.g. a pooler between).
bool statements_out_of_step(const std::exception& e);

// "the state store (PostgreSQL) is unavailable: <reason>; tunnelmgr retries on the next call"
store_error unavailable(std::string_view reason);

// libpq's text on one line, without its "ERROR:"/"FATAL:" prefix and trailing blanks.
std::string one_line(std::string_view text);

}  // namespace tunnelmgr::plugins::postgres_state
