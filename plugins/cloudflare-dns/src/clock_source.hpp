// Time as the Cloudflare client sees it: now() for the request budget, sleep_for() for backoff.
// Injected so tests can check every wait without really sleeping.
#pragma once

#include <chrono>
#include <thread>

namespace tunnelmgr::plugins::cloudflare_dns {

class clock_source {
public:
    using time_point = std::chrono::steady_clock::time_point;
    virtual ~clock_source() = default;
    virtual time_point now() = 0;
    virtual void sleep_for(std::chrono::milliseconds duration) = 0;
};

class steady_clock_source final : public clock_source {
public:
    time_point now() override { return std::chrono::steady_clock::now(); }
    void sleep_for(std::chrono::milliseconds duration) override { std::this_thread::sleep_for(duration); }
};

}  // namespace tunnelmgr::plugins::cloudflare_dns
