// The cloudflared replicas a supervisor's config lists (`units:` in systemd-supervisor,
// `containers:` in container-supervisor): one shape, parsed by one function for both plugins.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <tl/expected.hpp>

namespace tunnelmgr::plugins::replicas {

// One replica as the config names it.
struct replica_ref {
    std::string name;     // the unit or container
    std::string metrics;  // its metrics address "HOST:PORT"; "" when the config gives none
};

// HOST:PORT, HOST a name or IPv4 address or a [bracketed] IPv6 address, PORT 1-65535 — an address
// cloudflared's --metrics accepts and the host can read /ready from.
bool is_metrics_address(std::string_view address);

// What differs between the two plugins' lists.
struct list_spec {
    std::string setting;                               // "supervisor.units", for messages
    std::string name_key;                              // "unit" or "container"
    std::function<bool(std::string_view)> valid_name;  // the plugin's own rule for a name
    std::string name_rule;                             // that rule in words, e.g. a systemd unit name such as "cloudflared@1.service"
};

// Parses [{NAME_KEY: NAME, "metrics": "HOST:PORT"}, ...]: at least one entry, no other keys, no
// name twice, and — with more than one entry — a metrics address in each, no two alike (the host
// tells each replica's readiness, and its new instance after a restart, only there). An error is a
// sentence naming the setting and the entry to fix.
tl::expected<std::vector<replica_ref>, std::string> parse_replica_list(const rapidjson::Value& list,
                                                                       const list_spec& spec);

}  // namespace tunnelmgr::plugins::replicas
