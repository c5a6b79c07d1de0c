// The table of host calls against the real core assembly and a real sqlite-state file: arguments
// are checked against each op's schema before its handler, and every refusal (role, project,
// arguments) leaves one audit row naming the session that tried.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "config/config.hpp"
#include "core/json.hpp"
#include "log_capture.hpp"
#include "plugin_host/config_check.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"
#include "service/host_calls.hpp"

using namespace tunnelmgr;

namespace {

class host_calls_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("tm-calls-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        log_ = std::make_unique<test_support::log_capture>();
        auto cfg = config::load_string("state: { plugin: sqlite-state, path: " + (dir_ / "state.db").string() + " }\n" +
                                           "tunnel: { id: \"\", metrics: \"127.0.0.1:1\", config_file: " +
                                           (dir_ / "config.yml").string() + " }\n" +
                                           "projects:\n  alpha: { ports: \"3100-3199\" }\n  beta: { ports: \"4100-4199\" }\n",
                                       "calls.yml");
        ASSERT_TRUE(cfg) << cfg.error();
        plugins_ = std::make_unique<host::registry>(services_);
        auto started = plugins_->start_slot("state", *cfg->find_slot("state"), {TM_TEST_PLUGIN_DIR});
        ASSERT_TRUE(started) << started.error();
        state_ = std::make_unique<host::state_store_client>(*plugins_->find("state"));
        auto core = service::build_core(*cfg, *plugins_, *state_);
        ASSERT_TRUE(core) << core.error().message;
        core_ = std::move(*core);
        calls_ = std::make_unique<service::host_calls>(*core_, *state_, nullptr);
    }
    void TearDown() override {
        calls_.reset();
        core_.reset();
        state_.reset();
        plugins_.reset();
        log_.reset();
        std::filesystem::remove_all(dir_);
    }
    // The audit rows of `action`, newest first.
    rapidjson::Document audit(const std::string& action) {
        auto rows = state_->audit_query(core::json::object().set("action", action).set("limit", 100).str());
        EXPECT_TRUE(rows);
        auto d = core::json::parse(*rows);
        return std::move(*d);
    }

    std::filesystem::path dir_;
    std::unique_ptr<test_support::log_capture> log_;
    host::host_services services_;
    std::unique_ptr<host::registry> plugins_;
    std::unique_ptr<host::state_store_client> state_;
    std::unique_ptr<service::core_services> core_;
    std::unique_ptr<service::host_calls> calls_;
    core::session alpha_ = core::session::project_session("alpha", "test");
    core::session admin_ = core::session::admin_session("test");
};

TEST_F(host_calls_test, every_ops_argument_schema_is_a_usable_schema_that_accepts_no_arguments_or_its_required_ones) {
    for (const auto& e : service::host_calls::table()) {
        auto empty = host::check_section(e.input_schema, "{}", host::section_origin{});
        ASSERT_TRUE(empty) << e.op << ": " << empty.error();
        auto with_project = host::check_section(e.input_schema, R"({"projectName":"alpha","_progress":"p1"})", {});
        ASSERT_TRUE(with_project);
        // Ops with required arguments say so for {}; the others accept it, and a projectName.
        std::string schema = e.input_schema;
        bool requires_something = schema.find("\"required\"") != std::string::npos;
        EXPECT_EQ(!empty->empty(), requires_something) << e.op;
        if (!requires_something) EXPECT_TRUE(with_project->empty()) << e.op;
    }
}

TEST_F(host_calls_test, arguments_of_the_wrong_type_or_unknown_are_refused_before_the_handler_and_audited) {
    struct bad {
        const char* op;
        const char* args;
        const char* says;
    };
    for (const auto& b : {bad{"cname.list", R"({"limit":"ten"})", "limit: must be an integer"},
                          bad{"cname.delete", R"({"hostname":["x"]})", "hostname: must be a string"},
                          bad{"cname.delete", R"({})", "hostname: is required but missing"},
                          bad{"cname.request", R"({"subdomain":"app","port":3100,"colour":"red"})", "colour: unknown key"},
                          bad{"audit.query", R"({"projectName":7})", "projectName: must be a string"}}) {
        auto r = calls_->call(b.op, b.args, alpha_);
        ASSERT_FALSE(r) << b.op << " " << b.args;
        EXPECT_EQ(r.error().code, core::errc::invalid) << b.op;
        EXPECT_NE(r.error().message.find(b.says), std::string::npos) << b.op << ": " << r.error().message;
        auto rows = audit(b.op);
        ASSERT_TRUE(rows.IsArray() && !rows.Empty()) << b.op;
        EXPECT_EQ(core::json::str(rows[0], "result"), "refused") << b.op;
        EXPECT_EQ(core::json::str(rows[0], "actor"), "project:alpha") << b.op;
    }
}

TEST_F(host_calls_test, a_project_reaching_beyond_its_session_is_denied_and_each_attempt_audited) {
    struct attempt {
        const char* op;
        const char* args;
    };
    for (const auto& a : {attempt{"cname.list", R"({"projectName":"beta"})"}, attempt{"tunnel.restart", "{}"},
                          attempt{"domains.refresh", "{}"}, attempt{"audit.query", R"({"projectName":"beta"})"}}) {
        auto r = calls_->call(a.op, a.args, alpha_);
        ASSERT_FALSE(r) << a.op;
        EXPECT_EQ(r.error().code, core::errc::denied) << a.op << ": " << r.error().message;
        auto rows = audit(a.op);
        ASSERT_TRUE(rows.IsArray() && rows.Size() == 1) << a.op << ": " << core::json::to_string(rows);
        EXPECT_EQ(core::json::str(rows[0], "result"), "denied") << a.op;
        EXPECT_EQ(core::json::str(rows[0], "actor"), "project:alpha") << a.op;
        EXPECT_EQ(core::json::str(rows[0], "project"), "alpha") << "the row is the trying project's own";
    }
    // The admin may do what the project may not (no supervisor here: refused for that reason, not denied).
    auto restart = calls_->call("tunnel.restart", "{}", admin_);
    ASSERT_FALSE(restart);
    EXPECT_EQ(restart.error().code, core::errc::invalid) << restart.error().message;
    auto listed = calls_->call("cname.list", R"({"projectName":"beta"})", admin_);
    EXPECT_TRUE(listed) << listed.error().message;
}

TEST_F(host_calls_test, an_unknown_operation_is_refused_and_audited) {
    auto r = calls_->call("tunnel.explode", "{}", alpha_);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("unknown operation 'tunnel.explode'"), std::string::npos);
    EXPECT_EQ(audit("tunnel.explode").Size(), 1u);
}

}  // namespace
