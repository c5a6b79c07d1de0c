// `tunnelmgr topology` against a real dockerd: networks and containers made with the docker CLI, the
// real docker-runtime plugin reading them, names published with `cname add` (Cloudflare fake), then
// the DOT shows each hostname's path (cloudflared on the shared network → the container by name), a
// stopped container's path is flagged broken, and --format svg is Graphviz's picture (skipped, saying
// so, where Graphviz is not installed; without `dot` in PATH the command says to install graphviz).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <unistd.h>

#include <rapidjson/document.h>

#include "cloudflare_fake.hpp"
#include "dockerd/dockerd_fixture.hpp"
#include "process/run_process.hpp"

using namespace tunnelmgr::testing;
namespace fs = std::filesystem;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string image = "tm-busybox:latest";

bool graphviz_installed() {
    for (const char* dir : {"/usr/bin/dot", "/usr/local/bin/dot", "/bin/dot"}) {
        if (access(dir, X_OK) == 0) return true;
    }
    return false;
}

// The id of the DOT node whose label's first line is `first` (a regex).
std::string node_id(const std::string& dot, const std::string& first) {
    std::smatch m;
    if (!std::regex_search(dot, m, std::regex("(n[0-9]+) \\[label=\"" + first + "(\\\\n|\")"))) return "";
    return m[1];
}

class topology_command : public dockerd_test {
protected:
    void SetUp() override {
        dockerd_test::SetUp();
        dir_ = fs::temp_directory_path() / ("tm-topology-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        cloudflare_fake::options o;
        o.zones = {"example.com"};
        auto f = cloudflare_fake::start(o);
        ASSERT_TRUE(f) << f.error();
        fake_ = std::move(*f);
        std::ofstream(dir_ / "token") << "fake-token-for-tests\n";
        std::ofstream(dir_ / "cloudflared.yml") << "tunnel: t\ningress:\n  - service: http_status:404\n";
        std::ofstream(dir_ / "config.yml")
            << "state: { plugin: sqlite-state, path: " << (dir_ / "state.db").string() << " }\n"
            << "dns: { plugin: cloudflare-dns, api_base: " << fake_->base_url()
            << ", api_token_file: " << (dir_ / "token").string() << " }\n"
            << "runtime: { plugin: docker-runtime, socket: " << dockerd->socket_path() << " }\n"
            << "tunnel: { id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, default_domain: example.com, config_file: "
            << (dir_ / "cloudflared.yml").string() << " }\n"
            << "projects:\n  alpha: { ports: \"3000-3999\" }\n"
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
        config_ = (dir_ / "config.yml").string();
    }
    void TearDown() override {
        fake_.reset();
        fs::remove_all(dir_);
        dockerd_test::TearDown();
    }
    void run(const std::vector<std::string>& args) {
        std::vector<std::string> a{"run", "-d"};
        a.insert(a.end(), args.begin(), args.end());
        auto r = dockerd->docker(a);
        ASSERT_TRUE(r.ok()) << r.output();
    }
    process_result tm(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
        std::vector<std::string> argv{binary, "--config", config_, "--log-level", "error"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv, env);
    }
    // cloudflared and web on tmshared; alpha-api too; alpha-site on tmother with a published port.
    // web.example.com → web:3000 and api.example.com → alpha-api:3001 published by name.
    void demo_setup() {
        ASSERT_TRUE(dockerd->docker({"network", "create", "tmshared"}).ok());
        ASSERT_TRUE(dockerd->docker({"network", "create", "tmother"}).ok());
        run({"--name", "cloudflared", "--network", "tmshared", image, "sleep", "3600"});
        run({"--name", "web", "--network", "tmshared", "--label", "com.supervisor.project=alpha", "--expose", "3000", image,
             "httpd", "-f", "-p", "3000"});
        run({"--name", "alpha-api", "--network", "tmshared", "--expose", "3001", image, "httpd", "-f", "-p", "3001"});
        run({"--name", "alpha-site", "--network", "tmother", "-p", "127.0.0.1:3102:3002", image, "sleep", "3600"});
        for (auto [sub, port] : {std::pair{"web", "3000"}, {"api", "3001"}}) {
            auto r = tm({"cname", "add", sub, "--port", port, "--project", "alpha"});
            ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
        }
    }
    fs::path dir_;
    std::string config_;
    std::unique_ptr<cloudflare_fake> fake_;
};

}  // namespace

