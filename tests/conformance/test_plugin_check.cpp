// tunnelmgr-plugin-check as a plugin author runs it: exit status and what it prints, against the stock
// sqlite-state, the broken-store fixture and mcp-stdio (nothing to check).
#include <filesystem>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "process/run_process.hpp"

namespace {

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

TEST(plugin_check, the_broken_store_fails_naming_the_rules_it_breaks) {
    auto r = run_process({TM_PLUGIN_CHECK_BIN, TM_BROKEN_STORE});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("rule: cname_insert must refuse a second row for the same hostname, case-insensitive, with TM_CONFLICT"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("rule: operation_begin must refuse a second unfinished operation on the same hostname with TM_CONFLICT"),
              std::string::npos)
        << r.out;
    // Only what it breaks: the two rules, and the race on operation_begin that follows from the second.
    EXPECT_EQ(count_of(r.out, "failed"), 3) << r.out;
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

}  // namespace
