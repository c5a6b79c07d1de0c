// See topology.hpp.
#include "core/topology.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "common/terminal_text.hpp"
#include "core/docker_targets.hpp"
#include "core/json.hpp"

namespace tunnelmgr::core {
namespace {

namespace model = sdk::model;

std::string without_slash(std::string name) {
    if (!name.empty() && name[0] == '/') name.erase(0, 1);
    return name;
}

const model::docker_container* find_container(const model::docker_snapshot& snap, const std::string& name) {
    const std::string want = without_slash(name);
    for (const auto& c : snap.containers) {
        if (without_slash(c.name) == want) return &c;
    }
    return nullptr;
}

const model::docker_endpoint* endpoint_on(const model::docker_container& c, const std::string& network) {
    for (const auto& e : c.networks) {
        if (e.network == network) return &e;
    }
    return nullptr;
}

std::string joined(const std::vector<std::string>& items, const char* sep = ", ") {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
    return out;
}

std::vector<std::string> network_names(const model::docker_container& c) {
    std::vector<std::string> out;
    for (const auto& e : c.networks) out.push_back(e.network);
    return out;
}

// The port of a service URL ("http://localhost:3100" → 3100); 0 when it names none.
int64_t port_of(const std::string& url) {
    std::string rest = url;
    if (auto scheme = rest.find("://"); scheme != std::string::npos) rest = rest.substr(scheme + 3);
    if (auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
    auto colon = rest.rfind(':');
    if (colon == std::string::npos || colon + 1 >= rest.size()) return 0;
    int64_t n = 0;
    for (char ch : rest.substr(colon + 1)) {
        if (ch < '0' || ch > '9' || n > 65535) return 0;
        n = n * 10 + (ch - '0');
    }
    return n;
}

bool names_localhost(const std::string& url) {
    return url.find("://localhost") != std::string::npos || url.find("://127.0.0.1") != std::string::npos ||
           url.find("://[::1]") != std::string::npos;
}

std::string port_text(const model::docker_port& p) {
    std::string out = std::to_string(p.container_port) + "/" + p.protocol;
    if (p.host_port) {
        const std::string ip = p.host_ip.value_or("");
        out += " published on " + (ip.empty() ? std::string("0.0.0.0") : ip) + ":" + std::to_string(*p.host_port);
    }
    return out;
}

std::string describe_cloudflared(const model::docker_snapshot& snap) {
    if (!snap.cloudflared) return "placement unknown (the stored snapshot does not say; taken as on the host)";
    const auto& cf = *snap.cloudflared;
    if (cf.where != "container") return "on the host (no running cloudflared container)";
    const std::string name = without_slash(cf.container.value_or("cloudflared"));
    if (cf.host_network) return "container " + name + " with host networking (sees the host's ports)";
    if (cf.networks.empty()) return "container " + name + " on no network";
    return "container " + name + " on network" + (cf.networks.size() > 1 ? "s " : " ") + joined(cf.networks);
}

// Checks the path a row was published with against the snapshot: "" when it works, else why not.
std::string check_path(const model::docker_snapshot& snap, const model::cname_row& row, std::string& path) {
    const std::string type = row.target_type.value_or("");
    const bool cf_known = snap.cloudflared.has_value();
    const model::cloudflared_placement cf = snap.cloudflared.value_or(model::cloudflared_placement{});
    const bool cf_container = cf.where == "container";
    const std::string cf_name = without_slash(cf.container.value_or("cloudflared"));
    const bool cf_sees_host_ports = !cf_container || cf.host_network;
    const std::string name = without_slash(row.container_name.value_or(""));

    auto container_state = [&](const model::docker_container* c) -> std::string {
        if (c == nullptr) return "container " + name + " is gone";
        if (c->state != "running") return "container " + name + " is " + (c->state.empty() ? "not running" : c->state);
        return "";
    };

    if (type == "container") {
        const std::string net = row.docker_network.value_or("");
        path = "container " + name + " on network " + net;
        const auto* c = find_container(snap, name);
        if (auto why = container_state(c); !why.empty()) return why;
        if (endpoint_on(*c, net) == nullptr) {
            const auto nets = network_names(*c);
            return name + " is no longer on network " + net +
                   (nets.empty() ? std::string(" (it is on none)") : " (it is on " + joined(nets) + ")") +
                   ": `docker network connect " + net + " " + name + "`, or publish the name again";
        }
        if (!cf_known) return "";
        if (!cf_container || cf.host_network) {
            return std::string("cloudflared runs ") + (cf_container ? "with host networking" : "on the host") +
                   ", where the container name " + name + " does not resolve";
        }
        if (std::find(cf.networks.begin(), cf.networks.end(), net) == cf.networks.end()) {
            return "cloudflared is not on network " + net + ": `docker network connect " + net + " " + cf_name + "`";
        }
        return "";
    }
    if (type == "host_port") {
        const int64_t host_port = port_of(row.target);
        path = "published host port " + std::to_string(host_port) + (name.empty() ? "" : " of container " + name);
        if (!name.empty()) {
            const auto* c = find_container(snap, name);
            if (auto why = container_state(c); !why.empty()) return why;
            bool published = false;
            for (const auto& p : c->ports) published = published || p.host_port.value_or(0) == host_port;
            if (!published) return name + " no longer publishes a port on host port " + std::to_string(host_port);
        }
        if (cf_known && !cf_sees_host_ports) {
            return "cloudflared runs in the container " + cf_name + ", where localhost is the container itself";
        }
        return "";
    }
    if (type == "host") {
        path = "service on this host";
        // A gateway address (a bridged cloudflared's way to the host) works from anywhere; localhost
        // only where cloudflared shares the host's network.
        if (cf_known && names_localhost(row.target) && !cf_sees_host_ports) {
            return "cloudflared runs in the container " + cf_name + ", where localhost is the container itself";
        }
        return "";
    }
    path = type.empty() ? "as published (no target type recorded)" : type;
    return "";
}

// `text` on lines of at most `width` columns, broken at spaces (the spacing inside a line kept): the
// first line after `first`, the rest after `rest`. A word longer than a line gets a line of its own.
void wrap(std::ostream& out, const std::string& first, const std::string& rest, const std::string& text, size_t width) {
    std::string line = first;
    bool empty = true;
    size_t i = 0;
    while (i < text.size()) {
        const size_t word_at = text.find_first_not_of(' ', i);
        if (word_at == std::string::npos) break;
        size_t word_end = text.find(' ', word_at);
        if (word_end == std::string::npos) word_end = text.size();
        const std::string spaces = text.substr(i, word_at - i);
        const std::string word = text.substr(word_at, word_end - word_at);
        if (!empty && line.size() + spaces.size() + word.size() > width) {
            out << line << "\n";
            line = rest + word;
        } else {
            line += (empty ? "" : spaces) + word;
        }
        empty = false;
        i = word_end;
    }
    out << line << "\n";
}

// The same for DOT labels: lines joined by the DOT escape \n, each already escaped.
std::string dot_escape(const std::string& s) {
    std::string out;
    for (char ch : printable(s)) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
    }
    return out;
}

std::string dot_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += (out.empty() ? "" : "\\n") + dot_escape(l);
    return out;
}

std::vector<std::string> wrapped_lines(const std::string& text, size_t width) {
    std::ostringstream out;
    wrap(out, "", "", text, width);
    std::vector<std::string> lines;
    std::istringstream in(out.str());
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
}

}  // namespace

