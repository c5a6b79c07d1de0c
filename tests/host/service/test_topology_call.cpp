// The host call topology.get over a real state store and no runtime: admin only (a project's attempt
// is denied and audited), the stored Docker snapshot with a note when there is no runtime, and the
// text rendering the MCP resource tunnel://topology shows.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "config/config.hpp"
#include "core/json.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"
#include "service/core_services.hpp"
#include "service/host_calls.hpp"

using namespace tunnelmgr;

namespace {

class topology_call : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("tm-topology-call-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        auto cfg = config::load_string("state: { plugin: sqlite-state, path: " + (dir_ / "state.db").string() + " }\n" +
                                           "tunnel: { id: \"\", metrics: \"127.0.0.1:1\", config_file: " +
                                           (dir_ / "config.yml").string() + " }\n" +
                                           "projects:\n  alpha: { ports: \"3100-3199\" }\n",
                                       "topology.yml");
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
        std::filesystem::remove_all(dir_);
    }
    std::filesystem::path dir_;
    host::host_services services_;
    std::unique_ptr<host::registry> plugins_;
    std::unique_ptr<host::state_store_client> state_;
    std::unique_ptr<service::core_services> core_;
    std::unique_ptr<service::host_calls> calls_;
};

TEST_F(topology_call, a_project_session_is_denied_and_audited) {
    auto r = calls_->call("topology.get", "{}", core::session::project_session("alpha", "test"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::errc::denied) << r.error().message;
    auto rows = state_->audit_query(R"({"action":"topology.get","limit":10})");
    ASSERT_TRUE(rows);
    auto d = core::json::parse(*rows);
    ASSERT_TRUE(d && d->IsArray() && d->Size() == 1u) << *rows;
    EXPECT_EQ(core::json::str((*d)[0], "result"), "denied") << *rows;
}

TEST_F(topology_call, without_a_runtime_the_stored_snapshot_is_shown_with_a_note) {
    const auto admin = core::session::admin_session("test");
    auto empty = calls_->call("topology.get", "{}", admin);
    ASSERT_TRUE(empty) << empty.error().message;
    auto d = core::json::parse(*empty);
    ASSERT_TRUE(d && d->IsObject()) << *empty;
    EXPECT_EQ(core::json::str(*d, "source"), "none") << *empty;
    EXPECT_NE(core::json::str(*d, "text").find("no stored Docker snapshot"), std::string::npos) << *empty;

    sdk::model::docker_snapshot snap;
    snap.networks = {{"n1", "apps", "bridge", "local", false, true}};
    sdk::model::docker_container web;
    web.id = "c1";
    web.name = "alpha-web";
    web.state = "exited";
    web.project = "alpha";
    web.networks = {sdk::model::docker_endpoint{"apps", std::nullopt, {}}};
    web.ports = {sdk::model::docker_port{3100, "tcp", std::nullopt, std::nullopt}};
    snap.containers = {web};
    ASSERT_TRUE(state_->docker_snapshot_replace(snap));
    sdk::model::cname_row row;
    row.hostname = "web.example.com";
    row.subdomain = "web";
    row.domain = "example.com";
    row.project = "alpha";
    row.port = 3100;
    row.target = "http://alpha-web:3100";
    row.target_type = "container";
    row.container_name = "alpha-web";
    row.docker_network = "apps";
    ASSERT_TRUE(state_->cname_insert(row));

    auto stored = calls_->call("topology.get", "{}", admin);
    ASSERT_TRUE(stored) << stored.error().message;
    d = core::json::parse(*stored);
    ASSERT_TRUE(d && d->IsObject()) << *stored;
    EXPECT_EQ(core::json::str(*d, "source"), "stored");
    EXPECT_EQ(core::json::i64(*d, "broken"), 1);
    const std::string text = core::json::str(*d, "text");
    EXPECT_NE(text.find("tunnelmgr topology (the last stored Docker snapshot)"), std::string::npos) << text;
    EXPECT_NE(text.find("web.example.com  alpha:3100  BROKEN"), std::string::npos) << text;
    EXPECT_NE(text.find("broken: container alpha-web is exited"), std::string::npos) << text;
    EXPECT_NE(text.find("note: no container runtime is running"), std::string::npos) << text;
}

}  // namespace
