// The host distrusts its plugins: a supervisor's bad reply is "unknown" (never "not running", never
// a restart), a hung call passes its deadline and the loop goes on, an oversized reply is refused,
// a crash names the plugin and function, a load failure says why, and a shadowed plugin is marked; a
// DNS provider's list_records reply of the wrong shape is an error naming the plugin, never read.
// Real parts: the wild-supervisor and wild-dns fixture .so files through the real loader; sqlite-state
// for the loop.
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
    host::plugin_instance& start_dns(const std::string& config) {
        auto r = reg_->start_slot("dns", {"wild-dns", config, 0}, {TM_BOUNDARY_FIXTURE_DIR});
        EXPECT_TRUE(r) << r.error();
        return *reg_->find("dns");
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

TEST_F(plugin_boundary, a_list_records_reply_is_checked_before_anyone_reads_it) {
    host::dns_provider_client dns(start_dns("{}"));
    ASSERT_TRUE(dns.supports_list_records());
    auto ok = dns.list_records("ok", "tunnelmgr:");
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_NE(ok->find("a.example.com"), std::string::npos) << *ok;
    auto empty = dns.list_records("empty", "tunnelmgr:");
    ASSERT_TRUE(empty) << empty.error().message;
    EXPECT_EQ(*empty, "[]");

    struct bad {
        const char* zone;
        const char* reason;
    };
    for (const bad& b : {bad{"not-json", "not JSON"}, bad{"object", "not a JSON array"},
                         bad{"not-object", "record 0 is not an object"}, bad{"no-name", "record 1 has no string \"name\""},
                         bad{"number-name", "record 0 has no string \"name\""},
                         bad{"bad-comment", "record 0 (a.example.com) has a \"comment\" that is neither a string nor null"}}) {
        auto r = dns.list_records(b.zone, "tunnelmgr:");
        ASSERT_FALSE(r) << b.zone << " was accepted: " << *r;
        EXPECT_EQ(r.error().code, core::errc::error) << b.zone;
        EXPECT_EQ(r.error().message, std::string("plugin 'wild-dns': list_records() replied with something tunnelmgr "
                                                 "cannot read (") + b.reason + "): the plugin is broken; tell its author")
            << b.zone;
    }
    auto null_reply = dns.list_records("null", "tunnelmgr:");
    ASSERT_FALSE(null_reply);
    EXPECT_NE(null_reply.error().message.find("plugin 'wild-dns': list_records() returned success without a reply"),
              std::string::npos) << null_reply.error().message;
    auto failed = dns.list_records("fails", "tunnelmgr:");
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code, core::errc::retry);
    EXPECT_EQ(failed.error().message, "the wild dns fixture was told to fail: try again later");
}

TEST_F(plugin_boundary, a_list_records_call_past_its_deadline_is_a_timeout_naming_the_plugin) {
    auto& inst = start_dns(R"({"sleep_ms":600})");
    host::dns_provider_client dns(inst, {100ms});
    auto started = std::chrono::steady_clock::now();
    auto late = dns.list_records("ok", "tunnelmgr:");
    EXPECT_LT(std::chrono::steady_clock::now() - started, 500ms);
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().code, core::errc::timeout);
    EXPECT_NE(late.error().message.find("plugin 'wild-dns': list_records() did not answer within 100 ms"),
              std::string::npos) << late.error().message;
    EXPECT_EQ(log_->lines_with("list_records() did not answer within 100 ms"), 1u);
    for (int i = 0; i < 100 && !inst.pending_call().empty(); ++i) std::this_thread::sleep_for(50ms);
    EXPECT_EQ(inst.pending_call(), "");
}

// --- replicas (plugin API 1.2) --------------------------------------------------------------------

TEST_F(plugin_boundary, replicas_are_counted_once_and_each_answers_with_its_name_and_metrics) {
    host::supervisor_client sup(start_supervisor(R"({"replicas":3})"));
    ASSERT_TRUE(sup.has_replicas());
    EXPECT_EQ(sup.replica_count(), 3);
    auto second = sup.replica_status(1);
    ASSERT_TRUE(second) << second.error().message;
    ASSERT_TRUE(second->running.has_value());
    EXPECT_TRUE(*second->running);
    EXPECT_EQ(second->pid.value_or(0), 5100);
    EXPECT_EQ(second->name.value_or(""), "wild@1");
    EXPECT_EQ(second->metrics.value_or(""), "127.0.0.1:20241");
    auto info = sup.replica_info(2);
    EXPECT_EQ(info.name, "wild@2");
    EXPECT_EQ(info.metrics, "127.0.0.1:20242");
    // replica_restart(i) reaches the plugin for that index only.
    ASSERT_TRUE(sup.replica_restart(2));
    EXPECT_EQ(sup.replica_status(2)->pid.value_or(0), 5201);
    EXPECT_EQ(sup.replica_status(1)->pid.value_or(0), 5100);
}

