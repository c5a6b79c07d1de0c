// The built docker-runtime.so through the C ABI against a real dockerd (tests/support/dockerd):
// networks and containers made with the docker CLI must show up in snapshot() with their IPs, aliases
// and ports; cloudflared is found only when running; events arrive; a stopped daemon is a sentence.
#include <cstdio>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "dockerd/dockerd_fixture.hpp"
#include "plugin_host/plugin_host.hpp"

namespace {

using namespace tunnelmgr::testing;
using namespace tunnelmgr::testing;
using namespace std::chrono_literals;

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

class DockerRuntimePlugin : public dockerd_test {
protected:
    void SetUp() override {
        dockerd_test::SetUp();
        if (HasFatalFailure()) return;
        api_ = load_plugin("docker-runtime", &lib_);
        ASSERT_NE(api_, nullptr);
        ASSERT_NE(api_->container_runtime_v1, nullptr);
        runtime_ = api_->container_runtime_v1;
        ASSERT_NE(runtime_->watch_start, nullptr);
        ASSERT_NE(runtime_->watch_stop, nullptr);
    }
    void TearDown() override {
        if (instance_ != nullptr) api_->destroy(instance_);
    }

    void start_plugin(const std::string& extra = "") {
        const std::string config = R"({"plugin":"docker-runtime","socket":")" + dockerd->socket_path() +
                                   R"(","timeout_ms":5000)" + extra + "}";
        tm_rc rc = TM_ERROR;
        instance_ = api_->init(host_.api(), config.c_str(), &rc);
        ASSERT_EQ(rc, TM_OK) << api_->last_error(nullptr);
        ASSERT_NE(instance_, nullptr);
    }

    rapidjson::Document snapshot() {
        const char* out = nullptr;
        const tm_rc rc = runtime_->snapshot(instance_, &out);
        EXPECT_EQ(rc, TM_OK) << api_->last_error(instance_);
        return parse(rc == TM_OK ? out : "{}");
    }

    static void must(const docker_result& r) { ASSERT_TRUE(r.ok()) << r.output(); }

    void* lib_ = nullptr;
    const tm_plugin_api* api_ = nullptr;
    const tm_container_runtime_v1* runtime_ = nullptr;
    tm_plugin_t* instance_ = nullptr;
    recording_host host_;
};

TEST_F(DockerRuntimePlugin, SnapshotShowsNetworksContainersAddressesAliasesAndPorts) {
    must(docker("network", "create", "edge"));
    must(docker("run", "-d", "--name", "alpha-web", "--label", "com.supervisor.project=alpha", "--network", "edge",
                "--network-alias", "web", "-p", "127.0.0.1::8080", "tm-busybox:latest", "sleep", "3600"));
    // Never started: its ports come from the bindings, and it has no address.
    must(docker("create", "--name", "beta-api", "--network", "edge", "-p", "127.0.0.1:18999:3000",
                "tm-busybox:latest", "sleep", "3600"));
    must(docker("run", "-d", "--name", "loner", "tm-busybox:latest", "sleep", "3600"));
    start_plugin(R"(,"projects":["beta"])");

    auto snap = snapshot();
    EXPECT_STREQ(snap["api_version"].GetString(), "1.41");
    const auto* edge = find_by(snap["networks"], "name", "edge");
    ASSERT_NE(edge, nullptr);
    EXPECT_TRUE((*edge)["user_defined"].GetBool());
    EXPECT_STREQ((*edge)["driver"].GetString(), "bridge");
    for (const char* builtin : {"host", "none"}) {
        const auto* n = find_by(snap["networks"], "name", builtin);
        ASSERT_NE(n, nullptr) << builtin;
        EXPECT_FALSE((*n)["user_defined"].GetBool());
    }

    const auto* web = find_by(snap["containers"], "name", "alpha-web");
    ASSERT_NE(web, nullptr);
    EXPECT_STREQ((*web)["state"].GetString(), "running");
    EXPECT_STREQ((*web)["project"].GetString(), "alpha");
    EXPECT_STREQ((*web)["image"].GetString(), "tm-busybox:latest");
    ASSERT_EQ((*web)["networks"].Size(), 1u);
    const auto& endpoint = (*web)["networks"][0];
    EXPECT_STREQ(endpoint["network"].GetString(), "edge");
    const std::string ip = trimmed(docker("inspect", "-f", "{{.NetworkSettings.Networks.edge.IPAddress}}", "alpha-web").out);
    EXPECT_EQ(endpoint["ip"].GetString(), ip);
    const std::string gateway = trimmed(docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "edge").out);
    EXPECT_EQ(endpoint["gateway"].GetString(), gateway);
    bool has_alias = false;
    for (const auto& a : endpoint["aliases"].GetArray()) has_alias = has_alias || std::string(a.GetString()) == "web";
    EXPECT_TRUE(has_alias) << "aliases come from inspect";

    // The random host port, as `docker port` reports it ("127.0.0.1:49153").
    const std::string published = trimmed(docker("port", "alpha-web", "8080/tcp").out);
    ASSERT_EQ((*web)["ports"].Size(), 1u);
    const auto& port = (*web)["ports"][0];
    EXPECT_EQ(port["container_port"].GetInt(), 8080);
    EXPECT_STREQ(port["host_ip"].GetString(), "127.0.0.1");
    EXPECT_EQ("127.0.0.1:" + std::to_string(port["host_port"].GetInt()), published);

    const auto* api = find_by(snap["containers"], "name", "beta-api");
    ASSERT_NE(api, nullptr);
    EXPECT_STREQ((*api)["state"].GetString(), "created");
    EXPECT_STREQ((*api)["project"].GetString(), "beta") << "from the name prefix of a known project";
    ASSERT_EQ((*api)["ports"].Size(), 1u);
    EXPECT_EQ((*api)["ports"][0]["host_port"].GetInt(), 18999);
    ASSERT_EQ((*api)["networks"].Size(), 1u);
    EXPECT_TRUE((*api)["networks"][0]["ip"].IsNull());

    const auto* loner = find_by(snap["containers"], "name", "loner");
    ASSERT_NE(loner, nullptr);
    EXPECT_TRUE((*loner)["project"].IsNull()) << "no label, no known prefix: no project, never a guess";
    EXPECT_STREQ(snap["cloudflared"]["where"].GetString(), "host");
}

