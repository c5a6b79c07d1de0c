// cloudflared's own ingress rules (ingress/ingress.go), checked before any file is written, so a
// change tunnelmgr makes can never stop cloudflared from starting.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace tunnelmgr::core {

struct ingress_rule {
    std::string hostname;  // "" or "*" with no path: catch-all
    std::string path;      // a regular expression (RE2 in cloudflared)
    std::string service;
};

// Empty when `service` is a valid cloudflared origin; else the reason.
std::string check_service(const std::string& service);

// Checks a whole rule list as `cloudflared tunnel ingress validate` would. The error names the
// rule's number (1-based) and what to change.
result<void> validate_ingress(const std::vector<ingress_rule>& rules);

}  // namespace tunnelmgr::core
