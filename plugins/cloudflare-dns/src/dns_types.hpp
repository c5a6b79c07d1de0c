// The values the Cloudflare client trades in: zones, DNS records, and a tunnel CNAME to create.
// Plain structs with no ABI and no JSON types; dns_json turns them into the ABI's JSON shapes.
#pragma once

#include <optional>
#include <string>

namespace tunnelmgr::plugins::cloudflare_dns {

struct zone_info {
    std::string zone_id;
    std::string name;
    std::string status;
};

struct dns_record {
    std::string id;
    std::string name;
    std::string type;
    std::string content;
    bool proxied = false;
    std::optional<std::string> comment;  // nullopt: the record has no comment
};

// A proxied CNAME to a tunnel: name → content (<tunnel-uuid>.cfargotunnel.com), comment = ownership marker.
struct new_cname {
    std::string name;
    std::string content;
    std::optional<std::string> comment;
};

}  // namespace tunnelmgr::plugins::cloudflare_dns