const char* route_health_name(route_health h) {
    switch (h) {
        case route_health::ok: return "ok";
        case route_health::moved: return "moved";
        case route_health::broken: return "broken";
        case route_health::unchecked: return "unchecked";
    }
    return "unchecked";
}

topology build_topology(model::docker_snapshot snapshot, std::string source, std::vector<std::string> notes,
                        std::vector<model::cname_row> rows) {
    topology t;
    t.snapshot = std::move(snapshot);
    t.source = std::move(source);
    t.notes = std::move(notes);
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.hostname < b.hostname; });
    const bool have_docker = t.source != "none";
    for (auto& row : rows) {
        hostname_route r;
        r.row = std::move(row);
        const std::string broken = check_path(t.snapshot, r.row, r.path);
        if (!have_docker) {
            r.health = route_health::unchecked;
            t.routes.push_back(std::move(r));
            continue;
        }
        if (r.row.port > 0 && r.row.port <= 65535) {
            auto now = select_target(t.snapshot, r.row.project, static_cast<uint32_t>(r.row.port));
            if (now) {
                r.now = std::move(*now);
            } else {
                r.now_error = now.error().message;
            }
        }
        if (!broken.empty()) {
            r.health = route_health::broken;
            r.problem = broken;
        } else if (!t.snapshot.cloudflared) {
            // Without cloudflared's placement select_target assumes the host: no fair comparison.
            r.health = route_health::ok;
        } else if (r.now && r.now->service != r.row.target) {
            r.health = route_health::moved;
            r.problem = "a new request would now get " + r.now->service + " (" + r.now->reason + "); the rule still "
                        "sends traffic to " + r.row.target;
        } else if (!r.now && !r.now_error.empty()) {
            r.health = route_health::moved;
            r.problem = "a new request would now be refused: " + r.now_error;
        } else {
            r.health = route_health::ok;
        }
        t.routes.push_back(std::move(r));
    }
    return t;
}

