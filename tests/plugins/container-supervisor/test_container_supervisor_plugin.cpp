// The built container-supervisor.so through the C ABI against a real dockerd: status of a running
// "cloudflared" container, restart with a grace period, death seen as tunnel.died and repaired by
// restart(), with the cloudflared stub running inside the container (its /ready read over loopback).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <curl/curl.h>

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

// A loopback port nobody uses right now, for the stub's metrics server.
int free_loopback_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

int64_t median(std::vector<int64_t> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? -1 : (v[v.size() / 2] + v[(v.size() - 1) / 2]) / 2;
}

class ContainerSupervisorPlugin : public dockerd_test {
protected:
    void SetUp() override {
        dockerd_test::SetUp();
        if (HasFatalFailure()) return;
        api_ = load_plugin("container-supervisor", &lib_);
        ASSERT_NE(api_, nullptr);
        sup_ = api_->tunnel_supervisor_v1;
        ASSERT_NE(sup_, nullptr);
        ASSERT_NE(sup_->watch_start, nullptr);
    }
    void TearDown() override {
        if (instance_ != nullptr) api_->destroy(instance_);
    }

    void start_plugin(int grace_s) {
        const std::string config = R"({"plugin":"container-supervisor","socket":")" + dockerd->socket_path() +
                                   R"(","container":"cloudflared","grace_s":)" + std::to_string(grace_s) +
                                   R"(,"timeout_ms":5000})";
        tm_rc rc = TM_ERROR;
        instance_ = api_->init(host_.api(), config.c_str(), &rc);
        ASSERT_EQ(rc, TM_OK) << api_->last_error(nullptr);
    }

    rapidjson::Document status() {
        const char* out = nullptr;
        const tm_rc rc = sup_->status(instance_, &out);
        EXPECT_EQ(rc, TM_OK) << api_->last_error(instance_);
        return parse(rc == TM_OK ? out : "{}");
    }

    // The stub in a busybox container with host networking, the host's /usr mounted read-only for
    // its shared libraries; its metrics server on 127.0.0.1:port.
    void run_stub(int port) {
        must(docker("run", "-d", "--name", "cloudflared", "--network", "host", "-v", "/usr:/usr:ro", "-v",
                    "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro", "-v",
                    std::string(TM_CLOUDFLARED_STUB) + ":/cloudflared:ro", "tm-busybox:latest", "/cloudflared",
                    "tunnel", "--metrics", "127.0.0.1:" + std::to_string(port), "--grace-period", "1s", "run",
                    "tm-test-tunnel"));
    }

    static bool ready(int port) {
        CURL* h = curl_easy_init();
        const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/ready";
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 500L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t count, void*) { return size * count; });
        long status = 0;
        if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
        return status == 200;
    }

    static void must(const docker_result& r) { ASSERT_TRUE(r.ok()) << r.output(); }

    void* lib_ = nullptr;
    const tm_plugin_api* api_ = nullptr;
    const tm_tunnel_supervisor_v1* sup_ = nullptr;
    tm_plugin_t* instance_ = nullptr;
    recording_host host_;
};

TEST_F(ContainerSupervisorPlugin, StatusOfARunningContainer) {
    must(docker("run", "-d", "--name", "cloudflared", "tm-busybox:latest", "sleep", "3600"));
    start_plugin(1);
    auto s = status();
    EXPECT_TRUE(s["running"].GetBool());
    EXPECT_STREQ(s["state"].GetString(), "running");
    EXPECT_EQ(std::to_string(s["pid"].GetInt64()), trimmed(docker("inspect", "-f", "{{.State.Pid}}", "cloudflared").out));
    EXPECT_TRUE(s["since_ms"].IsInt64());
    EXPECT_NE(std::string(s["detail"].GetString()).find("container cloudflared (image tm-busybox:latest) running since"),
              std::string::npos);

    must(docker("kill", "cloudflared"));
    auto dead = status();
    EXPECT_FALSE(dead["running"].GetBool());
    EXPECT_STREQ(dead["state"].GetString(), "exited");
    EXPECT_TRUE(dead["pid"].IsNull());
    EXPECT_EQ(dead["exit_code"].GetInt(), 137);
}

TEST_F(ContainerSupervisorPlugin, MissingContainerIsNotFoundWithTheFix) {
    start_plugin(1);
    const char* out = nullptr;
    EXPECT_EQ(sup_->status(instance_, &out), TM_NOT_FOUND);
    EXPECT_EQ(std::string(api_->last_error(instance_)),
              "there is no container named cloudflared on the Docker daemon at " + dockerd->socket_path() +
                  ": create it (docker run -d --name cloudflared ... cloudflared tunnel run), or set "
                  "supervisor.container to the name of the container that runs cloudflared");
    EXPECT_EQ(sup_->restart(instance_), TM_NOT_FOUND);
}

