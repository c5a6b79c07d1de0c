// Where cloudflared should send a hostname's traffic, for (project, port). The Docker-aware
// selector arrives with the runtime slot; without one, every target is a service on this host.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.hpp"

namespace tunnelmgr::core {

struct target {
    std::string service;  // the ingress service URL, e.g. http://app:3100
    std::string type;     // container | host_port | host
    std::string container_name;
    std::string docker_network;
    std::string reason;   // one sentence on why this target was chosen
    // Where this machine can reach the same service to check it answers ("HOST:PORT"; the container's
    // IP for a container target); empty when it cannot be reached from here.
    std::string probe_address;
};

class target_selector {
public:
    virtual ~target_selector() = default;
    virtual result<target> select(const std::string& project, uint32_t port) = 0;
};

// No runtime slot: the port is a service on this host, reached as localhost by a host cloudflared.
class host_target_selector final : public target_selector {
public:
    result<target> select(const std::string&, uint32_t port) override {
        return target{"http://localhost:" + std::to_string(port), "host", "", "",
                      "no container runtime is configured, so port " + std::to_string(port) +
                          " is taken as a service on this host",
                      "127.0.0.1:" + std::to_string(port)};
    }
};

}  // namespace tunnelmgr::core
