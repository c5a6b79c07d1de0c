// The health loop against an injected clock: strikes, the backoff sequence, one restart at a time,
// hours of outage in milliseconds with bounded rows, recovery, a supervisor that cannot answer.
// The supervisor and probe here are scripted doubles (time must be simulated); the state store is
// the real sqlite-state plugin on a real file. Real supervisors are tested in their own suites.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <unistd.h>

#include "core/health_loop.hpp"
#include "core/json.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"

using namespace tunnelmgr;
using namespace std::chrono_literals;

namespace {

struct scripted_supervisor : core::tunnel_supervisor {
    bool running = true;
    bool broken = false;  // status() fails, as when the Docker daemon is gone
    bool restart_fixes = false;
    std::vector<int64_t> restarts;
    int64_t* clock = nullptr;
    core::result<sdk::model::supervisor_status> status() override {
        if (broken) return core::fail(core::errc::retry, "cannot reach the Docker daemon");
        sdk::model::supervisor_status s;
        s.running = running;
        s.state = running ? "running" : "exited";
        return s;
    }
    core::result<void> restart() override {
        restarts.push_back(*clock);
        if (restart_fixes) running = true;
        return {};
    }
};

struct scripted_probe : core::ready_probe {
    int connections = 4;
    bool unreachable = false;
    core::result<int> ready_connections() override {
        if (unreachable) return core::fail(core::errc::retry, "connection refused");
        return connections;
    }
};

class health_loop_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("tm-health-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        reg_ = std::make_unique<host::registry>(services_);
        auto r = reg_->start_slot("state", {"sqlite-state", "{\"path\":\"" + (dir_ / "s.db").string() + "\"}", 0},
                                  {TM_TEST_PLUGIN_DIR});
        ASSERT_TRUE(r) << r.error();
        state_ = std::make_unique<host::state_store_client>(*reg_->find("state"));
        sup_.clock = &now_;
    }
    void TearDown() override {
        state_.reset();
        reg_.reset();
        std::filesystem::remove_all(dir_);
    }
    core::health_loop make(core::tunnel_supervisor* sup) {
        core::health_policy p;  // the defaults: 30 s, 3 strikes, 5 s 15 s 30 s 1 m 5 m
        return core::health_loop(sup, probe_, *state_, p, [this] { return now_; },
                                 [this](const std::string& type, const std::string& json) { events_.push_back({type, json}); });
    }
    // Runs the loop for `span` of simulated time; returns the number of checks.
    int run_for(core::health_loop& loop, std::chrono::milliseconds span) {
        int64_t end = now_ + span.count();
        int checks = 0;
        while (now_ < end) {
            now_ += loop.check_once().count();
            ++checks;
        }
        return checks;
    }
    int64_t rows(const char* table_filter = "{\"limit\":10000}") {
        auto h = state_->health_history(table_filter);
        auto d = core::json::parse(*h);
        return static_cast<int64_t>(d->Size());
    }

    std::filesystem::path dir_;
    host::host_services services_;
    std::unique_ptr<host::registry> reg_;
    std::unique_ptr<host::state_store_client> state_;
    scripted_supervisor sup_;
    scripted_probe probe_;
    int64_t now_ = 1'700'000'000'000;
    std::vector<std::pair<std::string, std::string>> events_;
};

}  // namespace

TEST_F(health_loop_test, a_healthy_tunnel_is_left_alone) {
    auto loop = make(&sup_);
    EXPECT_EQ(loop.check_once(), 30s);
    EXPECT_EQ(loop.snapshot().status, "up");
    run_for(loop, 1h);
    EXPECT_TRUE(sup_.restarts.empty());
    EXPECT_LE(rows(), 8) << "one row on the change to up plus a heartbeat every 10 minutes";
}

TEST_F(health_loop_test, an_unready_tunnel_restarts_after_exactly_three_strikes) {
    auto loop = make(&sup_);
    probe_.connections = 0;
    loop.check_once();
    loop.check_once();
    EXPECT_TRUE(sup_.restarts.empty()) << "two failed checks are not enough";
    EXPECT_EQ(loop.snapshot().status, "degraded");
    EXPECT_EQ(loop.snapshot().failed_checks, 2);
    loop.check_once();
    EXPECT_EQ(sup_.restarts.size(), 1u);
}

