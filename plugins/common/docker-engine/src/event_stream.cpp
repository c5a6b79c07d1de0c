#include "event_stream.hpp"

#include <rapidjson/document.h>

namespace tunnelmgr::plugins::docker_engine {

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

}  // namespace tunnelmgr::plugins::docker_engine
