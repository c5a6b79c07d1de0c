// tunnelmgr-plugin-check as a plugin author runs it: exit status and what it prints, against the stock
// sqlite-state, the broken-store fixture, mcp-stdio (nothing to check) and cloudflare-dns talking to the
// Cloudflare API fake on loopback.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "process/child_process.hpp"
#include "process/run_process.hpp"
#ifdef TM_TEST_POSTGRES
#include "throwaway_postgres.hpp"
#endif

namespace {

using tunnelmgr::testing::child_process;
using tunnelmgr::testing::run_process;

std::string plugin(const std::string& name) { return std::string(TM_TEST_PLUGIN_DIR) + "/" + name + ".so"; }

// "N checks passed, F failed, S skipped" from the tool's last lines.
int count_of(const std::string& out, const std::string& what) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("([0-9]+) " + what))) return -1;
    return std::stoi(m[1].str());
}

TEST(plugin_check, sqlite_state_passes_every_state_store_rule) {
    if (!std::filesystem::exists(plugin("sqlite-state"))) GTEST_SKIP() << "sqlite-state is not built (TM_PLUGIN_SQLITE_STATE=OFF)";
    auto r = run_process({TM_PLUGIN_CHECK_BIN, plugin("sqlite-state")});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("checking: state_store_v1"), std::string::npos) << r.out;
    EXPECT_GE(count_of(r.out, "checks passed"), 25) << r.out;
    EXPECT_EQ(count_of(r.out, "failed"), 0) << r.out;
    EXPECT_NE(r.out.find("[  PASSED  ]"), std::string::npos) << r.out;
}

#ifdef TM_TEST_POSTGRES
// The same suite against a store shared by several machines: one database for every check (names
// carry each check's tag), the config naming the dsn_file of a throw-away server, never a password.
TEST(plugin_check, postgres_state_passes_every_state_store_rule) {
    if (!std::filesystem::exists(plugin("postgres-state"))) GTEST_SKIP() << "postgres-state is not built (TM_PLUGIN_POSTGRES_STATE=OFF)";
    using tunnelmgr::testing::throwaway_postgres;
    if (auto why = throwaway_postgres::unavailable_reason()) GTEST_SKIP() << *why;
    throwaway_postgres server;
    const std::string config = R"({"dsn_file":")" + server.dsn_file() + R"(","machine":"plugin-check"})";
    auto r = run_process({TM_PLUGIN_CHECK_BIN, plugin("postgres-state"), "--config", config});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("checking: state_store_v1"), std::string::npos) << r.out;
    EXPECT_GE(count_of(r.out, "checks passed"), 25) << r.out;
    EXPECT_EQ(count_of(r.out, "failed"), 0) << r.out;
    EXPECT_NE(r.out.find("[  PASSED  ]"), std::string::npos) << r.out;
    // A shared store returns "machine", so the 1.4 machine rule is checked, not skipped.
    EXPECT_NE(r.out.find("[       OK ] state_store_v1.a_row_inserted_with_a_machine_comes_back_with_it"), std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find(server.password()), std::string::npos) << "the password leaked into the output";
    EXPECT_EQ(r.err.find(server.password()), std::string::npos) << "the password leaked into the log";
}
#endif

