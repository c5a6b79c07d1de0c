// The config section: defaults, accepted values, and a sentence for every refusal.
#include <gtest/gtest.h>

#include "server_config.hpp"

namespace tunnelmgr::plugins::mcp_stdio {
namespace {

TEST(server_config, defaults_to_one_mib_and_four_workers) {
    for (const char* json : {"", "{}", R"({"plugin":"mcp-stdio"})"}) {
        auto c = parse_server_config(json);
        ASSERT_TRUE(c) << json;
        EXPECT_EQ(c->max_line_bytes, 1048576u);
        EXPECT_EQ(c->workers, 4u);
    }
}

TEST(server_config, takes_both_settings) {
    auto c = parse_server_config(R"({"max_line_bytes":2048,"workers":8})");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->max_line_bytes, 2048u);
    EXPECT_EQ(c->workers, 8u);
}

TEST(server_config, refuses_bad_values_saying_what_is_allowed) {
    struct c {
        const char* json;
        const char* says;
    };
    for (const auto& k : {c{R"({"workers":0})", "workers must be an integer from 1 to 64"},
                          c{R"({"workers":"4"})", "workers must be an integer"},
                          c{R"({"max_line_bytes":10})", "max_line_bytes must be an integer from 1024"},
                          c{R"({"max_lines":10})", "max_lines is not an mcp-stdio setting"},
                          c{"[1]", "must be an object"},
                          c{"{", "not valid JSON"}}) {
        auto r = parse_server_config(k.json);
        ASSERT_FALSE(r) << k.json;
        EXPECT_NE(r.error().find(k.says), std::string::npos) << r.error();
    }
}

}  // namespace
}  // namespace tunnelmgr::plugins::mcp_stdio
