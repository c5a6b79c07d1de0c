// PostgreSQL failures grouped by what the caller can do: retry later (the server is away), retry at
// once (serialization, deadlock: done inside the store), or read the sentence (everything else).
#include "pg_errors.hpp"

#include <memory>

#include <libpq-fe.h>
#include <pqxx/except>

namespace tunnelmgr::plugins::postgres_state {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// SQLSTATEs of a connection that is gone or going: class 08 (connection exception) and the
// operator's shutdown, crash or start-up (57P01..57P03).
bool connection_state(const std::string& sqlstate) {
    return starts_with(sqlstate, "08") || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

}  // namespace

bool secret_filter::learn(const std::string& dsn) {
    char* error = nullptr;
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(PQconninfoParse(dsn.c_str(), &error),
                                                                         &PQconninfoFree);
    if (error != nullptr) PQfreemem(error);  // it may quote the string: never shown
    if (!options) return false;
    for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
        if (o->val != nullptr && *o->val != '\0' && std::string_view(o->keyword) == "password") secrets_.emplace_back(o->val);
    }
    secrets_.push_back(dsn);
    return true;
}

std::string secret_filter::scrub(std::string_view text) const {
    std::string out(text);
    for (const std::string& secret : secrets_) {
        if (secret.empty()) continue;
        for (auto at = out.find(secret); at != std::string::npos; at = out.find(secret, at)) {
            out.replace(at, secret.size(), "[redacted]");
            at += 10;
        }
    }
    return out;
}

std::string one_line(std::string_view text) {
    std::string out;
    bool blank = false;
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
            blank = !out.empty();
            continue;
        }
        if (blank) out += ' ';
        blank = false;
        out += c;
    }
    for (std::string_view prefix : {"ERROR: ", "FATAL: ", "ERROR:  ", "FATAL:  "}) {
        if (starts_with(out, prefix)) out.erase(0, prefix.size());
    }
    while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();
    return out.empty() ? std::string("no reason given") : out;
}

bool statements_out_of_step(const std::exception& e) {
    const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
    if (sql == nullptr) return false;
    const std::string state = sql->sqlstate();
    return state == "0A000" || state == "26000" || state == "42P05";
}

store_error unavailable(std::string_view reason) {
    return {store_errc::busy, "the state store (PostgreSQL) is unavailable: " + std::string(reason) +
                                  "; tunnelmgr retries on the next call"};
}

classified_failure classify(const std::exception& e, std::string_view doing, const secret_filter& secrets) {
    const std::string during = " while " + std::string(doing);
    const std::string said = secrets.scrub(one_line(e.what()));
    if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
        return {unavailable("the connection was lost while committing" + during +
                            ", so the change may or may not have been saved (" + said + ")"),
                true, false};
    }
    if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) return {unavailable(said), true, false};
    if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
        const std::string state = sql->sqlstate();
        if (connection_state(state)) return {unavailable(said), true, false};
        if (state == "40001" || state == "40P01") {
            return {{store_errc::busy, "the state store (PostgreSQL) kept aborting the transaction (" + said + ")" +
                                           during + "; try again"},
                    false, true};
        }
        if (state == "23505") {
            return {{store_errc::conflict, "a row with the same key already exists" + during + " (" + said + ")"},
                    false, false};
        }
        if (starts_with(state, "22") || starts_with(state, "23")) {
            return {{store_errc::invalid, "the state store (PostgreSQL) refused the values" + during + " (" + said +
                                              "); fix the input"},
                    false, false};
        }
        if (state == "42501" || starts_with(state, "28")) {
            return {{store_errc::error, "the PostgreSQL role in the dsn_file may not do this" + during + " (" + said +
                                            "); grant it the rights on tunnelmgr's tables, or use the role that "
                                            "created them"},
                    false, false};
        }
        if (starts_with(state, "53")) {
            return {{store_errc::busy, "the PostgreSQL server is out of resources" + during + " (" + said +
                                           "); tunnelmgr retries on the next call"},
                    false, false};
        }
        return {{store_errc::error, "PostgreSQL failed" + during + " (" + said + ")"}, false, false};
    }
    return {{store_errc::error, "unexpected failure" + during + ": " + said}, false, false};
}

}  // namespace tunnelmgr::plugins::postgres_state
