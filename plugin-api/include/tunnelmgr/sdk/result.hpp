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

}  // namespace tunnelmgr::sdk
