// How a state store reports failure: a kind the caller can act on plus a sentence for a human.
// Every fallible store function returns tl::expected<T, store_error>; nothing throws past the store.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace tunnelmgr::plugins::state_rows {

enum class store_errc {
    invalid,    // the input is wrong; the message says how
    not_found,  // the row asked for does not exist
    conflict,   // the name is taken, or another unfinished operation holds it
    busy,       // the database stayed locked, or its server is unavailable; the same call may succeed later
    error,      // anything else (I/O, corruption, permissions); the message says what to check
};

struct store_error {
    store_errc kind = store_errc::error;
    std::string message;
};

template <class T>
using store_result = tl::expected<T, store_error>;

inline tl::unexpected<store_error> store_fail(store_errc kind, std::string message) {
    return tl::unexpected<store_error>(store_error{kind, std::move(message)});
}

inline const char* to_string(store_errc kind) {
    switch (kind) {
        case store_errc::invalid: return "invalid";
        case store_errc::not_found: return "not_found";
        case store_errc::conflict: return "conflict";
        case store_errc::busy: return "busy";
        case store_errc::error: return "error";
    }
    return "error";
}

}  // namespace tunnelmgr::plugins::state_rows
