// Errors as values for the host and the core: a kind the caller can branch on, and a sentence
// for a human that says what went wrong and what to do.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace tunnelmgr::core {

enum class errc { error, not_found, conflict, retry, timeout, denied, invalid };

struct error {
    errc code = errc::error;
    std::string message;
};

template <class T>
using result = tl::expected<T, error>;

inline tl::unexpected<error> fail(errc code, std::string message) {
    return tl::unexpected<error>(error{code, std::move(message)});
}

inline const char* errc_name(errc c) {
    switch (c) {
        case errc::error: return "error";
        case errc::not_found: return "not_found";
        case errc::conflict: return "conflict";
        case errc::retry: return "retry";
        case errc::timeout: return "timeout";
        case errc::denied: return "denied";
        case errc::invalid: return "invalid";
    }
    return "error";
}

}  // namespace tunnelmgr::core
