// The fixture of the pg_store tests: one throw-away server per test process, a fresh database per
// test (so tests do not see each other's rows), and stores opened on it as any machine.
#pragma once

#include <atomic>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include "pg_store.hpp"
#include "state_rows/row_checks.hpp"
#include "state_rows/store_json.hpp"
#include "throwaway_postgres.hpp"

namespace tunnelmgr::plugins::postgres_state::test {

using tunnelmgr::testing::throwaway_postgres;

inline constexpr int64_t start_ms = 1'750'000'000'000;

class pg_store_test : public ::testing::Test {
public:
    static cname_row cname(const std::string& sub, const std::string& project, int64_t port = 3100) {
        cname_row r;
        r.subdomain = sub;
        r.domain = "example.com";
        r.hostname = sub + ".example.com";
        r.project = project;
        r.port = port;
        r.target = "http://localhost:" + std::to_string(port);
        r.target_type = "host";
        return r;
    }

protected:
    static void SetUpTestSuite() {
        if (throwaway_postgres::unavailable_reason()) return;
        if (!server_) server_ = std::make_unique<throwaway_postgres>();
    }
    static void TearDownTestSuite() { server_.reset(); }

    void SetUp() override {
        if (auto why = throwaway_postgres::unavailable_reason()) GTEST_SKIP() << *why;
        static std::atomic<int> n{0};
        db_ = "t_" + std::to_string(::getpid()) + "_" + std::to_string(++n);
        server_->psql("CREATE DATABASE " + db_ + " OWNER tm");
        config_.dsn_file = (server_->dir() / (db_ + ".dsn")).string();
        std::string dsn = server_->dsn();
        dsn.replace(dsn.find("dbname=tunnelmgr"), 16, "dbname=" + db_);
        std::ofstream(config_.dsn_file) << dsn << "\n";
        config_.machine = "m1";
    }

    // A store of `machine` on this test's database, with the test's clock.
    std::unique_ptr<pg_store> open(const std::string& machine = "m1") {
        pg_config c = config_;
        c.machine = machine;
        auto s = pg_store::open(c, [this] { return now_.load(); });
        if (!s) throw std::runtime_error("open failed: " + s.error().message);
        return std::move(*s);
    }

    // One value from the test's database, as the superuser sees it.
    std::string sql(const std::string& query) {
        return server_->psql(query, db_);
    }

    static operation_request op(operation_kind kind, const std::string& host, const std::string& project) {
        return operation_request{kind, host, project, "{}"};
    }

    static inline std::unique_ptr<throwaway_postgres> server_;
    std::string db_;
    pg_config config_;
    std::atomic<int64_t> now_{start_ms};
};

}  // namespace tunnelmgr::plugins::postgres_state::test
