// Errors as values for plugin code: a tm_rc code plus a sentence that says what to do.
// Every SDK method returns result<T>; the SDK turns it into the C return code and last_error().
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>
#include <tunnelmgr/plugin_api.h>

namespace tunnelmgr::sdk {

struct error {
    tm_rc code = TM_ERROR;
    std::string message;
};

template <class T>
using result = tl::expected<T, error>;

// `return sdk::fail(TM_CONFLICT, "app.example.com belongs to project other");`
inline tl::unexpected<error> fail(tm_rc code, std::string message) {
    return tl::unexpected<error>(error{code, std::move(message)});
}

inline const char* rc_name(tm_rc rc) {
    switch (rc) {
        case TM_OK: return "ok";
        case TM_ERROR: return "error";
        case TM_NOT_FOUND: return "not_found";
        case TM_CONFLICT: return "conflict";
        case TM_RETRY: return "retry";
        case TM_TIMEOUT: return "timeout";
        case TM_DENIED: return "denied";
        case TM_INVALID: return "invalid";
        default: return "unknown";
    }
}

// The kinds of failure, one per tm_rc failure code: the one error enum of the host and the SDK, and
// (to_rc / errc_of) the one mapping between it and the ABI's codes.
enum class errc : tm_rc {
    error = TM_ERROR,
    not_found = TM_NOT_FOUND,
    conflict = TM_CONFLICT,
    retry = TM_RETRY,
    timeout = TM_TIMEOUT,
    denied = TM_DENIED,
    invalid = TM_INVALID,
};

inline tm_rc to_rc(errc c) { return static_cast<tm_rc>(c); }

// A failure code as an errc; TM_OK and codes this API does not know are `error`.
inline errc errc_of(tm_rc rc) {
    switch (rc) {
        case TM_NOT_FOUND:
        case TM_CONFLICT:
        case TM_RETRY:
        case TM_TIMEOUT:
        case TM_DENIED:
        case TM_INVALID: return static_cast<errc>(rc);
        default: return errc::error;
    }
}

inline const char* errc_name(errc c) { return rc_name(to_rc(c)); }

}  // namespace tunnelmgr::sdk
