// What the core needs from the supervisor slot: is cloudflared running, and restart it.
#pragma once

#include <string>

#include "core/result.hpp"

namespace tunnelmgr::core {

class tunnel_supervisor {
public:
    virtual ~tunnel_supervisor() = default;
    // {"running":bool,"pid":int|null,"state":"...","since_ms":int|null,"detail":"..."}
    virtual result<std::string> status() = 0;
    virtual result<void> restart() = 0;
};

}  // namespace tunnelmgr::core
