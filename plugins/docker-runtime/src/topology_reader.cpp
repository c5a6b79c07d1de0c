#include "topology_reader.hpp"

#include <vector>

#include <rapidjson/document.h>

namespace tunnelmgr::plugins::docker_runtime {

using docker_engine::docker_errc;
using docker_engine::docker_fail;
using docker_engine::docker_result;

docker_result<std::string> topology_reader::snapshot() {
    auto version = client_.api_version();
    if (!version) return tl::unexpected(version.error());
    auto networks = client_.list_networks();
    if (!networks) return tl::unexpected(networks.error());
    auto list = client_.list_containers();
    if (!list) return tl::unexpected(list.error());

    rapidjson::Document doc;
    doc.Parse(list->c_str(), list->size());
    if (doc.HasParseError() || !doc.IsArray()) {
        return docker_fail(docker_errc::error, "the Docker daemon's GET /containers/json answer is not a JSON array");
    }
    // The list lacks aliases and port bindings of stopped containers, so each one is inspected.
    std::vector<std::string> inspects;
    inspects.reserve(doc.Size());
    for (const auto& c : doc.GetArray()) {
        auto id = c.FindMember("Id");
        if (id == c.MemberEnd() || !id->value.IsString()) continue;
        auto inspect = client_.inspect_container(id->value.GetString());
        if (!inspect) {
            if (inspect.error().kind == docker_errc::not_found) continue;
            return tl::unexpected(inspect.error());
        }
        inspects.push_back(std::move(*inspect));
    }
    return build_snapshot(*networks, inspects, *version, options_);
}

}  // namespace tunnelmgr::plugins::docker_runtime
