#include "event_stream.hpp"

#include <cstdlib>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine_client.hpp"

namespace tunnelmgr::plugins::docker_runtime {

std::optional<docker_event> parse_event(std::string_view line) {
    rapidjson::Document doc;
    doc.Parse(line.data(), line.size());
    if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
    docker_event event;
    auto text = [&](const rapidjson::Value& obj, const char* key) -> std::string {
        auto it = obj.FindMember(key);
        return it != obj.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : std::string();
    };
    event.type = text(doc, "Type");
    event.action = text(doc, "Action");
    if (event.type.empty() || event.action.empty()) return std::nullopt;
    auto actor = doc.FindMember("Actor");
    if (actor != doc.MemberEnd() && actor->value.IsObject()) {
        event.actor_id = text(actor->value, "ID");
        auto attrs = actor->value.FindMember("Attributes");
        if (attrs != actor->value.MemberEnd() && attrs->value.IsObject()) {
            for (const auto& m : attrs->value.GetObject()) {
                if (m.value.IsString()) event.attributes[m.name.GetString()] = m.value.GetString();
            }
        }
    }
    auto nano = doc.FindMember("timeNano");
    auto secs = doc.FindMember("time");
    if (nano != doc.MemberEnd() && nano->value.IsInt64()) {
        event.time_nano = nano->value.GetInt64();
    } else if (secs != doc.MemberEnd() && secs->value.IsInt64()) {
        event.time_nano = secs->value.GetInt64() * 1000000000;
    }
    return event;
}

void line_splitter::feed(std::string_view chunk, const std::function<void(std::string_view)>& on_line) {
    while (!chunk.empty()) {
        const auto newline = chunk.find('\n');
        const std::string_view piece = chunk.substr(0, newline);
        if (!discarding_) {
            if (buffer_.size() + piece.size() > max_line_) {
                buffer_.clear();
                discarding_ = true;
            } else {
                buffer_.append(piece);
            }
        }
        if (newline == std::string_view::npos) return;
        if (!discarding_) {
            std::string_view line(buffer_);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (!line.empty()) on_line(line);
        }
        buffer_.clear();
        discarding_ = false;
        chunk.remove_prefix(newline + 1);
    }
}

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
