// Logging: key=value lines, level filtering, and secrets redacted whoever writes them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/terminal_text.hpp"
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

TEST(terminal_text, control_characters_are_shown_never_emitted) {
    EXPECT_EQ(tunnelmgr::printable("app.example.com"), "app.example.com");
    EXPECT_EQ(tunnelmgr::printable("\x1b[2Jevil"), "\\x1b[2Jevil");
    EXPECT_EQ(tunnelmgr::printable("a\nforged line\r\x07\x7f"), "a\\x0aforged line\\x0d\\x07\\x7f");
    EXPECT_EQ(tunnelmgr::printable("\xc2\x9b" "2J"), "\\u009b2J") << "a C1 CSI in UTF-8";
    EXPECT_EQ(tunnelmgr::printable("caf\xc3\xa9"), "caf\xc3\xa9") << "ordinary UTF-8 stays";
}

TEST_F(logger_test, a_logged_value_cannot_drive_the_terminal) {
    error("pipeline", "refused '\x1b[2J\x1b[Hevil' from a client");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].find('\x1b'), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("\\x1b[2J\\x1b[Hevil"), std::string::npos) << lines[0];
}
