// The real tunnelmgr binary listing more names than one page holds: `cname ls` walks the host's pages
// (each after the last hostname of the one before) into one list, every name once, in order.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <rapidjson/document.h>

#include "process/run_process.hpp"
#include "sqlite_store.hpp"

using tunnelmgr::testing::run_process;
namespace sqlite_state = tunnelmgr::plugins::sqlite_state;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
constexpr int names = 2345;  // the CLI asks for pages of 1,000: three of them

class cname_ls : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("tm-cname-ls-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        const std::string db = (dir_ / "state.db").string();
        sqlite_state::store_config config;
        config.path = db;
        ASSERT_TRUE(sqlite_state::sqlite_store::open(config).has_value());  // the schema, migrated
        // The rows in one transaction: as many durable commits would only time the disk.
        SQLite::Database d(db, SQLite::OPEN_READWRITE, 5000);
        SQLite::Transaction txn(d);
        SQLite::Statement insert(d,
                                 "INSERT INTO cnames (hostname, subdomain, domain, project, port, target, created_at) "
                                 "VALUES (?, ?, 'example.com', ?, 3100, 'http://localhost:3100', 1)");
        for (int i = 0; i < names; ++i) {
            char sub[16];
            std::snprintf(sub, sizeof sub, "n%05d", (i * 7919) % 100000);  // not in insertion order
            insert.bind(1, std::string(sub) + ".example.com");
            insert.bind(2, sub);
            insert.bind(3, i % 3 == 0 ? "p1" : "p2");
            insert.exec();
            insert.reset();
        }
        txn.commit();
        std::ofstream(dir_ / "config.yml")
            << "state: { plugin: sqlite-state, path: " << db << " }\n"
            << "tunnel: { id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, default_domain: example.com }\n"
            << "projects:\n  p1: { ports: \"1-65535\" }\n  p2: { ports: \"1-65535\" }\n"
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // The hostnames `cname ls --json` prints, in its order.
    std::vector<std::string> listed(std::vector<std::string> more) {
        std::vector<std::string> args{binary, "--config", (dir_ / "config.yml").string(), "cname", "ls", "--json"};
        args.insert(args.end(), more.begin(), more.end());
        auto r = run_process(args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        rapidjson::Document d;
        d.Parse(r.out.c_str());
        EXPECT_TRUE(d.IsArray()) << r.out.substr(0, 200);
        std::vector<std::string> out;
        if (!d.IsArray()) return out;
        for (const auto& row : d.GetArray()) out.emplace_back(row["hostname"].GetString());
        return out;
    }

    std::filesystem::path dir_;
};

TEST_F(cname_ls, lists_every_name_of_several_pages_once_in_order) {
    auto all = listed({});
    EXPECT_EQ(all.size(), static_cast<size_t>(names));
    EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), all.size());
    auto p2 = listed({"--project", "p2"});
    EXPECT_EQ(p2.size(), static_cast<size_t>(names - (names + 2) / 3));
    EXPECT_TRUE(std::is_sorted(p2.begin(), p2.end()));
}

}  // namespace
