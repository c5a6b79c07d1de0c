// How long to wait before retry number N: bounded exponential backoff with jitter, or the server's
// Retry-After, with a cap on any single wait so a long lockout never blocks a call for minutes.
#pragma once

#include <chrono>
#include <optional>

namespace tunnelmgr::plugins::cloudflare_dns {

struct retry_policy {
    std::chrono::milliseconds first_delay{500};
    std::chrono::milliseconds max_backoff{30000};
    std::chrono::milliseconds max_single_wait{60000};
    double jitter = 0.2;  // backoff delays vary by up to ±20%; Retry-After waits by up to +jitter

    // retry: 1 for the first retry. unit: a number in [0, 1) (random in production).
    [[nodiscard]] std::chrono::milliseconds delay_before(int retry, std::optional<long> retry_after_seconds,
                                                         double unit) const;
};

}  // namespace tunnelmgr::plugins::cloudflare_dns
