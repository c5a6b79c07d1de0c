// A range of TCP ports a project may publish: read by the config, checked by the core.
#pragma once

#include <cstdint>

namespace tunnelmgr {

struct port_range {
    uint16_t first = 0;
    uint16_t last = 0;
    bool contains(uint32_t port) const { return port >= first && port <= last; }
};

}  // namespace tunnelmgr