std::string topology_text(const topology& t, size_t width) {
    width = std::max<size_t>(width, 40);
    const auto& snap = t.snapshot;
    std::ostringstream out;
    auto line = [&](const std::string& indent, const std::string& text) { wrap(out, indent, indent + "    ", printable(text), width); };

    std::string source = t.source == "runtime" ? "Docker snapshot from the runtime"
                         : t.source == "stored" ? "the last stored Docker snapshot"
                                                : "no Docker information";
    if (snap.api_version) source += ", Engine API " + *snap.api_version;
    line("", "tunnelmgr topology (" + source + ")");
    line("", "cloudflared: " + describe_cloudflared(snap));
    if (snap.cloudflared && !snap.cloudflared->stopped.empty()) {
        line("  ", "stopped cloudflared containers: " + joined(snap.cloudflared->stopped));
    }
    if (snap.host_gateway && snap.cloudflared && snap.cloudflared->where == "container" && !snap.cloudflared->host_network) {
        line("  ", "reaches this host through " + *snap.host_gateway);
    }

    // Networks with their members, then each container once with its details.
    std::map<std::string, std::vector<std::string>> members;
    for (const auto& c : snap.containers) {
        for (const auto& e : c.networks) members[e.network].push_back(without_slash(c.name));
    }
    std::vector<std::string> nets;
    for (const auto& n : snap.networks) nets.push_back(n.name);
    for (const auto& [name, _] : members) {
        if (std::find(nets.begin(), nets.end(), name) == nets.end()) nets.push_back(name);
    }
    // The built-in host and none networks, unused, are noise.
    std::erase_if(nets, [&](const std::string& n) { return (n == "host" || n == "none") && members[n].empty(); });
    if (t.source != "none") {
        line("", "networks (" + std::to_string(nets.size()) + "):");
        for (const auto& name : nets) {
            std::string kind;
            for (const auto& n : snap.networks) {
                if (n.name != name) continue;
                kind = n.driver;
                const bool user = n.user_defined.value_or(model::is_user_defined_network(n.name));
                kind += user ? ", user-defined" : ", resolves no names";
                if (n.internal) kind += ", internal";
            }
            const auto& m = members[name];
            line("  ", name + (kind.empty() ? "" : " (" + kind + ")") + ": " + (m.empty() ? "no containers" : joined(m)));
        }
        line("", "containers (" + std::to_string(snap.containers.size()) + "):");
        for (const auto& c : snap.containers) {
            const std::string name = without_slash(c.name);
            const bool is_cf = snap.cloudflared && snap.cloudflared->container &&
                               without_slash(*snap.cloudflared->container) == name;
            std::string head = name + "  " + (c.state.empty() ? "unknown state" : c.state);
            if (c.project) head += "  project " + *c.project;
            if (is_cf) head += "  (cloudflared)";
            line("  ", head);
            std::vector<std::string> eps;
            for (const auto& e : c.networks) eps.push_back(e.network + (e.ip && !e.ip->empty() ? " " + *e.ip : ""));
            if (c.network_mode == "host") eps = {"host networking"};
            line("    ", "networks: " + (eps.empty() ? std::string("none") : joined(eps)));
            std::vector<std::string> ports;
            for (const auto& p : c.ports) ports.push_back(port_text(p));
            if (!ports.empty()) line("    ", "ports: " + joined(ports));
        }
    }

    line("", "hostnames (" + std::to_string(t.routes.size()) + "):");
    for (const auto& r : t.routes) {
        std::string health = r.health == route_health::broken ? "BROKEN" : route_health_name(r.health);
        line("  ", r.row.hostname + "  " + r.row.project + ":" + std::to_string(r.row.port) + "  " + health);
        line("    ", "-> " + r.row.target + " via " + r.path);
        if (!r.problem.empty()) line("    ", (r.health == route_health::broken ? "broken: " : "moved: ") + r.problem);
        if (r.health == route_health::broken) {
            if (r.now) {
                line("    ", "a new request would get " + r.now->service + " (" + r.now->reason + ")");
            } else if (!r.now_error.empty()) {
                line("    ", "a new request would be refused: " + r.now_error);
            }
        }
    }
    for (const auto& n : t.notes) line("", "note: " + n);
    return out.str();
}

