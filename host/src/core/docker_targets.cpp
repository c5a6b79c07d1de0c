// See docker_targets.hpp.
#include "core/docker_targets.hpp"

#include <optional>
#include <vector>

#include "log/logger.hpp"

namespace tunnelmgr::core {
namespace {

namespace model = sdk::model;

// Only user-defined networks resolve container names. A snapshot that does not say (a stored one)
// is read from the driver; a network the snapshot does not list is taken to be user-defined.
bool is_user_defined(const model::docker_snapshot& snap, const std::string& net) {
    if (net == "bridge" || net == "host" || net == "none" || net.empty()) return false;
    for (const auto& n : snap.networks) {
        if (n.name != net) continue;
        if (n.user_defined) return *n.user_defined;
        return n.driver != "host" && n.driver != "null";
    }
    return true;
}

std::string without_slash(std::string name) {
    if (!name.empty() && name[0] == '/') name.erase(0, 1);
    return name;
}

}  // namespace

result<target> select_target(const model::docker_snapshot& snap, const std::string& project, uint32_t port) {
    std::string p = std::to_string(port);

    // Where cloudflared runs.
    const model::cloudflared_placement cf = snap.cloudflared.value_or(model::cloudflared_placement{});
    const std::string& cf_where = cf.where;
    const std::string cf_name = cf.container.value_or("");
    const bool cf_host_net = cf.host_network;
    const std::vector<std::string>& cf_nets = cf.networks;
    bool cf_sees_host_ports = cf_where != "container" || cf_host_net;

    // The project's running container that offers this port (as its own port or as a published one).
    const model::docker_container* match = nullptr;
    const model::docker_port* match_port = nullptr;
    for (const auto& c : snap.containers) {
        if (c.project.value_or("") != project || c.state != "running") continue;
        for (const auto& pe : c.ports) {
            if (pe.protocol != "tcp") continue;
            if (pe.container_port == port || pe.host_port.value_or(0) == port) {
                match = &c;
                match_port = &pe;
                break;
            }
        }
        if (match) break;
    }

    if (match != nullptr) {
        const std::string name = without_slash(match->name);
        int64_t cport = match_port->container_port;
        const int64_t host_port = match_port->host_port.value_or(0);
        // 1. A user-defined network shared with a cloudflared container: reach it by name.
        if (cf_where == "container" && !cf_host_net) {
            for (const auto& e : match->networks) {
                const std::string& n = e.network;
                if (!is_user_defined(snap, n)) continue;
                for (const auto& m : cf_nets) {
                    if (m == n) {
                        const std::string ip = e.ip.value_or("");
                        return target{"http://" + name + ":" + std::to_string(cport), "container", name, n,
                                      "cloudflared and " + name + " share the user-defined network " + n +
                                          ", which resolves container names",
                                      ip.empty() ? "" : ip + ":" + std::to_string(cport)};
                    }
                }
            }
        }
        // 2. Published on the host, and cloudflared can see the host's ports.
        if (cf_sees_host_ports && host_port > 0) {
            return target{"http://localhost:" + std::to_string(host_port), "host_port", name, "",
                          name + " publishes port " + std::to_string(cport) + " on the host as " +
                              std::to_string(host_port) + ", and cloudflared runs " +
                              (cf_where == "container" ? "with host networking" : "on the host"),
                          "127.0.0.1:" + std::to_string(host_port)};
        }
        // 3. Refuse, naming the fix.
        std::string fix;
        std::string user_net;
        for (const auto& e : match->networks) {
            if (is_user_defined(snap, e.network)) user_net = e.network;
        }
        if (cf_where == "container" && !cf_host_net) {
            if (!user_net.empty()) {
                fix = "connect cloudflared to its network: `docker network connect " + user_net + " " + cf_name + "`";
            } else {
                fix = "put both on one user-defined network (the default bridge does not resolve names): "
                      "`docker network create tunnel && docker network connect tunnel " + cf_name +
                      " && docker network connect tunnel " + name + "`";
            }
        } else {
            fix = "publish the port on the host (`docker run -p " + std::to_string(cport) + ":" + std::to_string(cport) +
                  " ...`, or `ports:` in compose), or run cloudflared in a container on a network shared with " + name;
        }
        return fail(errc::invalid, "cloudflared cannot reach " + name + ":" + std::to_string(cport) + ": " + fix);
    }

    // No container of the project offers the port: a service on the host itself.
    if (cf_sees_host_ports) {
        return target{"http://localhost:" + p, "host", "", "",
                      "no container of project '" + project + "' offers port " + p +
                          ", so it is taken as a service on this host, which cloudflared reaches as localhost",
                      "127.0.0.1:" + p};
    }
    const std::string gw = snap.host_gateway.value_or("");
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

result<target> select_target(const std::string& snapshot_json, const std::string& project, uint32_t port) {
    auto snap = model::decode_docker_snapshot(snapshot_json);
    if (!snap) return fail(errc::error, "the container runtime returned a malformed snapshot: " + snap.error());
    return select_target(*snap, project, port);
}

result<target> docker_target_selector::select(const std::string& project, uint32_t port) {
    // A source that fails or answers with something that does not decode gives no Docker information.
    auto ask = [](const std::function<result<std::string>()>& source, const char* what,
                  error& why) -> std::optional<model::docker_snapshot> {
        auto json = source ? source() : result<std::string>(fail(errc::error, std::string("no ") + what));
        if (!json) {
            why = json.error();
            return std::nullopt;
        }
        auto snap = model::decode_docker_snapshot(*json);
        if (!snap) {
            log::warn("targets", std::string("ignoring the ") + what + " Docker snapshot, which is malformed: " + snap.error());
            why = error{errc::error, std::string("the ") + what + " Docker snapshot is malformed (" + snap.error() + ")"};
            return std::nullopt;
        }
        return std::move(*snap);
    };
    error fresh_why{errc::error, ""};
    auto snap = ask(snapshot_, "runtime's", fresh_why);
    if (!snap) {
        // The daemon did not answer usefully: decide from the last snapshot rather than guess.
        auto stored = fallback_ ? fallback_() : result<model::docker_snapshot>(fail(errc::error, "no stored snapshot"));
        if (!stored) {
            if (stored.error().code != errc::not_found) {
                log::warn("targets", "ignoring the stored Docker snapshot: " + stored.error().message);
            }
            return fail(fresh_why.code, "cannot see the Docker topology to choose a target: " + fresh_why.message);
        }
        snap = std::move(*stored);
    }
    return select_target(*snap, project, port);
}

}  // namespace tunnelmgr::core
