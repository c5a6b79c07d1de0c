// The host distrusts its plugins: a supervisor's bad reply is "unknown" (never "not running", never
// a restart), a hung call passes its deadline and the loop goes on, an oversized reply is refused,
// a crash names the plugin and function, a load failure says why, and a shadowed plugin is marked.
// Real parts: the wild-supervisor fixture .so through the real loader; sqlite-state for the loop.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <unistd.h>

#include "core/health_loop.hpp"
#include "log_capture.hpp"
#include "plugin_host/call_site.hpp"
#include "plugin_host/capability_clients.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"

using namespace tunnelmgr;
using namespace std::chrono_literals;

namespace {

struct ready_probe_stub : core::ready_probe {
    core::result<int> ready_connections() override { return 4; }
};

class plugin_boundary : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("tm-boundary-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        log_ = std::make_unique<test_support::log_capture>();
        reg_ = std::make_unique<host::registry>(services_);
    }
    void TearDown() override {
        reg_.reset();
        log_.reset();
        std::filesystem::remove_all(dir_);
    }
    host::plugin_instance& start_supervisor(const std::string& config) {
        auto r = reg_->start_slot("supervisor", {"wild-supervisor", config, 0}, {TM_BOUNDARY_FIXTURE_DIR});
        EXPECT_TRUE(r) << r.error();
        return *reg_->find("supervisor");
    }
    host::state_store_client& start_state() {
        auto r = reg_->start_slot("state", {"sqlite-state", "{\"path\":\"" + (dir_ / "s.db").string() + "\"}", 0},
                                  {TM_TEST_PLUGIN_DIR});
        EXPECT_TRUE(r) << r.error();
        state_ = std::make_unique<host::state_store_client>(*reg_->find("state"));
        return *state_;
    }

    std::unique_ptr<test_support::log_capture> log_;
    std::filesystem::path dir_;
    host::host_services services_;
    std::unique_ptr<host::registry> reg_;
    std::unique_ptr<host::state_store_client> state_;
};

TEST_F(plugin_boundary, a_well_formed_status_is_read_as_typed_fields) {
    host::supervisor_client sup(start_supervisor("{}"));
    auto s = sup.status();
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE(s->running.has_value());
    EXPECT_TRUE(*s->running);
    EXPECT_EQ(s->pid.value_or(0), 4242);
    EXPECT_EQ(s->state, "active");
    EXPECT_FALSE(s->since_ms.has_value());
}

TEST_F(plugin_boundary, every_kind_of_bad_status_reply_is_unknown_with_a_reason_never_not_running) {
    struct bad {
        const char* reply;
        const char* reason;
    };
    for (const auto& b : {bad{"malformed", "not JSON"}, bad{"array", "an array, not a JSON object"},
                          bad{"no-running", "`running` is missing"},
                          bad{"running-string", "`running` is a string, not a boolean"},
                          bad{"huge", "more than 16 MiB"}}) {
        reg_ = std::make_unique<host::registry>(services_);
        host::supervisor_client sup(start_supervisor(std::string("{\"reply\":\"") + b.reply + "\"}"));
        auto s = sup.status();
        if (std::string(b.reply) == "huge") {
            // Refused before it is parsed: the reply never becomes a host string.
            ASSERT_FALSE(s) << b.reply;
            EXPECT_NE(s.error().message.find(b.reason), std::string::npos) << s.error().message;
            continue;
        }
        ASSERT_TRUE(s) << b.reply << ": " << s.error().message;
        EXPECT_FALSE(s->running.has_value()) << b.reply;
        EXPECT_EQ(s->state, "unknown") << b.reply;
        EXPECT_NE(s->detail.find("plugin 'wild-supervisor': status()"), std::string::npos) << s->detail;
        EXPECT_NE(s->detail.find(b.reason), std::string::npos) << b.reply << ": " << s->detail;
    }
}

