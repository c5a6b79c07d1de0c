// What the core needs from the supervisor slot: is cloudflared running, and restart it.
#pragma once

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
};

}  // namespace tunnelmgr::core
