// Listing hostnames one page at a time over the real sqlite-state plugin: pages, totals,
// next_offset, project isolation, bad bounds; and a 1.0 store that ignores limit/offset.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "core/cname_pipeline.hpp"
#include "core/json.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"

using namespace tunnelmgr;

namespace {

class cname_paging : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("tm-paging-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir_);
        reg_ = std::make_unique<host::registry>(services_);
        auto r = reg_->start_slot("state", {"sqlite-state", "{\"path\":\"" + (dir_ / "s.db").string() + "\"}", 0},
                                  {TM_TEST_PLUGIN_DIR});
        ASSERT_TRUE(r) << r.error();
        state_ = std::make_unique<host::state_store_client>(*reg_->find("state"));
        for (int i = 0; i < 250; ++i) {
            std::string project = i % 5 == 0 ? "beta" : "alpha";  // 200 alpha, 50 beta
            char name[16];
            std::snprintf(name, sizeof name, "h%03d", i);
            sdk::model::cname_row row;
            row.hostname = std::string(name) + ".example.com";
            row.subdomain = name;
            row.domain = "example.com";
            row.project = project;
            row.port = 3000 + i;
            row.target = "http://localhost:" + std::to_string(3000 + i);
            ASSERT_TRUE(state_->cname_insert(row));
        }
        pipeline_ = std::make_unique<core::cname_pipeline>(*state_, nullptr, nullptr, targets_, core::pipeline_settings{});
    }
    void TearDown() override {
        pipeline_.reset();
        state_.reset();
        reg_.reset();
        std::filesystem::remove_all(dir_);
    }
    rapidjson::Document page(const core::session& who, const std::string& project, int64_t limit, int64_t offset) {
        auto r = pipeline_->list_cnames(who, project, limit, offset);
        EXPECT_TRUE(r) << r.error().message;
        return std::move(*core::json::parse(r ? *r : "{}"));
    }

    std::filesystem::path dir_;
    host::host_services services_;
    std::unique_ptr<host::registry> reg_;
    std::unique_ptr<host::state_store_client> state_;
    core::host_target_selector targets_;
    std::unique_ptr<core::cname_pipeline> pipeline_;
};

}  // namespace

TEST_F(cname_paging, a_project_walks_its_own_rows_page_by_page) {
    auto alpha = core::session::project_session("alpha", "test");
    std::vector<std::string> seen;
    int64_t offset = 0;
    int pages = 0;
    for (;;) {
        auto p = page(alpha, "", 64, offset);
        EXPECT_EQ(p["total"].GetInt64(), 200);
        ++pages;
        for (const auto& row : p["cnames"].GetArray()) {
            EXPECT_STREQ(row["project"].GetString(), "alpha");
            seen.emplace_back(row["hostname"].GetString());
        }
        EXPECT_EQ(p["count"].GetInt64(), static_cast<int64_t>(p["cnames"].Size()));
        if (p["next_offset"].IsNull()) break;
        offset = p["next_offset"].GetInt64();
    }
    EXPECT_EQ(pages, 4);  // 64 + 64 + 64 + 8
    EXPECT_EQ(seen.size(), 200u);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(*pipeline_->count_cnames(alpha), 200);
}

TEST_F(cname_paging, the_admin_sees_everyone_and_a_project_cannot_widen_itself) {
    auto admin = core::session::admin_session("test");
    EXPECT_EQ(page(admin, "", 100, 0)["total"].GetInt64(), 250);
    EXPECT_EQ(page(admin, "beta", 100, 0)["total"].GetInt64(), 50);
    auto beta = core::session::project_session("beta", "test");
    auto refused = pipeline_->list_cnames(beta, "alpha", 100, 0);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, core::errc::denied);
    EXPECT_EQ(*pipeline_->count_cnames(beta, "alpha"), 50) << "a project's count is always its own";
}

TEST_F(cname_paging, bad_bounds_are_refused) {
    auto admin = core::session::admin_session("test");
    EXPECT_FALSE(pipeline_->list_cnames(admin, "", 0, 0));
    EXPECT_FALSE(pipeline_->list_cnames(admin, "", 1001, 0));
    EXPECT_FALSE(pipeline_->list_cnames(admin, "", 10, -1));
    auto past_the_end = page(admin, "", 10, 5000);
    EXPECT_EQ(past_the_end["count"].GetInt64(), 0);
    EXPECT_TRUE(past_the_end["next_offset"].IsNull());
}

TEST(cname_paging_1_0, a_store_that_ignores_limit_is_paged_by_the_host) {
    host::host_services services;
    host::registry reg(services);
    ASSERT_TRUE(reg.start_slot("state", {"abi-v1-0-store", "{}", 0}, {std::string(TM_TEST_BINARY_DIR) + "/abi-fixtures"}));
    host::state_store_client state(*reg.find("state"));
    core::host_target_selector targets;
    core::cname_pipeline pipeline(state, nullptr, nullptr, targets, core::pipeline_settings{});
    auto r = pipeline.list_cnames(core::session::admin_session("test"), "", 1, 0);
    ASSERT_TRUE(r) << r.error().message;
    auto d = core::json::parse(*r);
    EXPECT_EQ((*d)["cnames"].Size(), 1u);
    EXPECT_EQ((*d)["total"].GetInt64(), 2);
    EXPECT_EQ((*d)["next_offset"].GetInt64(), 1);
    // Second page, bigger than what is left: the host skips the rows the old store did not.
    auto second = pipeline.list_cnames(core::session::admin_session("test"), "", 5, 1);
    ASSERT_TRUE(second);
    auto d2 = core::json::parse(*second);
    EXPECT_EQ((*d2)["cnames"].Size(), 1u);
    EXPECT_TRUE((*d2)["next_offset"].IsNull());
}
