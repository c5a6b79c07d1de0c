// `tunnelmgr daemon` as a real process against the cloudflared stub: it tells systemd it is ready
// (NOTIFY_SOCKET), records the tunnel's health and its transitions, only one of two daemons runs
// the loops (the lease) and the other takes over when the first stops — at once on SIGTERM —, a
// standby with metrics.listen keeps standing by, SIGHUP reloads the config (a bad one is refused),
// a supervisor's "died" event restarts cloudflared without waiting for the interval, and a Docker
// network change reaches the stored snapshot within a second (a real private dockerd).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/stat.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>

#include <rapidjson/document.h>

#include "process/child_process.hpp"
#include "process/run_process.hpp"
#include "../host/metrics/loopback_http.hpp"

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
        write_config();
        ASSERT_TRUE(eventually([&] { return status()["tunnel"] == "up"; })) << stub_.log();
    }
    void TearDown() override {
        stub_.stop();
        stop_supervised_stub();
        if (!HasFailure()) fs::remove_all(dir_);
    }
    // The daemon's config; `extra` is appended (more sections), `health` replaces the health section.
    void write_config(const std::string& extra = "", const std::string& health = "{ interval: 1s, strikes: 2 }") {
        std::ofstream(dir_ / "config.yml") << "state: { plugin: sqlite-state, path: " << (dir_ / "state.db").string() << " }\n"
                                           << "tunnel: { id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, config_file: "
                                           << (dir_ / "cloudflared.yml").string() << ", metrics: 127.0.0.1:" << port_ << " }\n"
                                           << "health: " << health << "\nplugin_dir: " << TM_TEST_PLUGIN_DIR << "\n" << extra;
    }
    // A stand-in systemctl for systemd-supervisor whose unit has no Restart= of its own: `show` tells
    // whether the stub in main.pid lives, `start`/`restart` stop it and start a fresh one (detached,
    // so it is nobody's child here), and every call is logged with its time in ns to `calls`.
    std::string write_fake_systemctl() {
        auto path = dir_ / "systemctl";
        std::ofstream f(path);
        f << "#!/bin/sh\n"
          << "d='" << dir_.string() << "'\n"
          << "echo \"$(date +%s%N) $*\" >> \"$d/calls\"\n"
          << "alive() { [ -n \"$1\" ] && [ \"$1\" -gt 0 ] && [ -d /proc/$1 ] && ! grep -q '^State:[[:space:]]*Z' /proc/$1/status 2>/dev/null; }\n"
          << "pid=$(cat \"$d/main.pid\" 2>/dev/null)\n"
          << "case \"$1\" in\n"
          << "show)\n"
          << "  if alive \"$pid\"; then\n"
          << "    printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nMainPID=%s\\nActiveEnterTimestampMonotonic=1\\nNRestarts=0\\nResult=success\\n' \"$pid\"\n"
          << "  else\n"
          << "    printf 'LoadState=loaded\\nActiveState=failed\\nSubState=failed\\nMainPID=0\\nActiveEnterTimestampMonotonic=0\\nNRestarts=0\\nResult=signal\\n'\n"
          << "  fi ;;\n"
          << "start|restart)\n"
          << "  if alive \"$pid\"; then kill -TERM \"$pid\"; i=0; while alive \"$pid\" && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; fi\n"
          << "  TM_STUB_READY_DELAY_MS=100 setsid " << TM_CLOUDFLARED_STUB << " tunnel --config " << (dir_ / "cloudflared.yml").string()
          << " --metrics 127.0.0.1:" << port_ << " --grace-period 0s run >> \"$d/supervised-stub.log\" 2>&1 < /dev/null &\n"
          << "  echo $! > \"$d/main.pid\" ;;\n"
          << "esac\n"
          << "exit 0\n";
        f.close();
        ::chmod(path.c_str(), 0755);
        return path.string();
    }
    pid_t supervised_pid() {
        std::ifstream in(dir_ / "main.pid");
        pid_t pid = 0;
        in >> pid;
        return pid;
    }
    void stop_supervised_stub() {
        pid_t pid = supervised_pid();
        if (pid > 0) ::kill(pid, SIGKILL);
    }
    // The ns timestamps of `systemctl restart` calls the fake recorded.
    std::vector<int64_t> restart_calls() {
        std::ifstream in(dir_ / "calls");
        std::vector<int64_t> out;
        std::string line;
        while (std::getline(in, line)) {
            auto sp = line.find(' ');
            if (sp != std::string::npos && line.compare(sp + 1, 8, "restart ") == 0) out.push_back(std::stoll(line.substr(0, sp)));
        }
        return out;
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

namespace {

int64_t unix_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_F(daemon_test, sighup_reloads_a_good_config_and_keeps_the_running_one_when_the_new_one_is_bad) {
    child_process daemon;
    ASSERT_TRUE(daemon.start(daemon_argv(), (dir_ / "daemon.log").string()));
    ASSERT_TRUE(eventually([&] { return status()["recorded"] == "up"; })) << daemon.log();

    // Good: a new health policy applies; a new metrics.listen needs a restart and says so.
    write_config("metrics: { listen: 127.0.0.1:1 }\n", "{ interval: 2s, strikes: 4 }");
    ::kill(daemon.pid(), SIGHUP);
    ASSERT_TRUE(eventually([&] { return daemon.log().find("health policy now: every 2000 ms, 4 strikes") != std::string::npos; }, 10s))
        << daemon.log();
    EXPECT_NE(daemon.log().find("reloaded " + (dir_ / "config.yml").string()), std::string::npos) << daemon.log();
    EXPECT_NE(daemon.log().find("metrics.listen changed; that takes a restart"), std::string::npos) << daemon.log();
    EXPECT_TRUE(daemon.running()) << "SIGHUP must not end the daemon";

    // Bad: refused with file:line, the daemon keeps running on the old one.
    write_config("", "{ interval: soon, strikes: 4 }");
    ::kill(daemon.pid(), SIGHUP);
    ASSERT_TRUE(eventually([&] { return daemon.log().find("the running one stays") != std::string::npos; }, 10s)) << daemon.log();
    auto log = daemon.log();
    EXPECT_NE(log.find("config.yml:3: health.interval"), std::string::npos) << log;
    EXPECT_TRUE(daemon.running());
    // Still checking with the last good policy: the tunnel going unready is still noticed (read
    // from the log: the file on disk is the bad one, so `tunnelmgr status` would refuse it).
    set_stub_ready(false);
    ASSERT_TRUE(eventually([&] { return daemon.log().find("tunnel up -> degraded") != std::string::npos; })) << daemon.log();
    set_stub_ready(true);

    ::kill(daemon.pid(), SIGTERM);
    ASSERT_TRUE(eventually([&] { return !daemon.running(); }, 10s));
    EXPECT_NE(daemon.log().find("stopped"), std::string::npos);
}

TEST_F(daemon_test, sigterm_gives_the_lease_back_so_a_standby_takes_over_at_once) {
    // A 10 s interval: the lease lasts 30 s and a standby looks every 10 s on its own.
    write_config("", "{ interval: 10s, strikes: 2 }");
    child_process first, second;
    ASSERT_TRUE(first.start(daemon_argv(), (dir_ / "first.log").string()));
    ASSERT_TRUE(eventually([&] { return first.log().find("holding the background lease") != std::string::npos; })) << first.log();
    ASSERT_TRUE(second.start(daemon_argv(), (dir_ / "second.log").string()));
    ASSERT_TRUE(eventually([&] { return second.log().find("standing by") != std::string::npos; })) << second.log();
    std::this_thread::sleep_for(500ms);  // the standby is connected to the leader's beacon and asleep
    auto t0 = std::chrono::steady_clock::now();
    ::kill(first.pid(), SIGTERM);
    ASSERT_TRUE(eventually([&] { return second.log().find("holding the background lease") != std::string::npos; }, 15s))
        << second.log();
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 3s) << "the standby waited for its own renewal, not for the leader to go";
    ASSERT_TRUE(eventually([&] { return !first.running(); }, 10s));
    EXPECT_NE(first.log().find("stopped"), std::string::npos) << first.log();
}

TEST_F(daemon_test, a_standby_with_metrics_listen_stands_by_and_serves_metrics_once_the_leader_stops) {
    int metrics_port = free_port();
    write_config("metrics: { listen: 127.0.0.1:" + std::to_string(metrics_port) + " }\n", "{ interval: 10s, strikes: 2 }");
    child_process first, second;
    ASSERT_TRUE(first.start(daemon_argv(), (dir_ / "first.log").string()));
    ASSERT_TRUE(eventually([&] { return first.log().find("metrics at http://") != std::string::npos; })) << first.log();
    ASSERT_TRUE(second.start(daemon_argv(), (dir_ / "second.log").string()));
    ASSERT_TRUE(eventually([&] { return second.log().find("standing by") != std::string::npos; })) << second.log();
    std::this_thread::sleep_for(1s);
    EXPECT_TRUE(second.running()) << "a standby must stand by even when metrics.listen is taken:\n" << second.log();
    EXPECT_NE(second.log().find("is in use"), std::string::npos) << second.log();
    EXPECT_EQ(tunnelmgr::testing::loopback_request(metrics_port, "GET", "/metrics").status, 200);

    ::kill(first.pid(), SIGTERM);
    ASSERT_TRUE(eventually([&] { return second.log().find("metrics at http://") != std::string::npos; }, 5s)) << second.log();
    auto scrape = tunnelmgr::testing::loopback_request(metrics_port, "GET", "/metrics");
    EXPECT_EQ(scrape.status, 200);
    EXPECT_NE(scrape.body.find("tunnelmgr_lease_holder 1"), std::string::npos) << scrape.body;
}

TEST_F(daemon_test, a_died_event_from_the_supervisor_restarts_cloudflared_without_waiting_for_the_interval) {
    stub_.stop();  // this test's cloudflared runs under the fake systemd instead
    auto systemctl = write_fake_systemctl();
    ASSERT_EQ(run_process({systemctl, "start", "cloudflared.service"}).exit_code, 0);
    ASSERT_TRUE(eventually([&] { return status()["tunnel"] == "up"; })) << "the supervised stub did not come up";
    // A 60 s interval: without the event, the death would be noticed a minute later.
    write_config("supervisor: { plugin: systemd-supervisor, unit: cloudflared.service, systemctl: " + systemctl + " }\n",
                 "{ interval: 60s, strikes: 2 }");
    child_process daemon;
    ASSERT_TRUE(daemon.start(daemon_argv(), (dir_ / "daemon.log").string()));
    ASSERT_TRUE(eventually([&] { return daemon.log().find("following the main process of cloudflared.service") != std::string::npos; }))
        << daemon.log();
    ASSERT_TRUE(eventually([&] { return status()["recorded"] == "up"; })) << daemon.log();
    ASSERT_TRUE(restart_calls().empty());

    pid_t old = supervised_pid();
    int64_t killed_ns = unix_ns();
    ASSERT_EQ(::kill(old, SIGKILL), 0);
    ASSERT_TRUE(eventually([&] { return !restart_calls().empty(); }, 10s)) << daemon.log();
    double took_ms = static_cast<double>(restart_calls().front() - killed_ns) / 1e6;
    EXPECT_LT(took_ms, 2000) << daemon.log();
    std::printf("restart issued %.0f ms after cloudflared died (interval 60 s)\n", took_ms);
    // A new process, and the tunnel up again, still before any interval passed.
    ASSERT_TRUE(eventually([&] { return supervised_pid() != old && status()["recorded"] == "up"; }, 10s)) << daemon.log();
    EXPECT_EQ(restart_calls().size(), 1u) << "one death, one restart";
    auto log = daemon.log();
    EXPECT_EQ(count_of(log, "restart #"), 1u) << log;

    ::kill(daemon.pid(), SIGTERM);
    ASSERT_TRUE(eventually([&] { return !daemon.running(); }, 10s));
}

TEST_F(daemon_test, a_docker_network_change_reaches_the_snapshot_within_a_second) {
    if (::geteuid() != 0) GTEST_SKIP() << "a private dockerd needs root";
    if (::access("/usr/sbin/dockerd", X_OK) != 0 && ::access("/usr/bin/dockerd", X_OK) != 0) GTEST_SKIP() << "no dockerd here";
    if (::access("/usr/bin/sqlite3", X_OK) != 0) GTEST_SKIP() << "no sqlite3 CLI to read the snapshot with";
    char tmpl[] = "/tmp/tmdk-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string ddir = tmpl;
    const std::string sh = std::string(TM_TEST_SOURCE_DIR) + "/tests/support/dockerd/dockerd.sh";
    auto started = run_process({"/bin/bash", sh, "start", ddir});
    if (started.exit_code != 0) {
        run_process({"/bin/bash", sh, "stop", ddir});
        GTEST_SKIP() << "dockerd is unavailable here: " << started.err;
    }
    struct stop_dockerd {
        std::string sh, dir;
        ~stop_dockerd() {
            run_process({"/bin/bash", sh, "stop", dir});
            std::error_code ec;
            fs::remove_all(dir, ec);
        }
    } stopper{sh, ddir};
    ASSERT_EQ(run_process({"/bin/bash", sh, "image", ddir}).exit_code, 0);
    const std::string docker_host = "unix://" + ddir + "/docker.sock";
    auto docker = [&](std::vector<std::string> args) {
        std::vector<std::string> argv{::access("/usr/bin/docker", X_OK) == 0 ? "/usr/bin/docker" : "/usr/local/bin/docker",
                                      "-H", docker_host};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    };
    const std::string net1 = "tmd-a-" + std::to_string(::getpid()), net2 = "tmd-b-" + std::to_string(::getpid());
    const std::string ctr = "tmd-web-" + std::to_string(::getpid());
    ASSERT_EQ(docker({"network", "create", net1}).exit_code, 0);
    ASSERT_EQ(docker({"network", "create", net2}).exit_code, 0);
    auto run = docker({"run", "-d", "--name", ctr, "--network", net1, "tm-busybox:latest", "sleep", "600"});
    ASSERT_EQ(run.exit_code, 0) << run.err;

    write_config("runtime: { plugin: docker-runtime, socket: " + ddir + "/docker.sock }\n", "{ interval: 60s, strikes: 2 }");
    child_process daemon;
    ASSERT_TRUE(daemon.start(daemon_argv(), (dir_ / "daemon.log").string()));
    auto attached = [&](const std::string& net) {
        auto r = run_process({"/usr/bin/sqlite3", "-readonly", (dir_ / "state.db").string(),
                              "SELECT count(*) FROM container_networks cn JOIN docker_containers c ON c.id = cn.container_id "
                              "WHERE c.name = '" + ctr + "' AND cn.network_id = '" + net + "';"});
        return r.exit_code == 0 && r.out.rfind("1", 0) == 0;
    };
    ASSERT_TRUE(eventually([&] { return attached(net1); })) << daemon.log();
    ASSERT_TRUE(eventually([&] { return daemon.log().find("following Docker events") != std::string::npos; })) << daemon.log();
    ASSERT_FALSE(attached(net2));

    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(docker({"network", "connect", net2, ctr}).exit_code, 0);
    ASSERT_TRUE(eventually([&] { return attached(net2); }, 10s)) << daemon.log();
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    EXPECT_LT(took, 1500ms) << "the snapshot waited for its minute, not for the event";
    std::printf("network connect reached the snapshot in %lld ms\n", static_cast<long long>(took.count()));

    t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(docker({"network", "disconnect", net2, ctr}).exit_code, 0);
    ASSERT_TRUE(eventually([&] { return !attached(net2); }, 10s)) << daemon.log();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);

    ::kill(daemon.pid(), SIGTERM);
    ASSERT_TRUE(eventually([&] { return !daemon.running(); }, 10s)) << daemon.log();
}
