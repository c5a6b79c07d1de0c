// Errors of the Cloudflare client as values: a kind the adapter maps to a tm_rc, and a sentence for a
// human that says what happened and what to do. Never carries the API token.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace tunnelmgr::plugins::cloudflare_dns {

enum class cf_errc {
    error,      // unexpected answer or internal failure
    invalid,    // the input (or the config) is wrong
    not_found,  // the zone, record or tunnel does not exist
    conflict,   // a record with that name exists, or it is not ours
    retry,      // transient: rate limit, 5xx, dropped connection, local budget; try again later
    timeout,    // no answer within timeout_ms, after every retry
    denied,     // the token was refused or lacks a permission
};

struct cf_error {
    cf_errc kind = cf_errc::error;
    std::string message;
};

template <class T>
using cf_result = tl::expected<T, cf_error>;

inline tl::unexpected<cf_error> cf_fail(cf_errc kind, std::string message) {
    return tl::unexpected<cf_error>(cf_error{kind, std::move(message)});
}

}  // namespace tunnelmgr::plugins::cloudflare_dns
