// Listing hostnames one page at a time over the real sqlite-state plugin: pages, totals,
// next_offset, project isolation, bad bounds; keyset pages (after/next_after) while names come and go,
// over the store and over one from before 1.5 (the host takes the page); and a 1.0 store that ignores
// limit/offset.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>
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
    rapidjson::Document page_after(core::cname_pipeline& pipeline, const core::session& who, const std::string& project,
                                   int64_t limit, const std::optional<std::string>& after) {
        auto r = pipeline.list_cnames(who, project, limit, std::nullopt, after);
        EXPECT_TRUE(r) << r.error().message;
        return std::move(*core::json::parse(r ? *r : "{}"));
    }
    // Every page from the first, each asked with the next_after of the one before; `between(n)` runs
    // after page n. The hostnames in the order the pages gave them.
    std::vector<std::string> walk(core::cname_pipeline& pipeline, const core::session& who, const std::string& project,
                                  int64_t limit, const std::function<void(int)>& between = {}) {
        std::vector<std::string> seen;
        std::optional<std::string> after;
        for (int n = 0; n < 1000; ++n) {
            auto p = page_after(pipeline, who, project, limit, after);
            EXPECT_EQ(p["count"].GetInt64(), static_cast<int64_t>(p["cnames"].Size()));
            EXPECT_LE(p["count"].GetInt64(), limit);
            for (const auto& row : p["cnames"].GetArray()) seen.emplace_back(row["hostname"].GetString());
            if (after) {
                EXPECT_TRUE(p["offset"].IsNull()) << "a keyset page knows no position";
                EXPECT_TRUE(p["next_offset"].IsNull());
            }
            if (p["next_after"].IsNull()) return seen;
            EXPECT_EQ(p["count"].GetInt64(), limit) << "only the last page is short";
            EXPECT_STREQ(p["next_after"].GetString(), p["cnames"][p["cnames"].Size() - 1]["hostname"].GetString());
            after = p["next_after"].GetString();
            if (between) between(n);
        }
        ADD_FAILURE() << "the pages never ended";
        return seen;
    }
    void insert(const std::string& sub, const std::string& project) {
        sdk::model::cname_row row;
        row.hostname = sub + ".example.com";
        row.subdomain = sub;
        row.domain = "example.com";
        row.project = project;
        row.port = 3999;
        row.target = "http://localhost:3999";
        ASSERT_TRUE(state_->cname_insert(row));
    }
    static std::vector<std::string> every_name(int from, int to, int step = 1, const std::string& also = "") {
        std::vector<std::string> out;
        char name[32];
        for (int i = from; i < to; i += step) {
            std::snprintf(name, sizeof name, "h%03d.example.com", i);
            out.emplace_back(name);
        }
        if (!also.empty()) out.push_back(also);
        std::sort(out.begin(), out.end());
        return out;
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

TEST_F(cname_paging, keyset_pages_join_to_the_whole_list) {
    auto alpha = core::session::project_session("alpha", "test");
    auto seen = walk(*pipeline_, alpha, "", 64);
    EXPECT_EQ(seen.size(), 200u);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size()) << "no name twice";
    EXPECT_EQ(walk(*pipeline_, core::session::admin_session("test"), "", 100), every_name(0, 250));
    EXPECT_EQ(walk(*pipeline_, core::session::admin_session("test"), "beta", 7), every_name(0, 250, 5));
    EXPECT_EQ(walk(*pipeline_, core::session::admin_session("test"), "", 250).size(), 250u) << "one page, exactly full";

    // The first page (no after) also has its offset fields, and says where a keyset walk goes on.
    auto first = page(alpha, "", 64, 0);
    EXPECT_EQ(first["offset"].GetInt64(), 0);
    EXPECT_EQ(first["next_offset"].GetInt64(), 64);
    EXPECT_STREQ(first["next_after"].GetString(), seen[63].c_str());
    EXPECT_EQ(first["total"].GetInt64(), 200);
    auto last = page(alpha, "", 64, 192);
    EXPECT_TRUE(last["next_after"].IsNull());
    EXPECT_TRUE(last["next_offset"].IsNull());
}

// Between pages a name joins behind the walk and one ahead of it, and the row the walk stopped at goes:
// every name that was there throughout is seen once, the one ahead too; an offset walk would have shown
// a name twice.
TEST_F(cname_paging, a_keyset_walk_neither_repeats_nor_skips_while_names_come_and_go) {
    auto admin = core::session::admin_session("test");
    auto seen = walk(*pipeline_, admin, "beta", 10, [&](int n) {
        if (n != 0) return;  // after h000 .. h045 (beta: every fifth)
        insert("h001a", "beta");  // behind
        insert("h100a", "beta");  // ahead
        ASSERT_TRUE(state_->cname_delete("h045.example.com"));
    });
    EXPECT_EQ(seen, every_name(0, 250, 5, "h100a.example.com"));
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size());
}

