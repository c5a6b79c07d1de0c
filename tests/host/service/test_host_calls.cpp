// The table of host calls against the real core assembly and a real sqlite-state file: arguments
// are checked against each op's schema before its handler, and every refusal (role, project,
// arguments) leaves one audit row naming the session that tried. Then the per-project rates (on a
// clock the test moves) and the coalescing of identical refusals, also from several threads.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>
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
                                           "projects:\n"
                                           "  alpha: { ports: \"3100-3199\", rate: { changes_per_minute: 3, checks_per_minute: 5 } }\n"
                                           "  beta: { ports: \"4100-4199\" }\n",
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
        calls_->use_clock([this] { return now_.load(); });
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
    core::session beta_ = core::session::project_session("beta", "test");
    core::session admin_ = core::session::admin_session("test");
    std::atomic<std::chrono::steady_clock::time_point> now_{std::chrono::steady_clock::time_point{} + std::chrono::hours(1)};
    void advance(std::chrono::seconds s) { now_ = now_.load() + s; }
    // A change by `who` (no DNS here, so the pipeline refuses it: what counts is whether the rate let it through).
    core::result<std::string> change(const core::session& who) {
        return calls_->call("cname.request", R"({"subdomain":"app","port":3100})", who);
    }
    static bool limited(const core::result<std::string>& r) { return !r && r.error().code == core::errc::retry; }
    // The core again from another config over the same state (`tail`: the tunnel and projects sections).
    void rebuild(const std::string& tail) {
        auto cfg = config::load_string("state: { plugin: sqlite-state, path: " + (dir_ / "state.db").string() + " }\n" +
                                           tail,
                                       "scope.yml");
        ASSERT_TRUE(cfg) << cfg.error();
        calls_.reset();
        auto core = service::build_core(*cfg, *plugins_, *state_);
        ASSERT_TRUE(core) << core.error().message;
        core_ = std::move(*core);
        calls_ = std::make_unique<service::host_calls>(*core_, *state_, nullptr);
        calls_->use_clock([this] { return now_.load(); });
    }
};

const std::string alpha_changes = "project 'alpha' may make 3 changes a minute (cname.request, cname.retarget, cname.delete; "
                                  "projects.alpha.rate.changes_per_minute)";

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
                          bad{"cname.list", R"({"after":7})", "after: must be a string"},
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

