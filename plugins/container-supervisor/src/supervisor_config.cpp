#include "supervisor_config.hpp"

#include <set>

#include <rapidjson/document.h>

#include "engine_client.hpp"

namespace tunnelmgr::plugins::container_supervisor {

using docker_engine::docker_errc;
using docker_engine::docker_fail;

const char* const supervisor_config_schema = R"({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "container-supervisor",
  "description": "Supervises cloudflared running in a Docker container, through the Engine API on its unix socket.",
  "type": "object",
  "properties": {
    "plugin": {"const": "container-supervisor"},
    "socket": {"type": "string", "default": "/var/run/docker.sock", "description": "Path of the Docker daemon's unix socket."},
    "container": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$", "default": "cloudflared",
                  "description": "Name (or id) of the container that runs cloudflared. Or use containers for several replicas, not both."},
    "containers": {"type": "array", "minItems": 1,
                   "description": "Several cloudflared replicas of the tunnel, each a container with its own metrics address; tunnelmgr restarts them one at a time. Instead of container.",
                   "items": {"type": "object",
                             "properties": {
                               "container": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
                               "metrics": {"type": "string", "pattern": "^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$",
                                           "description": "HOST:PORT of this replica's --metrics as tunnelmgr reaches it (a published port, e.g. 127.0.0.1:20241); required with more than one replica."}},
                             "required": ["container"],
                             "additionalProperties": false}},
    "grace_s": {"type": "integer", "minimum": 0, "maximum": 600, "default": 10,
                "description": "On restart: SIGTERM, then SIGKILL after this many seconds."},
    "timeout_ms": {"type": "integer", "minimum": 100, "maximum": 600000, "default": 5000}
  },
  "additionalProperties": false
})";

std::string container_setting(const supervisor_config& config) {
    return config.listed ? "supervisor.containers" : "supervisor.container";
}

docker_engine::docker_result<supervisor_config> parse_supervisor_config(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        return docker_fail(docker_errc::invalid, "the supervisor config section must be a JSON object");
    }
    static const std::set<std::string, std::less<>> known = {"plugin", "socket", "container", "containers", "grace_s",
                                                              "timeout_ms"};
    for (const auto& m : doc.GetObject()) {
        if (known.count(std::string_view(m.name.GetString())) == 0) {
            return docker_fail(docker_errc::invalid, std::string("supervisor.") + m.name.GetString() +
                                                         " is not a container-supervisor setting (known: socket, "
                                                         "container, containers, grace_s, timeout_ms)");
        }
    }
    supervisor_config config;
    if (auto it = doc.FindMember("socket"); it != doc.MemberEnd()) {
        if (!it->value.IsString() || it->value.GetStringLength() == 0 || it->value.GetString()[0] != '/') {
            return docker_fail(docker_errc::invalid, "supervisor.socket must be the absolute path of the Docker "
                                                     "socket, e.g. /var/run/docker.sock");
        }
        config.socket = it->value.GetString();
    }
    if (auto it = doc.FindMember("container"); it != doc.MemberEnd()) {
        if (!it->value.IsString() || !docker_engine::valid_container_ref(it->value.GetString())) {
            return docker_fail(docker_errc::invalid, "supervisor.container must be a Docker container name such as "
                                                     "\"cloudflared\" (letters, digits, _ . -)");
        }
        config.containers = {{it->value.GetString(), ""}};
    }
    if (auto it = doc.FindMember("containers"); it != doc.MemberEnd()) {
        if (doc.HasMember("container")) {
            return docker_fail(docker_errc::invalid,
                               "supervisor.container and supervisor.containers are both set: use container for one "
                               "cloudflared, or list every replica in containers (and drop container)");
        }
        const replicas::list_spec spec{"supervisor.containers", "container",
                                       [](std::string_view name) { return docker_engine::valid_container_ref(name); },
                                       "a Docker container name such as \"cloudflared-1\" (letters, digits, _ . -)"};
        auto containers = replicas::parse_replica_list(it->value, spec);
        if (!containers) return docker_fail(docker_errc::invalid, containers.error());
        config.containers = std::move(*containers);
        config.listed = true;
    }
    if (auto it = doc.FindMember("grace_s"); it != doc.MemberEnd()) {
        if (!it->value.IsInt() || it->value.GetInt() < 0 || it->value.GetInt() > 600) {
            return docker_fail(docker_errc::invalid, "supervisor.grace_s must be a whole number of seconds from 0 to 600");
        }
        config.grace_s = it->value.GetInt();
    }
    if (auto it = doc.FindMember("timeout_ms"); it != doc.MemberEnd()) {
        if (!it->value.IsInt64() || it->value.GetInt64() < 100 || it->value.GetInt64() > 600000) {
            return docker_fail(docker_errc::invalid, "supervisor.timeout_ms must be a whole number from 100 to 600000");
        }
        config.timeout = std::chrono::milliseconds(it->value.GetInt64());
    }
    return config;
}

}  // namespace tunnelmgr::plugins::container_supervisor