std::string topology_dot(const topology& t) {
    const auto& snap = t.snapshot;
    std::ostringstream out;
    auto q = [](const std::string& s) { return "\"" + dot_escape(s) + "\""; };
    const bool cf_known = snap.cloudflared.has_value();
    const model::cloudflared_placement cf = snap.cloudflared.value_or(model::cloudflared_placement{});
    const std::string cf_name = without_slash(cf.container.value_or(""));
    const bool cf_bridged = cf_known && cf.where == "container" && !cf.host_network;

    std::string title = "tunnelmgr topology: " + std::string(t.source == "runtime" ? "Docker snapshot from the runtime"
                                                              : t.source == "stored" ? "the last stored Docker snapshot"
                                                                                     : "no Docker information");
    const std::string legend = "green: works; orange: a new request would get another target; red, dashed: broken now";
    out << "digraph tunnelmgr_topology {\n"
        << "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, labelloc=t, nodesep=0.25, ranksep=0.9, "
           "label=\"" << dot_lines({title, legend}) << "\"];\n"
        << "  node [fontname=\"Helvetica\", fontsize=10, shape=box, style=\"rounded\"];\n"
        << "  edge [fontname=\"Helvetica\", fontsize=9];\n";

    // Node ids are generated; only labels carry names.
    std::map<std::pair<std::string, std::string>, std::string> endpoint_id;  // (container, network) → id
    std::map<std::string, std::string> first_endpoint;                       // container → id
    auto is_cf_container = [&](const model::docker_container& c) { return cf_known && !cf_name.empty() && without_slash(c.name) == cf_name; };
    auto container_label = [&](const model::docker_container& c, const model::docker_endpoint* e) {
        std::vector<std::string> lines{without_slash(c.name)};
        if (e != nullptr && e->ip && !e->ip->empty()) lines.push_back(*e->ip);
        const std::string state = c.state.empty() ? "unknown" : c.state;
        if (c.project) {
            lines.push_back("project " + *c.project + ", " + state);
        } else {
            lines.push_back(state);
        }
        for (const auto& p : c.ports) {
            lines.push_back(p.host_port ? std::to_string(p.container_port) + "/" + p.protocol + " <- host " +
                                              std::to_string(*p.host_port)
                                        : std::to_string(p.container_port) + "/" + p.protocol);
        }
        return dot_lines(lines);
    };
    auto container_style = [&](const model::docker_container& c) -> std::string {
        if (is_cf_container(c)) return ", shape=hexagon, style=\"filled,bold\", fillcolor=\"#fde9c9\"";
        if (c.state != "running") return ", style=\"rounded,dashed\", color=gray50, fontcolor=gray40";
        return ", style=\"rounded,filled\", fillcolor=\"#e8f1fb\"";
    };

    // One cluster per network: an endpoint node per member.
    std::vector<std::string> nets;
    for (const auto& n : snap.networks) nets.push_back(n.name);
    for (const auto& c : snap.containers) {
        for (const auto& e : c.networks) {
            if (std::find(nets.begin(), nets.end(), e.network) == nets.end()) nets.push_back(e.network);
        }
    }
    int counter = 0;
    for (size_t i = 0; i < nets.size(); ++i) {
        // Host networking is drawn inside the host; "none" is no network at all.
        if (nets[i] == "host" || nets[i] == "none") continue;
        std::string kind;
        for (const auto& n : snap.networks) {
            if (n.name != nets[i]) continue;
            kind = n.driver + (n.user_defined.value_or(model::is_user_defined_network(n.name)) ? ", user-defined" : ", resolves no names");
        }
        out << "  subgraph cluster_net" << i << " {\n    label=" << q("network " + nets[i] + (kind.empty() ? "" : " (" + kind + ")"))
            << "; style=\"rounded\"; color=\"#4a78b5\";\n";
        for (const auto& c : snap.containers) {
            const auto* e = endpoint_on(c, nets[i]);
            if (e == nullptr) continue;
            std::string id = "n" + std::to_string(++counter);
            endpoint_id[{without_slash(c.name), nets[i]}] = id;
            first_endpoint.emplace(without_slash(c.name), id);
            out << "    " << id << " [label=\"" << container_label(c, e) << "\"" << container_style(c) << "];\n";
        }
        out << "  }\n";
    }

    // The host: cloudflared when it runs there, published ports, host services the routes name, and
    // containers with host networking.
    std::string cf_host_id;
    std::vector<std::string> host_lines;
    std::map<int64_t, std::string> host_port_id;
    std::map<std::string, std::string> host_service_id;
    for (const auto& c : snap.containers) {
        for (const auto& p : c.ports) {
            if (!p.host_port || host_port_id.count(*p.host_port) != 0U) continue;
            std::string id = "n" + std::to_string(++counter);
            host_port_id[*p.host_port] = id;
            host_lines.push_back(id + " [label=\"" + dot_lines({p.host_ip.value_or("0.0.0.0") + ":" + std::to_string(*p.host_port),
                                                                "published port"}) +
                                 "\", shape=cds, style=filled, fillcolor=\"#eeeeee\"];");
        }
        if (c.network_mode == "host" && first_endpoint.count(without_slash(c.name)) == 0U) {
            std::string id = "n" + std::to_string(++counter);
            first_endpoint[without_slash(c.name)] = id;
            host_lines.push_back(id + " [label=\"" + container_label(c, nullptr) + "\\nhost networking\"" + container_style(c) + "];");
        }
    }
    if (!cf_bridged) {
        if (cf_known && cf.where == "container" && first_endpoint.count(cf_name) != 0U) {
            cf_host_id = first_endpoint[cf_name];  // host networking: already drawn as a container
        } else {
            cf_host_id = "n" + std::to_string(++counter);
            std::string label = !cf_known ? dot_lines({"cloudflared", "placement unknown", "(stored snapshot)"})
                                          : dot_lines({"cloudflared", "on the host"});
            host_lines.push_back(cf_host_id + " [label=\"" + label +
                                 "\", shape=hexagon, style=\"filled,bold\", fillcolor=\"#fde9c9\"];");
        }
    }
    for (const auto& r : t.routes) {
        if (r.row.target_type.value_or("") != "host") continue;
        if (host_service_id.count(r.row.target) != 0U) continue;
        std::string id = "n" + std::to_string(++counter);
        host_service_id[r.row.target] = id;
        host_lines.push_back(id + " [label=\"" + dot_lines({r.row.target, "service on this host"}) +
                             "\", shape=component, style=filled, fillcolor=\"#eeeeee\"];");
    }
    out << "  subgraph cluster_host {\n    label=\"this host\"; style=\"rounded,dashed\"; color=gray40;\n";
    for (const auto& l : host_lines) out << "    " << l << "\n";
    out << "  }\n";

    // Containers on no network at all.
    for (const auto& c : snap.containers) {
        if (first_endpoint.count(without_slash(c.name)) != 0U) continue;
        std::string id = "n" + std::to_string(++counter);
        first_endpoint[without_slash(c.name)] = id;
        out << "  " << id << " [label=\"" << container_label(c, nullptr) << "\\nno network\"" << container_style(c) << "];\n";
    }

    // Published ports lead to their containers.
    for (const auto& c : snap.containers) {
        auto to = first_endpoint.find(without_slash(c.name));
        if (to == first_endpoint.end()) continue;
        std::set<int64_t> done;
        for (const auto& p : c.ports) {
            if (!p.host_port || !done.insert(*p.host_port).second) continue;
            out << "  " << host_port_id[*p.host_port] << " -> " << to->second << " [style=dotted, arrowhead=open, label="
                << q(":" + std::to_string(p.container_port)) << "];\n";
        }
    }

    // Hostnames: hostname → cloudflared (where it starts the path) → the target.
    std::set<std::string> edges;
    for (const auto& r : t.routes) {
        const std::string host_id = "n" + std::to_string(++counter);
        const bool broken = r.health == route_health::broken;
        const bool moved = r.health == route_health::moved;
        const char* color = broken ? "#c62828" : moved ? "#e08a00" : r.health == route_health::ok ? "#2e7d32" : "gray30";
        out << "  " << host_id << " [label=\""
            << dot_lines({r.row.hostname, "project " + r.row.project + ", port " + std::to_string(r.row.port)})
            << "\", shape=note, style=filled, fillcolor=white, color=\"" << color << "\", penwidth=1.5];\n";

        const std::string type = r.row.target_type.value_or("");
        const std::string net = r.row.docker_network.value_or("");
        const std::string name = without_slash(r.row.container_name.value_or(""));
        // Where cloudflared starts this path.
        std::string cf_id = cf_host_id;
        if (cf_bridged) {
            auto on_net = endpoint_id.find({cf_name, net});
            cf_id = on_net != endpoint_id.end() ? on_net->second
                    : first_endpoint.count(cf_name) != 0U ? first_endpoint[cf_name]
                                                           : std::string();
        }
        if (cf_id.empty()) {
            cf_id = "n" + std::to_string(++counter);
            out << "  " << cf_id << " [label=\"cloudflared\", shape=hexagon, style=\"filled,bold\", fillcolor=\"#fde9c9\"];\n";
            if (cf_bridged) first_endpoint[cf_name] = cf_id;
        }
        // The target node.
        std::string target_id;
        if (type == "container") {
            auto e = endpoint_id.find({name, net});
            target_id = e != endpoint_id.end() ? e->second : first_endpoint.count(name) != 0U ? first_endpoint[name] : "";
        } else if (type == "host_port") {
            auto p = host_port_id.find(port_of(r.row.target));
            target_id = p != host_port_id.end() ? p->second : "";
        } else if (type == "host") {
            target_id = host_service_id[r.row.target];
        }
        if (target_id.empty()) {
            target_id = "n" + std::to_string(++counter);
            std::string what = type == "container" || (type == "host_port" && !name.empty()) ? name + " (gone)"
                                                                                                : r.row.target;
            out << "  " << target_id << " [label=\"" << dot_lines({what}) << "\", style=\"rounded,dashed\", color=\"#c62828\", "
                << "fontcolor=\"#c62828\"];\n";
        }
        out << "  " << host_id << " -> " << cf_id << " [color=\"" << color << "\", arrowhead=vee];\n";
        std::vector<std::string> label{r.row.target};
        if (broken) {
            for (const auto& l : wrapped_lines("BROKEN: " + r.problem, 40)) label.push_back(l);
        } else if (moved) {
            label.push_back(r.now ? "moved: now " + r.now->service : std::string("moved: now refused"));
        }
        std::ostringstream edge;
        edge << cf_id << " -> " << target_id << " [label=\"" << dot_lines(label) << "\", color=\"" << color
             << "\", fontcolor=\"" << color << "\"" << (broken ? ", style=dashed, penwidth=1.5" : ", penwidth=1.5") << "];";
        if (edges.insert(edge.str()).second) out << "  " << edge.str() << "\n";
    }
    out << "}\n";
    return out.str();
}

