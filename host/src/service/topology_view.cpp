// See topology_view.hpp.
#include "service/topology_view.hpp"

#include <ctime>

#include <tunnelmgr/sdk/model_cname.hpp>

namespace tunnelmgr::service {

core::result<core::topology> topology_now(core_services& core, core::state_store& state) {
    auto listed = state.cname_list("{}");
    if (!listed) return core::fail(listed.error().code, "cannot read the published names: " + listed.error().message);
    auto rows = sdk::model::decode_cname_rows(*listed);
    if (!rows) return core::fail(core::errc::error, "the state store listed malformed rows: " + rows.error());

    std::vector<std::string> notes;
    std::string why_not_fresh;
    if (core.runtime) {
        auto fresh = core.runtime->snapshot();
        if (fresh) {
            auto snap = sdk::model::decode_docker_snapshot(*fresh);
            if (snap) return core::build_topology(std::move(*snap), "runtime", std::move(notes), std::move(*rows));
            why_not_fresh = "the container runtime answered a malformed snapshot (" + snap.error() + ")";
        } else {
            why_not_fresh = "the container runtime did not answer (" + fresh.error().message + ")";
        }
    } else {
        why_not_fresh = "no container runtime is running (no `runtime:` slot, or its plugin did not start)";
    }

    auto stored = state.docker_snapshot_get();
    // A store with nothing stored answers an empty snapshot whose taken_ms is null.
    if (stored && !stored->taken_ms && stored->containers.empty() && stored->networks.empty()) {
        stored = core::fail(core::errc::not_found, "nothing stored");
    }
    if (stored) {
        std::string when;
        if (stored->taken_ms) {
            const std::time_t at = static_cast<std::time_t>(*stored->taken_ms / 1000);
            std::tm utc{};
            char buf[32];
            if (gmtime_r(&at, &utc) != nullptr && std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &utc) > 0) {
                when = " (taken " + std::string(buf) + ")";
            }
        }
        notes.push_back(why_not_fresh + ": this is the last Docker snapshot the daemon stored" + when +
                        ", which does not say where cloudflared runs, so only the containers' side of each path "
                        "is checked");
        return core::build_topology(std::move(*stored), "stored", std::move(notes), std::move(*rows));
    }
    const std::string none = stored.error().code == core::errc::not_found
                                 ? "the state holds no stored Docker snapshot"
                                 : "the stored Docker snapshot cannot be read (" + stored.error().message + ")";
    notes.push_back(why_not_fresh + ", and " + none + ": the paths are not checked");
    return core::build_topology(sdk::model::docker_snapshot{}, "none", std::move(notes), std::move(*rows));
}

}  // namespace tunnelmgr::service
