#include "runtime_config.hpp"

#include <set>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

namespace tunnelmgr::plugins::docker_runtime {

using docker_engine::docker_errc;
using docker_engine::docker_fail;
using docker_engine::docker_result;

const char* const runtime_config_schema = R"({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "docker-runtime",
  "description": "The Docker topology (networks, containers, ports, where cloudflared runs) from the Engine API on its unix socket.",
  "type": "object",
  "properties": {
    "plugin": {"const": "docker-runtime"},
    "socket": {"type": "string", "default": "/var/run/docker.sock", "description": "Path of the Docker daemon's unix socket."},
    "timeout_ms": {"type": "integer", "minimum": 100, "maximum": 600000, "default": 5000},
    "project_label": {"type": "string", "minLength": 1, "default": "com.supervisor.project",
                      "description": "Container label naming its project."},
    "cloudflared_names": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                          "default": ["cloudflared"],
                          "description": "A running container with one of these names, or an image of one of these names, is cloudflared."},
    "projects": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": [],
                 "description": "Known project names; a container without the label named PROJECT-... belongs to PROJECT."}
  },
  "additionalProperties": false
})";

namespace {

docker_result<std::vector<std::string>> string_list(const rapidjson::Value& doc, const char* key,
                                                    std::vector<std::string> fallback, bool non_empty) {
    auto it = doc.FindMember(key);
    if (it == doc.MemberEnd()) return fallback;
    const std::string problem = std::string("runtime.") + key + " must be a list of non-empty strings" +
                                (non_empty ? " with at least one entry" : "");
    if (!it->value.IsArray() || (non_empty && it->value.Empty())) return docker_fail(docker_errc::invalid, problem);
    std::vector<std::string> out;
    for (const auto& v : it->value.GetArray()) {
        if (!v.IsString() || v.GetStringLength() == 0) return docker_fail(docker_errc::invalid, problem);
        out.emplace_back(v.GetString());
    }
    return out;
}

}  // namespace

docker_result<runtime_config> parse_runtime_config(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        return docker_fail(docker_errc::invalid, "the runtime config section must be a JSON object");
    }
    static const std::set<std::string, std::less<>> known = {"plugin", "socket", "timeout_ms", "project_label",
                                                             "cloudflared_names", "projects"};
    for (const auto& m : doc.GetObject()) {
        if (known.count(std::string_view(m.name.GetString())) == 0) {
            return docker_fail(docker_errc::invalid, std::string("runtime.") + m.name.GetString() +
                                                         " is not a docker-runtime setting (known: socket, timeout_ms, "
                                                         "project_label, cloudflared_names, projects)");
        }
    }
    runtime_config config;
    if (auto it = doc.FindMember("socket"); it != doc.MemberEnd()) {
        if (!it->value.IsString() || it->value.GetStringLength() == 0 || it->value.GetString()[0] != '/') {
            return docker_fail(docker_errc::invalid, "runtime.socket must be the absolute path of the Docker socket, "
                                                     "e.g. /var/run/docker.sock");
        }
        config.socket = it->value.GetString();
    }
    if (auto it = doc.FindMember("timeout_ms"); it != doc.MemberEnd()) {
        if (!it->value.IsInt64() || it->value.GetInt64() < 100 || it->value.GetInt64() > 600000) {
            return docker_fail(docker_errc::invalid, "runtime.timeout_ms must be a whole number from 100 to 600000");
        }
        config.timeout = std::chrono::milliseconds(it->value.GetInt64());
    }
    if (auto it = doc.FindMember("project_label"); it != doc.MemberEnd()) {
        if (!it->value.IsString() || it->value.GetStringLength() == 0) {
            return docker_fail(docker_errc::invalid, "runtime.project_label must be a non-empty label name");
        }
        config.snapshot.project_label = it->value.GetString();
    }
    auto names = string_list(doc, "cloudflared_names", config.snapshot.cloudflared_names, true);
    if (!names) return tl::unexpected(names.error());
    config.snapshot.cloudflared_names = std::move(*names);
    auto projects = string_list(doc, "projects", {}, false);
    if (!projects) return tl::unexpected(projects.error());
    config.snapshot.projects = std::move(*projects);
    return config;
}

}  // namespace tunnelmgr::plugins::docker_runtime