TEST_F(DockerRuntimePlugin, ReSnapshotReflectsChanges) {
    must(docker("network", "create", "one"));
    must(docker("network", "create", "two"));
    must(docker("run", "-d", "--name", "app", "--network", "one", "tm-busybox:latest", "sleep", "3600"));
    start_plugin();
    auto before = snapshot();
    const auto* app = find_by(before["containers"], "name", "app");
    ASSERT_NE(app, nullptr);
    EXPECT_EQ((*app)["networks"].Size(), 1u);

    must(docker("network", "connect", "--alias", "app-two", "two", "app"));
    must(docker("network", "create", "three"));
    auto connected = snapshot();
    app = find_by(connected["containers"], "name", "app");
    ASSERT_NE(app, nullptr);
    ASSERT_EQ((*app)["networks"].Size(), 2u);
    EXPECT_STREQ((*app)["networks"][1]["network"].GetString(), "two");
    EXPECT_FALSE((*app)["networks"][1]["ip"].IsNull());
    EXPECT_NE(find_by(connected["networks"], "name", "three"), nullptr);

    must(docker("kill", "app"));
    must(docker("rm", "-f", "app"));
    must(docker("network", "rm", "three"));
    auto removed = snapshot();
    EXPECT_EQ(find_by(removed["containers"], "name", "app"), nullptr);
    EXPECT_EQ(find_by(removed["networks"], "name", "three"), nullptr);
}

TEST_F(DockerRuntimePlugin, OnlyARunningCloudflaredCountsWithItsNetworks) {
    must(docker("network", "create", "tunnel-net"));
    must(docker("run", "-d", "--name", "cloudflared", "--network", "tunnel-net", "tm-busybox:latest", "sleep", "3600"));
    start_plugin();
    auto running = snapshot();
    const auto& cf = running["cloudflared"];
    EXPECT_STREQ(cf["where"].GetString(), "container");
    EXPECT_STREQ(cf["container"].GetString(), "cloudflared");
    EXPECT_FALSE(cf["host_network"].GetBool());
    ASSERT_EQ(cf["networks"].Size(), 1u);
    EXPECT_STREQ(cf["networks"][0].GetString(), "tunnel-net");
    const std::string gateway =
        trimmed(docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "tunnel-net").out);
    EXPECT_EQ(running["host_gateway"].GetString(), gateway) << "the host as cloudflared's container reaches it";

    must(docker("kill", "cloudflared"));
    auto stopped = snapshot();
    EXPECT_STREQ(stopped["cloudflared"]["where"].GetString(), "host");
    EXPECT_TRUE(stopped["cloudflared"]["container"].IsNull());
    ASSERT_EQ(stopped["cloudflared"]["stopped"].Size(), 1u);
    EXPECT_STREQ(stopped["cloudflared"]["stopped"][0].GetString(), "cloudflared");
}

TEST_F(DockerRuntimePlugin, HostNetworkedCloudflared) {
    must(docker("run", "-d", "--name", "cloudflared", "--network", "host", "tm-busybox:latest", "sleep", "3600"));
    start_plugin();
    auto snap = snapshot();
    EXPECT_STREQ(snap["cloudflared"]["where"].GetString(), "container");
    EXPECT_TRUE(snap["cloudflared"]["host_network"].GetBool());
    EXPECT_EQ(snap["cloudflared"]["networks"].Size(), 0u);
    EXPECT_TRUE(snap["host_gateway"].IsNull());
}