TEST_F(host_calls_test, cname_list_pages_by_after_and_refuses_it_together_with_an_offset) {
    auto page = calls_->call("cname.list", R"({"after":"a.example.com","limit":5})", alpha_);
    ASSERT_TRUE(page) << page.error().message;
    auto d = core::json::parse(*page);
    ASSERT_TRUE(d && d->IsObject()) << *page;
    EXPECT_TRUE((*d)["cnames"].IsArray()) << *page;
    EXPECT_TRUE((*d)["offset"].IsNull()) << *page;
    EXPECT_TRUE((*d)["next_after"].IsNull()) << *page;

    auto both = calls_->call("cname.list", R"({"after":"a.example.com","offset":0})", alpha_);
    ASSERT_FALSE(both);
    EXPECT_EQ(both.error().code, core::errc::invalid);
    EXPECT_NE(both.error().message.find("give `after` or `offset`, not both"), std::string::npos) << both.error().message;
    auto rows = audit("cname.list");
    ASSERT_TRUE(rows.IsArray() && rows.Size() == 1) << core::json::to_string(rows);
    EXPECT_EQ(core::json::str(rows[0], "result"), "refused");
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

TEST_F(host_calls_test, name_arguments_carry_a_bound_and_a_pattern_that_refuses_control_characters) {
    for (const auto& e : service::host_calls::table()) {
        std::string schema = e.input_schema;
        for (const char* key : {"\"subdomain\":{", "\"domain\":{", "\"hostname\":{"}) {
            auto at = schema.find(key);
            if (at == std::string::npos) continue;
            auto end = schema.find('}', at);
            std::string prop = schema.substr(at, end - at);
            EXPECT_NE(prop.find("\"maxLength\":253"), std::string::npos) << e.op << " " << prop;
            EXPECT_NE(prop.find("\"pattern\":"), std::string::npos) << e.op << " " << prop;
        }
    }
    struct bad {
        const char* op;
        std::string args;
        const char* says;
    };
    const std::vector<bad> cases{
        {"cname.request", R"({"subdomain":"app","port":3100,"domain":"\u001b[2J\u001b[Hevil.com"})", "domain: a string"},
        {"target.check", R"({"subdomain":"app\nforged line","port":3100})", "subdomain: a string"},
        {"cname.delete", R"({"hostname":"app.example.com\u0007"})", "hostname: a string"},
        {"cname.request", R"({"subdomain":")" + std::string(254, 'x') + R"(","port":3100})",
         "subdomain: must be at most 253 characters long"},
        {"cname.delete", R"({"hostname":")" + std::string(300, 'a') + R"("})", "hostname: must be at most 253 characters long"},
    };
    for (const auto& b : cases) {
        auto r = calls_->call(b.op, b.args, alpha_);
        ASSERT_FALSE(r) << b.op << " " << b.args;
        EXPECT_EQ(r.error().code, core::errc::invalid) << b.op;
        EXPECT_NE(r.error().message.find(b.says), std::string::npos) << r.error().message;
        EXPECT_EQ(r.error().message.find_first_of(std::string("\x1b\n\x07", 3)), std::string::npos)
            << "the sentence carries the control character itself: " << r.error().message;
        auto rows = audit(b.op);
        ASSERT_TRUE(rows.IsArray() && !rows.Empty()) << b.op;
        EXPECT_EQ(core::json::str(rows[0], "result"), "refused") << b.op;
    }
    // What the schema lets through, the core explains in its own words.
    for (const auto& [sub, says] : std::vector<std::pair<std::string, std::string>>{
             {"a.b", "has dots: give one label"},
             {"-app", "starts or ends with '-'"},
             {"caf\u00e9", "non-ASCII"},
             {std::string(64, 'x'), "a DNS label holds at most 63"},
             {"my app", "has the character ' '"},
             {"*", "wildcard names cannot be requested"}}) {
        auto r = calls_->call("cname.request", R"({"subdomain":")" + sub + R"(","port":3100,"projectName":"alpha"})", admin_);
        ASSERT_FALSE(r) << sub;
        EXPECT_NE(r.error().message.find(says), std::string::npos) << sub << ": " << r.error().message;
    }
}

TEST_F(host_calls_test, a_projects_zones_and_ports_both_apply_to_requests_and_dry_runs) {
    rebuild("tunnel: { id: t-1, default_domain: example.com, metrics: \"127.0.0.1:1\" }\n"
            "projects:\n"
            "  bx: { ports: \"4000-4099\", domains: [example.com] }\n"
            "  alpha: { ports: \"3100-3199\" }\n"
            "  shop: { ports: \"5000\", domains: [\"*\"], names: { prefix: shop- } }\n");
    const core::session bx = core::session::project_session("bx", "test");
    const std::string zone_refusal = "project 'bx' may publish only in example.com (projects.bx.domains); asked for "
                                     "example.org: use that zone, or ask the operator to add example.org to "
                                     "projects.bx.domains";
    // The issue's case: a port of its own, in a zone that is not.
    auto r = calls_->call("cname.request", R"({"subdomain":"bx","port":4000,"domain":"example.org"})", bx);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::errc::denied);
    EXPECT_EQ(r.error().message, zone_refusal);
    auto dry = calls_->call("target.check", R"({"subdomain":"bx","port":4000,"domain":"example.org"})", bx);
    ASSERT_TRUE(dry) << dry.error().message;
    EXPECT_EQ(core::json::str(*core::json::parse(*dry), "problem"), zone_refusal);
    EXPECT_EQ(core::json::str(*core::json::parse(*dry), "code"), "denied");
    // Its own zone, a port that is not its own: the port check still refuses.
    r = calls_->call("cname.request", R"({"subdomain":"bx","port":5000,"domain":"example.com"})", bx);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "port 5000 is not among the ports of project 'bx' (4000-4099): publish a port in that range");
    // The admin acting for bx meets bx's zones as well.
    r = calls_->call("cname.request", R"({"subdomain":"bx","port":4000,"domain":"example.org","projectName":"bx"})", admin_);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, zone_refusal);
    // No domains: the default domain only.
    r = calls_->call("cname.request", R"({"subdomain":"app","port":3100,"domain":"example.net"})", alpha_);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("(projects.alpha.domains is not set: tunnel.default_domain only)"), std::string::npos)
        << r.error().message;
    // The name rule and the default reserved labels.
    const core::session shop = core::session::project_session("shop", "test");
    r = calls_->call("cname.request", R"({"subdomain":"app","port":5000,"domain":"example.org"})", shop);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("(projects.shop.names.prefix); asked for 'app'"), std::string::npos) << r.error().message;
    r = calls_->call("cname.request", R"({"subdomain":"autodiscover","port":3100})", alpha_);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::errc::denied);
    EXPECT_NE(r.error().message.find("'autodiscover' is a reserved name (reserved_labels)"), std::string::npos)
        << r.error().message;
    // Each refusal is audited as denied, with its sentence.
    auto rows = audit("cname.create");
    ASSERT_TRUE(rows.IsArray());
    ASSERT_EQ(rows.Size(), 6u);
    for (const auto& row : rows.GetArray()) EXPECT_EQ(core::json::str(row, "result"), "denied") << core::json::to_string(row);
    EXPECT_EQ(core::json::str(rows[5], "error"), zone_refusal);
    // Within every rule the request gets past validation (here it stops at the missing DNS slot).
    r = calls_->call("cname.request", R"({"subdomain":"bx","port":4000})", bx);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("no DNS provider is configured"), std::string::npos) << r.error().message;
}