TEST_F(health_loop_test, a_tunnel_already_down_at_start_is_restarted_at_once) {
    sup_.running = false;
    auto loop = make(&sup_);
    auto wait = loop.check_once();
    ASSERT_EQ(sup_.restarts.size(), 1u);
    EXPECT_EQ(sup_.restarts[0], now_);
    EXPECT_EQ(wait, 5s) << "the next look comes when the next restart would be allowed";
    EXPECT_EQ(loop.snapshot().status, "down");
}

TEST_F(health_loop_test, restarts_back_off_5s_15s_30s_1m_5m_then_every_5m) {
    sup_.running = false;
    auto loop = make(&sup_);
    run_for(loop, 30min);
    ASSERT_GE(sup_.restarts.size(), 8u);
    std::vector<int64_t> gaps;
    for (size_t i = 1; i < sup_.restarts.size(); ++i) gaps.push_back(sup_.restarts[i] - sup_.restarts[i - 1]);
    std::vector<int64_t> expected{5'000, 15'000, 30'000, 60'000, 300'000, 300'000, 300'000};
    for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(gaps[i], expected[i]) << "gap " << i;
}

TEST_F(health_loop_test, hours_of_outage_cost_bounded_checks_and_rows) {
    sup_.running = false;
    auto loop = make(&sup_);
    int checks = run_for(loop, 6h);
    EXPECT_LE(checks, 6 * 3600 / 30 + 10) << "never more often than the interval, apart from backoff wake-ups";
    EXPECT_LE(rows(), 6 * 6 + 5) << "a heartbeat every 10 minutes, not a row per check";
    EXPECT_LE(sup_.restarts.size(), 6u * 12 + 6) << "at most one restart every 5 minutes once backed off";
    // The audit log grows by one row per restart, nothing more.
    auto a = core::json::parse(*state_->audit_query("{\"limit\":10000}"));
    EXPECT_LE(a->Size(), sup_.restarts.size() + 2);
}

TEST_F(health_loop_test, recovery_emits_an_event_and_resets_the_backoff) {
    sup_.running = false;
    auto loop = make(&sup_);
    run_for(loop, 2min);  // several restarts, deep into the backoff
    size_t before = sup_.restarts.size();
    ASSERT_GE(before, 3u);
    sup_.running = true;
    loop.check_once();
    EXPECT_EQ(loop.snapshot().status, "up");
    ASSERT_FALSE(events_.empty());
    EXPECT_EQ(events_.back().first, "tunnel.status");
    EXPECT_NE(events_.back().second.find("\"status\":\"up\""), std::string::npos);
    // Down again: the first restart is immediate once more.
    sup_.running = false;
    now_ += 1000;
    loop.check_once();
    EXPECT_EQ(sup_.restarts.size(), before + 1);
    EXPECT_EQ(sup_.restarts.back(), now_);
}

TEST_F(health_loop_test, a_supervisor_that_cannot_answer_is_reported_and_the_loop_goes_on) {
    sup_.broken = true;
    probe_.unreachable = true;
    auto loop = make(&sup_);
    for (int i = 0; i < 5; ++i) EXPECT_GE(loop.check_once(), 100ms);
    EXPECT_EQ(loop.snapshot().status, "down");
    EXPECT_NE(loop.snapshot().last_error.find("cannot reach the Docker daemon"), std::string::npos) << loop.snapshot().last_error;
    EXPECT_FALSE(sup_.restarts.empty()) << "it still tries, within the backoff";
}

TEST_F(health_loop_test, without_a_supervisor_it_reports_and_never_restarts) {
    probe_.connections = 0;
    auto loop = make(nullptr);
    run_for(loop, 10min);
    EXPECT_EQ(loop.snapshot().status, "degraded");  // the metrics server answers: the process runs, unconnected
    EXPECT_NE(loop.snapshot().last_error.find("restart cloudflared by hand"), std::string::npos);
}

namespace {

// Two replicas under one supervisor; replica 2 keeps dying. Each has its own metrics address; the
// probes made for them forward to the fixture's probe, which says ready.
struct forwarding_probe : core::ready_probe {
    core::ready_probe& to;
    explicit forwarding_probe(core::ready_probe& p) : to(p) {}
    core::result<int> ready_connections() override { return to.ready_connections(); }
};

struct two_replica_supervisor : core::tunnel_supervisor {
    std::vector<bool> running{true, false};
    std::vector<std::pair<int, int64_t>> restarts;  // (replica, when)
    int64_t* clock = nullptr;
    int replica_count() override { return 2; }
    bool metrics_known = true;  // false: as when a replica's status never answered
    replica replica_info(int i) override {
        return {"cloudflared@" + std::to_string(i + 1) + ".service", metrics_known ? "127.0.0.1:2024" + std::to_string(i + 1) : ""};
    }
    core::result<sdk::model::supervisor_status> replica_status(int i) override {
        sdk::model::supervisor_status s;
        s.running = running[static_cast<size_t>(i)];
        s.state = s.running.value() ? "running" : "exited";
        return s;
    }
    core::result<sdk::model::supervisor_status> status() override { return replica_status(0); }
    core::result<void> restart() override { return core::fail(core::errc::invalid, "not used with replicas"); }
    core::result<void> replica_restart(int i) override {
        restarts.push_back({i, *clock});
        return {};
    }
};

}  // namespace

TEST_F(health_loop_test, a_dead_replica_is_restarted_on_its_own_backoff_and_the_tunnel_is_degraded_not_down) {
    two_replica_supervisor sup;
    sup.clock = &now_;
    auto loop = make(&sup);
    std::vector<std::string> probed;
    loop.use_replica_probes([&](const std::string& address) {
        probed.push_back(address);
        return std::make_unique<forwarding_probe>(probe_);
    });
    run_for(loop, 2min);
    EXPECT_EQ(probed, (std::vector<std::string>{"127.0.0.1:20241"})) << "each replica on its own address (2 is down)";
    ASSERT_GE(sup.restarts.size(), 4u);
    for (const auto& [replica, when] : sup.restarts) EXPECT_EQ(replica, 1) << "the healthy replica is never restarted";
    std::vector<int64_t> expected{5'000, 15'000, 30'000};
    for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(sup.restarts[i + 1].second - sup.restarts[i].second, expected[i]) << "gap " << i;
    }
    EXPECT_EQ(loop.snapshot().status, "degraded") << "one replica still serves";
    EXPECT_NE(loop.snapshot().last_error.find("cloudflared@2.service: not running"), std::string::npos)
        << loop.snapshot().last_error;
    // Back to up once it stays running; its backoff starts again from 5 s.
    sup.running[1] = true;
    loop.check_once();
    EXPECT_EQ(loop.snapshot().status, "up");
    sup.running[0] = false;
    sup.running[1] = false;
    loop.check_once();
    EXPECT_EQ(loop.snapshot().status, "down") << "no replica runs";
    ASSERT_FALSE(sup.restarts.empty());
    EXPECT_EQ(sup.restarts.back().first, 0) << "one restart per check, the first replica due";
}

TEST_F(health_loop_test, a_process_mid_restart_by_a_change_is_left_to_the_change) {
    std::atomic<int> restarting{1};  // an apply has restarted cloudflared and waits for the new instance
    sup_.running = false;
    auto loop = make(&sup_);
    loop.leave_restarts_to(&restarting);
    loop.check_once();
    loop.check_once();
    EXPECT_TRUE(sup_.restarts.empty()) << "no second restart while the change's restart is under way";
    sup_.running = true;
    probe_.connections = 0;
    for (int i = 0; i < 5; ++i) loop.check_once();
    EXPECT_TRUE(sup_.restarts.empty());
    EXPECT_EQ(loop.snapshot().failed_checks, 0) << "no strikes while the change waits for /ready";
    restarting = 0;  // the change is done; the new instance is still unready: strikes count again
    for (int i = 0; i < 3; ++i) loop.check_once();
    EXPECT_EQ(sup_.restarts.size(), 1u);
}

TEST_F(health_loop_test, a_replica_whose_metrics_address_is_unknown_is_not_read_from_the_tunnels) {
    two_replica_supervisor sup;
    sup.clock = &now_;
    sup.running = {true, true};
    sup.metrics_known = false;
    auto loop = make(&sup);
    loop.use_replica_probes([&](const std::string&) { return std::make_unique<forwarding_probe>(probe_); });
    loop.check_once();
    EXPECT_NE(loop.snapshot().status, "up") << "the tunnel's own probe says ready, but it speaks for neither replica";
    EXPECT_NE(loop.snapshot().last_error.find("has not said where cloudflared@1.service serves its metrics"),
              std::string::npos)
        << loop.snapshot().last_error;
}
