// The Docker Engine API calls tunnelmgr needs, on one unix socket: version negotiation, lists,
// inspect, restart, and the events path. Answers stay JSON text; parsing belongs to the callers.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "docker_error.hpp"
#include "unix_http.hpp"

namespace tunnelmgr::plugins::docker_engine {

// The newest Engine API version this code was written and tested against (Debian 12's dockerd).
inline constexpr std::string_view our_api_version = "1.41";
// Older daemons lack the JSON `filters` form and the events fields we read.
inline constexpr std::string_view oldest_api_version = "1.24";

// min(ours, the daemon's ApiVersion) from a GET /version answer; invalid when the daemon is too old.
docker_result<std::string> negotiate_api_version(std::string_view version_json);

// -1, 0, 1 comparing "MAJOR.MINOR" strings numerically ("1.9" < "1.41").
int compare_api_versions(std::string_view a, std::string_view b);

// Percent-encodes a query value (filters JSON, since timestamps).
std::string url_encode(std::string_view value);

// True for a plausible container name or id: [A-Za-z0-9][A-Za-z0-9_.-]*, so it can go in a path as is.
bool valid_container_ref(std::string_view ref);

// Maps an HTTP answer to its body (2xx) or an error naming the request and the daemon's message.
docker_result<std::string> interpret_answer(const http_answer& answer, std::string_view what);

class engine_client {
public:
    engine_client(std::string socket_path, std::chrono::milliseconds timeout);

    const std::string& socket_path() const { return http_.socket_path(); }
    std::chrono::milliseconds timeout() const { return timeout_; }

    // Negotiated once per connection loss: the version is forgotten after the daemon was unreachable,
    // because a restarted daemon may be a different one.
    docker_result<std::string> api_version();

    docker_result<std::string> list_networks();
    docker_result<std::string> list_containers();  // all=1: stopped containers too
    docker_result<std::string> inspect_container(std::string_view id_or_name);
    // POST /containers/{name}/restart?t=GRACE; waits up to grace + timeout for the daemon's answer.
    docker_result<void> restart_container(std::string_view name, int grace_s);

    // "/v1.41" + path, for callers that open their own stream (events).
    docker_result<std::string> versioned(std::string_view path_and_query);

private:
    docker_result<std::string> request(std::string_view method, std::string_view path_and_query,
                                       std::chrono::milliseconds timeout);

    unix_http http_;
    std::chrono::milliseconds timeout_;
    std::optional<std::string> version_;
};

}  // namespace tunnelmgr::plugins::docker_engine
