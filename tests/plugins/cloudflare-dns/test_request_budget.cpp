// The sliding window: N requests fit in any 5 minutes; the (N+1)-th waits until the oldest ages out.
#include <chrono>

#include <gtest/gtest.h>

#include "request_budget.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {
namespace {

using namespace std::chrono_literals;
using tp = request_budget::time_point;

TEST(RequestBudget, FitsUpToTheLimitThenSaysHowLongToWait) {
    request_budget budget(3);
    const tp start(10h);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(budget.wait_needed(start + i * 10s).count(), 0);
        budget.record(start + i * 10s);
    }
    EXPECT_EQ(budget.used(start + 30s), 3U);
    // The oldest (at +0s) ages out at +300s.
    EXPECT_EQ(budget.wait_needed(start + 30s), std::chrono::milliseconds(270s));
    EXPECT_EQ(budget.wait_needed(start + 300s).count(), 0);
    EXPECT_EQ(budget.used(start + 300s), 2U);
    EXPECT_EQ(budget.used(start + 10min), 0U);
}

}  // namespace
}  // namespace tunnelmgr::plugins::cloudflare_dns
