// Picks where cloudflared should send (project, port) from the Docker topology: a container name on
// a user-defined network shared with cloudflared; else a published port when cloudflared runs on
// the host (or with host networking); else a host service; else a refusal naming the exact fix.
#pragma once

#include <functional>
#include <string>

#include <tunnelmgr/sdk/model.hpp>

#include "core/target.hpp"

namespace tunnelmgr::core {

// Pure: the decision from one snapshot. A snapshot without a cloudflared placement (a stored one)
// counts as cloudflared on the host.
result<target> select_target(const sdk::model::docker_snapshot& snapshot, const std::string& project, uint32_t port);

// The same from the JSON container_runtime_v1.snapshot returns; a snapshot that does not decode is
// an error naming what is wrong, never a guess.
result<target> select_target(const std::string& snapshot_json, const std::string& project, uint32_t port);

class docker_target_selector final : public target_selector {
public:
    // `snapshot` fetches a fresh topology (the runtime plugin), `fallback` the last stored one (typed:
    // the state store decodes it). A snapshot that does not decode is logged and counts as no answer
    // from its source.
    docker_target_selector(std::function<result<std::string>()> snapshot,
                           std::function<result<sdk::model::docker_snapshot>()> fallback)
        : snapshot_(std::move(snapshot)), fallback_(std::move(fallback)) {}
    result<target> select(const std::string& project, uint32_t port) override;

private:
    std::function<result<std::string>()> snapshot_;
    std::function<result<sdk::model::docker_snapshot>()> fallback_;
};

}  // namespace tunnelmgr::core
