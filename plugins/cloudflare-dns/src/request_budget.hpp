// A client-side sliding window that keeps our own requests under Cloudflare's rate limit
// (1,200 per 5 minutes per token), so we slow down before the edge locks us out for 5 minutes.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>

#include "clock_source.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {

class request_budget {
public:
    using time_point = clock_source::time_point;
    static constexpr std::chrono::milliseconds window = std::chrono::minutes(5);

    explicit request_budget(std::size_t max_requests) : max_requests_(max_requests) {}

    // How long to wait before one more request fits in the window (zero when it fits now).
    [[nodiscard]] std::chrono::milliseconds wait_needed(time_point now);
    // Counts one request sent at `now`.
    void record(time_point now);
    [[nodiscard]] std::size_t used(time_point now);
    [[nodiscard]] std::size_t limit() const { return max_requests_; }

private:
    void expire(time_point now);
    std::size_t max_requests_;
    std::deque<time_point> sent_;
};

}  // namespace tunnelmgr::plugins::cloudflare_dns
