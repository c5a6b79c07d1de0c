// `tunnelmgr daemon` as a real process against the cloudflared stub: it tells systemd it is ready
// (NOTIFY_SOCKET), records the tunnel's health and its transitions, only one of two daemons runs
// the loops (the lease) and the other takes over when the first stops, and SIGTERM ends it cleanly.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>

#include <rapidjson/document.h>

#include "process/child_process.hpp"
#include "process/run_process.hpp"

using tunnelmgr::testing::child_process;
using tunnelmgr::testing::run_process;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";

int free_port() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds within = 20s) {
    auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
        if (pred()) return true;
        std::this_thread::sleep_for(100ms);
    }
    return pred();
}

class daemon_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tm-daemon-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        port_ = free_port();
        std::ofstream(dir_ / "creds.json") << R"({"AccountTag":"a","TunnelSecret":"c2VjcmV0","TunnelID":"6ff42ae2-765d-4adf-8112-31c55c1551ef"})";
        std::ofstream(dir_ / "cloudflared.yml") << "tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef\ncredentials-file: "
                                                << (dir_ / "creds.json").string() << "\ningress:\n  - service: http_status:404\n";
        ASSERT_TRUE(stub_.start({TM_CLOUDFLARED_STUB, "tunnel", "--config", (dir_ / "cloudflared.yml").string(), "--metrics",
                                 "127.0.0.1:" + std::to_string(port_), "--grace-period", "1s", "run"},
                                (dir_ / "stub.log").string()));
        std::ofstream(dir_ / "config.yml") << "state: { plugin: sqlite-state, path: " << (dir_ / "state.db").string() << " }\n"
                                           << "tunnel: { id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, config_file: "
                                           << (dir_ / "cloudflared.yml").string() << ", metrics: 127.0.0.1:" << port_ << " }\n"
                                           << "health: { interval: 1s, strikes: 2 }\nplugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
        ASSERT_TRUE(eventually([&] { return status()["tunnel"] == "up"; })) << stub_.log();
    }
    void TearDown() override {
        stub_.stop();
        if (!HasFailure()) fs::remove_all(dir_);
    }
    std::map<std::string, std::string> status() {
        auto r = run_process({binary, "--config", (dir_ / "config.yml").string(), "--log-level", "error", "status", "--json"});
        rapidjson::Document d;
        d.Parse(r.out.c_str());
        std::map<std::string, std::string> out;
        if (d.IsObject()) {
            out["tunnel"] = d["tunnel"].GetString();
            if (d.HasMember("last_recorded")) out["recorded"] = d["last_recorded"]["status"].GetString();
        }
        return out;
    }
    std::string audit() {
        return run_process({binary, "--config", (dir_ / "config.yml").string(), "--log-level", "error", "audit", "--json"}).out;
    }
    std::vector<std::string> daemon_argv() {
        return {binary, "--config", (dir_ / "config.yml").string(), "--log-level", "info", "daemon"};
    }
    void set_stub_ready(bool ready) {
        auto r = run_process({"/usr/bin/curl", "-s", "-X", "POST", "--data", ready ? "1" : "0",
                              "http://127.0.0.1:" + std::to_string(port_) + "/__stub/ready"});
        ASSERT_EQ(r.exit_code, 0);
    }

    fs::path dir_;
    int port_ = 0;
    child_process stub_;
};

}  // namespace

TEST_F(daemon_test, tells_systemd_it_is_ready_and_stops_cleanly_on_sigterm) {
    std::string sock_path = (dir_ / "notify.sock").string();
    int sock = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock_path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{20, 0};
    ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    child_process daemon;
    ASSERT_TRUE(daemon.start(daemon_argv(), (dir_ / "daemon.log").string(), {{"NOTIFY_SOCKET", sock_path}}));
    char buf[512] = {};
    ssize_t n = ::recv(sock, buf, sizeof buf - 1, 0);
    ::close(sock);
    ASSERT_GT(n, 0) << daemon.log();
    EXPECT_NE(std::string(buf).find("READY=1"), std::string::npos) << buf;
    ASSERT_TRUE(eventually([&] { return status()["recorded"] == "up"; })) << daemon.log();
    ::kill(daemon.pid(), SIGTERM);
    ASSERT_TRUE(eventually([&] { return !daemon.running(); }, 10s)) << "SIGTERM must end the daemon promptly";
    EXPECT_NE(daemon.log().find("stopped"), std::string::npos) << daemon.log();
}

TEST_F(daemon_test, records_the_tunnel_going_unready_and_coming_back) {
    child_process daemon;
    ASSERT_TRUE(daemon.start(daemon_argv(), (dir_ / "daemon.log").string()));
    ASSERT_TRUE(eventually([&] { return status()["recorded"] == "up"; })) << daemon.log();
    set_stub_ready(false);
    ASSERT_TRUE(eventually([&] { return status()["recorded"] == "degraded"; })) << daemon.log();
    // No supervisor is configured: it says so instead of restarting.
    ASSERT_TRUE(eventually([&] { return daemon.log().find("restart cloudflared by hand") != std::string::npos; }, 10s))
        << daemon.log();
    set_stub_ready(true);
    ASSERT_TRUE(eventually([&] { return status()["recorded"] == "up"; })) << daemon.log();
    std::string a = audit();
    EXPECT_NE(a.find("\"action\":\"tunnel.status\",\"target\":\"cloudflared\",\"result\":\"degraded\""), std::string::npos) << a;
    EXPECT_NE(a.find("\"result\":\"up\""), std::string::npos) << a;
}

TEST_F(daemon_test, only_one_daemon_runs_the_loops_and_the_other_takes_over) {
    child_process first, second;
    ASSERT_TRUE(first.start(daemon_argv(), (dir_ / "first.log").string()));
    ASSERT_TRUE(eventually([&] { return first.log().find("holding the background lease") != std::string::npos; })) << first.log();
    ASSERT_TRUE(second.start(daemon_argv(), (dir_ / "second.log").string()));
    ASSERT_TRUE(eventually([&] { return second.log().find("standing by") != std::string::npos; })) << second.log();
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(second.log().find("holding the background lease"), std::string::npos) << "two leaders at once";
    ::kill(first.pid(), SIGKILL);  // no goodbye: the lease must expire on its own
    ASSERT_TRUE(eventually([&] { return second.log().find("holding the background lease") != std::string::npos; }, 15s))
        << second.log();
}
