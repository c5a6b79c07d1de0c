// Target selection against a real dockerd: real containers and networks made with the docker CLI,
// the real docker-runtime plugin reading them, and `tunnelmgr cname check` (the dry run) saying
// what it would choose. The daemon runs without a default bridge (FACTS.md flags), so the
// "only the default bridge" case is covered by the unit tests over snapshots.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <rapidjson/document.h>

#include "cloudflare_fake.hpp"
#include "dockerd/dockerd_fixture.hpp"
#include "process/run_process.hpp"

using namespace tunnelmgr::testing;
namespace fs = std::filesystem;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";

class target_selection : public dockerd_test {
protected:
    void SetUp() override {
        dockerd_test::SetUp();
        dir_ = fs::temp_directory_path() / ("tm-targets-" + std::to_string(::getpid()));
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
            << "dns: { plugin: cloudflare-dns, api_base: " << fake_->base_url() << ", api_token_file: " << (dir_ / "token").string()
            << " }\n"
            << "runtime: { plugin: docker-runtime, socket: " << dockerd->socket_path() << " }\n"
            << "tunnel: { id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, default_domain: example.com, config_file: " << (dir_ / "cloudflared.yml").string() << " }\n"
            << "projects:\n  alpha: { ports: \"3000-3999\" }\n  beta: { ports: \"4000-4999\" }\n"
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
    }
    void TearDown() override {
        fake_.reset();
        fs::remove_all(dir_);
        dockerd_test::TearDown();
    }
    // `cname check` → (available, target or problem, type)
    std::map<std::string, std::string> check(int port, const std::string& project = "alpha") {
        auto r = run_process({binary, "--config", (dir_ / "config.yml").string(), "--log-level", "error", "cname", "check", "x",
                              "--port", std::to_string(port), "--project", project, "--json"});
        rapidjson::Document d;
        d.Parse(r.out.c_str());
        std::map<std::string, std::string> out;
        if (!d.IsObject()) {
            out["error"] = r.err;
            return out;
        }
        out["available"] = d["available"].GetBool() ? "yes" : "no";
        for (const char* k : {"ingress_target", "target_type", "problem", "docker_network", "container_name", "probe"}) {
            if (d.HasMember(k) && d[k].IsString()) out[k] = d[k].GetString();
        }
        if (d.HasMember("reachable") && d["reachable"].IsBool()) out["reachable"] = d["reachable"].GetBool() ? "yes" : "no";
        return out;
    }
    void run(const std::vector<std::string>& args) {
        std::vector<std::string> a{"run", "-d"};
        a.insert(a.end(), args.begin(), args.end());
        auto r = dockerd->docker(a);
        ASSERT_TRUE(r.ok()) << r.output();
    }
    fs::path dir_;
    std::unique_ptr<cloudflare_fake> fake_;
};

const std::string image = "tm-busybox:latest";

}  // namespace

TEST_F(target_selection, container_names_on_a_shared_network_and_the_fixes_when_not_shared) {
    ASSERT_TRUE(dockerd->docker({"network", "create", "tmshared"}).ok());
    ASSERT_TRUE(dockerd->docker({"network", "create", "tmother"}).ok());
    run({"--name", "cloudflared", "--network", "tmshared", image, "sleep", "3600"});
    run({"--name", "web", "--network", "tmshared", "--label", "com.supervisor.project=alpha", "--expose", "3000", image, "httpd",
         "-f", "-p", "3000"});
    run({"--name", "alpha-api", "--network", "tmother", "--expose", "3001", image, "sleep", "3600"});  // project by prefix

    auto shared = check(3000);
    EXPECT_EQ(shared["available"], "yes") << shared["problem"] << shared["error"];
    EXPECT_EQ(shared["ingress_target"], "http://web:3000");
    EXPECT_EQ(shared["target_type"], "container");
    EXPECT_EQ(shared["docker_network"], "tmshared");
    // The TCP probe reaches httpd in the container through its IP on that network.
    EXPECT_EQ(shared["reachable"], "yes") << shared["probe"];

    auto apart = check(3001);
    EXPECT_EQ(apart["available"], "no");
    EXPECT_NE(apart["problem"].find("docker network connect tmother cloudflared"), std::string::npos) << apart["problem"];

    // After the fix the operator was told to run, the same request resolves by name.
    ASSERT_TRUE(dockerd->docker({"network", "connect", "tmother", "cloudflared"}).ok());
    auto fixed = check(3001);
    EXPECT_EQ(fixed["ingress_target"], "http://alpha-api:3001") << fixed["problem"];
    EXPECT_EQ(fixed["reachable"], "no") << "nothing listens on 3001 in alpha-api: " << fixed["probe"];

    // Another project's container on the port asked for is never chosen: beta gets a host service
    // (through the gateway of cloudflared's network), not alpha's container.
    run({"--name", "alpha-intruder", "--network", "tmshared", "--expose", "4000", image, "sleep", "3600"});
    auto other = check(4000, "beta");
    EXPECT_EQ(other["target_type"], "host") << other["ingress_target"] << other["problem"];
    EXPECT_EQ(other["ingress_target"].find("alpha-intruder"), std::string::npos) << other["ingress_target"];
}

