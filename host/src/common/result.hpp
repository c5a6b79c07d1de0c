// Errors as values for every layer of the host: a kind the caller can branch on (the SDK's one
// errc, so it maps to and from tm_rc in one place) and a sentence that says what to do.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>
#include <tunnelmgr/sdk/result.hpp>

namespace tunnelmgr {

using sdk::errc;
using sdk::errc_name;

struct error {
    errc code = errc::error;
    std::string message;
};

template <class T>
using result = tl::expected<T, error>;

inline tl::unexpected<error> fail(errc code, std::string message) {
    return tl::unexpected<error>(error{code, std::move(message)});
}

}  // namespace tunnelmgr

// Early return of a failed result: `TM_TRY(v, expr)` declares `v` as expr's value, or returns its
// error; `TM_TRY_VOID(expr)` only returns the error.
#define TM_TRY(var, expr)                                  \
    auto var##_r = (expr);                                 \
    if (!var##_r) return tl::unexpected(var##_r.error());  \
    auto var = std::move(*var##_r)
#define TM_TRY_VOID(expr) \
    if (auto tm_try_r_ = (expr); !tm_try_r_) return tl::unexpected(tm_try_r_.error())
