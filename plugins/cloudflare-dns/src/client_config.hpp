// The `dns:` section of tunnelmgr's config for the cloudflare-dns plugin: parsed, checked, and the
// API token loaded (from a file or an environment variable) once, at init.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "cf_error.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {

struct client_config {
    std::string api_base = "https://api.cloudflare.com/client/v4";  // no trailing slash
    std::string api_token;     // the secret itself; never logged, never in a message
    std::string token_source;  // "api_token_file (/etc/tunnelmgr/cloudflare-token)" or "api_token_env (CF_TOKEN)"
    std::string account_id;    // empty: no remote tunnel configuration
    std::string ca_file;       // empty: the system's CA bundle
    std::chrono::milliseconds timeout{15000};
    int max_retries = 5;
    std::size_t budget_per_5min = 1000;
    // How long a successful token check is remembered across starts (token_memo); 0: check at every start.
    std::chrono::seconds token_memo{600};
};

// Parses the section (the host passes it without, or with, "plugin") and reads the token.
// Errors are sentences naming the key to fix (kind invalid).
cf_result<client_config> parse_client_config(std::string_view json);

// The JSON Schema (draft 2020-12) published through TM_PLUGIN.
extern const char* const client_config_schema;

}  // namespace tunnelmgr::plugins::cloudflare_dns