TEST_F(DockerRuntimePlugin, EventsArriveForStartDieConnectAndDisconnect) {
    must(docker("network", "create", "evnet"));
    must(docker("create", "--name", "worker", "tm-busybox:latest", "sleep", "3600"));
    start_plugin();
    ASSERT_EQ(runtime_->watch_start(instance_), TM_OK) << api_->last_error(instance_);

    auto named = [](const char* name) {
        return [name](const rapidjson::Document& d) { return d.HasMember("name") && d["name"] == name; };
    };
    recorded_event started, died, connected, disconnected;
    const int64_t start_issued = now_ms();
    must(docker("start", "worker"));
    ASSERT_TRUE(host_.wait_for("container.start", named("worker"), 10s, &started)) << host_.all_logs();
    // The daemon reports connect/disconnect when an endpoint joins a running container's sandbox.
    must(docker("network", "connect", "evnet", "worker"));
    auto on_evnet = [](const rapidjson::Document& d) { return d["network"] == "evnet"; };
    ASSERT_TRUE(host_.wait_for("network.connect", on_evnet, 10s, &connected)) << host_.all_logs();
    must(docker("network", "disconnect", "evnet", "worker"));
    ASSERT_TRUE(host_.wait_for("network.disconnect", on_evnet, 10s, &disconnected)) << host_.all_logs();
    const int64_t kill_issued = now_ms();
    must(docker("kill", "worker"));
    ASSERT_TRUE(host_.wait_for("container.die", named("worker"), 10s, &died)) << host_.all_logs();
    EXPECT_EQ(parse(died.json.c_str())["exit_code"].GetInt(), 137);

    // Figures, not assertions: how long from the daemon's event time to the host seeing it.
    auto lag = [](const recorded_event& e) {
        const int64_t received = std::chrono::duration_cast<std::chrono::milliseconds>(e.received.time_since_epoch()).count();
        return received - parse(e.json.c_str())["time_ms"].GetInt64();
    };
    std::printf("[figure] docker-runtime event lag (daemon time -> emit_event): start %lld ms, die %lld ms, "
                "connect %lld ms, disconnect %lld ms; CLI issue -> emit: start %lld ms, kill %lld ms\n",
                static_cast<long long>(lag(started)), static_cast<long long>(lag(died)),
                static_cast<long long>(lag(connected)), static_cast<long long>(lag(disconnected)),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(started.received.time_since_epoch()).count() - start_issued),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(died.received.time_since_epoch()).count() - kill_issued));
    EXPECT_EQ(runtime_->watch_stop(instance_), TM_OK);
}

TEST_F(DockerRuntimePlugin, StoppedDaemonIsAClearRetryAndTheWatcherComesBack) {
    must(docker("create", "--name", "worker", "tm-busybox:latest", "sleep", "3600"));
    start_plugin();
    ASSERT_EQ(runtime_->watch_start(instance_), TM_OK);
    snapshot();

    auto stopped = run_process({"/bin/bash", TM_DOCKERD_SH, "stop", dockerd->dir()});
    ASSERT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
    const char* out = nullptr;
    EXPECT_EQ(runtime_->snapshot(instance_, &out), TM_RETRY);
    const std::string error = api_->last_error(instance_);
    EXPECT_EQ(error.rfind("cannot reach the Docker daemon at " + dockerd->socket_path() + " (", 0), 0u) << error;
    EXPECT_NE(error.find("): is dockerd running, and may this user use the socket?"), std::string::npos) << error;

    // Back again: snapshots work, and the watcher reconnects by itself (its backoff is at most 30 s).
    auto restarted = run_process({"/bin/bash", TM_DOCKERD_SH, "start", dockerd->dir()});
    ASSERT_EQ(restarted.exit_code, 0) << restarted.out << restarted.err;
    snapshot();
    // dockerd.sh stop removed every container; the new daemon's events start afresh.
    must(docker("create", "--name", "worker2", "tm-busybox:latest", "sleep", "3600"));
    const size_t before = host_.event_count();
    bool seen = false;
    for (int attempt = 0; attempt < 6 && !seen; ++attempt) {  // until the watcher is back: cycle the container
        must(docker("start", "worker2"));
        seen = host_.wait_for("container.start", [](const rapidjson::Document& d) { return d["name"] == "worker2"; },
                              10s, nullptr, before);
        if (!seen) must(docker("kill", "worker2"));
    }
    EXPECT_TRUE(seen) << host_.all_logs();
    const std::string logs = host_.all_logs();
    EXPECT_NE(logs.find("Docker events: "), std::string::npos) << logs;  // the outage was logged, with a retry
    EXPECT_EQ(runtime_->watch_stop(instance_), TM_OK);
}

TEST_F(DockerRuntimePlugin, RefusesABadConfigWithASentence) {
    tm_rc rc = TM_OK;
    EXPECT_EQ(api_->init(host_.api(), R"({"socket":"/x","poll":"60s"})", &rc), nullptr);
    EXPECT_NE(rc, TM_OK);
    EXPECT_NE(std::string(api_->last_error(nullptr)).find("runtime.poll is not a docker-runtime setting"),
              std::string::npos);
}

}  // namespace
