// Backoff doubles from 0.5 s with bounded jitter, Retry-After is a floor, and no single wait exceeds the cap.
#include <chrono>

#include <gtest/gtest.h>

#include "retry_policy.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {
namespace {

using std::chrono::milliseconds;

TEST(RetryPolicy, ExponentialWithJitterWithinBounds) {
    const retry_policy p;
    EXPECT_EQ(p.delay_before(1, std::nullopt, 0.5), milliseconds(500));
    EXPECT_EQ(p.delay_before(2, std::nullopt, 0.5), milliseconds(1000));
    EXPECT_EQ(p.delay_before(3, std::nullopt, 0.5), milliseconds(2000));
    EXPECT_EQ(p.delay_before(4, std::nullopt, 0.5), milliseconds(4000));
    EXPECT_EQ(p.delay_before(1, std::nullopt, 0.0), milliseconds(400));
    EXPECT_EQ(p.delay_before(1, std::nullopt, 1.0), milliseconds(600));
    // Capped at max_backoff (30 s) before jitter.
    EXPECT_EQ(p.delay_before(20, std::nullopt, 0.5), milliseconds(30000));
}

TEST(RetryPolicy, RetryAfterIsAFloorAndEveryWaitIsCapped) {
    const retry_policy p;
    EXPECT_EQ(p.delay_before(1, 3L, 0.0), milliseconds(3000));
    EXPECT_LE(p.delay_before(1, 3L, 0.99), milliseconds(3300));
    EXPECT_GE(p.delay_before(1, 3L, 0.99), milliseconds(3000));
    // A 5-minute lockout does not block a call for 5 minutes.
    EXPECT_EQ(p.delay_before(1, 300L, 0.5), milliseconds(60000));
    // Retry-After: 0 falls back to the backoff.
    EXPECT_EQ(p.delay_before(1, 0L, 0.5), milliseconds(500));
}

}  // namespace
}  // namespace tunnelmgr::plugins::cloudflare_dns
