// token_memo on its own: what it remembers, for how long (a fake wall clock), where, and what it
// refuses to trust.
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "test_support.hpp"
#include "token_memo.hpp"

namespace {

using tunnelmgr::plugins::cloudflare_dns::token_memo;
using tunnelmgr::plugins::cloudflare_dns::test::k_token;
using tunnelmgr::plugins::cloudflare_dns::test::temp_dir;
using namespace std::chrono_literals;

class TokenMemo : public ::testing::Test {
protected:
    token_memo memo(std::chrono::seconds ttl = 600s) {
        return token_memo(dir_.path() / "tunnelmgr", ttl, [this] { return now_; });
    }
    std::string file_text() const {
        std::ifstream in(dir_.path() / "tunnelmgr" / "cloudflare-token-checks");
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

    temp_dir dir_;
    std::chrono::system_clock::time_point now_ = std::chrono::system_clock::time_point(1'800'000'000s);
    const std::string key_ = token_memo::key_of("https://api.cloudflare.com/client/v4", k_token);
};

TEST_F(TokenMemo, KeysAreHashesOfTheApiBaseAndTheToken) {
    EXPECT_EQ(key_.size(), 64U);
    EXPECT_EQ(key_.find(k_token), std::string::npos);
    EXPECT_EQ(key_, token_memo::key_of("https://api.cloudflare.com/client/v4", k_token));
    EXPECT_NE(key_, token_memo::key_of("http://127.0.0.1:8080/client/v4", k_token));
    EXPECT_NE(key_, token_memo::key_of("https://api.cloudflare.com/client/v4", "another-fake-token"));
}

TEST_F(TokenMemo, RemembersForTheTtlOnly) {
    EXPECT_FALSE(memo().remembers(key_));
    memo().remember(key_);
    EXPECT_TRUE(memo().remembers(key_));
    EXPECT_FALSE(memo().remembers(token_memo::key_of("https://api.cloudflare.com/client/v4", "another-fake-token")));
    now_ += 599s;
    EXPECT_TRUE(memo().remembers(key_));
    now_ += 1s;
    EXPECT_FALSE(memo().remembers(key_));
}

TEST_F(TokenMemo, AShorterTtlOrAClockThatWentBackIsNotFooled) {
    memo(600s).remember(key_);
    EXPECT_FALSE(memo(60s).remembers(key_));  // written for 600 s: more than this setting allows
    now_ -= 3600s;
    EXPECT_FALSE(memo().remembers(key_));
}

TEST_F(TokenMemo, KeepsOnlyAHashInAFileOnlyThisUserCanRead) {
    memo().remember(key_);
    const std::string text = file_text();
    EXPECT_EQ(text, key_ + " 1800000600\n");
    struct stat st {};
    ASSERT_EQ(::stat((dir_.path() / "tunnelmgr").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700U);
    ASSERT_EQ(::stat((dir_.path() / "tunnelmgr" / "cloudflare-token-checks").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600U);

    // Opened up to others, it is not trusted any more.
    ASSERT_EQ(::chmod((dir_.path() / "tunnelmgr" / "cloudflare-token-checks").c_str(), 0644), 0);
    EXPECT_FALSE(memo().remembers(key_));
}

TEST_F(TokenMemo, ForgetsOneKeyAndKeepsTheOthers) {
    const std::string other = token_memo::key_of("https://api.cloudflare.com/client/v4", "another-fake-token");
    memo().remember(key_);
    memo().remember(other);
    memo().forget(key_);
    EXPECT_FALSE(memo().remembers(key_));
    EXPECT_TRUE(memo().remembers(other));
}

TEST_F(TokenMemo, ZeroTtlOrNoFolderRemembersNothing) {
    memo(0s).remember(key_);
    EXPECT_FALSE(memo(0s).remembers(key_));
    EXPECT_TRUE(file_text().empty());
    token_memo nowhere({}, 600s);
    nowhere.remember(key_);
    EXPECT_FALSE(nowhere.remembers(key_));
}

TEST_F(TokenMemo, IgnoresLinesItCannotRead) {
    std::filesystem::create_directory(dir_.path() / "tunnelmgr");
    ::chmod((dir_.path() / "tunnelmgr").c_str(), 0700);
    dir_.write("tunnelmgr/cloudflare-token-checks", "garbage\n" + key_ + " soon\n" + key_.substr(1) + " 1800000100\n");
    ::chmod((dir_.path() / "tunnelmgr" / "cloudflare-token-checks").c_str(), 0600);
    EXPECT_FALSE(memo().remembers(key_));
    memo().remember(key_);
    EXPECT_EQ(file_text(), key_ + " 1800000600\n");
}

}  // namespace
