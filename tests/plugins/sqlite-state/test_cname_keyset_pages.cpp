// cname_list's keyset pages (plugin API 1.5): "after" with project, limit and expires_before, a walk that
// rows join and leave midway, the filter's parsing (folded, never with offset), and the query plan: a
// seek into the hostname's index, never a scan of the rows before the page.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include "sqlite_store.hpp"
#include "store_json.hpp"

namespace fs = std::filesystem;
using namespace tunnelmgr::plugins::sqlite_state;

namespace {

using names_t = std::vector<std::string>;

class keyset_pages : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               ("tm-keyset-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        config_.path = (dir_ / "state.db").string();
        auto s = sqlite_store::open(config_);
        ASSERT_TRUE(s.has_value()) << s.error().message;
        store_ = std::move(*s);
    }
    void TearDown() override {
        store_.reset();
        fs::remove_all(dir_);
    }

    void insert(const std::string& sub, const std::string& project, std::optional<int64_t> expires_at = {}) {
        cname_row r;
        r.subdomain = sub;
        r.domain = "example.com";
        r.hostname = sub + ".example.com";
        r.project = project;
        r.port = 3100;
        r.target = "http://localhost:3100";
        r.expires_at = expires_at;
        auto id = store_->cname_insert(r);
        ASSERT_TRUE(id.has_value()) << id.error().message;
    }

    names_t list(const cname_filter& f) {
        auto rows = store_->cname_list(f);
        EXPECT_TRUE(rows.has_value()) << rows.error().message;
        names_t out;
        if (rows) {
            for (const auto& r : *rows) out.push_back(r.hostname);
        }
        return out;
    }
    names_t page(std::optional<std::string> project, std::optional<std::string> after, std::optional<int64_t> limit) {
        cname_filter f;
        f.project = std::move(project);
        f.after = std::move(after);
        f.limit = limit;
        return list(f);
    }

    // The plan SQLite chooses for the store's own statement, one line per step.
    std::string plan_of(const cname_filter& f) {
        SQLite::Database db(config_.path, SQLite::OPEN_READONLY);
        SQLite::Statement q(db, "EXPLAIN QUERY PLAN " + cname_list_sql(f));
        std::string all;
        while (q.executeStep()) all += q.getColumn(3).getString() + "\n";
        return all;
    }

    fs::path dir_;
    store_config config_;
    std::unique_ptr<sqlite_store> store_;
};

TEST_F(keyset_pages, after_lists_the_rows_that_sort_after_it_with_project_and_limit) {
    for (const char* w : {"e", "c", "a", "d", "b"}) insert(w, "alpha");
    insert("bb", "beta");
    EXPECT_EQ(page("alpha", "a.example.com", 2), (names_t{"b.example.com", "c.example.com"}));
    EXPECT_EQ(page("alpha", "c.example.com", 2), (names_t{"d.example.com", "e.example.com"}));
    EXPECT_TRUE(page("alpha", "e.example.com", 2).empty());
    EXPECT_EQ(page("alpha", "bz.example.com", std::nullopt), (names_t{"c.example.com", "d.example.com", "e.example.com"}))
        << "a hostname that is no row's: the rows after where it would be";
    EXPECT_EQ(page(std::nullopt, "b.example.com", 2), (names_t{"bb.example.com", "c.example.com"})) << "every project's";
    EXPECT_EQ(page("alpha", "", 2), (names_t{"a.example.com", "b.example.com"})) << "every hostname sorts after \"\"";
}

TEST_F(keyset_pages, after_combines_with_expires_before) {
    insert("a", "alpha", 1000);
    insert("b", "alpha");
    insert("c", "alpha", 2000);
    insert("d", "alpha", 9000);
    insert("e", "alpha", 1500);
    cname_filter f;
    f.project = "alpha";
    f.expires_before = 2000;
    f.after = "a.example.com";
    f.limit = 1;
    EXPECT_EQ(list(f), (names_t{"c.example.com"}));
    f.after = "c.example.com";
    EXPECT_EQ(list(f), (names_t{"e.example.com"}));
    f.after = "e.example.com";
    EXPECT_TRUE(list(f).empty());
}

