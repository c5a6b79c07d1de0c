// What the core needs from the supervisor slot: is cloudflared running, and restart it — as one
// process, or as several replicas (connectors of the same tunnel, each its own unit or container
// with its own metrics address), restarted one at a time.
#pragma once

#include <string>

#include <tunnelmgr/sdk/model.hpp>

#include "core/result.hpp"

namespace tunnelmgr::core {

class tunnel_supervisor {
public:
    virtual ~tunnel_supervisor() = default;
    // An error when the supervisor could not be asked at all; a status whose `running` is empty
    // when it answered but could not tell (state "unknown"). Neither means "not running".
    // Its pid and since_ms tell the process after a restart from the one before it.
    virtual result<sdk::model::supervisor_status> status() = 0;
    // May return before the old process is gone (systemctl --no-block): the caller waits for a new
    // one (see local_ingress's apply) rather than trusting whatever answers next.
    virtual result<void> restart() = 0;

    // Replicas (tm_tunnel_supervisor_v1.replica_*, plugin API 1.2). A supervisor without them runs
    // one cloudflared: replica 0 is status()/restart(), named "" with the tunnel's metrics address.
    virtual int replica_count() { return 1; }
    struct replica {
        std::string name;     // the unit or container, e.g. cloudflared@1.service
        std::string metrics;  // its metrics HOST:PORT; "" → tunnel.metrics
    };
    virtual replica replica_info(int /*index*/) { return {}; }
    virtual result<sdk::model::supervisor_status> replica_status(int /*index*/) { return status(); }
    virtual result<void> replica_restart(int /*index*/) { return restart(); }
};

}  // namespace tunnelmgr::core
