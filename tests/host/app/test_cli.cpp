// The real tunnelmgr binary, run as a process: listing plugins, refusing broken ones with one line,
// failing start-up only when a needed slot's plugin is refused, and config errors with their line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <rapidjson/document.h>
#include <tunnelmgr/plugin_api.h>

#include "process/run_process.hpp"

using tunnelmgr::testing::run_process;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string fixtures = std::string(TM_TEST_BINARY_DIR) + "/abi-fixtures";

class cli : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("tm-cli-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string write_config(const std::string& body) {
        auto p = dir_ / "config.yml";
        std::ofstream(p) << body;
        return p.string();
    }
    std::filesystem::path dir_;
};

}  // namespace

TEST_F(cli, plugins_lists_each_fixture_loaded_or_refused_with_its_reason) {
    auto r = run_process({binary, "plugins", "--plugin-dir", fixtures, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    rapidjson::Document d;
    d.Parse(r.out.c_str());
    ASSERT_FALSE(d.HasParseError()) << r.out;
    EXPECT_STREQ(d["host_api_version"].GetString(), TM_PLUGIN_API_VERSION_STRING);
    std::vector<std::string> loaded;
    for (const auto& p : d["plugins"].GetArray()) {
        loaded.push_back(p["name"].GetString());
        EXPECT_STREQ(p["required_api_version"].GetString(),
                     loaded.back() == "abi-v1-0-store" ? "1.0.0"
                     : loaded.back() == "abi-v1-1-dns" || loaded.back() == "abi-v1-1-supervisor" ? "1.1.0"
                                                                                                : TM_PLUGIN_API_VERSION_STRING);
    }
    EXPECT_EQ(loaded, (std::vector<std::string>{"abi-good", "abi-init-fails", "abi-init-throws", "abi-v1-0-store",
                                                "abi-v1-1-dns", "abi-v1-1-supervisor"}));
    std::map<std::string, std::string> refused;
    for (const auto& p : d["refused"].GetArray()) {
        refused[std::filesystem::path(p["file"].GetString()).stem().string()] = p["reason"].GetString();
    }
    EXPECT_EQ(refused.size(), 14u);
    EXPECT_NE(refused["abi-major-2"].find("requires plugin API 2.0.0"), std::string::npos);
    EXPECT_NE(refused["abi-no-entry"].find("no tm_plugin_entry"), std::string::npos);
    EXPECT_NE(refused["abi-oversized"].find("newer plugin API"), std::string::npos);
}

TEST_F(cli, plugins_text_output_has_one_line_per_refusal) {
    auto r = run_process({binary, "plugins", "--plugin-dir", fixtures});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("abi-good"), std::string::npos);
    EXPECT_NE(r.out.find("abi-newer-minor.so: refused: requires plugin API 1.99.0"), std::string::npos) << r.out;
}

TEST_F(cli, stock_plugins_are_listed_with_their_abi_version) {
    std::string plugin_dir = std::string(TM_TEST_BINARY_DIR) + "/plugins";
    if (!std::filesystem::exists(plugin_dir + "/sqlite-state.so")) GTEST_SKIP() << "sqlite-state not built";
    auto r = run_process({binary, "plugins", "--plugin-dir", plugin_dir, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    rapidjson::Document d;
    d.Parse(r.out.c_str());
    ASSERT_FALSE(d.HasParseError());
    bool found = false;
    for (const auto& p : d["plugins"].GetArray()) {
        if (std::string(p["name"].GetString()) == "sqlite-state") {
            found = true;
            EXPECT_STREQ(p["required_api_version"].GetString(), TM_PLUGIN_API_VERSION_STRING);
            EXPECT_STREQ(p["capabilities"][0].GetString(), "state_store_v1");
        }
    }
    EXPECT_TRUE(found) << r.out;
    EXPECT_EQ(d["refused"].Size(), 0u) << r.out;
}

TEST_F(cli, a_refused_plugin_in_a_needed_slot_fails_startup_with_one_line) {
    auto cfg = write_config("state: { plugin: abi-init-fails }\nplugin_dir: " + fixtures + "\n");
    auto r = run_process({binary, "--config", cfg, "state"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(r.signal, 0);
    EXPECT_EQ(r.err, "tunnelmgr: " + fixtures +
                         "/abi-init-fails.so: refused: init failed: the fixture refuses to start: its config lacks "
                         "everything it needs\n");
    // A supervisor whose init throws: caught at the host's edge, reported, no crash.
    auto cfg2 = write_config("state: { plugin: abi-good }\nsupervisor: { plugin: abi-init-throws }\nplugin_dir: " +
                             fixtures + "\n");
    auto c = run_process({binary, "--config", cfg2, "check"});
    EXPECT_EQ(c.exit_code, 3);
    EXPECT_EQ(c.signal, 0);
    EXPECT_NE(c.out.find("abi-init-throws.so: refused: init failed: it threw (fixture init exploded)"), std::string::npos)
        << c.out;
}

TEST_F(cli, a_refused_plugin_in_an_unneeded_slot_does_not_stop_startup) {
    auto cfg = write_config("state: { plugin: abi-good }\ndns: { plugin: abi-major-2 }\nplugin_dir: " + fixtures + "\n");
    auto r = run_process({binary, "--config", cfg, "state"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("state store: abi-good 0.0.1"), std::string::npos) << r.out;
    // ...but `check` starts every slot and reports the broken one.
    auto c = run_process({binary, "--config", cfg, "check"});
    EXPECT_EQ(c.exit_code, 3);
    EXPECT_NE(c.out.find("state      ok"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("dns        FAILED"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("requires plugin API 2.0.0"), std::string::npos) << c.out;
}

TEST_F(cli, each_broken_fixture_in_the_state_slot_is_refused_without_a_crash) {
    for (const char* name : {"abi-no-entry", "abi-null-entry", "abi-major-2", "abi-newer-minor", "abi-oversized",
                             "abi-missing-init", "abi-incomplete-table", "abi-init-fails", "abi-entry-throws"}) {
        auto cfg = write_config(std::string("state: { plugin: ") + name + " }\nplugin_dir: " + fixtures + "\n");
        auto r = run_process({binary, "--config", cfg, "state"});
        EXPECT_EQ(r.signal, 0) << name;
        EXPECT_EQ(r.exit_code, 3) << name << ": " << r.err;
        EXPECT_NE(r.err.find(std::string(name) + ".so: refused: "), std::string::npos) << r.err;
    }
}

TEST_F(cli, config_errors_name_the_line_and_exit_2) {
    auto cfg = write_config("state: { plugin: sqlite-state }\nhealth:\n  interval: soon\n");
    auto r = run_process({binary, "--config", cfg, "state"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find(cfg + ":3: health.interval: 'soon' is not a duration"), std::string::npos) << r.err;
}

TEST_F(cli, unknown_command_and_bad_options_are_usage_errors) {
    EXPECT_EQ(run_process({binary, "frobnicate"}).exit_code, 2);
    EXPECT_EQ(run_process({binary, "--log-level"}).exit_code, 2);
    auto v = run_process({binary, "--version"});
    EXPECT_EQ(v.exit_code, 0);
    EXPECT_NE(v.out.find(std::string("plugin API ") + TM_PLUGIN_API_VERSION_STRING), std::string::npos);
}

TEST_F(cli, a_section_that_breaks_the_plugins_schema_names_its_line_and_init_never_runs) {
    std::string plugin_dir = std::string(TM_TEST_BINARY_DIR) + "/plugins";
    if (!std::filesystem::exists(plugin_dir + "/cloudflare-dns.so")) GTEST_SKIP() << "cloudflare-dns not built";
    // The token file does not exist: had init() run, the plugin would have said so.
    auto cfg = write_config("state: { plugin: abi-good }\n"
                            "plugin_dir: [" + fixtures + ", " + plugin_dir + "]\n"
                            "dns:\n"
                            "  plugin: cloudflare-dns\n"
                            "  api_token_file: " + (dir_ / "no-such-token").string() + "\n"
                            "  timeout_ms: \"soon\"\n");
    auto c = run_process({binary, "--config", cfg, "check"});
    EXPECT_EQ(c.exit_code, 3) << c.out << c.err;
    EXPECT_EQ(c.signal, 0);
    EXPECT_NE(c.err.find(cfg + ":6: dns.timeout_ms: must be an integer, got a string (\\\"soon\\\")"), std::string::npos)
        << c.err;
    EXPECT_NE(c.out.find("dns        FAILED   " + cfg + ":6: dns.timeout_ms: must be an integer"), std::string::npos)
        << c.out;
    for (const auto* text : {&c.out, &c.err}) {
        EXPECT_EQ(text->find("init failed"), std::string::npos) << *text;
        EXPECT_EQ(text->find("no-such-token"), std::string::npos) << *text;
    }
}

TEST_F(cli, tunnel_default_domain_is_read_and_the_old_dns_key_warns_once) {
    auto old_cfg = write_config("state: { plugin: abi-good }\nplugin_dir: " + fixtures +
                                "\ndns: { plugin: abi-good, default_domain: old.example }\n");
    auto r = run_process({binary, "--config", old_cfg, "state"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string warning = old_cfg + ":3: dns.default_domain is deprecated: move it to tunnel.default_domain";
    auto first = r.err.find(warning);
    ASSERT_NE(first, std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(warning, first + 1), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("level=warn"), std::string::npos) << r.err;

    auto new_cfg = write_config("state: { plugin: abi-good }\nplugin_dir: " + fixtures +
                                "\ntunnel: { default_domain: example.com }\n");
    auto n = run_process({binary, "--config", new_cfg, "state"});
    EXPECT_EQ(n.exit_code, 0) << n.err;
    EXPECT_EQ(n.err.find("deprecated"), std::string::npos) << n.err;
    auto typo = write_config("state: { plugin: abi-good }\nplugin_dir: " + fixtures +
                             "\ntunnel: { default_domian: example.com }\n");
    auto t = run_process({binary, "--config", typo, "state"});
    EXPECT_EQ(t.exit_code, 2);
    EXPECT_NE(t.err.find(typo + ":3: tunnel.default_domian: unknown key"), std::string::npos) << t.err;
}

TEST_F(cli, stock_plugins_carry_the_version_of_the_host_they_ship_with) {
    auto v = run_process({binary, "--version"});
    ASSERT_EQ(v.exit_code, 0) << v.err;
    // "tunnelmgr 0.1.0 (plugin API 1.2.0)"
    const std::string prefix = "tunnelmgr ";
    ASSERT_EQ(v.out.rfind(prefix, 0), 0u) << v.out;
    std::string version = v.out.substr(prefix.size(), v.out.find(' ', prefix.size()) - prefix.size());
    ASSERT_FALSE(version.empty()) << v.out;

    std::string plugin_dir = std::string(TM_TEST_BINARY_DIR) + "/plugins";
    std::vector<std::string> built;
    for (const char* name : {"sqlite-state", "cloudflare-dns", "docker-runtime", "systemd-supervisor",
                             "container-supervisor", "mcp-stdio", "postgres-state"}) {
        if (std::filesystem::exists(plugin_dir + "/" + name + ".so")) built.emplace_back(name);
    }
    if (built.empty()) GTEST_SKIP() << "no stock plugin built in " << plugin_dir;
    auto r = run_process({binary, "plugins", "--plugin-dir", plugin_dir, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    rapidjson::Document d;
    d.Parse(r.out.c_str());
    ASSERT_FALSE(d.HasParseError()) << r.out;
    std::map<std::string, std::string> listed;
    for (const auto& p : d["plugins"].GetArray()) listed[p["name"].GetString()] = p["version"].GetString();
    for (const auto& name : built) {
        ASSERT_TRUE(listed.count(name)) << name << " not listed: " << r.out;
        EXPECT_EQ(listed[name], version) << name;
    }
}