// Between two pages a name joins behind the walk's position, one joins ahead of it, and the row the walk
// stopped at goes: the walk still sees every row that was there throughout once, and the one ahead.
TEST_F(keyset_pages, a_walk_sees_each_row_once_while_rows_come_and_go) {
    for (int i = 0; i < 20; i += 2) insert("h" + std::to_string(10 + i), "alpha");  // h10 h12 ... h28
    names_t seen;
    std::optional<std::string> after;
    for (int n = 0; n < 50; ++n) {
        auto p = page("alpha", after, 3);
        if (p.empty()) break;
        seen.insert(seen.end(), p.begin(), p.end());
        after = p.back();
        if (n == 1) {  // after h10 h12 h14 | h16 h18 h20
            insert("h11", "alpha");
            insert("h23", "alpha");
            ASSERT_TRUE(store_->cname_delete("h20.example.com").has_value());
        }
    }
    EXPECT_EQ(seen, (names_t{"h10.example.com", "h12.example.com", "h14.example.com", "h16.example.com",
                             "h18.example.com", "h20.example.com", "h22.example.com", "h23.example.com",
                             "h24.example.com", "h26.example.com", "h28.example.com"}));
}

TEST_F(keyset_pages, the_filter_folds_after_and_refuses_it_with_an_offset) {
    auto folded = cname_filter_from_json(R"({"project":"alpha","after":"App.Example.COM.","limit":10})");
    ASSERT_TRUE(folded.has_value()) << folded.error().message;
    EXPECT_EQ(folded->after.value_or("<none>"), "app.example.com");
    auto none = cname_filter_from_json(R"({"after":null})");
    ASSERT_TRUE(none.has_value());
    EXPECT_FALSE(none->after.has_value());

    auto both = cname_filter_from_json(R"({"after":"app.example.com","offset":0})");
    ASSERT_FALSE(both.has_value());
    EXPECT_EQ(both.error().kind, store_errc::invalid);
    EXPECT_NE(both.error().message.find("filter.after and filter.offset"), std::string::npos) << both.error().message;
    EXPECT_NE(both.error().message.find("give one of them"), std::string::npos) << both.error().message;

    auto wrong = cname_filter_from_json(R"({"after":7})");
    ASSERT_FALSE(wrong.has_value());
    EXPECT_NE(wrong.error().message.find("filter.after must be a string"), std::string::npos) << wrong.error().message;

    for (const char* w : {"app", "bpp"}) insert(w, "alpha");
    EXPECT_EQ(list(*folded), (names_t{"bpp.example.com"}));
}

TEST_F(keyset_pages, the_count_is_of_the_whole_listing) {
    for (const char* w : {"a", "b", "c"}) insert(w, "alpha");
    cname_filter f;
    f.project = "alpha";
    f.after = "a.example.com";
    EXPECT_EQ(store_->cname_count(f).value(), 3) << "after, like limit and offset, says where a page starts";
    f.expires_before = 5;
    EXPECT_EQ(store_->cname_count(f).value(), 0);
}

// The last page costs what the first does: "after" seeks the index the ORDER BY reads, for every project
// or for one, and nothing is sorted apart.
TEST_F(keyset_pages, a_keyset_page_seeks_the_hostname_index) {
    for (const bool one_project : {false, true}) {
        cname_filter f;
        if (one_project) f.project = "alpha";
        f.after = "h500.example.com";
        f.limit = 101;
        const std::string plan = plan_of(f);
        SCOPED_TRACE(plan);
        EXPECT_NE(plan.find("SEARCH cnames USING INDEX"), std::string::npos);
        EXPECT_NE(plan.find(one_project ? "(project=? AND hostname>?)" : "(hostname>?)"), std::string::npos);
        if (one_project) EXPECT_NE(plan.find("cnames_project_hostname"), std::string::npos);
        EXPECT_EQ(plan.find("SCAN"), std::string::npos);
        EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos);
    }
}

}  // namespace
