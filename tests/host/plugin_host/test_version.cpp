// The version rule on its own: majors equal, host minor >= required minor; malformed strings refused.
#include <gtest/gtest.h>

#include "plugin_host/version.hpp"

using namespace tunnelmgr::host;

TEST(api_version, parses_major_minor_patch) {
    auto v = parse_api_version("1.12.3");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->major, 1u);
    EXPECT_EQ(v->minor, 12u);
    EXPECT_EQ(v->patch, 3u);
    EXPECT_EQ(v->str(), "1.12.3");
}

TEST(api_version, refuses_malformed_strings) {
    for (const char* s : {"", "1", "1.2", "1.2.", "1..2", "a.b.c", "1.2.3.4", "1.2.3-rc1", " 1.2.3", "-1.2.3"}) {
        EXPECT_FALSE(parse_api_version(s)) << s;
    }
}

TEST(api_version, compatibility_rule) {
    api_version host{1, 3, 0};
    EXPECT_EQ(check_compatible(host, {1, 0, 0}), "");
    EXPECT_EQ(check_compatible(host, {1, 3, 9}), "");  // patch never matters
    EXPECT_NE(check_compatible(host, {1, 4, 0}).find("upgrade tunnelmgr"), std::string::npos);
    EXPECT_NE(check_compatible(host, {2, 0, 0}).find("different major"), std::string::npos);
    EXPECT_NE(check_compatible(host, {0, 9, 0}).find("different major"), std::string::npos);
}
