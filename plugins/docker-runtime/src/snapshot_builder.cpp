// Decisions encoded here, each from FACTS.md/ARCHITECTURE.md: ports come from NetworkSettings.Ports
// while running and from HostConfig.PortBindings otherwise; only a *running* container counts as
// cloudflared; a project is never guessed from "the first container".
#include "snapshot_builder.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tunnelmgr::plugins::docker_runtime {

using docker_engine::docker_errc;
using docker_engine::docker_fail;
using docker_engine::docker_result;
namespace {

using writer_t = rapidjson::Writer<rapidjson::StringBuffer>;

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

void string_or_null(writer_t& w, const std::string& s) {
    if (s.empty()) {
        w.Null();
    } else {
        w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
    }
}

void string(writer_t& w, const std::string& s) { w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size())); }

struct network_info {
    std::string id, name, driver, scope, gateway;
    bool internal = false;
};

struct endpoint_info {
    std::string network, network_id, ip, gateway;
    std::vector<std::string> aliases;
};

struct port_info {
    long container_port = 0;
    std::string protocol, host_ip;
    std::optional<long> host_port;
};

struct container_info {
    std::string id, name, image, state, project, network_mode;
    bool running = false;
    std::map<std::string, std::string> labels;
    std::vector<endpoint_info> endpoints;
    std::vector<port_info> ports;
};

// "80/tcp" → (80, "tcp"); false for anything else.
bool split_port_key(std::string_view key, long& port, std::string& protocol) {
    const auto slash = key.find('/');
    const std::string number(key.substr(0, slash));
    char* end = nullptr;
    port = std::strtol(number.c_str(), &end, 10);
    if (number.empty() || *end != '\0' || port <= 0 || port > 65535) return false;
    protocol = slash == std::string_view::npos ? "tcp" : std::string(key.substr(slash + 1));
    return true;
}

// A PortMap ({"80/tcp":[{"HostIp","HostPort"}]|null}) into ports; `seen` keeps exposed-only
// ports from repeating ones already bound.
void read_port_map(const rapidjson::Value* map, std::vector<port_info>& out) {
    if (map == nullptr || !map->IsObject()) return;
    for (const auto& m : map->GetObject()) {
        port_info base;
        if (!split_port_key(m.name.GetString(), base.container_port, base.protocol)) continue;
        if (!m.value.IsArray() || m.value.Empty()) {
            out.push_back(base);  // exposed, not published
            continue;
        }
        for (const auto& binding : m.value.GetArray()) {
            port_info p = base;
            p.host_ip = text(binding, "HostIp");
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
    container_info c;
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
        c.running = running != nullptr && running->IsBool() && running->GetBool();
    }
    if (host_config != nullptr) c.network_mode = text(*host_config, "NetworkMode");
    if (const rapidjson::Value* labels = config != nullptr ? member(*config, "Labels") : nullptr;
        labels != nullptr && labels->IsObject()) {
        for (const auto& m : labels->GetObject()) {
            if (m.value.IsString()) c.labels[m.name.GetString()] = m.value.GetString();
        }
    }
    auto label = c.labels.find(options.project_label);
    c.project = project_of(c.name, label == c.labels.end() ? std::string() : label->second, options.projects);
    return c;
}

// NetworkSettings.Networks, sorted by network name.
std::vector<endpoint_info> read_endpoints(const rapidjson::Value& doc) {
    std::vector<endpoint_info> endpoints;
    const rapidjson::Value* settings = member(doc, "NetworkSettings");
    if (const rapidjson::Value* networks = settings != nullptr ? member(*settings, "Networks") : nullptr;
        networks != nullptr && networks->IsObject()) {
        for (const auto& m : networks->GetObject()) {
            endpoint_info e;
            e.network = m.name.GetString();
            e.network_id = text(m.value, "NetworkID");
            e.ip = text(m.value, "IPAddress");
            e.gateway = text(m.value, "Gateway");
            if (const rapidjson::Value* aliases = member(m.value, "Aliases"); aliases != nullptr && aliases->IsArray()) {
                for (const auto& a : aliases->GetArray()) {
                    if (a.IsString()) e.aliases.emplace_back(a.GetString());
                }
            }
            endpoints.push_back(std::move(e));
        }
    }
    std::sort(endpoints.begin(), endpoints.end(),
              [](const endpoint_info& a, const endpoint_info& b) { return a.network < b.network; });
    return endpoints;
}

// Published ports live in NetworkSettings.Ports only while the container runs; before that (and
// after it stops) the intent is in HostConfig.PortBindings, plus Config.ExposedPorts unbound.
std::vector<port_info> read_ports(const rapidjson::Value& doc, bool running) {
    std::vector<port_info> ports;
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
                port_info p;
                if (!split_port_key(m.name.GetString(), p.container_port, p.protocol)) continue;
                const bool bound = std::any_of(ports.begin(), ports.end(), [&](const port_info& q) {
                    return q.container_port == p.container_port && q.protocol == p.protocol;
                });
                if (!bound) ports.push_back(p);
            }
        }
    }
    std::sort(ports.begin(), ports.end(), [](const port_info& a, const port_info& b) {
        if (a.container_port != b.container_port) return a.container_port < b.container_port;
        if (a.protocol != b.protocol) return a.protocol < b.protocol;
        return a.host_ip < b.host_ip;
    });
    return ports;
}