TEST_F(topology_command, dot_shows_each_hostnames_path_and_flags_a_stopped_container) {
    ASSERT_NO_FATAL_FAILURE(demo_setup());

    auto dot = tm({"topology", "--format", "dot"});
    ASSERT_EQ(dot.exit_code, 0) << dot.err;
    const std::string& g = dot.out;
    EXPECT_NE(g.find("label=\"network tmshared (bridge, user-defined)\""), std::string::npos) << g;
    EXPECT_NE(g.find("label=\"network tmother (bridge, user-defined)\""), std::string::npos) << g;
    const std::string cf = node_id(g, "cloudflared");
    const std::string web = node_id(g, "web");
    const std::string api = node_id(g, "alpha-api");
    const std::string web_host = node_id(g, "web\\.example\\.com");
    const std::string api_host = node_id(g, "api\\.example\\.com");
    ASSERT_FALSE(cf.empty() || web.empty() || api.empty() || web_host.empty() || api_host.empty()) << g;
    EXPECT_NE(g.find(web_host + " -> " + cf + " ["), std::string::npos) << g;
    EXPECT_NE(g.find(cf + " -> " + web + " [label=\"http://web:3000\", color=\"#2e7d32\""), std::string::npos) << g;
    EXPECT_NE(g.find(cf + " -> " + api + " [label=\"http://alpha-api:3001\", color=\"#2e7d32\""), std::string::npos) << g;
    // The published port on the host leads to alpha-site.
    const std::string port = node_id(g, "127\\.0\\.0\\.1:3102");
    const std::string site = node_id(g, "alpha-site");
    ASSERT_FALSE(port.empty() || site.empty()) << g;
    EXPECT_NE(g.find(port + " -> " + site + " [style=dotted"), std::string::npos) << g;

    // alpha-api stops: its path is broken now (the rule still points at it).
    ASSERT_TRUE(dockerd->docker({"stop", "-t", "0", "alpha-api"}).ok());
    auto after = tm({"topology", "--format", "dot"});
    ASSERT_EQ(after.exit_code, 0) << after.err;
    const std::string api_after = node_id(after.out, "alpha-api");
    const std::string cf_after = node_id(after.out, "cloudflared");
    EXPECT_NE(after.out.find(cf_after + " -> " + api_after + " [label=\"http://alpha-api:3001\\nBROKEN: container "
                                                               "alpha-api is exited\", color=\"#c62828\""),
              std::string::npos)
        << after.out;

    auto json = tm({"topology", "--json"});
    ASSERT_EQ(json.exit_code, 0) << json.err;
    rapidjson::Document d;
    d.Parse(json.out.c_str());
    ASSERT_TRUE(d.IsObject()) << json.out;
    EXPECT_STREQ(d["source"].GetString(), "runtime");
    EXPECT_STREQ(d["cloudflared"]["where"].GetString(), "container");
    EXPECT_EQ(d["broken"].GetInt64(), 1);
    std::map<std::string, std::string> health;
    for (const auto& h : d["hostnames"].GetArray()) health[h["hostname"].GetString()] = h["health"].GetString();
    EXPECT_EQ(health["web.example.com"], "ok") << json.out;
    EXPECT_EQ(health["api.example.com"], "broken") << json.out;

    auto text = tm({"topology"});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("cloudflared: container cloudflared on network tmshared"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("  api.example.com  alpha:3001  BROKEN\n"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("  alpha-site  running  project alpha\n"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("ports: 3002/tcp published on 127.0.0.1:3102"), std::string::npos) << text.out;

    auto bad = tm({"topology", "--format", "png"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("--format is text, dot or svg"), std::string::npos) << bad.err;
}

TEST_F(topology_command, svg_is_graphvizs_picture_and_without_dot_the_command_says_to_install_graphviz) {
    ASSERT_NO_FATAL_FAILURE(demo_setup());

    // No `dot` in PATH: a clear sentence, exit 2, nothing on stdout.
    const fs::path empty_bin = dir_ / "no-bin";
    fs::create_directories(empty_bin);
    auto missing = tm({"topology", "--format", "svg"}, {{"PATH", empty_bin.string()}});
    EXPECT_EQ(missing.exit_code, 2) << missing.out << missing.err;
    EXPECT_EQ(missing.out, "");
    EXPECT_NE(missing.err.find("install the Debian package graphviz"), std::string::npos) << missing.err;

    if (!graphviz_installed()) {
        GTEST_SKIP() << "Graphviz's dot is not installed (Debian package graphviz, in install-deps.sh --test): "
                        "the SVG itself is not checked";
    }
    auto svg = tm({"topology", "--format", "svg"});
    ASSERT_EQ(svg.exit_code, 0) << svg.err;
    EXPECT_NE(svg.out.find("<svg"), std::string::npos) << svg.out.substr(0, 400);
    EXPECT_NE(svg.out.find("</svg>"), std::string::npos);
    for (const char* text : {"web.example.com", "api.example.com", "network tmshared", "http://web:3000"}) {
        EXPECT_NE(svg.out.find(text), std::string::npos) << text;
    }
}
