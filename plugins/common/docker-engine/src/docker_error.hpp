// Errors of the Docker Engine API client as values: a kind the plugin adapters map to a tm_rc, and
// one sentence for a human that says what happened and what to do.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace tunnelmgr::plugins::docker_engine {

enum class docker_errc {
    unreachable,  // the socket is missing, refused or forbidden: dockerd down or no permission
    timeout,      // no complete answer within the timeout
    not_found,    // 404: no such container or network
    conflict,     // 409
    invalid,      // bad input or config, or a 400 from the daemon
    error,        // anything else: unexpected answer, 5xx, malformed JSON
};

struct docker_error {
    docker_errc kind = docker_errc::error;
    std::string message;
};

template <class T>
using docker_result = tl::expected<T, docker_error>;

inline tl::unexpected<docker_error> docker_fail(docker_errc kind, std::string message) {
    return tl::unexpected<docker_error>(docker_error{kind, std::move(message)});
}

}  // namespace tunnelmgr::plugins::docker_engine
