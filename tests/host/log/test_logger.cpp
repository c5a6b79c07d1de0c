// Logging: key=value lines, level filtering, and secrets redacted whoever writes them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "log/logger.hpp"

using namespace tunnelmgr::log;

namespace {
std::vector<std::string> lines;
void capture(const std::string& line) { lines.push_back(line); }

class logger_test : public ::testing::Test {
protected:
    void SetUp() override {
        lines.clear();
        logger::instance().set_sink(capture);
        logger::instance().set_level(level::info);
    }
    void TearDown() override { logger::instance().set_sink(nullptr); }
};
}  // namespace

TEST_F(logger_test, writes_key_value_lines) {
    info("loader", "loaded plugin");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("level=info"), std::string::npos);
    EXPECT_NE(lines[0].find("component=loader"), std::string::npos);
    EXPECT_NE(lines[0].find("msg=\"loaded plugin\""), std::string::npos);
    EXPECT_EQ(lines[0].find('\n'), std::string::npos);
}

TEST_F(logger_test, filters_by_level) {
    debug("x", "hidden");
    warn("x", "shown");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("shown"), std::string::npos);
}

TEST_F(logger_test, redacts_registered_secrets_and_escapes_newlines) {
    logger::instance().add_secret("fake-token-for-tests-123");
    error("http", "GET /zones Authorization: Bearer fake-token-for-tests-123\nnext");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].find("fake-token-for-tests-123"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("Bearer [REDACTED]"), std::string::npos) << lines[0];
    EXPECT_EQ(lines[0].find('\n'), std::string::npos);
}

TEST(log_level, parses_names) {
    level l{};
    EXPECT_TRUE(parse_level("warning", l));
    EXPECT_EQ(l, level::warn);
    EXPECT_FALSE(parse_level("loud", l));
}
