// Errors of the systemd-supervisor domain classes: a kind the plugin maps to tm_rc, and a sentence
// for a human that says what went wrong and what to change. No ABI types here.
#pragma once

#include <string>

#include <tl/expected.hpp>

namespace tunnelmgr::plugins::systemd_supervisor {

enum class sup_errc { invalid, not_found, denied, timeout, error };

struct sup_error {
    sup_errc kind = sup_errc::error;
    std::string message;
};

template <class T>
using sup_result = tl::expected<T, sup_error>;

inline tl::unexpected<sup_error> sup_fail(sup_errc kind, std::string message) {
    return tl::unexpected<sup_error>(sup_error{kind, std::move(message)});
}

}  // namespace tunnelmgr::plugins::systemd_supervisor
