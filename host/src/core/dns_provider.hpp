// What the core needs from the DNS slot (Cloudflare in the stock plugin). JSON shapes as in
// plugin_api.h's tm_dns_provider_v1.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tunnelmgr::core {

class dns_provider {
public:
    virtual ~dns_provider() = default;
    virtual result<std::string> list_zones() = 0;
    virtual result<std::string> find_record(std::string_view zone_id, std::string_view hostname, std::string_view type) = 0;
    virtual result<std::string> create_record(std::string_view zone_id, std::string_view record_json) = 0;
    virtual result<void> delete_record(std::string_view zone_id, std::string_view record_id,
                                       std::string_view expected_comment) = 0;
    virtual bool supports_tunnel_config() const = 0;
    // config_json: {"config":{"ingress":[...],...},"version":N}. "version" (the version read; send it
    // only to a provider whose get_tunnel_config reported one) asks for a check: when the PUT did not
    // make version N + 1, another write came in between and the answer is errc::conflict, though
    // this configuration is stored.
    virtual result<void> put_tunnel_config(std::string_view tunnel_id, std::string_view config_json) = 0;
    // {"config":{...},"version":N}; "version" is missing when the provider does not report one.
    virtual result<std::string> get_tunnel_config(std::string_view tunnel_id) = 0;
    // Every record in zone_id whose comment starts with comment_prefix (Cloudflare:
    // comment.startswith), every page followed, as a JSON array of find_record's objects, each with a
    // string "name". Optional in dns_provider_v1 (list_records, since plugin API 1.2): callers check
    // supports_list_records() and otherwise look names up one by one with find_record.
    virtual bool supports_list_records() const { return false; }
    virtual result<std::string> list_records(std::string_view /*zone_id*/, std::string_view /*comment_prefix*/) {
        return fail(errc::invalid, "the DNS plugin cannot list records by comment");
    }
};

}  // namespace tunnelmgr::core
