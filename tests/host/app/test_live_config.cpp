// live_config: a reload reads the same file again; a bad file keeps the running config and says
// file:line; what takes a restart keeps its running value and is named; listeners hear each reload.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

#include "app/live_config.hpp"
#include "config/config.hpp"

using namespace tunnelmgr;

namespace {

class live_config_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("tm-live-" + std::to_string(::getpid()) + "-" +
                                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / "config.yml").string();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    void write(const std::string& health, const std::string& extra = "") {
        std::ofstream(path_) << "state: { plugin: sqlite-state, path: /tmp/x.db }\n"
                             << "health: " << health << "\n"
                             << "projects: { web: { ports: \"3000-3009\", token_sha256: " << std::string(64, 'a') << " } }\n"
                             << extra;
    }
    config::config load() {
        auto c = config::load_file(path_);
        EXPECT_TRUE(c) << (c ? "" : c.error());
        return *c;
    }
    std::filesystem::path dir_;
    std::string path_;
};

}  // namespace

TEST_F(live_config_test, a_good_file_replaces_the_config_and_the_listeners_hear_it) {
    write("{ interval: 30s }");
    app::live_config live(load());
    int heard = 0;
    live.on_reload([&](const config::config& c) {
        ++heard;
        EXPECT_EQ(c.health.interval, std::chrono::seconds(5));
    });
    auto before = live.current();
    write("{ interval: 5s }");
    ASSERT_TRUE(live.reload());
    EXPECT_EQ(heard, 1);
    EXPECT_EQ(live.current()->health.interval, std::chrono::seconds(5));
    EXPECT_EQ(before->health.interval, std::chrono::seconds(30)) << "a reader's snapshot must not change under it";
}

TEST_F(live_config_test, a_bad_file_keeps_the_running_config_and_names_file_and_line) {
    write("{ interval: 30s }");
    app::live_config live(load());
    int heard = 0;
    live.on_reload([&](const config::config&) { ++heard; });
    write("{ interval: soon }");
    auto r = live.reload();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("config.yml:2: health.interval"), std::string::npos) << r.error();
    EXPECT_EQ(live.current()->health.interval, std::chrono::seconds(30));
    EXPECT_EQ(heard, 0);
}

TEST_F(live_config_test, what_takes_a_restart_keeps_its_running_value_and_is_named) {
    write("{ interval: 30s }");
    auto initial = load();
    app::live_config live(initial);
    std::ofstream(path_) << "state: { plugin: sqlite-state, path: /tmp/other.db }\n"
                         << "health: { interval: 10s }\n"
                         << "tunnel: { metrics: 127.0.0.1:9999 }\n"
                         << "metrics: { listen: 127.0.0.1:9464 }\n";
    auto next = config::load_file(path_);
    ASSERT_TRUE(next);
    auto keys = app::needs_restart(initial, *next);
    EXPECT_EQ(keys, (std::vector<std::string>{"state", "tunnel.metrics", "metrics.listen",
                                               "projects (other than token_sha256)"}));
    ASSERT_TRUE(live.reload());
    auto now = live.current();
    EXPECT_EQ(now->health.interval, std::chrono::seconds(10));
    EXPECT_EQ(now->find_slot("state")->config_json, initial.find_slot("state")->config_json);
    EXPECT_EQ(now->tunnel.metrics, initial.tunnel.metrics);
    EXPECT_TRUE(now->metrics.listen.empty());
    // The project the pipeline knows stays until a restart, but with no token: it opens no new session.
    ASSERT_EQ(now->projects.count("web"), 1u);
    EXPECT_EQ(now->projects.at("web").token_sha256, "");
}

TEST_F(live_config_test, the_embedded_default_has_no_file_to_reload) {
    app::live_config live(config::embedded_default());
    auto r = live.reload();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("--config"), std::string::npos) << r.error();
}

TEST_F(live_config_test, readers_and_a_reload_may_run_at_once) {
    write("{ interval: 30s }");
    app::live_config live(load());
    std::atomic<bool> done{false};
    std::thread reader([&] {
        while (!done.load()) EXPECT_FALSE(live.current()->projects.empty());
    });
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(live.reload());
    done.store(true);
    reader.join();
}

TEST_F(live_config_test, a_reload_applies_known_projects_tokens_and_keeps_their_rules_until_a_restart) {
    write("{ interval: 30s }");
    app::live_config live(load());
    // New token for web, other ports for web, and a project that was not there.
    std::ofstream(path_) << "state: { plugin: sqlite-state, path: /tmp/x.db }\n"
                         << "projects:\n"
                         << "  web: { ports: \"4000-4009\", token_sha256: " << std::string(64, 'b') << " }\n"
                         << "  newcomer: { ports: \"5000\", token_sha256: " << std::string(64, 'c') << " }\n";
    auto running = live.current();
    auto fresh = load();
    auto pending = app::needs_restart(*running, fresh);
    EXPECT_NE(std::find(pending.begin(), pending.end(), "projects (other than token_sha256)"), pending.end());
    ASSERT_TRUE(live.reload());
    auto now = live.current();
    ASSERT_EQ(now->projects.count("web"), 1u);
    EXPECT_EQ(now->projects.at("web").token_sha256, std::string(64, 'b')) << "the new token applies at once";
    ASSERT_EQ(now->projects.at("web").ports.size(), 1u);
    EXPECT_EQ(now->projects.at("web").ports[0].first, 3000) << "the ports the pipeline holds stay until a restart";
    EXPECT_EQ(now->projects.count("newcomer"), 0u) << "a new project waits for the restart";
    // A project removed from the file can open no new session.
    std::ofstream(path_) << "state: { plugin: sqlite-state, path: /tmp/x.db }\nprojects: {}\n";
    ASSERT_TRUE(live.reload());
    EXPECT_EQ(live.current()->projects.at("web").token_sha256, "");
}
