// The tm_dns_provider_v1 table of one instance as plain calls returning outcomes, so the dns suite
// reads like the rules it checks.
#pragma once

#include <string>

#include "plugin_check/plugin_call.hpp"

namespace tunnelmgr::plugin_check {

class dns_calls {
public:
    explicit dns_calls(host::plugin_instance& inst) : inst_(inst), t_(inst.library().dns) {}

    outcome list_zones() { return call_plugin(inst_, [&](const char** o) { return t_.list_zones(h(), o); }); }
    outcome find_record(const std::string& zone_id, const std::string& hostname, const std::string& type = "CNAME") {
        return call_plugin(inst_, [&](const char** o) {
            return t_.find_record(h(), zone_id.c_str(), hostname.c_str(), type.c_str(), o);
        });
    }
    outcome create_record(const std::string& zone_id, const std::string& record_json) {
        return call_plugin(inst_, [&](const char** o) {
            return t_.create_record(h(), zone_id.c_str(), record_json.c_str(), o);
        });
    }
    outcome delete_record(const std::string& zone_id, const std::string& record_id, const std::string& expected_comment) {
        return call_plugin(inst_, [&] {
            return t_.delete_record(h(), zone_id.c_str(), record_id.c_str(), expected_comment.c_str());
        });
    }
    bool has_tunnel_config() const { return t_.put_tunnel_config != nullptr && t_.get_tunnel_config != nullptr; }
    outcome put_tunnel_config(const std::string& tunnel_id, const std::string& config_json) {
        return call_plugin(inst_, [&] { return t_.put_tunnel_config(h(), tunnel_id.c_str(), config_json.c_str()); });
    }
    outcome get_tunnel_config(const std::string& tunnel_id) {
        return call_plugin(inst_, [&](const char** o) { return t_.get_tunnel_config(h(), tunnel_id.c_str(), o); });
    }

    bool has_list_records() const { return t_.list_records != nullptr; }
    outcome list_records(const std::string& zone_id, const std::string& comment_prefix) {
        return call_plugin(inst_, [&](const char** o) {
            return t_.list_records(h(), zone_id.c_str(), comment_prefix.c_str(), o);
        });
    }

private:
    tm_plugin_t* h() const { return inst_.handle(); }
    host::plugin_instance& inst_;
    const tm_dns_provider_v1& t_;
};

}  // namespace tunnelmgr::plugin_check
