// The topology model and its renderings from a fixed snapshot and fixed rows: which paths work,
// which are broken (and why), which moved; the text tree (escaped, within its width), the DOT
// (clusters per network, hostname → cloudflared → target edges) and the JSON.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <unistd.h>

#include <rapidjson/document.h>

#include "core/topology.hpp"
#include "sys/process.hpp"

namespace tunnelmgr::core {
namespace {

namespace model = sdk::model;

model::docker_container container(const std::string& name, const std::string& state, const std::string& project,
                                  std::vector<std::pair<std::string, std::string>> nets, std::vector<model::docker_port> ports) {
    model::docker_container c;
    c.id = name + "-id";
    c.name = name;
    c.image = "tm-busybox:latest";
    c.state = state;
    if (!project.empty()) c.project = project;
    c.network_mode = nets.empty() ? "none" : nets.front().first;
    for (auto& [net, ip] : nets) {
        model::docker_endpoint e;
        e.network = net;
        if (!ip.empty()) e.ip = ip;
        c.networks.push_back(e);
    }
    c.ports = std::move(ports);
    return c;
}

model::docker_port exposed(int64_t port) { return model::docker_port{port, "tcp", std::nullopt, std::nullopt}; }
model::docker_port published(int64_t port, int64_t host_port) {
    return model::docker_port{port, "tcp", std::string("127.0.0.1"), host_port};
}

// cloudflared in a container on `shared`; web on shared; api stopped; db moved off shared; site
// publishes 3000 on host port 3100 (on `other`, which cloudflared is not on); cache offers 3002.
model::docker_snapshot snapshot() {
    model::docker_snapshot s;
    s.networks = {{"n1", "shared", "bridge", "local", false, true}, {"n2", "other", "bridge", "local", false, true}};
    s.containers = {
        container("alpha-api", "exited", "alpha", {{"shared", ""}}, {exposed(3001)}),
        container("alpha-cache", "running", "alpha", {{"shared", "172.18.0.6"}}, {exposed(3002)}),
        container("alpha-db", "running", "alpha", {{"other", "172.19.0.3"}}, {exposed(3003)}),
        container("alpha-site", "running", "alpha", {{"other", "172.19.0.2"}}, {published(3000, 3100)}),
        container("cloudflared", "running", "", {{"shared", "172.18.0.2"}}, {}),
        container("web", "running", "alpha", {{"shared", "172.18.0.3"}}, {exposed(3005)}),
    };
    model::cloudflared_placement cf;
    cf.where = "container";
    cf.container = "cloudflared";
    cf.networks = {"shared"};
    s.cloudflared = cf;
    s.host_gateway = "172.18.0.1";
    s.api_version = "1.41";
    return s;
}

model::cname_row row(const std::string& sub, int64_t port, const std::string& target, const std::string& type,
                     const std::string& name = "", const std::string& net = "") {
    model::cname_row r;
    r.subdomain = sub;
    r.domain = "example.com";
    r.hostname = sub + ".example.com";
    r.project = "alpha";
    r.port = port;
    r.target = target;
    r.target_type = type;
    if (!name.empty()) r.container_name = name;
    if (!net.empty()) r.docker_network = net;
    return r;
}

std::vector<model::cname_row> rows() {
    return {
        row("web", 3005, "http://web:3005", "container", "web", "shared"),
        row("api", 3001, "http://alpha-api:3001", "container", "alpha-api", "shared"),
        row("db", 3003, "http://alpha-db:3003", "container", "alpha-db", "shared"),
        row("gone", 3004, "http://alpha-gone:3004", "container", "alpha-gone", "shared"),
        row("site", 3000, "http://localhost:3100", "host_port", "alpha-site"),
        row("local", 3500, "http://localhost:3500", "host"),
        // Published as a host service through the gateway; a container of alpha now offers 3002.
        row("cache", 3002, "http://172.18.0.1:3002", "host"),
    };
}

const hostname_route& route(const topology& t, const std::string& host) {
    for (const auto& r : t.routes) {
        if (r.row.hostname == host) return r;
    }
    throw std::runtime_error("no route for " + host);
}

TEST(topology, each_published_path_is_checked_against_the_snapshot_and_select_target) {
    auto t = build_topology(snapshot(), "runtime", {}, rows());
    ASSERT_EQ(t.routes.size(), 7u);
    EXPECT_EQ(t.routes.front().row.hostname, "api.example.com") << "ordered by hostname";

    const auto& web = route(t, "web.example.com");
    EXPECT_EQ(web.health, route_health::ok) << web.problem;
    EXPECT_EQ(web.path, "container web on network shared");
    ASSERT_TRUE(web.now);
    EXPECT_EQ(web.now->service, "http://web:3005");

    const auto& api = route(t, "api.example.com");
    EXPECT_EQ(api.health, route_health::broken);
    EXPECT_EQ(api.problem, "container alpha-api is exited");
    ASSERT_TRUE(api.now) << "no running container offers 3001: a host service, through the gateway";
    EXPECT_EQ(api.now->service, "http://172.18.0.1:3001");

    const auto& db = route(t, "db.example.com");
    EXPECT_EQ(db.health, route_health::broken);
    EXPECT_NE(db.problem.find("alpha-db is no longer on network shared (it is on other)"), std::string::npos) << db.problem;
    // What a new request would get says the fix: connect cloudflared to db's network.
    EXPECT_NE(db.now_error.find("docker network connect other cloudflared"), std::string::npos) << db.now_error;

    EXPECT_EQ(route(t, "gone.example.com").health, route_health::broken);
    EXPECT_EQ(route(t, "gone.example.com").problem, "container alpha-gone is gone");

    // cloudflared is a bridged container: a published host port is not localhost to it.
    const auto& site = route(t, "site.example.com");
    EXPECT_EQ(site.health, route_health::broken);
    EXPECT_EQ(site.path, "published host port 3100 of container alpha-site");
    EXPECT_NE(site.problem.find("localhost is the container itself"), std::string::npos) << site.problem;
    EXPECT_EQ(route(t, "local.example.com").health, route_health::broken);

    // The gateway path still works, but a new request would now go to the container by name.
    const auto& cache = route(t, "cache.example.com");
    EXPECT_EQ(cache.health, route_health::moved) << cache.problem;
    EXPECT_NE(cache.problem.find("http://alpha-cache:3002"), std::string::npos) << cache.problem;
}

TEST(topology, cloudflared_on_the_host_reaches_published_ports_but_not_container_names) {
    auto snap = snapshot();
    snap.cloudflared = model::cloudflared_placement{};  // on the host
    auto t = build_topology(snap, "runtime", {}, rows());
    EXPECT_EQ(route(t, "site.example.com").health, route_health::ok) << route(t, "site.example.com").problem;
    EXPECT_EQ(route(t, "local.example.com").health, route_health::ok);
    const auto& web = route(t, "web.example.com");
    EXPECT_EQ(web.health, route_health::broken);
    EXPECT_NE(web.problem.find("cloudflared runs on the host, where the container name web does not resolve"),
              std::string::npos)
        << web.problem;
}

TEST(topology, cloudflared_with_host_networking_is_drawn_inside_the_host) {
    auto snap = snapshot();
    snap.networks.push_back({"n0", "host", "host", "local", false, false});
    for (auto& c : snap.containers) {
        if (c.name != "cloudflared") continue;
        c.network_mode = "host";
        c.networks = {model::docker_endpoint{"host", std::nullopt, {}}};
    }
    model::cloudflared_placement cf;
    cf.where = "container";
    cf.container = "cloudflared";
    cf.host_network = true;
    snap.cloudflared = cf;
    auto t = build_topology(snap, "runtime", {}, rows());
    EXPECT_EQ(route(t, "site.example.com").health, route_health::ok) << route(t, "site.example.com").problem;
    EXPECT_NE(route(t, "web.example.com").problem.find("cloudflared runs with host networking"), std::string::npos);

    const std::string text = topology_text(t);
    EXPECT_NE(text.find("cloudflared: container cloudflared with host networking"), std::string::npos) << text;
    EXPECT_NE(text.find("  host (host, resolves no names): cloudflared\n"), std::string::npos) << text;
    EXPECT_NE(text.find("    networks: host networking\n"), std::string::npos) << text;

    const std::string dot = topology_dot(t);
    const auto host_cluster = dot.find("subgraph cluster_host {");
    const auto cf_node = dot.find("[label=\"cloudflared\\n");
    ASSERT_NE(host_cluster, std::string::npos) << dot;
    EXPECT_GT(cf_node, host_cluster) << dot;
    EXPECT_LT(cf_node, dot.find("  }\n", host_cluster)) << "cloudflared is inside the host's cluster\n" << dot;
    EXPECT_EQ(dot.find("network host"), std::string::npos) << "no cluster for the built-in host network\n" << dot;
}

TEST(topology, a_stored_snapshot_checks_the_containers_side_only_and_no_docker_checks_nothing) {
    auto snap = snapshot();
    snap.cloudflared.reset();  // what a stored snapshot lacks
    auto stored = build_topology(snap, "stored", {"from the store"}, rows());
    EXPECT_EQ(route(stored, "web.example.com").health, route_health::ok);
    EXPECT_EQ(route(stored, "cache.example.com").health, route_health::ok) << "no placement: no comparison";
    EXPECT_EQ(route(stored, "api.example.com").health, route_health::broken);

    auto none = build_topology({}, "none", {"no Docker"}, rows());
    for (const auto& r : none.routes) EXPECT_EQ(r.health, route_health::unchecked) << r.row.hostname;
    auto text = topology_text(none);
    EXPECT_NE(text.find("note: no Docker"), std::string::npos) << text;
    EXPECT_EQ(text.find("networks ("), std::string::npos) << "no Docker: no networks section\n" << text;
}

TEST(topology, text_is_an_indented_tree_within_its_width_with_every_name_escaped) {
    auto snap = snapshot();
    snap.containers[5].labels["x"] = "y";
    auto rs = rows();
    rs.push_back(row("evil", 3009, "http://x\x1b[2J:3009", "container", "x\x1b[2J", "shared"));
    auto t = build_topology(snap, "runtime", {}, rs);
    const std::string text = topology_text(t, 80);
    EXPECT_EQ(text.find('\x1b'), std::string::npos) << "a control character reached the terminal";
    EXPECT_NE(text.find("x\\x1b[2J"), std::string::npos) << text;
    std::istringstream in(text);
    int lines = 0;
    for (std::string l; std::getline(in, l); ++lines) EXPECT_LE(l.size(), 80u) << l;
    EXPECT_GT(lines, 20);

    EXPECT_NE(text.find("tunnelmgr topology (Docker snapshot from the runtime, Engine API 1.41)"), std::string::npos) << text;
    EXPECT_NE(text.find("cloudflared: container cloudflared on network shared"), std::string::npos) << text;
    EXPECT_NE(text.find("  shared (bridge, user-defined): alpha-api, alpha-cache, cloudflared, web"), std::string::npos) << text;
    EXPECT_NE(text.find("  alpha-site  running  project alpha\n    networks: other 172.19.0.2\n"
                        "    ports: 3000/tcp published on 127.0.0.1:3100\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("  web.example.com  alpha:3005  ok\n    -> http://web:3005 via container web on network shared\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("  api.example.com  alpha:3001  BROKEN\n"), std::string::npos) << text;
    EXPECT_NE(text.find("    broken: container alpha-api is exited\n"), std::string::npos) << text;
    EXPECT_NE(text.find("  cache.example.com  alpha:3002  moved\n"), std::string::npos) << text;
}

// The id of the node whose label's first line is `first`.
std::string node_id(const std::string& dot, const std::string& first) {
    std::smatch m;
    std::regex re("(n[0-9]+) \\[label=\"" + first + "(\\\\n|\")");
    if (!std::regex_search(dot, m, re)) return "";
    return m[1];
}

TEST(topology, dot_has_a_cluster_per_network_and_hostname_to_cloudflared_to_target_edges) {
    auto t = build_topology(snapshot(), "runtime", {}, rows());
    const std::string dot = topology_dot(t);
    EXPECT_EQ(dot.rfind("digraph tunnelmgr_topology {", 0), 0u) << dot;
    EXPECT_NE(dot.find("subgraph cluster_net0 {\n    label=\"network shared (bridge, user-defined)\""), std::string::npos) << dot;
    EXPECT_NE(dot.find("label=\"network other (bridge, user-defined)\""), std::string::npos) << dot;
    EXPECT_NE(dot.find("subgraph cluster_host {"), std::string::npos) << dot;

    const std::string cf = node_id(dot, "cloudflared");
    const std::string web = node_id(dot, "web");
    const std::string host = node_id(dot, "web.example.com");
    ASSERT_FALSE(cf.empty() || web.empty() || host.empty()) << dot;
    EXPECT_NE(dot.find(host + " -> " + cf + " ["), std::string::npos) << dot;
    EXPECT_NE(dot.find(cf + " -> " + web + " [label=\"http://web:3005\", color=\"#2e7d32\""), std::string::npos) << dot;

    // A broken path: red, dashed, saying why; a gone container is a node of its own.
    const std::string gone = node_id(dot, "alpha-gone \\(gone\\)");
    ASSERT_FALSE(gone.empty()) << dot;
    EXPECT_NE(dot.find(cf + " -> " + gone + " [label=\"http://alpha-gone:3004\\nBROKEN: container alpha-gone is gone\", "
                                           "color=\"#c62828\", fontcolor=\"#c62828\", style=dashed"),
              std::string::npos)
        << dot;
    // The published port leads to its container.
    const std::string port = node_id(dot, "127.0.0.1:3100");
    const std::string site = node_id(dot, "alpha-site");
    ASSERT_FALSE(port.empty() || site.empty()) << dot;
    EXPECT_NE(dot.find(port + " -> " + site + " [style=dotted"), std::string::npos) << dot;
}

TEST(topology, dot_labels_escape_quotes_backslashes_and_control_characters) {
    auto rs = rows();
    rs.push_back(row("q", 3009, "http://a\"b\\c\x1b:3009", "host"));
    const std::string dot = topology_dot(build_topology(snapshot(), "runtime", {}, rs));
    EXPECT_EQ(dot.find('\x1b'), std::string::npos);
    EXPECT_NE(dot.find("http://a\\\"b\\\\c\\\\x1b:3009"), std::string::npos) << dot;
}

TEST(topology, graphviz_accepts_the_dot) {
    if (access("/usr/bin/dot", X_OK) != 0) GTEST_SKIP() << "Graphviz's dot is not installed (Debian package graphviz)";
    auto rs = rows();
    rs.push_back(row("q", 3009, "http://a\"b\\c\x1b:3009", "host"));
    for (const char* source : {"runtime", "stored", "none"}) {
        auto snap = std::string(source) == "none" ? model::docker_snapshot{} : snapshot();
        if (std::string(source) == "stored") snap.cloudflared.reset();
        const std::string dot = topology_dot(build_topology(snap, source, {}, rs));
        char path[] = "/tmp/tm-topology-test-XXXXXX";
        int fd = mkstemp(path);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(write(fd, dot.data(), dot.size()), static_cast<ssize_t>(dot.size()));
        close(fd);
        auto r = sys::run({"dot", "-Tsvg", path}, std::chrono::seconds(30));
        unlink(path);
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->exit_code, 0) << source << ": " << r->err << "\n" << dot;
        EXPECT_NE(r->out.find("<svg"), std::string::npos) << source;
        EXPECT_TRUE(r->err.empty()) << source << ": " << r->err;
    }
}

TEST(topology, json_carries_the_snapshot_the_paths_and_the_text) {
    auto t = build_topology(snapshot(), "runtime", {"a note"}, rows());
    const std::string text = topology_text(t);
    rapidjson::Document d;
    d.Parse(topology_json(t, &text).c_str());
    ASSERT_TRUE(d.IsObject());
    EXPECT_STREQ(d["source"].GetString(), "runtime");
    EXPECT_STREQ(d["cloudflared"]["where"].GetString(), "container");
    EXPECT_EQ(d["containers"].Size(), 6u);
    EXPECT_EQ(d["networks"].Size(), 2u);
    EXPECT_EQ(d["broken"].GetInt64(), 5);
    EXPECT_STREQ(d["notes"][0].GetString(), "a note");
    EXPECT_EQ(std::string(d["text"].GetString()), text);
    ASSERT_EQ(d["hostnames"].Size(), 7u);
    const auto& api = d["hostnames"][0];
    EXPECT_STREQ(api["hostname"].GetString(), "api.example.com");
    EXPECT_STREQ(api["health"].GetString(), "broken");
    EXPECT_STREQ(api["now"]["type"].GetString(), "host");
    const auto& db = d["hostnames"][2];
    EXPECT_STREQ(db["hostname"].GetString(), "db.example.com");
    EXPECT_TRUE(db["now"].IsNull());
    EXPECT_NE(std::string(db["now_error"].GetString()).find("docker network connect other cloudflared"), std::string::npos);
    const auto& cache = d["hostnames"][1];
    EXPECT_STREQ(cache["health"].GetString(), "moved");
    EXPECT_STREQ(cache["now"]["service"].GetString(), "http://alpha-cache:3002");
    EXPECT_STREQ(cache["now"]["docker_network"].GetString(), "shared");

    rapidjson::Document plain;
    plain.Parse(topology_json(t).c_str());
    EXPECT_FALSE(plain.HasMember("text"));
}

}  // namespace
}  // namespace tunnelmgr::core