TEST_F(target_selection, published_ports_and_host_services_with_cloudflared_on_the_host) {
    ASSERT_TRUE(dockerd->docker({"network", "create", "tmapps"}).ok());
    run({"--name", "alpha-site", "--network", "tmapps", "-p", "127.0.0.1:3100:3000", image, "sleep", "3600"});
    run({"--name", "alpha-hidden", "--network", "tmapps", "--expose", "3200", image, "sleep", "3600"});
    // A stopped cloudflared container does not count: cloudflared is on the host.
    run({"--name", "cloudflared", "--network", "tmapps", image, "sleep", "3600"});
    ASSERT_TRUE(dockerd->docker({"stop", "-t", "0", "cloudflared"}).ok());

    auto published = check(3000);
    EXPECT_EQ(published["ingress_target"], "http://localhost:3100") << published["problem"] << published["error"];
    EXPECT_EQ(published["target_type"], "host_port");

    auto hidden = check(3200);
    EXPECT_EQ(hidden["available"], "no");
    EXPECT_NE(hidden["problem"].find("publish the port on the host"), std::string::npos) << hidden["problem"];

    auto host_service = check(3500);
    EXPECT_EQ(host_service["ingress_target"], "http://localhost:3500");
    EXPECT_EQ(host_service["target_type"], "host");
}

TEST_F(target_selection, host_networked_cloudflared_reaches_published_ports) {
    ASSERT_TRUE(dockerd->docker({"network", "create", "tmapps2"}).ok());
    run({"--name", "cloudflared", "--network", "host", image, "sleep", "3600"});
    run({"--name", "alpha-site", "--network", "tmapps2", "-p", "127.0.0.1:3300:3000", image, "sleep", "3600"});
    auto t = check(3000);
    EXPECT_EQ(t["ingress_target"], "http://localhost:3300") << t["problem"] << t["error"];
    EXPECT_EQ(t["target_type"], "host_port");
}

// Reconcile compares each published name's target with what the topology gives now: a container that
// moved to another network, or stopped, is reported as target_moved with the fix; one that stayed is not.
TEST_F(target_selection, reconcile_reports_a_container_that_moved_network_or_stopped) {
    ASSERT_TRUE(dockerd->docker({"network", "create", "tmshared"}).ok());
    ASSERT_TRUE(dockerd->docker({"network", "create", "tmother"}).ok());
    run({"--name", "cloudflared", "--network", "tmshared", image, "sleep", "3600"});
    run({"--name", "alpha-web", "--network", "tmshared", "--expose", "3000", image, "httpd", "-f", "-p", "3000"});
    run({"--name", "alpha-api", "--network", "tmshared", "--expose", "3001", image, "httpd", "-f", "-p", "3001"});
    run({"--name", "alpha-db", "--network", "tmshared", "--expose", "3002", image, "httpd", "-f", "-p", "3002"});
    const std::string config = (dir_ / "config.yml").string();
    for (auto [sub, port] : {std::pair{"web", "3000"}, {"api", "3001"}, {"db", "3002"}}) {
        auto r = run_process({binary, "--config", config, "--log-level", "error", "cname", "add", sub, "--port", port,
                              "--project", "alpha"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    auto clean = run_process({binary, "--config", config, "--log-level", "error", "reconcile", "--json"});
    EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;

    // web moves to a network cloudflared is not on; api stops; db stays.
    ASSERT_TRUE(dockerd->docker({"network", "disconnect", "tmshared", "alpha-web"}).ok());
    ASSERT_TRUE(dockerd->docker({"network", "connect", "tmother", "alpha-web"}).ok());
    ASSERT_TRUE(dockerd->docker({"stop", "-t", "0", "alpha-api"}).ok());

    auto r = run_process({binary, "--config", config, "--log-level", "error", "reconcile", "--dry-run", "--json"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    rapidjson::Document d;
    d.Parse(r.out.c_str());
    ASSERT_TRUE(d.IsObject()) << r.out << r.err;
    std::map<std::string, std::pair<std::string, std::string>> moved;  // hostname → (expected, detail)
    for (const auto& f : d["findings"].GetArray()) {
        EXPECT_STREQ(f["class"].GetString(), "target_moved") << r.out;
        EXPECT_FALSE(f["repairable"].GetBool());
        moved[f["hostname"].GetString()] = {f["expected"].GetString(), f["detail"].GetString()};
    }
    ASSERT_EQ(moved.size(), 2u) << r.out;
    ASSERT_EQ(moved.count("web.example.com"), 1u) << r.out;
    EXPECT_EQ(moved["web.example.com"].first, "http://alpha-web:3000");
    EXPECT_NE(moved["web.example.com"].second.find("docker network connect tmother cloudflared"), std::string::npos)
        << moved["web.example.com"].second;
    ASSERT_EQ(moved.count("api.example.com"), 1u) << r.out;
    EXPECT_EQ(moved["api.example.com"].first, "http://alpha-api:3001");
    // The rules still route to the old targets: reconcile reports, it does not re-point traffic.
    std::ifstream in(dir_ / "cloudflared.yml");
    std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(file.find("http://alpha-web:3000"), std::string::npos) << file;
}