docker_result<container_info> read_container(const std::string& json, const snapshot_options& options) {
    rapidjson::Document doc;
    doc.Parse(json.c_str(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        return docker_fail(docker_errc::error, "the Docker daemon's container inspect answer is not a JSON object");
    }
    container_info c = read_identity(doc, options);
    c.endpoints = read_endpoints(doc);
    c.ports = read_ports(doc, c.running);
    return c;
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
        info.id = text(n, "Id");
        info.name = text(n, "Name");
        info.driver = text(n, "Driver");
        info.scope = text(n, "Scope");
        const rapidjson::Value* internal = member(n, "Internal");
        info.internal = internal != nullptr && internal->IsBool() && internal->GetBool();
        if (const rapidjson::Value* ipam = member(n, "IPAM"); ipam != nullptr) {
            if (const rapidjson::Value* configs = member(*ipam, "Config"); configs != nullptr && configs->IsArray()) {
                for (const auto& cfg : configs->GetArray()) {
                    if (info.gateway.empty()) info.gateway = text(cfg, "Gateway");
                }
            }
        }
        if (!info.name.empty()) networks.push_back(std::move(info));
    }
    std::sort(networks.begin(), networks.end(), [](const network_info& a, const network_info& b) { return a.name < b.name; });
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
              [](const container_info& a, const container_info& b) { return a.name < b.name; });
    return containers;
}

bool names_cloudflared(const container_info& c, const std::vector<std::string>& names, bool by_image) {
    const std::string subject = by_image ? image_base_name(c.image) : c.name;
    return std::find(names.begin(), names.end(), subject) != names.end();
}

struct cloudflared_placement {
    const container_info* container = nullptr;  // the running cloudflared container; nullptr: on the host
    bool host_network = false;
    std::vector<std::string> stopped;
};

// A running container named like cloudflared wins over one whose image is; stopped ones are only
// listed, because a stopped cloudflared reaches nothing.
cloudflared_placement find_cloudflared(const std::vector<container_info>& containers, const std::vector<std::string>& names) {
    cloudflared_placement found;
    for (bool by_image : {false, true}) {
        for (const auto& c : containers) {
            if (!names_cloudflared(c, names, by_image)) continue;
            if (c.running) {
                if (found.container == nullptr) found.container = &c;
            } else if (std::find(found.stopped.begin(), found.stopped.end(), c.name) == found.stopped.end()) {
                found.stopped.push_back(c.name);
            }
        }
    }
    found.host_network = found.container != nullptr && found.container->network_mode == "host";
    return found;
}

// The host as seen from cloudflared's container: the gateway of its network; failing that, the
// default bridge's gateway (where a plain `docker run` would put it).
std::string host_gateway_for(const cloudflared_placement& cloudflared, const std::vector<network_info>& networks) {
    std::string host_gateway;
    // An internal network has no route out, so its gateway is the last resort.
    if (cloudflared.container != nullptr && !cloudflared.host_network) {
        for (bool allow_internal : {false, true}) {
            for (const auto& e : cloudflared.container->endpoints) {
                const auto net = std::find_if(networks.begin(), networks.end(),
                                              [&](const network_info& n) { return n.name == e.network; });
                const bool internal = net != networks.end() && net->internal;
                if (!e.gateway.empty() && (allow_internal || !internal) && host_gateway.empty()) host_gateway = e.gateway;
            }
        }
    }
    if (host_gateway.empty() && !cloudflared.host_network) {
        for (const auto& n : networks) {
            if (n.name == "bridge") host_gateway = n.gateway;
        }
    }
    return host_gateway;
}

// Everything the snapshot says, read and decided; the writers below only format it.
struct snapshot_parts {
    std::vector<network_info> networks;
    std::vector<container_info> containers;
    cloudflared_placement cloudflared;
    std::string host_gateway;
    std::string_view api_version;
};

void write_network(writer_t& w, const network_info& n) {
    w.StartObject();
    w.Key("id");
    string(w, n.id);
    w.Key("name");
    string(w, n.name);
    w.Key("driver");
    string(w, n.driver);
    w.Key("scope");
    string(w, n.scope);
    w.Key("internal");
    w.Bool(n.internal);
    w.Key("user_defined");
    w.Bool(is_user_defined_network(n.name));
    w.EndObject();
}

