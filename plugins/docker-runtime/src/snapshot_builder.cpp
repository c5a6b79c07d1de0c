// Decisions encoded here, each from FACTS.md/ARCHITECTURE.md: ports come from NetworkSettings.Ports
// while running and from HostConfig.PortBindings otherwise; only a *running* container counts as
// cloudflared; a project is never guessed from "the first container".
#include "snapshot_builder.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>

#include <rapidjson/document.h>

namespace tunnelmgr::plugins::docker_runtime {

using docker_engine::docker_errc;
using docker_engine::docker_fail;
using docker_engine::docker_result;
namespace model = sdk::model;
namespace {

std::string text(const rapidjson::Value& obj, const char* key) {
    if (!obj.IsObject()) return {};
    auto it = obj.FindMember(key);
    return it != obj.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength())
                                                         : std::string();
}

const rapidjson::Value* member(const rapidjson::Value& obj, const char* key) {
    if (!obj.IsObject()) return nullptr;
    auto it = obj.FindMember(key);
    return it == obj.MemberEnd() ? nullptr : &it->value;
}

// The Engine API says "" for "none"; the snapshot says null.
std::optional<std::string> unless_empty(std::string s) {
    if (s.empty()) return std::nullopt;
    return s;
}

// A network as the snapshot shows it, plus its IPAM gateway (the host as seen from that network).
struct network_info {
    model::docker_network network;
    std::string gateway;
};

// A container as the snapshot shows it, plus State.Running (a paused container runs but its
// Status says "paused").
struct container_info {
    model::docker_container container;
    bool running = false;
};

// "80/tcp" → (80, "tcp"); false for anything else.
bool split_port_key(std::string_view key, int64_t& port, std::string& protocol) {
    const auto slash = key.find('/');
    const std::string number(key.substr(0, slash));
    char* end = nullptr;
    const long n = std::strtol(number.c_str(), &end, 10);
    if (number.empty() || *end != '\0' || n <= 0 || n > 65535) return false;
    port = n;
    protocol = slash == std::string_view::npos ? "tcp" : std::string(key.substr(slash + 1));
    return true;
}

// A PortMap ({"80/tcp":[{"HostIp","HostPort"}]|null}) into ports.
void read_port_map(const rapidjson::Value* map, std::vector<model::docker_port>& out) {
    if (map == nullptr || !map->IsObject()) return;
    for (const auto& m : map->GetObject()) {
        model::docker_port base;
        if (!split_port_key(m.name.GetString(), base.container_port, base.protocol)) continue;
        if (!m.value.IsArray() || m.value.Empty()) {
            out.push_back(base);  // exposed, not published
            continue;
        }
        for (const auto& binding : m.value.GetArray()) {
            model::docker_port p = base;
            p.host_ip = unless_empty(text(binding, "HostIp"));
            const std::string host_port = text(binding, "HostPort");
            char* end = nullptr;
            const long n = std::strtol(host_port.c_str(), &end, 10);
            if (!host_port.empty() && *end == '\0' && n > 0 && n <= 65535) p.host_port = n;
            out.push_back(p);
        }
    }
}

// The fields of one container that need no decision: identity, state, labels and the project.
container_info read_identity(const rapidjson::Value& doc, const snapshot_options& options) {
    container_info info;
    model::docker_container& c = info.container;
    c.id = text(doc, "Id");
    c.name = text(doc, "Name");
    if (!c.name.empty() && c.name.front() == '/') c.name.erase(0, 1);
    const rapidjson::Value* config = member(doc, "Config");
    const rapidjson::Value* state = member(doc, "State");
    const rapidjson::Value* host_config = member(doc, "HostConfig");
    if (config != nullptr) c.image = text(*config, "Image");
    if (c.image.empty()) c.image = text(doc, "Image");
    if (state != nullptr) {
        c.state = text(*state, "Status");
        const rapidjson::Value* running = member(*state, "Running");
        info.running = running != nullptr && running->IsBool() && running->GetBool();
    }
    if (host_config != nullptr) c.network_mode = text(*host_config, "NetworkMode");
    if (const rapidjson::Value* labels = config != nullptr ? member(*config, "Labels") : nullptr;
        labels != nullptr && labels->IsObject()) {
        for (const auto& m : labels->GetObject()) {
            if (m.value.IsString()) c.labels[m.name.GetString()] = m.value.GetString();
        }
    }
    auto label = c.labels.find(options.project_label);
    c.project = unless_empty(project_of(c.name, label == c.labels.end() ? std::string() : label->second, options.projects));
    return info;
}

// NetworkSettings.Networks, sorted by network name.
std::vector<model::docker_endpoint> read_endpoints(const rapidjson::Value& doc) {
    std::vector<model::docker_endpoint> endpoints;
    const rapidjson::Value* settings = member(doc, "NetworkSettings");
    if (const rapidjson::Value* networks = settings != nullptr ? member(*settings, "Networks") : nullptr;
        networks != nullptr && networks->IsObject()) {
        for (const auto& m : networks->GetObject()) {
            model::docker_endpoint e;
            e.network = m.name.GetString();
            e.network_id = text(m.value, "NetworkID");
            e.ip = unless_empty(text(m.value, "IPAddress"));
            e.gateway = unless_empty(text(m.value, "Gateway"));
            if (const rapidjson::Value* aliases = member(m.value, "Aliases"); aliases != nullptr && aliases->IsArray()) {
                for (const auto& a : aliases->GetArray()) {
                    if (a.IsString()) e.aliases.emplace_back(a.GetString());
                }
            }
            endpoints.push_back(std::move(e));
        }
    }
    std::sort(endpoints.begin(), endpoints.end(),
              [](const model::docker_endpoint& a, const model::docker_endpoint& b) { return a.network < b.network; });
    return endpoints;
}

// Published ports live in NetworkSettings.Ports only while the container runs; before that (and
// after it stops) the intent is in HostConfig.PortBindings, plus Config.ExposedPorts unbound.
std::vector<model::docker_port> read_ports(const rapidjson::Value& doc, bool running) {
    std::vector<model::docker_port> ports;
    if (running) {
        const rapidjson::Value* settings = member(doc, "NetworkSettings");
        read_port_map(settings != nullptr ? member(*settings, "Ports") : nullptr, ports);
    } else {
        const rapidjson::Value* host_config = member(doc, "HostConfig");
        const rapidjson::Value* config = member(doc, "Config");
        read_port_map(host_config != nullptr ? member(*host_config, "PortBindings") : nullptr, ports);
        if (const rapidjson::Value* exposed = config != nullptr ? member(*config, "ExposedPorts") : nullptr;
            exposed != nullptr && exposed->IsObject()) {
            for (const auto& m : exposed->GetObject()) {
                model::docker_port p;
                if (!split_port_key(m.name.GetString(), p.container_port, p.protocol)) continue;
                const bool bound = std::any_of(ports.begin(), ports.end(), [&](const model::docker_port& q) {
                    return q.container_port == p.container_port && q.protocol == p.protocol;
                });
                if (!bound) ports.push_back(p);
            }
        }
    }
    std::sort(ports.begin(), ports.end(), [](const model::docker_port& a, const model::docker_port& b) {
        if (a.container_port != b.container_port) return a.container_port < b.container_port;
        if (a.protocol != b.protocol) return a.protocol < b.protocol;
        return a.host_ip.value_or("") < b.host_ip.value_or("");
    });
    return ports;
}

docker_result<container_info> read_container(const std::string& json, const snapshot_options& options) {
    rapidjson::Document doc;
    doc.Parse(json.c_str(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        return docker_fail(docker_errc::error, "the Docker daemon's container inspect answer is not a JSON object");
    }
    container_info info = read_identity(doc, options);
    info.container.networks = read_endpoints(doc);
    info.container.ports = read_ports(doc, info.running);
    return info;
}

// GET /networks, sorted by name; networks without a name are dropped.
docker_result<std::vector<network_info>> read_networks(std::string_view networks_json) {
    rapidjson::Document nets;
    nets.Parse(networks_json.data(), networks_json.size());
    if (nets.HasParseError() || !nets.IsArray()) {
        return docker_fail(docker_errc::error, "the Docker daemon's GET /networks answer is not a JSON array");
    }
    std::vector<network_info> networks;
    for (const auto& n : nets.GetArray()) {
        network_info info;
        model::docker_network& net = info.network;
        net.id = text(n, "Id");
        net.name = text(n, "Name");
        net.driver = text(n, "Driver");
        net.scope = text(n, "Scope");
        const rapidjson::Value* internal = member(n, "Internal");
        net.internal = internal != nullptr && internal->IsBool() && internal->GetBool();
        net.user_defined = is_user_defined_network(net.name);
        if (const rapidjson::Value* ipam = member(n, "IPAM"); ipam != nullptr) {
            if (const rapidjson::Value* configs = member(*ipam, "Config"); configs != nullptr && configs->IsArray()) {
                for (const auto& cfg : configs->GetArray()) {
                    if (info.gateway.empty()) info.gateway = text(cfg, "Gateway");
                }
            }
        }
        if (!net.name.empty()) networks.push_back(std::move(info));
    }
    std::sort(networks.begin(), networks.end(),
              [](const network_info& a, const network_info& b) { return a.network.name < b.network.name; });
    return networks;
}

// Every inspect answer, sorted by container name; the first malformed one fails the snapshot.
docker_result<std::vector<container_info>> read_containers(const std::vector<std::string>& inspects,
                                                           const snapshot_options& options) {
    std::vector<container_info> containers;
    containers.reserve(inspects.size());
    for (const auto& json : inspects) {
        auto c = read_container(json, options);
        if (!c) return tl::unexpected(c.error());
        containers.push_back(std::move(*c));
    }
    std::sort(containers.begin(), containers.end(),
              [](const container_info& a, const container_info& b) { return a.container.name < b.container.name; });
    return containers;
}

bool names_cloudflared(const model::docker_container& c, const std::vector<std::string>& names, bool by_image) {
    const std::string subject = by_image ? image_base_name(c.image) : c.name;
    return std::find(names.begin(), names.end(), subject) != names.end();
}

struct cloudflared_found {
    const model::docker_container* container = nullptr;  // the running cloudflared container; nullptr: on the host
    bool host_network = false;
    std::vector<std::string> stopped;
};

// A running container named like cloudflared wins over one whose image is; stopped ones are only
// listed, because a stopped cloudflared reaches nothing.
cloudflared_found find_cloudflared(const std::vector<container_info>& containers, const std::vector<std::string>& names) {
    cloudflared_found found;
    for (bool by_image : {false, true}) {
        for (const auto& info : containers) {
            const model::docker_container& c = info.container;
            if (!names_cloudflared(c, names, by_image)) continue;
            if (info.running) {
                if (found.container == nullptr) found.container = &c;
            } else if (std::find(found.stopped.begin(), found.stopped.end(), c.name) == found.stopped.end()) {
                found.stopped.push_back(c.name);
            }
        }
    }
    found.host_network = found.container != nullptr && found.container->network_mode == "host";
    return found;
}

model::cloudflared_placement placement_of(const cloudflared_found& found) {
    model::cloudflared_placement cf;
    cf.where = found.container != nullptr ? "container" : "host";
    if (found.container != nullptr) cf.container = found.container->name;
    if (found.container != nullptr && !found.host_network) {
        for (const auto& e : found.container->networks) cf.networks.push_back(e.network);
    }
    cf.host_network = found.host_network;
    cf.stopped = found.stopped;
    return cf;
}

// The host as seen from cloudflared's container: the gateway of its network; failing that, the
// default bridge's gateway (where a plain `docker run` would put it).
std::string host_gateway_for(const cloudflared_found& cloudflared, const std::vector<network_info>& networks) {
    std::string host_gateway;
    // An internal network has no route out, so its gateway is the last resort.
    if (cloudflared.container != nullptr && !cloudflared.host_network) {
        for (bool allow_internal : {false, true}) {
            for (const auto& e : cloudflared.container->networks) {
                const auto net = std::find_if(networks.begin(), networks.end(),
                                              [&](const network_info& n) { return n.network.name == e.network; });
                const bool internal = net != networks.end() && net->network.internal;
                const std::string gateway = e.gateway.value_or("");
                if (!gateway.empty() && (allow_internal || !internal) && host_gateway.empty()) host_gateway = gateway;
            }
        }
    }
    if (host_gateway.empty() && !cloudflared.host_network) {
        for (const auto& n : networks) {
            if (n.network.name == "bridge") host_gateway = n.gateway;
        }
    }
    return host_gateway;
}

}  // namespace

bool is_user_defined_network(std::string_view name) { return model::is_user_defined_network(name); }

std::string project_of(std::string_view name, const std::string& label_value, const std::vector<std::string>& projects) {
    if (!label_value.empty()) return label_value;
    std::string best;
    for (const auto& p : projects) {
        if (p.empty() || name.size() <= p.size() + 1) continue;
        if (name.substr(0, p.size()) == p && name[p.size()] == '-' && p.size() > best.size()) best = p;
    }
    return best;
}

std::string image_base_name(std::string_view image) {
    if (const auto at = image.find('@'); at != std::string_view::npos) image = image.substr(0, at);
    if (const auto slash = image.rfind('/'); slash != std::string_view::npos) image = image.substr(slash + 1);
    if (const auto colon = image.find(':'); colon != std::string_view::npos) image = image.substr(0, colon);
    return std::string(image);
}

docker_result<model::docker_snapshot> build_topology(std::string_view networks_json,
                                                     const std::vector<std::string>& inspects,
                                                     std::string_view api_version, const snapshot_options& options) {
    auto networks = read_networks(networks_json);
    if (!networks) return tl::unexpected(networks.error());
    auto containers = read_containers(inspects, options);
    if (!containers) return tl::unexpected(containers.error());

    const cloudflared_found cloudflared = find_cloudflared(*containers, options.cloudflared_names);
    model::docker_snapshot snap;
    snap.host_gateway = unless_empty(host_gateway_for(cloudflared, *networks));
    snap.cloudflared = placement_of(cloudflared);  // before the containers move: it points into them
    snap.api_version = std::string(api_version);
    for (auto& n : *networks) snap.networks.push_back(std::move(n.network));
    for (auto& c : *containers) snap.containers.push_back(std::move(c.container));
    return snap;
}

docker_result<std::string> build_snapshot(std::string_view networks_json, const std::vector<std::string>& inspects,
                                          std::string_view api_version, const snapshot_options& options) {
    auto snap = build_topology(networks_json, inspects, api_version, options);
    if (!snap) return tl::unexpected(snap.error());
    return model::encode(*snap);
}

}  // namespace tunnelmgr::plugins::docker_runtime