std::string topology_json(const topology& t, const std::string* text) {
    rapidjson::Document d;
    d.Parse(model::encode(t.snapshot).c_str());
    if (!d.IsObject()) d.SetObject();
    auto& a = d.GetAllocator();
    auto str = [&](const std::string& s) { return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a); };
    auto set = [&](rapidjson::Value& o, const char* key, rapidjson::Value v) {
        if (o.HasMember(key)) o.RemoveMember(key);
        o.AddMember(rapidjson::Value(key, a), v, a);
    };
    auto opt = [&](const std::optional<std::string>& s) { return s ? str(*s) : rapidjson::Value(); };
    set(d, "source", str(t.source));
    if (!d.HasMember("cloudflared")) set(d, "cloudflared", rapidjson::Value());
    rapidjson::Value notes(rapidjson::kArrayType);
    for (const auto& n : t.notes) notes.PushBack(str(n), a);
    set(d, "notes", std::move(notes));
    rapidjson::Value hosts(rapidjson::kArrayType);
    int64_t broken = 0;
    for (const auto& r : t.routes) {
        rapidjson::Value h(rapidjson::kObjectType);
        set(h, "hostname", str(r.row.hostname));
        set(h, "project", str(r.row.project));
        set(h, "port", rapidjson::Value(r.row.port));
        set(h, "target", str(r.row.target));
        set(h, "target_type", opt(r.row.target_type));
        set(h, "container_name", opt(r.row.container_name));
        set(h, "docker_network", opt(r.row.docker_network));
        set(h, "path", str(r.path));
        set(h, "health", str(route_health_name(r.health)));
        set(h, "problem", str(r.problem));
        if (r.now) {
            rapidjson::Value now(rapidjson::kObjectType);
            set(now, "service", str(r.now->service));
            set(now, "type", str(r.now->type));
            set(now, "container_name", str(r.now->container_name));
            set(now, "docker_network", str(r.now->docker_network));
            set(now, "reason", str(r.now->reason));
            set(h, "now", std::move(now));
        } else {
            set(h, "now", rapidjson::Value());
        }
        set(h, "now_error", str(r.now_error));
        broken += r.health == route_health::broken ? 1 : 0;
        hosts.PushBack(std::move(h), a);
    }
    set(d, "hostnames", std::move(hosts));
    set(d, "broken", rapidjson::Value(broken));
    if (text != nullptr) set(d, "text", str(*text));
    return json::to_string(d);
}

}  // namespace tunnelmgr::core