void write_endpoint(writer_t& w, const endpoint_info& e) {
    w.StartObject();
    w.Key("network");
    string(w, e.network);
    w.Key("network_id");
    string(w, e.network_id);
    w.Key("ip");
    string_or_null(w, e.ip);
    w.Key("aliases");
    w.StartArray();
    for (const auto& a : e.aliases) string(w, a);
    w.EndArray();
    w.Key("gateway");
    string_or_null(w, e.gateway);
    w.EndObject();
}

void write_port(writer_t& w, const port_info& p) {
    w.StartObject();
    w.Key("container_port");
    w.Int64(p.container_port);
    w.Key("protocol");
    string(w, p.protocol);
    w.Key("host_ip");
    string_or_null(w, p.host_ip);
    w.Key("host_port");
    if (p.host_port) {
        w.Int64(*p.host_port);
    } else {
        w.Null();
    }
    w.EndObject();
}

void write_container(writer_t& w, const container_info& c) {
    w.StartObject();
    w.Key("id");
    string(w, c.id);
    w.Key("name");
    string(w, c.name);
    w.Key("image");
    string(w, c.image);
    w.Key("state");
    string(w, c.state);
    w.Key("project");
    string_or_null(w, c.project);
    w.Key("labels");
    w.StartObject();
    for (const auto& [k, v] : c.labels) {
        w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
        string(w, v);
    }
    w.EndObject();
    w.Key("network_mode");
    string(w, c.network_mode);
    w.Key("networks");
    w.StartArray();
    for (const auto& e : c.endpoints) write_endpoint(w, e);
    w.EndArray();
    w.Key("ports");
    w.StartArray();
    for (const auto& p : c.ports) write_port(w, p);
    w.EndArray();
    w.EndObject();
}

void write_networks(writer_t& w, const snapshot_parts& parts) {
    w.StartArray();
    for (const auto& n : parts.networks) write_network(w, n);
    w.EndArray();
}

void write_containers(writer_t& w, const snapshot_parts& parts) {
    w.StartArray();
    for (const auto& c : parts.containers) write_container(w, c);
    w.EndArray();
}

void write_cloudflared(writer_t& w, const snapshot_parts& parts) {
    const cloudflared_placement& cf = parts.cloudflared;
    w.StartObject();
    w.Key("where");
    w.String(cf.container != nullptr ? "container" : "host");
    w.Key("container");
    if (cf.container != nullptr) {
        string(w, cf.container->name);
    } else {
        w.Null();
    }
    w.Key("networks");
    w.StartArray();
    if (cf.container != nullptr && !cf.host_network) {
        for (const auto& e : cf.container->endpoints) string(w, e.network);
    }
    w.EndArray();
    w.Key("host_network");
    w.Bool(cf.host_network);
    w.Key("stopped");
    w.StartArray();
    for (const auto& s : cf.stopped) string(w, s);
    w.EndArray();
    w.EndObject();
}

void write_host_gateway(writer_t& w, const snapshot_parts& parts) { string_or_null(w, parts.host_gateway); }

void write_api_version(writer_t& w, const snapshot_parts& parts) {
    w.String(parts.api_version.data(), static_cast<rapidjson::SizeType>(parts.api_version.size()));
}

// The snapshot's top-level keys in the order they are written (the shape in snapshot_builder.hpp).
struct snapshot_section {
    const char* key;
    void (*write)(writer_t&, const snapshot_parts&);
};
constexpr snapshot_section k_snapshot_sections[] = {
    {"networks", write_networks},         {"containers", write_containers},   {"cloudflared", write_cloudflared},
    {"host_gateway", write_host_gateway}, {"api_version", write_api_version},
};

}  // namespace

bool is_user_defined_network(std::string_view name) { return name != "bridge" && name != "host" && name != "none"; }

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

docker_result<std::string> build_snapshot(std::string_view networks_json, const std::vector<std::string>& inspects,
                                          std::string_view api_version, const snapshot_options& options) {
    auto networks = read_networks(networks_json);
    if (!networks) return tl::unexpected(networks.error());
    auto containers = read_containers(inspects, options);
    if (!containers) return tl::unexpected(containers.error());

    snapshot_parts parts{std::move(*networks), std::move(*containers), {}, {}, api_version};
    parts.cloudflared = find_cloudflared(parts.containers, options.cloudflared_names);
    parts.host_gateway = host_gateway_for(parts.cloudflared, parts.networks);

    rapidjson::StringBuffer buffer;
    writer_t w(buffer);
    w.StartObject();
    for (const auto& section : k_snapshot_sections) {
        w.Key(section.key);
        section.write(w, parts);
    }
    w.EndObject();
    return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace tunnelmgr::plugins::docker_runtime
