#include "runtime_events.hpp"

#include <cstdlib>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine_client.hpp"

namespace tunnelmgr::plugins::docker_runtime {

using docker_engine::docker_event;
using docker_engine::url_encode;

std::optional<std::pair<std::string, std::string>> runtime_event_for(const docker_event& event,
                                                                     const std::string& project_label) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    std::string type;
    if (event.type == "container" && (event.action == "start" || event.action == "die")) {
        type = "container." + event.action;
        w.StartObject();
        w.Key("id");
        w.String(event.actor_id.c_str());
        w.Key("name");
        w.String(event.attribute("name").c_str());
        w.Key("image");
        w.String(event.attribute("image").c_str());
        w.Key("project");
        const std::string project = event.attribute(project_label);
        if (project.empty()) {
            w.Null();
        } else {
            w.String(project.c_str());
        }
        if (event.action == "die") {
            w.Key("exit_code");
            const std::string code = event.attribute("exitCode");
            if (code.empty()) {
                w.Null();
            } else {
                w.Int64(std::strtoll(code.c_str(), nullptr, 10));
            }
        }
    } else if (event.type == "network" && (event.action == "connect" || event.action == "disconnect")) {
        type = "network." + event.action;
        w.StartObject();
        w.Key("network_id");
        w.String(event.actor_id.c_str());
        w.Key("network");
        w.String(event.attribute("name").c_str());
        w.Key("container_id");
        w.String(event.attribute("container").c_str());
    } else {
        return std::nullopt;
    }
    w.Key("time_ms");
    w.Int64(event.time_ms());
    w.EndObject();
    return std::make_pair(type, std::string(buffer.GetString(), buffer.GetSize()));
}

std::string runtime_event_filters() {
    return url_encode(R"({"type":["container","network"],"event":["start","die","connect","disconnect"]})");
}

}  // namespace tunnelmgr::plugins::docker_runtime
