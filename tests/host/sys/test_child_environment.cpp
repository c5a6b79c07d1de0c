// What the programs tunnelmgr runs (git, systemctl, docker) inherit: the environment without any
// variable that may hold a secret — a real child process (`env`) prints what it got.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "sys/process.hpp"

using namespace tunnelmgr;

TEST(child_environment, a_child_never_inherits_a_token_or_secret_but_keeps_the_rest) {
    ::setenv("TUNNELMGR_TOKEN", "fake-token-for-tests-child-env-1", 1);
    ::setenv("TM_TEST_CF_API_TOKEN", "fake-token-for-tests-child-env-2", 1);
    ::setenv("my_secret_value", "fake-secret-for-tests", 1);
    ::setenv("NOTIFY_SOCKET", "/run/systemd/notify-fake", 1);
    ::setenv("TM_TEST_PLAIN", "kept", 1);
    auto r = sys::run({"env"});
    ::unsetenv("TUNNELMGR_TOKEN");
    ::unsetenv("TM_TEST_CF_API_TOKEN");
    ::unsetenv("my_secret_value");
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("TM_TEST_PLAIN");
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->exit_code, 0);
    EXPECT_EQ(r->out.find("fake-token-for-tests"), std::string::npos) << r->out;
    EXPECT_EQ(r->out.find("fake-secret-for-tests"), std::string::npos) << r->out;
    EXPECT_EQ(r->out.find("NOTIFY_SOCKET"), std::string::npos) << r->out;
    EXPECT_NE(r->out.find("TM_TEST_PLAIN=kept\n"), std::string::npos) << r->out;
    EXPECT_NE(r->out.find("PATH="), std::string::npos) << r->out;
}
