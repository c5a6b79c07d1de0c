// The loaded config as JSON for GET /__stub/config, so tests can prove which file a running
// stub read (for instance that a restart picked up a rewritten config.yml).
#pragma once

#include <string>

#include "stub_config.hpp"

namespace tunnelmgr::stubs::cloudflared {

// {"configPath":..,"tunnel":..,"ingress":[{"hostname":..,"path":..,"service":..,
//  "originRequest":{..}}],"originRequest":{..}}; absent keys are left out, YAML scalars keep
// their type (true, 30, "30s") unless the YAML quoted them.
std::string config_to_json(const tunnel_config& config);

}  // namespace tunnelmgr::stubs::cloudflared