TEST_F(host_calls_test, an_unknown_operation_is_refused_and_audited) {
    auto r = calls_->call("tunnel.explode", "{}", alpha_);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("unknown operation 'tunnel.explode'"), std::string::npos);
    EXPECT_EQ(audit("tunnel.explode").Size(), 1u);
}

}  // namespace

namespace {

TEST_F(host_calls_test, a_projects_changes_are_limited_per_minute_saying_which_limit_and_when_to_retry) {
    for (int i = 0; i < 3; ++i) {
        auto r = change(alpha_);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, core::errc::invalid) << "through to the pipeline: " << r.error().message;
    }
    // Deletes spend the same budget.
    auto r = calls_->call("cname.delete", R"({"hostname":"app.example.com"})", alpha_);
    ASSERT_TRUE(limited(r));
    EXPECT_EQ(r.error().message, alpha_changes + "; retry in 20 s");
    advance(std::chrono::seconds(5));
    EXPECT_EQ(change(alpha_).error().message, alpha_changes + "; retry in 15 s");
    advance(std::chrono::seconds(15));
    EXPECT_FALSE(limited(change(alpha_))) << "one change every 20 s";
    EXPECT_EQ(change(alpha_).error().message, alpha_changes + "; retry in 20 s");
    // A minute later the whole burst is back.
    advance(std::chrono::seconds(60));
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(limited(change(alpha_))) << i;
    EXPECT_TRUE(limited(change(alpha_)));
}

TEST_F(host_calls_test, dry_runs_have_their_own_rate) {
    const std::string args = R"({"subdomain":"app","port":3100})";
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(calls_->call("target.check", args, alpha_)) << i;
    auto r = calls_->call("target.check", args, alpha_);
    ASSERT_TRUE(limited(r));
    EXPECT_EQ(r.error().message, "project 'alpha' may make 5 dry runs a minute (target.check; "
                                 "projects.alpha.rate.checks_per_minute); retry in 12 s");
    EXPECT_FALSE(limited(change(alpha_))) << "the changes budget is untouched";
    advance(std::chrono::seconds(12));
    EXPECT_TRUE(calls_->call("target.check", args, alpha_));
}

TEST_F(host_calls_test, one_projects_loop_spends_only_its_own_budget_and_the_admin_has_none) {
    int through = 0;
    for (int i = 0; i < 50; ++i) through += limited(change(alpha_)) ? 0 : 1;
    EXPECT_EQ(through, 3);
    for (int i = 0; i < 10; ++i) EXPECT_FALSE(limited(change(beta_))) << "beta's default: 10 a minute; call " << i;
    auto r = change(beta_);
    ASSERT_TRUE(limited(r));
    EXPECT_EQ(r.error().message, "project 'beta' may make 10 changes a minute (cname.request, cname.retarget, cname.delete; "
                                 "projects.beta.rate.changes_per_minute); retry in 6 s");
    for (int i = 0; i < 50; ++i) {
        EXPECT_FALSE(limited(calls_->call("cname.request", R"({"subdomain":"app","port":3100,"projectName":"alpha"})", admin_)));
    }
    // Reads are not rated.
    for (int i = 0; i < 20; ++i) EXPECT_TRUE(calls_->call("cname.list", "{}", alpha_));
}

