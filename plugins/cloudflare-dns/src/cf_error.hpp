// Errors of the Cloudflare client as values: a kind the adapter maps to a tm_rc, and a sentence for a
// human that says what happened and what to do. Never carries the API token.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>
#include <tunnelmgr/sdk/result.hpp>

namespace tunnelmgr::plugins::cloudflare_dns {

// The SDK's one error enum: error (unexpected answer or internal failure), invalid (the input or
// config is wrong), not_found (zone, record or tunnel), conflict (a record with that name exists,
// or it is not ours), retry (rate limit, 5xx, dropped connection, local budget), timeout (no answer
// after every retry), denied (the token was refused or lacks a permission).
using cf_errc = sdk::errc;

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
