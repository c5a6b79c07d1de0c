// Retry-After is honoured as a floor (never retry sooner than the server asked), plus a little
// jitter so many processes behind one token do not retry in lockstep.
#include "retry_policy.hpp"

#include <algorithm>
#include <cmath>

namespace tunnelmgr::plugins::cloudflare_dns {

std::chrono::milliseconds retry_policy::delay_before(int retry, std::optional<long> retry_after_seconds,
                                                     double unit) const {
    using std::chrono::milliseconds;
    unit = std::clamp(unit, 0.0, 1.0);
    double ms = 0;
    if (retry_after_seconds && *retry_after_seconds > 0) {
        const double asked = static_cast<double>(*retry_after_seconds) * 1000.0;
        ms = asked + asked * jitter * 0.5 * unit;
    } else {
        const int exponent = std::clamp(retry - 1, 0, 30);
        const double base = std::min(static_cast<double>(first_delay.count()) * std::ldexp(1.0, exponent),
                                     static_cast<double>(max_backoff.count()));
        ms = base * (1.0 - jitter + 2.0 * jitter * unit);
    }
    ms = std::min(ms, static_cast<double>(max_single_wait.count()));
    return milliseconds(std::max<long long>(1, static_cast<long long>(std::llround(ms))));
}

}  // namespace tunnelmgr::plugins::cloudflare_dns
