// See store_calls.hpp.
#include "plugin_check/store_calls.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tunnelmgr::plugin_check {

std::string cname_row_json(const std::string& subdomain, const std::string& domain, const std::string& project,
                           int port) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    const std::string hostname = subdomain + "." + domain;
    const std::string target = "http://localhost:" + std::to_string(port);
    w.StartObject();
    w.Key("hostname"); w.String(hostname.c_str());
    w.Key("subdomain"); w.String(subdomain.c_str());
    w.Key("domain"); w.String(domain.c_str());
    w.Key("project"); w.String(project.c_str());
    w.Key("port"); w.Int(port);
    w.Key("target"); w.String(target.c_str());
    w.Key("target_type"); w.String("host");
    w.Key("container_name"); w.Null();
    w.Key("docker_network"); w.Null();
    w.Key("dns_record_id"); w.String("rec-check");
    w.Key("zone_id"); w.String("zone-check");
    w.EndObject();
    return buf.GetString();
}

std::string operation_json(const std::string& kind, const std::string& hostname, const std::string& project,
                           int port) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("kind"); w.String(kind.c_str());
    w.Key("hostname"); w.String(hostname.c_str());
    w.Key("project"); w.String(project.c_str());
    w.Key("request"); w.StartObject(); w.Key("port"); w.Int(port); w.EndObject();
    w.EndObject();
    return buf.GetString();
}

}  // namespace tunnelmgr::plugin_check