TEST_F(ContainerSupervisorPlugin, RestartGivesANewProcess) {
    // sleep as PID 1 ignores SIGTERM: the restart waits grace_s, then the daemon SIGKILLs it.
    must(docker("run", "-d", "--name", "cloudflared", "tm-busybox:latest", "sleep", "3600"));
    start_plugin(1);
    auto before = status();
    const std::string started_before = trimmed(docker("inspect", "-f", "{{.State.StartedAt}}", "cloudflared").out);
    ASSERT_EQ(sup_->restart(instance_), TM_OK) << api_->last_error(instance_);
    auto after = status();
    EXPECT_TRUE(after["running"].GetBool());
    EXPECT_NE(after["pid"].GetInt64(), before["pid"].GetInt64());
    EXPECT_GT(after["since_ms"].GetInt64(), before["since_ms"].GetInt64());
    EXPECT_NE(trimmed(docker("inspect", "-f", "{{.State.StartedAt}}", "cloudflared").out), started_before);
    EXPECT_EQ(after["restart_count"].GetInt(), before["restart_count"].GetInt()) << "docker restart is not a policy restart";
}

TEST_F(ContainerSupervisorPlugin, KilledStubIsReportedAndRestartedByThePlugin) {
    const int port = free_loopback_port();
    run_stub(port);
    start_plugin(1);
    for (int i = 0; i < 50 && !ready(port); ++i) std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(ready(port)) << docker("logs", "cloudflared").output();
    ASSERT_EQ(sup_->watch_start(instance_), TM_OK);

    std::vector<int64_t> to_running, to_ready;
    for (int round = 0; round < 10; ++round) {
        const size_t from = host_.event_count();
        const auto killed = std::chrono::steady_clock::now();
        must(docker("kill", "cloudflared"));
        recorded_event died;
        ASSERT_TRUE(host_.wait_for("tunnel.died", [](const rapidjson::Document& d) { return d["container"] == "cloudflared"; },
                                   10s, &died, from))
            << host_.all_logs();
        EXPECT_EQ(parse(died.json.c_str())["exit_code"].GetInt(), 137);
        ASSERT_EQ(sup_->restart(instance_), TM_OK) << api_->last_error(instance_);
        for (int i = 0; i < 100 && !status()["running"].GetBool(); ++i) std::this_thread::sleep_for(10ms);
        ASSERT_TRUE(status()["running"].GetBool());
        to_running.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed).count());
        for (int i = 0; i < 500 && !ready(port); ++i) std::this_thread::sleep_for(10ms);
        ASSERT_TRUE(ready(port)) << docker("logs", "cloudflared").output();
        to_ready.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed).count());
        EXPECT_TRUE(host_.wait_for("tunnel.started", [](const rapidjson::Document& d) { return d["container"] == "cloudflared"; },
                                   10s, nullptr, from));
    }
    std::printf("[figure] container-supervisor: docker kill -> running median %lld ms, -> /ready 200 median %lld ms "
                "(10 rounds; stub ready delay 200 ms; min/max to ready %lld/%lld ms)\n",
                static_cast<long long>(median(to_running)), static_cast<long long>(median(to_ready)),
                static_cast<long long>(*std::min_element(to_ready.begin(), to_ready.end())),
                static_cast<long long>(*std::max_element(to_ready.begin(), to_ready.end())));
    EXPECT_EQ(sup_->watch_stop(instance_), TM_OK);
}

// --- replicas: one container each ----------------------------------------------------------------

class ContainerReplicas : public ContainerSupervisorPlugin {
protected:
    void start_replicas() {
        const std::string config = R"({"plugin":"container-supervisor","socket":")" + dockerd->socket_path() +
                                   R"(","containers":[{"container":"cf-1","metrics":"127.0.0.1:20241"},)"
                                   R"({"container":"cf-2","metrics":"127.0.0.1:20242"}],"grace_s":1,"timeout_ms":5000})";
        tm_rc rc = TM_ERROR;
        instance_ = api_->init(host_.api(), config.c_str(), &rc);
        ASSERT_EQ(rc, TM_OK) << api_->last_error(nullptr);
    }
    rapidjson::Document replica(int32_t index) {
        const char* out = nullptr;
        const tm_rc rc = sup_->replica_status(instance_, index, &out);
        EXPECT_EQ(rc, TM_OK) << api_->last_error(instance_);
        return parse(rc == TM_OK ? out : "{}");
    }
};

