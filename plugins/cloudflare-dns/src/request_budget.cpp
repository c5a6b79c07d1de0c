// The sliding window keeps one timestamp per request sent in the last five minutes.
#include "request_budget.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {

void request_budget::expire(time_point now) {
    while (!sent_.empty() && now - sent_.front() >= window) sent_.pop_front();
}

std::chrono::milliseconds request_budget::wait_needed(time_point now) {
    expire(now);
    if (sent_.size() < max_requests_) return std::chrono::milliseconds(0);
    // The request that frees a slot is the (size - max + 1)-th oldest.
    const auto freeing = sent_[sent_.size() - max_requests_];
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(freeing + window - now);
    return wait.count() > 0 ? wait : std::chrono::milliseconds(1);
}

void request_budget::record(time_point now) {
    expire(now);
    sent_.push_back(now);
}

std::size_t request_budget::used(time_point now) {
    expire(now);
    return sent_.size();
}

}  // namespace tunnelmgr::plugins::cloudflare_dns
