// The daemon's background loops as one unit, against a real sqlite-state file and the real core
// assembly (build_core): one process of the machine leads, a standby takes over when it lets go,
// the leader settles a dead process's unfinished operation, and an unset tunnel idles quietly.
// With the real systemd-supervisor over a scripted systemctl: a "died" event checks and restarts
// at once (within the backoff), transitions reach on_status_change, a reloaded policy applies,
// and nothing runs between due times.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <poll.h>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <rapidjson/document.h>

#include "config/config.hpp"
#include "core/json.hpp"
#include "log_capture.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"
#include "service/background_loops.hpp"

using namespace tunnelmgr;
using namespace std::chrono_literals;

namespace {

class background_loops_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("tm-loops-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        log_ = std::make_unique<test_support::log_capture>();
    }
    void TearDown() override {
        log_.reset();
        std::filesystem::remove_all(dir_);
    }

    // One tunnelmgr process's worth of parts: its own plugin instance on the shared state file.
    struct process {
        host::host_services services;
        std::unique_ptr<host::registry> plugins;
        std::unique_ptr<host::state_store_client> state;
        std::unique_ptr<service::core_services> core;
        std::unique_ptr<service::background_loops> loops;
    };
    // with_supervisor: systemd-supervisor over the scripted systemctl of supervised().
    std::unique_ptr<process> start(const std::string& holder, const std::string& tunnel_id, bool with_supervisor = false,
                                   core::health_policy policy = one_second()) {
        auto p = std::make_unique<process>();
        std::string yaml = "state: { plugin: sqlite-state, path: " + (dir_ / "state.db").string() + " }\n" +
                           "tunnel: { id: \"" + tunnel_id + "\", metrics: \"127.0.0.1:1\", config_file: " +
                           (dir_ / "config.yml").string() + " }\n";
        if (with_supervisor) {
            yaml += "supervisor: { plugin: systemd-supervisor, unit: cloudflared.service, systemctl: " + supervised() + " }\n";
        }
        auto cfg = config::load_string(yaml, "loops.yml");
        EXPECT_TRUE(cfg) << (cfg ? "" : cfg.error());
        p->plugins = std::make_unique<host::registry>(p->services);
        auto started = p->plugins->start_slot("state", *cfg->find_slot("state"), {TM_TEST_PLUGIN_DIR});
        EXPECT_TRUE(started) << (started ? "" : started.error());
        if (with_supervisor) {
            auto sup = p->plugins->start_slot("supervisor", *cfg->find_slot("supervisor"), {TM_TEST_PLUGIN_DIR});
            EXPECT_TRUE(sup) << (sup ? "" : sup.error());
        }
        p->state = std::make_unique<host::state_store_client>(*p->plugins->find("state"));
        auto core = service::build_core(*cfg, *p->plugins, *p->state);
        EXPECT_TRUE(core) << (core ? "" : core.error().message);
        p->core = std::move(*core);
        p->loops = std::make_unique<service::background_loops>(*p->core, *p->state, tunnel_id, policy, holder,
                                                                [this] { return now_; });
        return p;
    }
    static core::health_policy one_second() {
        core::health_policy policy;
        policy.interval = 1s;
        return policy;
    }
    // A systemctl that answers `show` from show.out and records every call in `calls`.
    std::string supervised() {
        auto path = dir_ / "systemctl";
        if (!std::filesystem::exists(path)) {
            std::ofstream(path) << "#!/bin/sh\nd='" << dir_.string() << "'\necho \"$1\" >> \"$d/calls\"\n"
                                << "[ \"$1\" = show ] && cat \"$d/show.out\"\nexit 0\n";
            ::chmod(path.c_str(), 0755);
            set_running(true);
        }
        return path.string();
    }
    void set_running(bool running) {
        // The main PID is this test's own: the supervisor's watch follows a process that stays.
        std::ofstream(dir_ / "show.out") << (running ? "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=" +
                                                            std::to_string(::getpid()) + "\nActiveEnterTimestampMonotonic=1\n"
                                                      : std::string("LoadState=loaded\nActiveState=failed\nSubState=failed\n"
                                                                    "MainPID=0\nActiveEnterTimestampMonotonic=0\n"));
    }
    size_t calls(const std::string& what) {
        std::ifstream in(dir_ / "calls");
        std::string line;
        size_t n = 0;
        while (std::getline(in, line)) n += line == what ? 1 : 0;
        return n;
    }
    static bool readable(int fd) {
        pollfd p{fd, POLLIN, 0};
        return ::poll(&p, 1, 0) == 1;
    }

