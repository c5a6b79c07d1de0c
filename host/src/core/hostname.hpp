// The rules a requested name must pass before anything is asked of Cloudflare: one RFC 1123
// label (folded to lower case), a full name of at most 253 characters.
#pragma once

#include <string>

#include "core/result.hpp"

namespace tunnelmgr::core {

// "App" → "app"; refuses empty, too long, bad characters, leading/trailing '-', dots and '*'.
result<std::string> normalize_label(const std::string& subdomain);

// "Example.COM." → "example.com"; refuses what cannot be a DNS name.
result<std::string> normalize_domain(const std::string& domain);

// subdomain + "." + domain, refusing names over 253 characters.
result<std::string> join_hostname(const std::string& label, const std::string& domain);

}  // namespace tunnelmgr::core
