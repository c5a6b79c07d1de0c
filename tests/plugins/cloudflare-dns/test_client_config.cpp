// The dns: section: defaults, the token from a file or the environment (trimmed), and a sentence
// naming the key for each mistake, never the token.
#include <stdlib.h>

#include <string>

#include <gtest/gtest.h>

#include "client_config.hpp"
#include "test_support.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {
namespace {

using test::k_token;
using test::temp_dir;

std::string with_token_file(const temp_dir& dir, const std::string& extra = "") {
    const auto file = dir.write("token", std::string("  ") + k_token + "\n\n");
    return R"({"api_token_file":")" + file.string() + "\"" + extra + "}";
}

TEST(ClientConfig, DefaultsAndATrimmedTokenFromAFile) {
    temp_dir dir;
    auto config = parse_client_config(with_token_file(dir, R"(,"default_domain":"example.com","comment_prefix":"x")"));
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->api_token, k_token);
    EXPECT_EQ(config->api_base, "https://api.cloudflare.com/client/v4");
    EXPECT_EQ(config->timeout.count(), 15000);
    EXPECT_EQ(config->max_retries, 5);
    EXPECT_EQ(config->budget_per_5min, 1000U);
    EXPECT_TRUE(config->account_id.empty());
    EXPECT_NE(config->token_source.find("api_token_file"), std::string::npos);
}

TEST(ClientConfig, EveryKeyIsRead) {
    temp_dir dir;
    const auto ca = dir.write("ca.pem", "not checked here");
    auto config = parse_client_config(with_token_file(
        dir, R"(,"api_base":"http://127.0.0.1:8080/client/v4/","account_id":"0123456789abcdef0123456789abcdef",)"
             R"("ca_file":")" + ca.string() + R"(","timeout_ms":250,"max_retries":2,"budget_per_5min":7,"plugin":"cloudflare-dns")"));
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->api_base, "http://127.0.0.1:8080/client/v4");
    EXPECT_EQ(config->account_id, "0123456789abcdef0123456789abcdef");
    EXPECT_EQ(config->ca_file, ca.string());
    EXPECT_EQ(config->timeout.count(), 250);
    EXPECT_EQ(config->max_retries, 2);
    EXPECT_EQ(config->budget_per_5min, 7U);
}

TEST(ClientConfig, TokenFromTheEnvironment) {
    ::setenv("TM_CFDNS_TEST_TOKEN", (std::string(k_token) + "\n").c_str(), 1);
    auto config = parse_client_config(R"({"api_token_env":"TM_CFDNS_TEST_TOKEN"})");
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->api_token, k_token);
    ::unsetenv("TM_CFDNS_TEST_TOKEN");
    auto missing = parse_client_config(R"({"api_token_env":"TM_CFDNS_TEST_TOKEN"})");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, cf_errc::invalid);
    EXPECT_NE(missing.error().message.find("dns.api_token_env"), std::string::npos) << missing.error().message;
}

TEST(ClientConfig, MistakesAreSentencesNamingTheKey) {
    temp_dir dir;
    const auto empty = dir.write("empty", " \n\t\n");
    const auto inner_space = dir.write("spaced", std::string(k_token) + " extra\n");
    const auto file = dir.write("token", k_token);
    struct bad_case {
        std::string json;
        std::string expected;
    };
    const std::vector<bad_case> cases = {
        {"{}", "exactly one of dns.api_token_file and dns.api_token_env"},
        {R"({"api_token_file":")" + file.string() + R"(","api_token_env":"X"})", "exactly one of"},
        {R"({"api_token_file":")" + (dir.path() / "absent").string() + R"("})", "dns.api_token_file: cannot read"},
        {R"({"api_token_file":")" + empty.string() + R"("})", "is empty"},
        {R"({"api_token_file":")" + inner_space.string() + R"("})", "spaces or control characters"},
        {R"({"api_token_file":")" + file.string() + R"(","api_tokn":"x"})", "unknown key dns.api_tokn"},
        {R"({"api_token_file":")" + file.string() + R"(","api_base":"http://api.example.com/client/v4"})",
         "dns.api_base must start with https://"},
        {R"({"api_token_file":")" + file.string() + R"(","timeout_ms":5})", "dns.timeout_ms must be"},
        {R"({"api_token_file":")" + file.string() + R"(","max_retries":"3"})", "dns.max_retries must be"},
        {R"({"api_token_file":")" + file.string() + R"(","budget_per_5min":5000})", "dns.budget_per_5min must be"},
        {R"({"api_token_file":")" + file.string() + R"(","account_id":"my-account"})", "dns.account_id must be"},
        {R"({"api_token_file":")" + file.string() + R"(","ca_file":"/nonexistent/ca.pem"})", "dns.ca_file: cannot read"},
        {"[1,2]", "not a JSON object"},
    };
    for (const auto& c : cases) {
        auto config = parse_client_config(c.json);
        ASSERT_FALSE(config) << c.json;
        EXPECT_EQ(config.error().kind, cf_errc::invalid);
        EXPECT_NE(config.error().message.find(c.expected), std::string::npos)
            << c.json << " -> " << config.error().message;
        EXPECT_EQ(config.error().message.find(k_token), std::string::npos) << config.error().message;
    }
}

TEST(ClientConfig, PublishedSchemaIsAnObjectWithEveryKey) {
    const std::string schema = client_config_schema;
    for (const char* key : {"api_base", "api_token_file", "api_token_env", "account_id", "default_domain",
                            "ca_file", "timeout_ms", "max_retries", "budget_per_5min", "comment_prefix"}) {
        EXPECT_NE(schema.find(std::string("\"") + key + "\""), std::string::npos) << key;
    }
    EXPECT_NE(schema.find("\"additionalProperties\": false"), std::string::npos);
}

}  // namespace
}  // namespace tunnelmgr::plugins::cloudflare_dns