    std::unique_ptr<test_support::log_capture> log_;
    std::filesystem::path dir_;
    int64_t now_ = 1'700'000'000'000;
};

TEST_F(background_loops_test, one_process_leads_and_a_standby_takes_over_when_it_lets_go) {
    auto a = start("101:1", "");
    auto b = start("102:1", "");
    a->loops->run_once();
    b->loops->run_once();
    EXPECT_TRUE(a->loops->leading());
    EXPECT_FALSE(b->loops->leading());
    EXPECT_EQ(log_->lines_with("standing by"), 1u);

    a->loops->release();
    EXPECT_FALSE(a->loops->leading());
    b->loops->run_once();
    EXPECT_TRUE(b->loops->leading()) << "the standby did not take the released lease";
    a->loops->run_once();
    EXPECT_FALSE(a->loops->leading()) << "two processes lead at once";
}

TEST_F(background_loops_test, the_leader_runs_recovery_of_a_dead_processs_operation_and_a_standby_does_not) {
    auto a = start("201:1", "");
    auto b = start("202:1", "");
    a->loops->run_once();  // a leads
    // An operation begun by a process that no longer exists (no PID 2^22+1 on Linux). With no dns
    // slot configured, recovery can only say it leaves it: that line shows who ran recovery.
    auto id = a->state->operation_begin(
        R"({"kind":"create","hostname":"ghost.example.com","project":"p","request":{"owner":"4194305:1"}})");
    ASSERT_TRUE(id) << id.error().message;
    const std::string said = "on ghost.example.com is unfinished but the dns slot";
    b->loops->run_once();
    EXPECT_EQ(log_->lines_with(said), 0u) << "the standby ran recovery";
    a->loops->run_once();
    EXPECT_EQ(log_->lines_with(said), 1u) << "the leader did not run recovery";
    auto after = a->state->operation_list_unfinished();
    ASSERT_TRUE(after);
    EXPECT_NE(after->find("ghost.example.com"), std::string::npos) << "left as it is: " << *after;
}

TEST_F(background_loops_test, without_a_tunnel_id_the_health_check_idles_and_says_so_once) {
    auto a = start("301:1", "");
    for (int i = 0; i < 5; ++i) a->loops->run_once();
    EXPECT_TRUE(a->loops->leading());
    EXPECT_EQ(a->loops->health().snapshot().status, "unknown");
    EXPECT_EQ(log_->lines_with("tunnel.id is not set"), 1u);
}

TEST_F(background_loops_test, with_a_tunnel_the_leader_checks_it_and_records_what_it_found) {
    auto a = start("401:1", "6ff42ae2-765d-4adf-8112-31c55c1551ef");
    auto wait = a->loops->run_once();
    EXPECT_LE(wait, 1000ms);
    // Nothing answers at 127.0.0.1:1 and there is no supervisor: down, and one row says so.
    EXPECT_EQ(a->loops->health().snapshot().status, "down");
    auto h = a->state->health_history(R"({"limit":10})");
    ASSERT_TRUE(h);
    EXPECT_NE(h->find("\"status\":\"down\""), std::string::npos) << *h;
}