TEST(plugin_check, the_broken_store_fails_naming_the_rules_it_breaks) {
    auto r = run_process({TM_PLUGIN_CHECK_BIN, TM_BROKEN_STORE});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("rule: cname_insert must refuse a second row for the same hostname, case-insensitive, with TM_CONFLICT"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("rule: operation_begin must refuse a second unfinished operation on the same hostname with TM_CONFLICT"),
              std::string::npos)
        << r.out;
    // Since 1.4: its audit_query lets the entry of before_id in again; its health_history pages as it must.
    EXPECT_NE(r.out.find("state_store_v1_audit.audit_query_pages_by_before_id: since 1.4, audit_query with \"before_id\" "
                         "must return only the entries with a smaller id"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("[       OK ] state_store_v1_health.health_history_pages_by_before_id"), std::string::npos) << r.out;
    // Only what it breaks: the three rules, and the race on operation_begin that follows from the second.
    EXPECT_EQ(count_of(r.out, "failed"), 4) << r.out;
    EXPECT_NE(r.out.find("broken rules:"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("cname_insert racing"), std::string::npos) << "the fixture's cnames are unique under concurrency\n" << r.out;
}

TEST(plugin_check, a_plugin_with_no_checkable_capability_has_nothing_to_check) {
    if (!std::filesystem::exists(plugin("mcp-stdio"))) GTEST_SKIP() << "mcp-stdio is not built (TM_PLUGIN_MCP_STDIO=OFF)";
    auto r = run_process({TM_PLUGIN_CHECK_BIN, plugin("mcp-stdio")});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("provides: transport_v1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("nothing to check"), std::string::npos) << r.out;
}

TEST(plugin_check, a_supervisor_runs_its_suite_without_a_live_tunnel) {
    if (!std::filesystem::exists(plugin("container-supervisor"))) GTEST_SKIP() << "container-supervisor is not built";
    auto r = run_process({TM_PLUGIN_CHECK_BIN, plugin("container-supervisor"), "--config",
                          R"({"socket":"{tmpdir}/no-docker.sock"})"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("checking: tunnel_supervisor_v1"), std::string::npos) << r.out;
    EXPECT_GE(count_of(r.out, "checks passed"), 1) << r.out;
}

#ifdef TM_WILD_SUPERVISOR
TEST(plugin_check, a_supervisor_with_replicas_passes_the_replica_checks) {
    auto r = run_process({TM_PLUGIN_CHECK_BIN, TM_WILD_SUPERVISOR, "--config", R"({"replicas":3})", "--allow-restart"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("provides: tunnel_supervisor_v1+replicas"), std::string::npos) << r.out;
    for (const char* check : {"replica_count_is_at_least_one", "each_replica_answers_status_with_its_name",
                              "a_replica_out_of_range_is_invalid", "replica_restart_restarts_that_replica_only"}) {
        EXPECT_NE(r.out.find(std::string("[       OK ] tunnel_supervisor_v1.") + check), std::string::npos) << check << "\n" << r.out;
    }
}

TEST(plugin_check, replica_restart_is_checked_only_with_allow_restart) {
    auto r = run_process({TM_PLUGIN_CHECK_BIN, TM_WILD_SUPERVISOR, "--config", R"({"replicas":2,"restart_all":true})"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("checked only with --allow-restart"), std::string::npos) << r.out;
}

TEST(plugin_check, a_replica_restart_that_restarts_every_replica_breaks_the_rule) {
    auto r = run_process({TM_PLUGIN_CHECK_BIN, TM_WILD_SUPERVISOR, "--config", R"({"replicas":2,"restart_all":true})",
                          "--allow-restart"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("rule: replica_restart(i) must leave the other replicas running as they were"), std::string::npos)
        << r.out;
    EXPECT_EQ(count_of(r.out, "failed"), 1) << r.out;
}

TEST(plugin_check, a_replica_status_without_a_name_breaks_the_rule) {
    auto r = run_process({TM_PLUGIN_CHECK_BIN, TM_WILD_SUPERVISOR, "--config", R"({"replicas":2,"replica_reply":"name-number"})"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("rule: replica_status must name the replica"), std::string::npos) << r.out;
}
#endif

// systemd-supervisor with two units over a systemctl that keeps each unit's main PID in a file and
// gives it a new one on restart: the stock plugin passes the replica checks, restarts included.
TEST(plugin_check, systemd_supervisor_passes_the_replica_checks_over_a_scripted_systemctl) {
    if (!std::filesystem::exists(plugin("systemd-supervisor"))) GTEST_SKIP() << "systemd-supervisor is not built";
    char tmpl[] = "/tmp/tm-pc-sd-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::filesystem::path dir = tmpl;
    const auto fake = dir / "systemctl";
    {
        std::ofstream out(fake);
        out << "#!/bin/sh\n"
               "d='" << dir.string() << "'\n"
               "for unit; do :; done\n"
               "pid=$(cat \"$d/$unit.pid\" 2>/dev/null || echo 1000)\n"
               "case \"$1\" in\n"
               "  show) printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nMainPID=%s\\n' \"$pid\" ;;\n"
               "  restart) echo $((pid + 1)) > \"$d/$unit.pid\" ;;\n"
               "esac\n";
    }
    std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
    auto r = run_process({TM_PLUGIN_CHECK_BIN, plugin("systemd-supervisor"), "--allow-restart", "--config",
                          R"({"systemctl":")" + fake.string() +
                              R"(","units":[{"unit":"cloudflared@1.service","metrics":"127.0.0.1:20241"},)"
                              R"({"unit":"cloudflared@2.service","metrics":"127.0.0.1:20242"}]})"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("[       OK ] tunnel_supervisor_v1.replica_restart_restarts_that_replica_only"), std::string::npos)
        << r.out;
    EXPECT_EQ(count_of(r.out, "failed"), 0) << r.out;
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST(plugin_check, a_refused_plugin_and_bad_usage_exit_2) {
    EXPECT_EQ(run_process({TM_PLUGIN_CHECK_BIN}).exit_code, 2);
    auto missing = run_process({TM_PLUGIN_CHECK_BIN, "/nonexistent/no-such-plugin.so"});
    EXPECT_EQ(missing.exit_code, 2) << missing.out << missing.err;
    EXPECT_NE(missing.err.find("refused"), std::string::npos) << missing.err;
    auto bad_config = run_process({TM_PLUGIN_CHECK_BIN, TM_BROKEN_STORE, "--config", "[1]"});
    EXPECT_EQ(bad_config.exit_code, 2) << bad_config.out << bad_config.err;
}

TEST(plugin_check, a_given_config_is_used_for_every_instance) {
    auto r = run_process({TM_PLUGIN_CHECK_BIN, TM_BROKEN_STORE, "--config", R"({"path":"{tmpdir}/x.db"})",
                          "--gtest_filter=state_store_v1.lease*"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("config: {\"path\":\"{tmpdir}/x.db\"}"), std::string::npos) << r.out;
    EXPECT_GE(count_of(r.out, "checks passed"), 4) << r.out;
}

// cloudflare-dns against cloudflare-api-fake, started here on 127.0.0.1 with example.com and an obviously
// fake token, and stopped by its PID: nothing leaves loopback.
class plugin_check_dns : public ::testing::Test {
protected:
    void SetUp() override {
#ifndef TM_CLOUDFLARE_FAKE_EXE
        GTEST_SKIP() << "the Cloudflare API fake is not built (TM_BUILD_TEST_SUPPORT=OFF)";
#else
        if (!std::filesystem::exists(plugin("cloudflare-dns"))) GTEST_SKIP() << "cloudflare-dns is not built";
        dir_ = std::filesystem::temp_directory_path() / ("tm-plugin-check-dns-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        std::ofstream(dir_ / "token") << token << "\n";
        ASSERT_TRUE(fake_.start({TM_CLOUDFLARE_FAKE_EXE, "--listen", "127.0.0.1:0", "--port-file",
                                 (dir_ / "port").string(), "--token", token, "--account-id", account, "--zone",
                                 "example.com", "--quiet"},
                                (dir_ / "fake.log").string()));
        port_ = fake_.wait_for_file((dir_ / "port").string());
        ASSERT_FALSE(port_.empty()) << "the Cloudflare fake did not start:\n" << fake_.log();
#endif
    }

    void TearDown() override {
        fake_.stop();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    std::string config() const {
        return R"({"api_base":"http://127.0.0.1:)" + port_ + R"(/client/v4","api_token_file":")" +
               (dir_ / "token").string() + R"(","account_id":")" + account + R"("})";
    }

    // The fake's control routes (loopback, no auth), through curl: the test has no HTTP client of its own.
    static bool have_curl() { return std::filesystem::exists("/usr/bin/curl"); }
    std::string fake_state() {
        return run_process({"/usr/bin/curl", "-s", "--noproxy", "*", "http://127.0.0.1:" + port_ + "/__fake/state"}).out;
    }
    std::string fake_post(const std::string& route, const std::string& body) {
        return run_process({"/usr/bin/curl", "-s", "--noproxy", "*", "-X", "POST", "-H", "Content-Type: application/json",
                            "--data", body, "http://127.0.0.1:" + port_ + route})
            .out;
    }

    static constexpr const char* token = "fake-token-plugin-check-not-a-real-secret";
    static constexpr const char* account = "0123456789abcdef0123456789abcdef";
    std::filesystem::path dir_;
    std::string port_;
    child_process fake_;
};

TEST_F(plugin_check_dns, cloudflare_dns_passes_every_dns_provider_rule_against_the_fake) {
    auto r = run_process({TM_PLUGIN_CHECK_BIN, plugin("cloudflare-dns"), "--config", config(), "--dns-zone",
                          "example.com"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err << "\nfake:\n" << fake_.log();
    EXPECT_NE(r.out.find("checking: dns_provider_v1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("dns zone: example.com"), std::string::npos) << r.out;
    EXPECT_GE(count_of(r.out, "checks passed"), 7) << r.out;
    EXPECT_EQ(count_of(r.out, "failed"), 0) << r.out;
    EXPECT_EQ(count_of(r.out, "skipped"), 0) << r.out;
    EXPECT_EQ(r.out.find("broken rules:"), std::string::npos) << r.out;
    if (have_curl()) {  // and left nothing behind
        const std::string state = fake_state();
        EXPECT_NE(state.find("\"records\":[]"), std::string::npos) << state;
    }
}

TEST_F(plugin_check_dns, a_failing_check_still_deletes_the_record_it_created) {
    if (!have_curl()) GTEST_SKIP() << "needs curl to reach the fake's control routes";
    // The first GET under /zones/ is find_record right after create_record: a 404 there breaks that check.
    const std::string armed = fake_post("/__fake/faults", R"({"method":"GET","path_prefix":"/zones/","count":1,"kind":"status","status":404})");
    ASSERT_NE(armed.find("\"pending_faults\":1"), std::string::npos) << armed;
    auto r = run_process({TM_PLUGIN_CHECK_BIN, plugin("cloudflare-dns"), "--config", config(), "--dns-zone",
                          "example.com", "--gtest_filter=dns_provider_v1.create_record_returns*"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("rule: find_record must find the record create_record made"), std::string::npos) << r.out;
    const std::string state = fake_state();
    EXPECT_NE(state.find("\"records\":[]"), std::string::npos) << "the check's record was left behind:\n" << state;
    EXPECT_NE(state.find("\"pending_faults\":0"), std::string::npos) << state;
}

TEST_F(plugin_check_dns, without_a_dns_zone_the_dns_checks_skip_saying_why) {
    auto r = run_process({TM_PLUGIN_CHECK_BIN, plugin("cloudflare-dns"), "--config", config()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("checking: dns_provider_v1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("dns_provider_v1 needs a zone to write in: give --dns-zone NAME"), std::string::npos) << r.out;
    EXPECT_EQ(count_of(r.out, "checks passed"), 0) << r.out;
    EXPECT_GE(count_of(r.out, "skipped"), 7) << r.out;
    EXPECT_EQ(count_of(r.out, "failed"), 0) << r.out;
}

TEST_F(plugin_check_dns, a_zone_the_credentials_cannot_see_fails_naming_the_rule) {
    auto r = run_process({TM_PLUGIN_CHECK_BIN, plugin("cloudflare-dns"), "--config", config(), "--dns-zone",
                          "not-served.example", "--gtest_filter=dns_provider_v1.find_record*"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("--dns-zone not-served.example is not in it"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("broken rules:"), std::string::npos) << r.out;
}

TEST_F(plugin_check_dns, a_dns_zone_that_is_not_a_name_is_a_usage_error) {
    auto r = run_process({TM_PLUGIN_CHECK_BIN, plugin("cloudflare-dns"), "--config", config(), "--dns-zone", "no zone"});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("--dns-zone must be a zone name"), std::string::npos) << r.err;
}

}  // namespace
