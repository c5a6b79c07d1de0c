// cloudflared's ingress validation rules, one case per rule.
#include <gtest/gtest.h>

#include "core/ingress_rules.hpp"

using namespace tunnelmgr::core;

namespace {
std::vector<ingress_rule> with_catch_all(std::vector<ingress_rule> r) {
    r.push_back({"", "", "http_status:404"});
    return r;
}
std::string error_of(const std::vector<ingress_rule>& rules) {
    auto v = validate_ingress(rules);
    return v ? std::string("(valid)") : v.error().message;
}
}  // namespace

TEST(ingress_rules, accepts_cloudflareds_service_forms) {
    for (const char* s : {"http://localhost:8080", "https://app:443", "ws://x:1", "wss://x", "tcp://db:5432",
                          "ssh://localhost:22", "rdp://win:3389", "smb://files:445", "unix:/run/app.sock",
                          "unix+tls:/run/app.sock", "http_status:404", "http_status:999", "hello_world", "bastion",
                          "socks-proxy", "http://[::1]:8080", "http://172.17.0.1:3000"}) {
        EXPECT_EQ(check_service(s), "") << s;
    }
}

TEST(ingress_rules, refuses_bad_services_with_the_reason) {
    EXPECT_NE(check_service("http://localhost:8080/api").find("different path"), std::string::npos);
    EXPECT_NE(check_service("http://localhost:8080/").find("different path"), std::string::npos);
    EXPECT_NE(check_service("localhost:8080").find("scheme and a hostname"), std::string::npos);
    EXPECT_NE(check_service("ftp://x:21").find("scheme 'ftp'"), std::string::npos);
    EXPECT_NE(check_service("http://:8080").find("scheme and a hostname"), std::string::npos);
    EXPECT_NE(check_service("http_status:99").find("invalid HTTP status"), std::string::npos);
    EXPECT_NE(check_service("http_status:abc").find("invalid HTTP status"), std::string::npos);
    EXPECT_NE(check_service("http://x:99999").find("invalid port"), std::string::npos);
    EXPECT_NE(check_service("").find("no service"), std::string::npos);
    EXPECT_NE(check_service("unix:").find("no socket path"), std::string::npos);
}

TEST(ingress_rules, the_catch_all_must_be_last_and_only_last) {
    EXPECT_EQ(error_of(with_catch_all({{"a.example.com", "", "http://a:1"}})), "(valid)");
    EXPECT_EQ(error_of({{"*", "", "http_status:404"}}), "(valid)");
    EXPECT_NE(error_of({}).find("doesn't contain any ingress rules"), std::string::npos);
    EXPECT_NE(error_of({{"a.example.com", "", "http://a:1"}}).find("last ingress rule must match all"), std::string::npos);
    EXPECT_NE(error_of({{"", "^/api", "http://a:1"}}).find("last ingress rule must match all"), std::string::npos);
    EXPECT_NE(error_of(with_catch_all({{"", "", "http://a:1"}})).find("Rule #1 is matching the hostname ''"),
              std::string::npos);
    EXPECT_NE(error_of(with_catch_all({{"*", "", "http://a:1"}})).find("Rule #1 is matching the hostname '*'"),
              std::string::npos);
}

TEST(ingress_rules, hostnames_carry_no_port_and_wildcards_only_in_front) {
    EXPECT_EQ(error_of(with_catch_all({{"*.example.com", "", "http://a:1"}})), "(valid)");
    EXPECT_NE(error_of(with_catch_all({{"a.example.com:443", "", "http://a:1"}})).find("cannot contain a port"),
              std::string::npos);
    EXPECT_NE(error_of(with_catch_all({{"a.*.example.com", "", "http://a:1"}})).find("at most one wildcard"),
              std::string::npos);
    EXPECT_NE(error_of(with_catch_all({{"a.example.com", "([", "http://a:1"}})).find("invalid regex"), std::string::npos);
    EXPECT_NE(error_of(with_catch_all({{"a.example.com", "", "http://a:1/x"}})).find("Rule #1 "), std::string::npos);
}