TEST_F(host_calls_test, a_rate_holds_when_threads_call_at_once) {
    std::atomic<int> through{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 20; ++i) through += limited(change(alpha_)) ? 0 : 1;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(through, 3);
}

TEST_F(host_calls_test, identical_refusals_are_one_row_then_one_row_with_their_count) {
    auto who = alpha_;
    who.peer_uid = 1000;
    who.peer_pid = 4242;
    for (int i = 0; i < 100; ++i) ASSERT_FALSE(calls_->call("cname.list", R"({"projectName":"beta"})", who));
    auto rows = audit("cname.list");
    ASSERT_EQ(rows.Size(), 1u) << "the first at once, the rest counted";
    EXPECT_FALSE(rows[0]["details"].HasMember("count"));
    EXPECT_EQ(core::json::i64(rows[0]["details"], "peer_uid"), 1000);
    // Another refusal has its own row and leaves the first kind's window open.
    ASSERT_FALSE(calls_->call("tunnel.restart", "{}", who));
    EXPECT_EQ(audit("tunnel.restart").Size(), 1u);
    EXPECT_EQ(audit("cname.list").Size(), 1u);
    advance(std::chrono::seconds(59));
    ASSERT_TRUE(calls_->call("session.info", "{}", who));
    EXPECT_EQ(audit("cname.list").Size(), 1u);
    advance(std::chrono::seconds(1));
    ASSERT_TRUE(calls_->call("session.info", "{}", who));  // the window has ended: its row is written
    rows = audit("cname.list");
    ASSERT_EQ(rows.Size(), 2u);
    EXPECT_EQ(core::json::i64(rows[0]["details"], "count"), 99);
    EXPECT_EQ(core::json::i64(rows[0]["details"], "window_s"), 60);
    EXPECT_EQ(core::json::i64(rows[0]["details"], "peer_uid"), 1000);
    EXPECT_EQ(core::json::i64(rows[0]["details"], "peer_pid"), 4242);
    EXPECT_EQ(core::json::str(rows[0], "result"), "denied");
    EXPECT_EQ(core::json::str(rows[0], "error"), core::json::str(rows[1], "error"));
    EXPECT_FALSE(rows[0]["details"].HasMember("count") && rows[1]["details"].HasMember("count"));
    EXPECT_FALSE(audit("tunnel.restart")[0]["details"].HasMember("count")) << "a refusal that came once has one row";
    // The next one opens a new window; what is still counted is written when the table goes.
    for (int i = 0; i < 5; ++i) ASSERT_FALSE(calls_->call("cname.list", R"({"projectName":"beta"})", who));
    EXPECT_EQ(audit("cname.list").Size(), 3u);
    calls_.reset();
    rows = audit("cname.list");
    ASSERT_EQ(rows.Size(), 4u);
    EXPECT_EQ(core::json::i64(rows[0]["details"], "count"), 4);
}

TEST_F(host_calls_test, rate_refusals_coalesce_although_their_retry_times_differ) {
    for (int i = 0; i < 3; ++i) change(alpha_);
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(limited(change(alpha_)));
        advance(std::chrono::seconds(1));
    }
    auto rows = audit("cname.request");
    ASSERT_EQ(rows.Size(), 1u);
    EXPECT_EQ(core::json::str(rows[0], "error"), alpha_changes) << "the audit keeps the limit, not the seconds";
    EXPECT_EQ(core::json::str(rows[0], "result"), "refused");
    calls_.reset();
    rows = audit("cname.request");
    ASSERT_EQ(rows.Size(), 2u);
    EXPECT_EQ(core::json::i64(rows[0]["details"], "count"), 9);
}

TEST_F(host_calls_test, identical_refusals_from_eight_threads_are_two_rows) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) (void)calls_->call("tunnel.restart", "{}", alpha_);
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(audit("tunnel.restart").Size(), 1u);
    calls_.reset();
    auto rows = audit("tunnel.restart");
    ASSERT_EQ(rows.Size(), 2u);
    EXPECT_EQ(core::json::i64(rows[0]["details"], "count"), 399);
}

}  // namespace
