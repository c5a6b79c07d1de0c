#include "container_status.hpp"

#include <cstdlib>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "docker_time.hpp"
#include "engine_client.hpp"

namespace tunnelmgr::plugins::container_supervisor {

using docker_engine::docker_errc;
using docker_engine::docker_fail;

namespace {

std::string text(const rapidjson::Value& obj, const char* key) {
    if (!obj.IsObject()) return {};
    auto it = obj.FindMember(key);
    return it != obj.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : std::string();
}

int64_t integer(const rapidjson::Value& obj, const char* key) {
    if (!obj.IsObject()) return 0;
    auto it = obj.FindMember(key);
    return it != obj.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
}

bool flag(const rapidjson::Value& obj, const char* key) {
    if (!obj.IsObject()) return false;
    auto it = obj.FindMember(key);
    return it != obj.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

}  // namespace

docker_engine::docker_result<std::string> status_from_inspect(std::string_view inspect_json,
                                                              const std::string& container) {
    rapidjson::Document doc;
    doc.Parse(inspect_json.data(), inspect_json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        return docker_fail(docker_errc::error, "the Docker daemon's inspect answer for " + container + " is not JSON");
    }
    static const rapidjson::Value empty(rapidjson::kObjectType);
    auto state_it = doc.FindMember("State");
    const rapidjson::Value& state = state_it != doc.MemberEnd() ? state_it->value : empty;
    auto config_it = doc.FindMember("Config");
    const std::string image = config_it != doc.MemberEnd() ? text(config_it->value, "Image") : std::string();

    const bool running = flag(state, "Running");
    const bool restarting = flag(state, "Restarting");
    const bool paused = flag(state, "Paused");
    const int64_t pid = integer(state, "Pid");
    const int64_t exit_code = integer(state, "ExitCode");
    std::string status = text(state, "Status");
    if (status.empty()) status = running ? "running" : "exited";
    const std::string started_at = text(state, "StartedAt");
    const std::string finished_at = text(state, "FinishedAt");
    const auto since = docker_engine::rfc3339_to_unix_ms(running ? started_at : finished_at);
    const std::string error = text(state, "Error");
    std::string health;
    if (auto h = state.FindMember("Health"); h != state.MemberEnd()) health = text(h->value, "Status");

    // "running" means the process can serve: a paused container is neither dead nor serving.
    const bool serving = running && !paused && !restarting;
    std::string detail = "container " + container + (image.empty() ? "" : " (image " + image + ")");
    if (serving) {
        detail += " running since " + started_at + " with pid " + std::to_string(pid);
        if (!health.empty()) detail += ", health " + health;
    } else if (paused) {
        detail += " is paused: run docker unpause " + container;
    } else if (restarting) {
        detail += " is restarting (Docker's restart policy)";
    } else if (status == "created") {
        detail += " was created but never started";
    } else {
        detail += " is " + status + (finished_at.empty() ? "" : " since " + finished_at) + " with exit code " +
                  std::to_string(exit_code);
        if (flag(state, "OOMKilled")) detail += " (killed for lack of memory)";
        if (!error.empty()) detail += ": " + error;
    }

    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("running");
    w.Bool(serving);
    w.Key("pid");
    if (running && pid > 0) {
        w.Int64(pid);
    } else {
        w.Null();
    }
    w.Key("state");
    w.String(status.c_str());
    w.Key("since_ms");
    if (since) {
        w.Int64(*since);
    } else {
        w.Null();
    }
    w.Key("detail");
    w.String(detail.c_str());
    w.Key("container");
    w.String(container.c_str());
    w.Key("id");
    w.String(text(doc, "Id").c_str());
    w.Key("exit_code");
    if (!running && status != "created") {
        w.Int64(exit_code);
    } else {
        w.Null();
    }
    w.Key("restart_count");
    w.Int64(integer(doc, "RestartCount"));
    w.EndObject();
    return std::string(buffer.GetString(), buffer.GetSize());
}

std::optional<std::pair<std::string, std::string>> supervisor_event_for(const docker_engine::docker_event& event,
                                                                        const std::vector<replicas::replica_ref>& containers) {
    if (event.type != "container" || (event.action != "die" && event.action != "start")) return std::nullopt;
    // The daemon's container filter also matches ids; accept the name, else the full id or an id prefix.
    std::optional<std::size_t> replica;
    for (std::size_t i = 0; i < containers.size() && !replica; ++i) {
        if (event.attribute("name") == containers[i].name) replica = i;
    }
    for (std::size_t i = 0; i < containers.size() && !replica; ++i) {
        if (!event.actor_id.empty() && event.actor_id.rfind(containers[i].name, 0) == 0) replica = i;
    }
    if (!replica) return std::nullopt;
    const std::string& container = containers[*replica].name;
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("container");
    w.String(container.c_str());
    w.Key("name");
    w.String(container.c_str());
    w.Key("replica");
    w.Int64(static_cast<int64_t>(*replica));
    w.Key("id");
    w.String(event.actor_id.c_str());
    if (event.action == "die") {
        w.Key("exit_code");
        const std::string code = event.attribute("exitCode");
        if (code.empty()) {
            w.Null();
        } else {
            w.Int64(std::strtoll(code.c_str(), nullptr, 10));
        }
    }
    w.Key("time_ms");
    w.Int64(event.time_ms());
    w.EndObject();
    return std::make_pair(std::string(event.action == "die" ? "tunnel.died" : "tunnel.started"),
                          std::string(buffer.GetString(), buffer.GetSize()));
}

std::string supervisor_event_filters(const std::vector<replicas::replica_ref>& containers) {
    std::string names;
    for (const auto& c : containers) names += (names.empty() ? "\"" : ",\"") + c.name + "\"";
    return docker_engine::url_encode(R"({"type":["container"],"event":["start","die"],"container":[)" + names + "]}");
}

std::string missing_container_sentence(const std::string& container, const std::string& socket,
                                       const std::string& setting) {
    return "there is no container named " + container + " on the Docker daemon at " + socket +
           ": create it (docker run -d --name " + container +
           " ... cloudflared tunnel run), or set " + setting + " to the name of the container that runs cloudflared";
}

}  // namespace tunnelmgr::plugins::container_supervisor