TEST_F(cname_paging, after_is_folded_and_never_comes_with_an_offset) {
    auto admin = core::session::admin_session("test");
    auto p = page_after(*pipeline_, admin, "", 2, "H100.Example.COM.");
    ASSERT_EQ(p["cnames"].Size(), 2u);
    EXPECT_STREQ(p["cnames"][0]["hostname"].GetString(), "h101.example.com");
    auto between = page_after(*pipeline_, admin, "", 2, "h100x.example.com");
    EXPECT_STREQ(between["cnames"][0]["hostname"].GetString(), "h101.example.com") << "no row's name: the next one";
    auto end = page_after(*pipeline_, admin, "", 2, "zzz.example.com");
    EXPECT_EQ(end["count"].GetInt64(), 0);
    EXPECT_TRUE(end["next_after"].IsNull());
    EXPECT_EQ(end["total"].GetInt64(), 250);

    for (int64_t offset : {0, 10}) {
        auto both = pipeline_->list_cnames(admin, "", 10, offset, std::string("h100.example.com"));
        ASSERT_FALSE(both);
        EXPECT_EQ(both.error().code, core::errc::invalid);
        EXPECT_NE(both.error().message.find("give `after` or `offset`, not both"), std::string::npos) << both.error().message;
    }
    auto alpha = core::session::project_session("alpha", "test");
    auto other = pipeline_->list_cnames(alpha, "beta", 10, std::nullopt, std::string("h100.example.com"));
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error().code, core::errc::denied);
}

namespace {

// A store from before plugin API 1.5 over the same rows: it knows no "after" and lists from the first row.
class store_before_1_5 final : public core::state_store {
public:
    explicit store_before_1_5(core::state_store& real) : real_(real) {}
    bool pages_after() const override { return false; }
    core::result<std::string> cname_list(std::string_view f) override {
        auto d = core::json::parse(f);
        if (!d || !d->IsObject()) return real_.cname_list(f);
        d->RemoveMember("after");
        ++lists;
        return real_.cname_list(core::json::to_string(*d));
    }
    core::result<int64_t> cname_count(std::string_view f) override { return real_.cname_count(f); }
    int lists = 0;

    core::result<int64_t> schema_version() override { return real_.schema_version(); }
    core::result<std::string> stats() override { return real_.stats(); }
    core::result<int64_t> cname_insert(const sdk::model::cname_row& r) override { return real_.cname_insert(r); }
    core::result<void> cname_delete(std::string_view h) override { return real_.cname_delete(h); }
    core::result<sdk::model::cname_row> cname_get(std::string_view h) override { return real_.cname_get(h); }
    core::result<int64_t> operation_begin(std::string_view j) override { return real_.operation_begin(j); }
    core::result<void> operation_advance(int64_t id, std::string_view s, std::string_view p) override {
        return real_.operation_advance(id, s, p);
    }
    core::result<void> operation_commit(int64_t id, const sdk::model::cname_row& r) override {
        return real_.operation_commit(id, r);
    }
    core::result<std::string> operation_list_unfinished() override { return real_.operation_list_unfinished(); }
    core::result<void> audit_append(const sdk::model::audit_entry& e) override { return real_.audit_append(e); }
    core::result<std::string> audit_query(std::string_view f) override { return real_.audit_query(f); }
    core::result<void> health_record(const sdk::model::health_sample& h) override { return real_.health_record(h); }
    core::result<std::string> health_history(std::string_view f) override { return real_.health_history(f); }
    core::result<void> domains_replace(const std::vector<sdk::model::zone>& z) override { return real_.domains_replace(z); }
    core::result<std::vector<sdk::model::zone>> domains_list() override { return real_.domains_list(); }
    core::result<void> docker_snapshot_replace(const sdk::model::docker_snapshot& s) override {
        return real_.docker_snapshot_replace(s);
    }
    core::result<sdk::model::docker_snapshot> docker_snapshot_get() override { return real_.docker_snapshot_get(); }
    core::result<bool> lease_acquire(std::string_view n, std::string_view h, int64_t t) override {
        return real_.lease_acquire(n, h, t);
    }
    core::result<void> lease_release(std::string_view n, std::string_view h) override { return real_.lease_release(n, h); }
    core::result<int64_t> prune() override { return real_.prune(); }

private:
    core::state_store& real_;
};

}  // namespace

TEST_F(cname_paging, over_a_store_before_1_5_the_host_takes_the_keyset_page_itself) {
    store_before_1_5 old(*state_);
    core::cname_pipeline pipeline(old, nullptr, nullptr, targets_, core::pipeline_settings{});
    auto admin = core::session::admin_session("test");
    EXPECT_EQ(walk(pipeline, admin, "", 64), every_name(0, 250));
    EXPECT_EQ(walk(pipeline, admin, "beta", 7), every_name(0, 250, 5));
    auto seen = walk(pipeline, admin, "beta", 10, [&](int n) {
        if (n != 0) return;
        insert("h001a", "beta");
        insert("h100a", "beta");
        ASSERT_TRUE(state_->cname_delete("h045.example.com"));
    });
    EXPECT_EQ(seen, every_name(0, 250, 5, "h100a.example.com"));
    auto p = page_after(pipeline, admin, "", 2, "H100.Example.COM.");
    ASSERT_EQ(p["cnames"].Size(), 2u);
    EXPECT_STREQ(p["cnames"][0]["hostname"].GetString(), "h100a.example.com");
    EXPECT_STREQ(p["next_after"].GetString(), "h101.example.com");
    EXPECT_GT(old.lists, 0);
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
