// The daemon's background loops as one unit, against a real sqlite-state file and the real core
// assembly (build_core): one process of the machine leads, a standby takes over when it lets go,
// the leader settles a dead process's unfinished operation, and an unset tunnel idles quietly.
#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <unistd.h>

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
    std::unique_ptr<process> start(const std::string& holder, const std::string& tunnel_id) {
        auto p = std::make_unique<process>();
        std::string yaml = "state: { plugin: sqlite-state, path: " + (dir_ / "state.db").string() + " }\n" +
                           "tunnel: { id: \"" + tunnel_id + "\", metrics: \"127.0.0.1:1\", config_file: " +
                           (dir_ / "config.yml").string() + " }\n";
        auto cfg = config::load_string(yaml, "loops.yml");
        EXPECT_TRUE(cfg) << (cfg ? "" : cfg.error());
        p->plugins = std::make_unique<host::registry>(p->services);
        auto started = p->plugins->start_slot("state", *cfg->find_slot("state"), {TM_TEST_PLUGIN_DIR});
        EXPECT_TRUE(started) << (started ? "" : started.error());
        p->state = std::make_unique<host::state_store_client>(*p->plugins->find("state"));
        auto core = service::build_core(*cfg, *p->plugins, *p->state);
        EXPECT_TRUE(core) << (core ? "" : core.error().message);
        p->core = std::move(*core);
        core::health_policy policy;
        policy.interval = 1s;
        p->loops = std::make_unique<service::background_loops>(*p->core, *p->state, tunnel_id, policy, holder,
                                                                [this] { return now_; });
        return p;
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

}  // namespace