TEST(supervisor_status_model, name_and_metrics_are_read_and_written_only_when_there) {
    auto one = sdk::model::decode_supervisor_status(R"({"running":true,"pid":3,"name":"cloudflared@1.service","metrics":""})");
    ASSERT_TRUE(one) << one.error();
    EXPECT_EQ(one->name.value_or("?"), "cloudflared@1.service");
    EXPECT_EQ(one->metrics.value_or("?"), "");
    auto again = sdk::model::decode_supervisor_status(sdk::model::encode(*one));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->name, one->name);
    EXPECT_EQ(again->metrics, one->metrics);
    auto plain = sdk::model::decode_supervisor_status(R"({"running":false})");
    ASSERT_TRUE(plain);
    EXPECT_FALSE(plain->name.has_value());
    EXPECT_EQ(sdk::model::encode(*plain).find("name"), std::string::npos) << "status() of the whole has no name";
    auto wrong = sdk::model::decode_supervisor_status(R"({"running":true,"metrics":20241})");
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error(), "`metrics` is a number, not a string");
}

TEST_F(plugin_boundary, a_replica_out_of_range_is_invalid) {
    host::supervisor_client sup(start_supervisor(R"({"replicas":2})"));
    for (int bad : {2, -1}) {
        auto s = sup.replica_status(bad);
        ASSERT_FALSE(s) << bad;
        EXPECT_EQ(s.error().code, core::errc::invalid) << bad;
        auto r = sup.replica_restart(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, core::errc::invalid) << bad;
    }
    EXPECT_EQ(sup.replica_info(5).name, "");
}

TEST_F(plugin_boundary, every_kind_of_bad_replica_status_is_unknown_never_not_running) {
    struct bad {
        const char* reply;
        const char* reason;
    };
    for (const auto& b : {bad{"malformed", "not JSON"}, bad{"array", "an array, not a JSON object"},
                          bad{"no-running", "`running` is missing"},
                          bad{"running-string", "`running` is a string, not a boolean"},
                          bad{"name-number", "`name` is a number, not a string"}}) {
        reg_ = std::make_unique<host::registry>(services_);
        host::supervisor_client sup(start_supervisor(std::string(R"({"replicas":2,"replica_reply":")") + b.reply + "\"}"));
        auto s = sup.replica_status(1);
        ASSERT_TRUE(s) << b.reply << ": " << s.error().message;
        EXPECT_FALSE(s->running.has_value()) << b.reply;
        EXPECT_EQ(s->state, "unknown") << b.reply;
        EXPECT_NE(s->detail.find("plugin 'wild-supervisor': replica_status(1)"), std::string::npos) << s->detail;
        EXPECT_NE(s->detail.find(b.reason), std::string::npos) << b.reply << ": " << s->detail;
        // A reply tunnelmgr cannot read teaches it no name and no metrics address.
        EXPECT_EQ(sup.replica_info(1).name, "") << b.reply;
    }
}

TEST_F(plugin_boundary, a_bad_replica_is_said_once_and_does_not_silence_the_others) {
    host::supervisor_client sup(start_supervisor(R"({"replicas":2,"replica_reply":"malformed"})"));
    for (int i = 0; i < 20; ++i) {
        (void)sup.replica_status(0);
        (void)sup.replica_status(1);
        (void)sup.status();
    }
    EXPECT_EQ(log_->lines_with("replica_status(0) replied with something tunnelmgr cannot read"), 1u);
    EXPECT_EQ(log_->lines_with("replica_status(1) replied with something tunnelmgr cannot read"), 1u);
    EXPECT_EQ(log_->lines_with("answers well again"), 0u) << "status() answering well says nothing of the replicas";
}

TEST_F(plugin_boundary, a_failing_or_nonsense_replica_count_is_one_replica_said_once) {
    struct bad {
        const char* config;
        const char* says;
    };
    for (const auto& b : {bad{R"({"count_fails":true})", "replica_count() failed: the wild supervisor fixture failed on purpose"},
                          bad{R"({"replicas":0})", "replica_count() answered 0, not a number of replicas from 1 to 1024"},
                          bad{R"({"replicas":-3})", "replica_count() answered -3"},
                          bad{R"({"replicas":5000})", "replica_count() answered 5000"}}) {
        reg_ = std::make_unique<host::registry>(services_);
        log_.reset();  // one capture at a time: the new one takes over from here
        log_ = std::make_unique<test_support::log_capture>();
        host::supervisor_client sup(start_supervisor(b.config));
        for (int i = 0; i < 5; ++i) EXPECT_EQ(sup.replica_count(), 1) << b.config;
        EXPECT_EQ(log_->lines_with(b.says), 1u) << b.config;
        EXPECT_EQ(log_->lines_with("treats it as one replica"), 1u) << b.config;
    }
}

TEST_F(plugin_boundary, a_replica_status_call_past_its_deadline_is_a_timeout) {
    auto& inst = start_supervisor(R"({"replicas":2,"sleep_ms":600})");
    host::supervisor_client sup(inst, {100ms, 100ms});
    auto started = std::chrono::steady_clock::now();
    auto late = sup.replica_status(1);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 500ms);
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().code, core::errc::timeout);
    EXPECT_NE(late.error().message.find("plugin 'wild-supervisor': replica_status() did not answer within 100 ms"),
              std::string::npos)
        << late.error().message;
    EXPECT_EQ(log_->lines_with("replica_status() did not answer within 100 ms"), 1u);
    for (int i = 0; i < 100 && !inst.pending_call().empty(); ++i) std::this_thread::sleep_for(50ms);
    EXPECT_EQ(inst.pending_call(), "");
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
