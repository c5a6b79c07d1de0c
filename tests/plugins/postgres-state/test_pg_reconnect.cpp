// The server going away and coming back: calls answer retry with a sentence (never the password),
// nothing is half-written, and the same store works again once the server is back; and the errors a
// store gives when it cannot start.
#include <fstream>

#include "pg_fixture.hpp"

namespace tunnelmgr::plugins::postgres_state::test {
namespace {

constexpr const char* unavailable_prefix = "the state store (PostgreSQL) is unavailable: ";
constexpr const char* retries = "tunnelmgr retries on the next call";

// A server of the test's own, so stopping it disturbs no other test.
class pg_reconnect_test : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = throwaway_postgres::unavailable_reason()) GTEST_SKIP() << *why;
        server_ = std::make_unique<throwaway_postgres>();
        config_.dsn_file = server_->dsn_file();
        config_.machine = "m1";
        config_.pool_size = 2;
        config_.connect_timeout_ms = 2000;
    }

    void expect_no_secret(const std::string& message) {
        EXPECT_EQ(message.find(server_->password()), std::string::npos) << message;
        EXPECT_EQ(message.find("password="), std::string::npos) << message;
    }

    std::unique_ptr<throwaway_postgres> server_;
    pg_config config_;
};

TEST_F(pg_reconnect_test, a_call_while_the_server_is_away_answers_retry_and_the_next_after_it_is_back_works) {
    auto opened = pg_store::open(config_);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    auto& s = **opened;
    ASSERT_TRUE(s.cname_insert(pg_store_test::cname("before", "p")).has_value());

    server_->stop();
    // A connection broken under it, then no server to connect to: both are "unavailable, retry".
    for (int i = 0; i < 3; ++i) {
        auto r = s.cname_insert(pg_store_test::cname("during", "p"));
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().kind, store_errc::busy) << r.error().message;
        EXPECT_EQ(r.error().message.rfind(unavailable_prefix, 0), 0u) << r.error().message;
        EXPECT_NE(r.error().message.find(retries), std::string::npos) << r.error().message;
        expect_no_secret(r.error().message);
    }
    auto read = s.cname_list({});
    ASSERT_FALSE(read.has_value());
    EXPECT_EQ(read.error().kind, store_errc::busy);

    server_->start();
    auto after = s.cname_insert(pg_store_test::cname("after", "p"));
    ASSERT_TRUE(after.has_value()) << after.error().message;
    auto rows = s.cname_list({}).value();
    ASSERT_EQ(rows.size(), 2u) << "the failed insert left nothing";
    EXPECT_EQ(rows[0].hostname, "after.example.com");
    EXPECT_EQ(rows[1].hostname, "before.example.com");
    EXPECT_EQ(s.cname_count({}).value(), 2) << "counts moved with the rows only";
}

// A server restart between two calls drops every pooled connection; the next call must not fail for
// it (the daemon would refuse a change while nothing is wrong): it runs again on a fresh connection.
TEST_F(pg_reconnect_test, the_first_call_after_a_restart_between_calls_does_not_fail) {
    config_.pool_size = 1;
    auto opened = pg_store::open(config_);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    auto& s = **opened;
    ASSERT_TRUE(s.cname_insert(pg_store_test::cname("before", "p")).has_value());  // the pooled connection is open
    server_->stop();
    server_->start();
    auto after = s.cname_insert(pg_store_test::cname("after", "p"));
    ASSERT_TRUE(after.has_value()) << after.error().message;
    EXPECT_EQ(s.cname_list({}).value().size(), 2u) << "inserted once, not twice";
}

// A connection's prepared statements go with it: after a restart the store prepares them again on its
// fresh connection.
TEST_F(pg_reconnect_test, statements_prepared_before_a_restart_are_prepared_again_after_it) {
    config_.pool_size = 1;
    auto opened = pg_store::open(config_);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    auto& s = **opened;
    ASSERT_TRUE(s.cname_insert(pg_store_test::cname("before", "p")).has_value());
    for (int i = 0; i < 3; ++i) {  // from the second run on, prepared on the pooled connection
        ASSERT_TRUE(s.cname_get("before.example.com").has_value());
        ASSERT_EQ(s.cname_list({}).value().size(), 1u);
    }
    server_->stop();
    server_->start();
    for (int i = 0; i < 3; ++i) {
        auto got = s.cname_get("before.example.com");
        ASSERT_TRUE(got.has_value()) << i << ": " << got.error().message;
        auto rows = s.cname_list({});
        ASSERT_TRUE(rows.has_value()) << i << ": " << rows.error().message;
        EXPECT_EQ(rows->size(), 1u);
    }
}

TEST_F(pg_reconnect_test, an_operation_commit_cut_off_by_the_server_leaves_the_operation_unfinished) {
    auto opened = pg_store::open(config_);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    auto& s = **opened;
    const int64_t id = s.operation_begin({operation_kind::create, "app.example.com", "p", "{}"}).value();
    server_->stop();
    auto c = s.operation_commit(id, pg_store_test::cname("app", "p"));
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().kind, store_errc::busy);
    server_->start();
    EXPECT_EQ(s.operation_get(id).value().state, "validated");
    EXPECT_EQ(s.cname_get("app.example.com").error().kind, store_errc::not_found);
    ASSERT_TRUE(s.operation_commit(id, pg_store_test::cname("app", "p")).has_value());
    EXPECT_EQ(s.operation_get(id).value().state, "committed");
}

TEST_F(pg_reconnect_test, opening_without_a_server_fails_naming_the_dsn_file_and_never_its_content) {
    server_->stop();
    auto s = pg_store::open(config_);
    ASSERT_FALSE(s.has_value());
    const std::string& m = s.error().message;
    EXPECT_NE(m.find("cannot open the state store (PostgreSQL) named in the dsn_file " + config_.dsn_file), std::string::npos) << m;
    EXPECT_NE(m.find("check that the server is running"), std::string::npos) << m;
    expect_no_secret(m);
}

TEST_F(pg_reconnect_test, a_wrong_password_fails_without_showing_either_password) {
    const std::string wrong_file = (server_->dir() / "wrong.dsn").string();
    std::string dsn = server_->dsn();
    const std::string wrong = "n0t-th3-pa55w0rd";
    dsn.replace(dsn.find("password=") + 9, std::string::npos, wrong);
    std::ofstream(wrong_file) << dsn << "\n";
    config_.dsn_file = wrong_file;
    auto s = pg_store::open(config_);
    ASSERT_FALSE(s.has_value());
    const std::string& m = s.error().message;
    EXPECT_NE(m.find("password authentication failed"), std::string::npos) << m;
    EXPECT_NE(m.find(wrong_file), std::string::npos) << m;
    EXPECT_EQ(m.find(wrong), std::string::npos) << m;
    expect_no_secret(m);
}

TEST_F(pg_reconnect_test, a_dsn_file_libpq_cannot_parse_is_refused_without_quoting_it) {
    const std::string bad_file = (server_->dir() / "bad.dsn").string();
    std::ofstream(bad_file) << "host=/tmp password s3cr3t-value\n";
    config_.dsn_file = bad_file;
    auto s = pg_store::open(config_);
    ASSERT_FALSE(s.has_value());
    EXPECT_NE(s.error().message.find("does not hold a connection string libpq understands"), std::string::npos)
        << s.error().message;
    EXPECT_EQ(s.error().message.find("s3cr3t"), std::string::npos) << s.error().message;
}

}  // namespace
}  // namespace tunnelmgr::plugins::postgres_state::test