TEST_F(background_loops_test, a_died_event_checks_and_restarts_at_once_within_the_backoff) {
    core::health_policy policy;
    policy.interval = 30s;
    policy.strikes = 100;  // nothing answers /ready here: only a dead process may cause a restart
    auto a = start("501:1", "6ff42ae2-765d-4adf-8112-31c55c1551ef", true, policy);
    a->loops->follow_events(a->services);
    a->loops->run_once();
    ASSERT_TRUE(a->loops->leading());
    EXPECT_EQ(log_->lines_with("following the main process of cloudflared.service"), 1u);
    size_t shows = calls("show");

    // Nothing is due for the next 30 s: a pass now does nothing and says how long to sleep.
    now_ += 100;
    auto wait = a->loops->run_due();
    EXPECT_GT(wait, 25s);
    EXPECT_EQ(calls("show"), shows) << "a pass with nothing due asked the supervisor anyway";
    EXPECT_FALSE(readable(a->loops->wake_fd()));

    // cloudflared dies; the plugin says so through the host: the loop wakes, checks and restarts.
    set_running(false);
    a->services.emit("systemd-supervisor", "tunnel.died", R"({"unit":"cloudflared.service","pid":1,"time_ms":0})");
    EXPECT_TRUE(readable(a->loops->wake_fd()));
    a->loops->drain_wake();
    now_ += 100;
    a->loops->run_due();
    const int64_t first_restart = now_;
    EXPECT_EQ(calls("restart"), 1u) << "the death did not restart cloudflared before the interval";
    EXPECT_EQ(a->loops->health().snapshot().status, "down");

    // A second death report inside the 5 s backoff: checked, not restarted again.
    a->loops->on_event("systemd-supervisor", "tunnel.died", "{}");
    now_ += 1000;
    wait = a->loops->run_due();
    EXPECT_EQ(calls("restart"), 1u) << "two restarts inside the backoff";
    EXPECT_LE(wait, 5s) << "the next look is due within the backoff, not at the interval";
    for (int i = 0; i < 10 && calls("restart") < 2; ++i) {
        now_ += wait.count();
        wait = a->loops->run_due();
    }
    EXPECT_EQ(calls("restart"), 2u) << "still dead after the backoff: the next restart";
    EXPECT_EQ(now_ - first_restart, 5000) << "the second restart came exactly when the 5 s backoff ended";
    a->loops->release();
}

TEST_F(background_loops_test, status_changes_reach_the_listeners_as_the_status_call_reports_them) {
    core::health_policy policy;
    policy.interval = 30s;
    policy.strikes = 100;
    auto a = start("601:1", "6ff42ae2-765d-4adf-8112-31c55c1551ef", true, policy);
    std::vector<std::string> pushed;
    a->loops->on_status_change([&](const std::string& json) { pushed.push_back(json); });
    a->loops->run_once();  // unknown -> degraded (running, /ready does not answer)
    ASSERT_EQ(pushed.size(), 1u);
    a->loops->run_once();
    EXPECT_EQ(pushed.size(), 1u) << "no change, no push";
    set_running(false);
    a->loops->on_event("systemd-supervisor", "tunnel.died", "{}");
    now_ += 10;
    a->loops->run_due();
    ASSERT_EQ(pushed.size(), 2u);
    rapidjson::Document d;
    d.Parse(pushed[1].c_str());
    ASSERT_TRUE(d.IsObject()) << pushed[1];
    EXPECT_STREQ(d["status"].GetString(), "down");
    for (const char* key : {"ready_connections", "last_error", "metrics", "restart_count", "uptime_s", "checked_ms"}) {
        EXPECT_TRUE(d.HasMember(key)) << key << " missing in " << pushed[1];
    }
    EXPECT_STREQ(d["metrics"].GetString(), "127.0.0.1:1");
    EXPECT_EQ(d["restart_count"].GetInt(), 1);
    a->loops->release();
}

TEST_F(background_loops_test, a_reloaded_health_policy_applies_from_the_next_pass) {
    auto a = start("701:1", "6ff42ae2-765d-4adf-8112-31c55c1551ef");
    a->loops->run_once();
    core::health_policy slower;
    slower.interval = 20s;
    slower.strikes = 7;
    a->loops->set_health_policy(slower);
    EXPECT_TRUE(readable(a->loops->wake_fd())) << "a new policy wakes the loop";
    a->loops->drain_wake();
    now_ += 1000;
    auto wait = a->loops->run_due();
    EXPECT_EQ(a->loops->health().policy().strikes, 7);
    EXPECT_EQ(a->loops->lease_ttl(), 60s);
    EXPECT_LE(wait, 20s);
    EXPECT_EQ(log_->lines_with("health policy now: every 20000 ms, 7 strikes"), 1u);
}

TEST_F(background_loops_test, a_standby_hears_the_leader_let_go_without_waiting_for_its_renewal) {
    auto a = start("801:1", "");
    auto b = start("802:1", "");
    a->loops->run_once();
    b->loops->run_once();
    ASSERT_TRUE(a->loops->leading());
    ASSERT_FALSE(b->loops->leading());
    std::this_thread::sleep_for(100ms);
    b->loops->run_once();  // a standby pass (re)connects to the leader's beacon if it was not listening yet
    std::this_thread::sleep_for(100ms);
    a->loops->release();
    pollfd p{b->loops->wake_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1) << "the standby was not woken when the leader let go";
    b->loops->drain_wake();
    b->loops->run_due();  // no time has passed: only the cue makes it try the lease
    EXPECT_TRUE(b->loops->leading());
}

}  // namespace
