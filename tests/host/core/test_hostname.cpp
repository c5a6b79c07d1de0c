// Name rules applied before anything reaches Cloudflare: one RFC 1123 label, folded to lower case.
#include <gtest/gtest.h>

#include "core/hostname.hpp"

using namespace tunnelmgr::core;

TEST(hostname, labels_are_folded_to_lower_case) {
    EXPECT_EQ(*normalize_label("App-1"), "app-1");
    EXPECT_EQ(*normalize_label("a"), "a");
    EXPECT_EQ(*normalize_label(std::string(63, 'x')), std::string(63, 'x'));
}

TEST(hostname, bad_labels_are_refused_with_the_reason) {
    struct c {
        std::string in, says;
    } cases[] = {{"", "empty"},
                 {"a.b", "has dots"},
                 {"*", "wildcard"},
                 {"*.app", "has dots"},
                 {std::string(64, 'x'), "at most 63"},
                 {"-app", "starts or ends with '-'"},
                 {"app-", "starts or ends with '-'"},
                 {"ap_p", "the character '_'"},
                 {"ap p", "the character ' '"},
                 {"caf\xc3\xa9", "non-ASCII"},
                 {"\xe2\x98\x83", "non-ASCII"}};
    for (const auto& [in, says] : cases) {
        auto r = normalize_label(in);
        ASSERT_FALSE(r) << in;
        EXPECT_EQ(r.error().code, errc::invalid);
        EXPECT_NE(r.error().message.find(says), std::string::npos) << in << ": " << r.error().message;
    }
}

TEST(hostname, domains_and_full_names) {
    EXPECT_EQ(*normalize_domain("Example.COM."), "example.com");
    EXPECT_FALSE(normalize_domain("localhost"));
    EXPECT_FALSE(normalize_domain(""));
    EXPECT_FALSE(normalize_domain("exa mple.com"));
    EXPECT_EQ(*join_hostname("app", "example.com"), "app.example.com");
    std::string long_domain;
    for (int i = 0; i < 4; ++i) long_domain += std::string(60, 'd') + ".";
    long_domain += "com";  // 247 characters
    EXPECT_TRUE(join_hostname("abcde", long_domain));  // 253
    auto r = join_hostname("abcdef", long_domain);     // 254
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("at most 253"), std::string::npos);
}
