// The real tunnelmgr binary: a use of a command that reads only the state (`cname ls`, `domains`
// when zones are known, `cname check` of a known zone) does not start the plugins it would not call; when it needs them after all,
// they start, and a refusal fails it with the same sentence as before.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <SQLiteCpp/SQLiteCpp.h>

#include "process/run_process.hpp"

using tunnelmgr::testing::run_process;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string plugins = std::string(TM_TEST_BINARY_DIR) + "/plugins";
const std::string refusal = "cloudflare-dns.so: refused: init failed: dns.api_token_file: cannot read ";

class deferred_slots : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("tm-deferred-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
        for (const char* p : {"/sqlite-state.so", "/cloudflare-dns.so"}) {
            if (!std::filesystem::exists(plugins + p)) GTEST_SKIP() << p << " not built";
        }
        std::ofstream(dir_ / "cloudflared.yml") << "tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef\n"
                                                   "ingress:\n  - service: http_status:404\n";
        // The dns slot's plugin refuses to start (no token file): any run that starts it fails.
        std::ofstream(dir_ / "config.yml")
            << "state: { plugin: sqlite-state, path: " << (dir_ / "state.db").string() << " }\n"
            << "dns: { plugin: cloudflare-dns, api_base: \"http://127.0.0.1:1/client/v4\", api_token_file: "
            << (dir_ / "no-token").string() << " }\n"
            << "tunnel: { id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, config_file: "
            << (dir_ / "cloudflared.yml").string() << ", metrics: 127.0.0.1:1, default_domain: example.com }\n"
            << "projects:\n  p1: { ports: \"1-65535\" }\n"
            << "plugin_dir: " << plugins << "\n";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    // The state knows example.com as a zone, as after a `domains --refresh`; the plugin cannot ask.
    void know_the_zone() {
        ASSERT_EQ(tm({"cname", "ls", "--json"}).exit_code, 0);  // creates the state
        SQLite::Database db((dir_ / "state.db").string(), SQLite::OPEN_READWRITE);
        db.exec("INSERT INTO domains (zone_id, name, status, updated_at) VALUES "
                "('fedcba9876543210fedcba9876543210', 'example.com', 'active', 1)");
    }
    tunnelmgr::testing::process_result tm(std::vector<std::string> args) {
        args.insert(args.begin(), {binary, "--config", (dir_ / "config.yml").string()});
        return run_process(args);
    }
    std::filesystem::path dir_;
};

TEST_F(deferred_slots, cname_ls_reads_the_state_without_starting_the_dns_plugin) {
    auto r = tm({"cname", "ls", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "[]\n");
    EXPECT_EQ(r.err.find("cloudflare-dns"), std::string::npos) << r.err;
}

TEST_F(deferred_slots, domains_with_no_zone_known_starts_the_dns_plugin_and_fails_as_before) {
    auto r = tm({"domains", "--json"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find(refusal), std::string::npos) << r.err;
}

TEST_F(deferred_slots, cname_check_of_a_known_zone_answers_without_starting_the_dns_plugin) {
    know_the_zone();
    auto r = tm({"cname", "check", "app", "--port", "3100", "--project", "p1", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("\"available\": true"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"hostname\": \"app.example.com\""), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find("cloudflare-dns"), std::string::npos) << r.err;
}

TEST_F(deferred_slots, cname_check_of_an_unknown_zone_starts_the_dns_plugin_to_ask_the_account) {
    know_the_zone();
    auto r = tm({"cname", "check", "app", "--port", "3100", "--project", "p1", "--domain", "other.org"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find(refusal), std::string::npos) << r.err;
}

TEST_F(deferred_slots, a_change_still_starts_every_slot_it_wants_first) {
    auto r = tm({"cname", "rm", "app.example.com"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find(refusal), std::string::npos) << r.err;
}

}  // namespace