TEST_F(ContainerReplicas, EachReplicaIsItsContainerAndRestartsAlone) {
    must(docker("run", "-d", "--name", "cf-1", "tm-busybox:latest", "sleep", "3600"));
    must(docker("run", "-d", "--name", "cf-2", "tm-busybox:latest", "sleep", "3600"));
    start_replicas();
    ASSERT_NE(sup_->replica_count, nullptr);
    int32_t n = 0;
    ASSERT_EQ(sup_->replica_count(instance_, &n), TM_OK);
    EXPECT_EQ(n, 2);

    auto one = replica(0), two = replica(1);
    EXPECT_STREQ(one["name"].GetString(), "cf-1");
    EXPECT_STREQ(one["metrics"].GetString(), "127.0.0.1:20241");
    EXPECT_STREQ(two["name"].GetString(), "cf-2");
    EXPECT_STREQ(two["metrics"].GetString(), "127.0.0.1:20242");
    EXPECT_TRUE(two["running"].GetBool());
    EXPECT_EQ(std::to_string(two["pid"].GetInt64()), trimmed(docker("inspect", "-f", "{{.State.Pid}}", "cf-2").out));

    // replica_restart(1): cf-2 gets a new process, cf-1 keeps its own.
    ASSERT_EQ(sup_->replica_restart(instance_, 1), TM_OK) << api_->last_error(instance_);
    auto one_after = replica(0), two_after = replica(1);
    EXPECT_TRUE(two_after["running"].GetBool());
    EXPECT_NE(two_after["pid"].GetInt64(), two["pid"].GetInt64());
    EXPECT_EQ(one_after["pid"].GetInt64(), one["pid"].GetInt64());
    EXPECT_EQ(one_after["since_ms"].GetInt64(), one["since_ms"].GetInt64());

    // Out of range: TM_INVALID, nothing restarted.
    const char* out = nullptr;
    EXPECT_EQ(sup_->replica_status(instance_, 2, &out), TM_INVALID);
    EXPECT_NE(std::string(api_->last_error(instance_)).find("has no replica 2: it supervises 2 containers"), std::string::npos)
        << api_->last_error(instance_);
    EXPECT_EQ(sup_->replica_restart(instance_, -1), TM_INVALID);
    EXPECT_EQ(replica(0)["pid"].GetInt64(), one["pid"].GetInt64());

    // The whole: running while one replica runs, with that one's pid.
    must(docker("kill", "cf-1"));
    auto whole = status();
    EXPECT_TRUE(whole["running"].GetBool());
    EXPECT_EQ(whole["pid"].GetInt64(), two_after["pid"].GetInt64());
    EXPECT_EQ(whole["replicas"].GetInt(), 2);
    EXPECT_EQ(whole["replicas_running"].GetInt(), 1);
    EXPECT_FALSE(replica(0)["running"].GetBool());

    // restart(): every container, so cf-1 runs again too.
    ASSERT_EQ(sup_->restart(instance_), TM_OK) << api_->last_error(instance_);
    EXPECT_TRUE(replica(0)["running"].GetBool());
    EXPECT_EQ(status()["replicas_running"].GetInt(), 2);
}

TEST_F(ContainerReplicas, AMissingReplicaIsNotFoundNamingTheSetting) {
    must(docker("run", "-d", "--name", "cf-1", "tm-busybox:latest", "sleep", "3600"));
    start_replicas();
    const char* out = nullptr;
    EXPECT_EQ(sup_->replica_status(instance_, 1, &out), TM_NOT_FOUND);
    EXPECT_NE(std::string(api_->last_error(instance_)).find("set supervisor.containers to"), std::string::npos)
        << api_->last_error(instance_);
    // The whole still answers: cf-1 runs.
    auto whole = status();
    EXPECT_TRUE(whole["running"].GetBool());
    EXPECT_NE(std::string(whole["detail"].GetString()).find("there is no container named cf-2"), std::string::npos);
}

TEST_F(ContainerReplicas, EventsNameTheReplica) {
    must(docker("run", "-d", "--name", "cf-1", "tm-busybox:latest", "sleep", "3600"));
    must(docker("run", "-d", "--name", "cf-2", "tm-busybox:latest", "sleep", "3600"));
    start_replicas();
    ASSERT_EQ(sup_->watch_start(instance_), TM_OK);
    const size_t from = host_.event_count();
    must(docker("kill", "cf-2"));
    recorded_event died;
    ASSERT_TRUE(host_.wait_for("tunnel.died", [](const rapidjson::Document& d) { return d["name"] == "cf-2"; }, 10s, &died,
                               from))
        << host_.all_logs();
    EXPECT_EQ(parse(died.json.c_str())["replica"].GetInt(), 1);
    ASSERT_EQ(sup_->replica_restart(instance_, 1), TM_OK) << api_->last_error(instance_);
    recorded_event started;
    ASSERT_TRUE(host_.wait_for("tunnel.started", [](const rapidjson::Document& d) { return d["name"] == "cf-2"; }, 10s,
                               &started, from));
    EXPECT_EQ(parse(started.json.c_str())["replica"].GetInt(), 1);
    EXPECT_EQ(sup_->watch_stop(instance_), TM_OK);
}

TEST_F(ContainerSupervisorPlugin, StoppedDaemonIsAClearRetryNotACrash) {
    must(docker("run", "-d", "--name", "cloudflared", "tm-busybox:latest", "sleep", "3600"));
    start_plugin(1);
    ASSERT_EQ(sup_->watch_start(instance_), TM_OK);
    status();
    auto stopped = run_process({"/bin/bash", TM_DOCKERD_SH, "stop", dockerd->dir()});
    ASSERT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
    const char* out = nullptr;
    EXPECT_EQ(sup_->status(instance_, &out), TM_RETRY);
    EXPECT_EQ(std::string(api_->last_error(instance_)).rfind("cannot reach the Docker daemon at " + dockerd->socket_path(), 0), 0u)
        << api_->last_error(instance_);
    EXPECT_EQ(sup_->restart(instance_), TM_RETRY);
    EXPECT_EQ(sup_->watch_stop(instance_), TM_OK);
}

}  // namespace