TEST_F(plugin_boundary, malformed_status_for_a_minute_restarts_nothing_and_says_so_once) {
    auto& state = start_state();
    host::supervisor_client sup(start_supervisor(R"({"reply":"malformed"})"));
    ready_probe_stub probe;
    core::health_policy policy;
    policy.interval = 1s;
    int64_t now = 1'700'000'000'000;
    core::health_loop loop(&sup, probe, state, policy, [&] { return now; }, nullptr);
    int checks = 0;
    for (int64_t end = now + 60'000; now < end; ++checks) now += loop.check_once().count();
    EXPECT_GE(checks, 60);
    EXPECT_EQ(loop.snapshot().restart_count, 0);
    EXPECT_EQ(loop.snapshot().status, "up");  // /ready says 4 connections: the tunnel is up
    EXPECT_EQ(log_->lines_with("status() replied with something tunnelmgr cannot read"), 1u);
}

TEST_F(plugin_boundary, a_status_call_past_its_deadline_is_reported_and_the_loop_goes_on) {
    auto& state = start_state();
    auto& inst = start_supervisor(R"({"sleep_ms":1500})");
    host::supervisor_client sup(inst, {300ms, 300ms});
    ready_probe_stub probe;
    int64_t now = 1'700'000'000'000;
    core::health_loop loop(&sup, probe, state, core::health_policy{}, [&] { return now; }, nullptr);

    auto started = std::chrono::steady_clock::now();
    now += loop.check_once().count();
    auto first = std::chrono::steady_clock::now() - started;
    EXPECT_LT(first, 1400ms) << "the check waited for the hung plugin";
    EXPECT_EQ(loop.snapshot().status, "up");
    EXPECT_EQ(loop.snapshot().restart_count, 0);
    EXPECT_EQ(log_->lines_with("status() did not answer within 300 ms"), 1u);

    // While the first call still runs, the next one is refused at once instead of queueing.
    started = std::chrono::steady_clock::now();
    auto busy = sup.status();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 250ms);
    ASSERT_FALSE(busy);
    EXPECT_EQ(busy.error().code, core::errc::timeout);
    EXPECT_NE(busy.error().message.find("still inside status()"), std::string::npos) << busy.error().message;
    EXPECT_EQ(inst.pending_call(), "status");

    // Once it returns, the plugin is asked again as usual.
    for (int i = 0; i < 100 && !inst.pending_call().empty(); ++i) std::this_thread::sleep_for(50ms);
    EXPECT_EQ(inst.pending_call(), "");
}

TEST_F(plugin_boundary, unloading_waits_for_a_call_left_running_past_its_deadline) {
    auto& inst = start_supervisor(R"({"sleep_ms":700})");
    host::supervisor_client sup(inst, {100ms, 100ms});
    ASSERT_FALSE(sup.status());
    ASSERT_EQ(inst.pending_call(), "status");
    auto started = std::chrono::steady_clock::now();
    reg_.reset();  // would unmap the code under the running call if it did not wait
    EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
    EXPECT_EQ(log_->lines_with("waiting for plugin 'wild-supervisor' to return from status()"), 1u);
}

TEST_F(plugin_boundary, a_crash_inside_a_plugin_call_names_the_plugin_and_function) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            host::install_crash_reporter();
            host::supervisor_client sup(start_supervisor(R"({"crash":true})"));
            (void)sup.status();
        },
        "fatal: SIGSEGV inside plugin 'wild-supervisor', function status\\(\\)");
}

TEST_F(plugin_boundary, a_library_that_cannot_load_says_what_the_dynamic_loader_said) {
    auto bad = dir_ / "garbage.so";
    std::ofstream(bad) << std::string(4096, 'x');  // long enough to be read as a header, and not ELF
    auto r = host::load_library(bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().reason.find("invalid ELF header"), std::string::npos) << r.error().reason;
    EXPECT_EQ(r.error().reason.find("Bad file descriptor"), std::string::npos) << r.error().reason;
}

TEST_F(plugin_boundary, a_plugin_found_again_in_a_later_folder_is_marked_shadowed) {
    for (const char* d : {"first", "second"}) {
        std::filesystem::create_directories(dir_ / d);
        std::filesystem::copy_file(std::filesystem::path(TM_BOUNDARY_FIXTURE_DIR) / "wild-supervisor.so",
                                   dir_ / d / "wild-supervisor.so");
    }
    auto scan = host::scan_plugin_dirs({(dir_ / "first").string(), (dir_ / "second").string()});
    ASSERT_EQ(scan.loaded.size(), 2u);
    EXPECT_TRUE(scan.loaded[0]->shadowed_by.empty());
    EXPECT_EQ(scan.loaded[1]->shadowed_by, dir_ / "first" / "wild-supervisor.so");
}

}  // namespace
