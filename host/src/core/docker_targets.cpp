// See docker_targets.hpp.
#include "core/docker_targets.hpp"

#include <set>
#include <vector>

#include "core/json.hpp"

namespace tunnelmgr::core {
namespace {

struct port_entry {
    int64_t container_port = 0;
    std::string protocol;
    std::string host_ip;
    int64_t host_port = 0;
};

struct container {
    std::string name, state, project;
    std::vector<std::string> networks;
    std::vector<std::string> ips;  // parallel to networks
    std::vector<port_entry> ports;
};

bool is_user_defined(const rapidjson::Value& snap, const std::string& net) {
    if (net == "bridge" || net == "host" || net == "none" || net.empty()) return false;
    auto it = snap.FindMember("networks");
    if (it != snap.MemberEnd() && it->value.IsArray()) {
        for (const auto& n : it->value.GetArray()) {
            if (json::str(n, "name") == net) {
                auto ud = n.FindMember("user_defined");
                if (ud != n.MemberEnd() && ud->value.IsBool()) return ud->value.GetBool();
                return json::str(n, "driver") != "host" && json::str(n, "driver") != "null";
            }
        }
    }
    return true;
}

std::vector<container> containers_of(const rapidjson::Value& snap) {
    std::vector<container> out;
    auto it = snap.FindMember("containers");
    if (it == snap.MemberEnd() || !it->value.IsArray()) return out;
    for (const auto& c : it->value.GetArray()) {
        container k;
        k.name = json::str(c, "name");
        if (!k.name.empty() && k.name[0] == '/') k.name.erase(0, 1);
        k.state = json::str(c, "state");
        k.project = json::str(c, "project");
        auto nets = c.FindMember("networks");
        if (nets != c.MemberEnd() && nets->value.IsArray()) {
            for (const auto& n : nets->value.GetArray()) {
                k.networks.push_back(json::str(n, "network"));
                k.ips.push_back(json::str(n, "ip"));
            }
        }
        auto ports = c.FindMember("ports");
        if (ports != c.MemberEnd() && ports->value.IsArray()) {
            for (const auto& p : ports->value.GetArray()) {
                k.ports.push_back({json::i64(p, "container_port"), json::str(p, "protocol", "tcp"), json::str(p, "host_ip"),
                                   json::i64(p, "host_port")});
            }
        }
        out.push_back(std::move(k));
    }
    return out;
}

}  // namespace

result<target> select_target(const std::string& snapshot_json, const std::string& project, uint32_t port) {
    auto doc = json::parse(snapshot_json);
    if (!doc || !doc->IsObject()) return fail(errc::error, "the container runtime returned a malformed snapshot");
    const auto& snap = *doc;
    std::string p = std::to_string(port);

    // Where cloudflared runs.
    std::string cf_where = "host", cf_name;
    bool cf_host_net = false;
    std::vector<std::string> cf_nets;
    auto cf = snap.FindMember("cloudflared");
    if (cf != snap.MemberEnd() && cf->value.IsObject()) {
        cf_where = json::str(cf->value, "where", "host");
        cf_name = json::str(cf->value, "container");
        cf_host_net = json::boolean(cf->value, "host_network");
        auto nets = cf->value.FindMember("networks");
        if (nets != cf->value.MemberEnd() && nets->value.IsArray()) {
            for (const auto& n : nets->value.GetArray()) {
                if (n.IsString()) cf_nets.emplace_back(n.GetString());
            }
        }
    }
    bool cf_sees_host_ports = cf_where != "container" || cf_host_net;

    // The project's running container that offers this port (as its own port or as a published one).
    const container* match = nullptr;
    const port_entry* match_port = nullptr;
    auto all = containers_of(snap);
    for (const auto& c : all) {
        if (c.project != project || c.state != "running") continue;
        for (const auto& pe : c.ports) {
            if (pe.protocol != "tcp") continue;
            if (pe.container_port == port || pe.host_port == port) {
                match = &c;
                match_port = &pe;
                break;
            }
        }
        if (match) break;
    }

    if (match != nullptr) {
        int64_t cport = match_port->container_port;
        // 1. A user-defined network shared with a cloudflared container: reach it by name.
        if (cf_where == "container" && !cf_host_net) {
            for (const auto& n : match->networks) {
                if (!is_user_defined(snap, n)) continue;
                for (const auto& m : cf_nets) {
                    if (m == n) {
                        size_t idx = static_cast<size_t>(&n - match->networks.data());
                        std::string ip = idx < match->ips.size() ? match->ips[idx] : "";
                        return target{"http://" + match->name + ":" + std::to_string(cport), "container", match->name, n,
                                      "cloudflared and " + match->name + " share the user-defined network " + n +
                                          ", which resolves container names",
                                      ip.empty() ? "" : ip + ":" + std::to_string(cport)};
                    }
                }
            }
        }
        // 2. Published on the host, and cloudflared can see the host's ports.
        if (cf_sees_host_ports && match_port->host_port > 0) {
            return target{"http://localhost:" + std::to_string(match_port->host_port), "host_port", match->name, "",
                          match->name + " publishes port " + std::to_string(cport) + " on the host as " +
                              std::to_string(match_port->host_port) + ", and cloudflared runs " +
                              (cf_where == "container" ? "with host networking" : "on the host"),
                          "127.0.0.1:" + std::to_string(match_port->host_port)};
        }
        // 3. Refuse, naming the fix.
        std::string fix;
        std::string user_net;
        for (const auto& n : match->networks) {
            if (is_user_defined(snap, n)) user_net = n;
        }
        if (cf_where == "container" && !cf_host_net) {
            if (!user_net.empty()) {
                fix = "connect cloudflared to its network: `docker network connect " + user_net + " " + cf_name + "`";
            } else {
                fix = "put both on one user-defined network (the default bridge does not resolve names): "
                      "`docker network create tunnel && docker network connect tunnel " + cf_name +
                      " && docker network connect tunnel " + match->name + "`";
            }
        } else {
            fix = "publish the port on the host (`docker run -p " + std::to_string(cport) + ":" + std::to_string(cport) +
                  " ...`, or `ports:` in compose), or run cloudflared in a container on a network shared with " +
                  match->name;
        }
        return fail(errc::invalid, "cloudflared cannot reach " + match->name + ":" + std::to_string(cport) + ": " + fix);
    }

    // No container of the project offers the port: a service on the host itself.
    if (cf_sees_host_ports) {
        return target{"http://localhost:" + p, "host", "", "",
                      "no container of project '" + project + "' offers port " + p +
                          ", so it is taken as a service on this host, which cloudflared reaches as localhost",
                      "127.0.0.1:" + p};
    }
    std::string gw = json::str(snap, "host_gateway");
    if (!gw.empty()) {
        return target{"http://" + gw + ":" + p, "host", "", "",
                      "no container of project '" + project + "' offers port " + p + "; cloudflared runs in the container " +
                          cf_name + ", which reaches services on this host through the gateway " + gw +
                          " (the service must listen on that address or on 0.0.0.0, not only on 127.0.0.1)",
                      gw + ":" + p};
    }
    return fail(errc::invalid, "no container of project '" + project + "' offers port " + p + " and cloudflared (container " +
                                   cf_name + ") cannot reach this host's ports: start the service in a container on a "
                                   "network shared with cloudflared, or run cloudflared with `--network host`");
}

result<target> docker_target_selector::select(const std::string& project, uint32_t port) {
    auto snap = snapshot_ ? snapshot_() : result<std::string>(fail(errc::error, "no runtime"));
    if (!snap) {
        // The daemon did not answer: decide from the last snapshot rather than guess.
        auto last = fallback_ ? fallback_() : result<std::string>(fail(errc::error, "none stored"));
        if (!last) {
            return fail(snap.error().code, "cannot see the Docker topology to choose a target: " + snap.error().message);
        }
        snap = last;
    }
    return select_target(*snap, project, port);
}

}  // namespace tunnelmgr::core
